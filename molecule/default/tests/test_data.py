"""Data tier, end to end through HTTPS: PostgreSQL behind pgbouncer, the cache, Celery.

Topology-aware: the same tests run on the all-in-one scenario (default) and on the
multi-host one (multi); which host serves what follows the inventory's groups, by the
rule the playbooks use (plugins/filter/topology.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import uuid

import pytest
from lab import (
    EPHEMERAL,
    PROJECT,
    SCENARIO,
    address,
    group,
    groups,
    instance,
    post_note,
    probe,
    probe_curl,
    probe_knows_web_names,
    status_and_headers,
    web_name,
)

APP = "sample"
_spec = importlib.util.spec_from_file_location("topology", PROJECT / "plugins/filter/topology.py")
topology = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(topology)

GROUPS = groups()
WEB = group("web")
WORKERS = group("worker")
DBS = group("db")
CACHES = group("cache")
# The lab's test-only secrets (molecule/shared/group_vars/all/django.yml, cache.yml).
SECRETS = {
    "database": "lab-db-password-0123456789",
    "cache": "lab-cache-password-0123456789",
    "broker": "lab-broker-password-0123456789",
    "redis admin": "lab-redis-admin-password-0123456789",
    "secret key": "lab-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-for-production",
}
CACHE_BACKEND = "redis" if SCENARIO == "multi" else "memcached"  # as the lab's group_vars choose
CACHE_UNIT = {"redis": "redis-server@cache.service", "memcached": "memcached.service"}[CACHE_BACKEND]
PORTS = {"postgresql": 5432, "redis cache": 6379, "redis broker": 6380, "memcached": 11211}


def server(host: str, service_group: str) -> str:
    return topology.stack_server(host, service_group, GROUPS)


def psql(host, sql: str, database: str = APP) -> str:
    return host.check_output(f'runuser -u postgres -- psql -X -At -d {database} -c "{sql}"')


def show_pools(web) -> list[dict[str, str]]:
    """pgbouncer's SHOW POOLS on an app host (admin console: root over its socket, peer authentication)."""
    out = web.check_output("psql -X -A -F'|' -h /var/run/postgresql -p 6432 -U root pgbouncer -c 'SHOW POOLS'")
    lines = [line for line in out.splitlines() if "|" in line]
    header = lines[0].split("|")
    return [dict(zip(header, line.split("|"), strict=False)) for line in lines[1:]]


def get(url: str, *args: str) -> tuple[int, dict[str, str], str]:
    result = probe_curl(url, *args)
    assert result.rc == 0, result.stderr
    status, headers = status_and_headers(result.stdout)
    return status, headers, result.stdout


def wait_for(predicate, timeout: float = 60, step: float = 2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


@pytest.fixture(scope="module", autouse=True)
def names():
    probe_knows_web_names()


@pytest.mark.parametrize("web", WEB)
def test_a_note_is_written_and_read_through_pgbouncer(web):
    site = f"https://{web_name(web)}"
    text = f"note {uuid.uuid4().hex}"
    assert text in post_note(site, text)  # read back: the page lists the note
    db = instance(server(web, "db"))
    assert psql(db, f"SELECT count(*) FROM notes_note WHERE text = '{text}'") == "1"  # noqa: S608 - the test's own uuid
    pools = [p for p in show_pools(instance(web)) if p["database"] == APP and p["user"] == APP]
    assert pools, "pgbouncer has no pool of the app"
    assert int(pools[0]["cl_active"]) + int(pools[0].get("cl_idle", 0) or 0) >= 1, pools


def django_connection(host, *manage_options: str) -> str:
    """Where Django's running configuration connects, through the operators' manage wrapper."""
    code = (
        "from django.db import connection as c; c.ensure_connection(); "
        "print(c.settings_dict['HOST'], c.settings_dict['PORT'], c.settings_dict['DISABLE_SERVER_SIDE_CURSORS'])"
    )
    out = host.check_output(f'{APP}-manage {" ".join(manage_options)} shell -c "{code}"')
    return out.splitlines()[-1]  # Django 5.2's shell first says what it auto-imported


@pytest.mark.parametrize("web", WEB)
def test_the_app_uses_pgbouncer_in_transaction_mode_and_migrations_go_direct(web):
    host = instance(web)
    assert django_connection(host) == "127.0.0.1 6432 True"
    direct_host, direct_port, direct_cursors_off = django_connection(host, "--direct").split()
    assert direct_host == ("/var/run/postgresql" if server(web, "db") == web else address(instance(server(web, "db"))))
    assert (direct_port, direct_cursors_off) == ("5432", "False")
    config = host.check_output("psql -X -At -F'|' -h /var/run/postgresql -p 6432 -U root pgbouncer -c 'SHOW CONFIG'")
    assert "pool_mode|transaction" in config


@pytest.mark.parametrize("web", WEB)
def test_cached_page_comes_from_the_cache_on_the_second_request(web):
    url = f"https://{web_name(web)}/cached/?k={uuid.uuid4().hex}"
    _, first, _ = get(url)
    _, second, _ = get(url)
    assert first["x-rendered-at"] == second["x-rendered-at"]
    _, _, body = get(f"https://{web_name(web)}/health/")
    assert '"cache": true' in body


@pytest.mark.parametrize("web", WEB)
def test_a_task_queued_by_a_web_request_runs_on_a_worker(web):
    site = f"https://{web_name(web)}"
    text = f"task {uuid.uuid4().hex}"
    status, _, out = get(f"{site}/tasks/", "--data-urlencode", f"text={text}")
    assert status == 202
    queued = json.loads(out.replace("\r\n", "\n").split("\n\n", 1)[1])
    assert queued["eager"] is False  # through the broker, not in the web process
    done = wait_for(lambda: text in get(f"{site}/tasks/")[2], timeout=60)
    assert done, "the task's note never became visible through the web"
    workers = [w for w in WORKERS if server(w, "cache") == server(web, "cache")]
    ran_on = [
        w
        for w in workers
        if queued["task_id"] in instance(w).check_output(f"journalctl -u celery-{APP}-worker --no-pager --since -10min")
    ]
    assert len(ran_on) == 1, ran_on


def test_beat_runs_on_exactly_one_host_per_broker():
    for broker in {server(w, "cache") for w in WORKERS}:
        workers = [w for w in WORKERS if server(w, "cache") == broker]
        beating = [w for w in workers if instance(w).service(f"celery-{APP}-beat").is_running]
        assert beating == workers[:1], f"beat of broker {broker} runs on {beating}"


@pytest.mark.parametrize("web", WEB)
def test_beat_fires_the_periodic_task_from_one_scheduler(web):
    """Heartbeats (every 10 s) reach the stack's database, all scheduled by the one beat host."""
    site = f"https://{web_name(web)}"

    def heartbeats():
        return json.loads(get(f"{site}/tasks/")[2].replace("\r\n", "\n").split("\n\n", 1)[1])["heartbeats"]

    assert wait_for(lambda: len(heartbeats()) >= 2, timeout=40), "no periodic task ran"
    broker = server(web, "cache")
    beat_host = next(w for w in WORKERS if server(w, "cache") == broker)
    assert {b["scheduler"] for b in heartbeats()} == {instance(beat_host).check_output("hostname")}


def data_ports() -> list[tuple[str, str, int]]:
    cases = [(db, "postgresql", PORTS["postgresql"]) for db in DBS]
    for cache in CACHES:
        cases += [(cache, "redis cache", PORTS["redis cache"]), (cache, "redis broker", PORTS["redis broker"])]
        if CACHE_BACKEND == "memcached":
            cases.append((cache, "memcached", PORTS["memcached"]))
    return cases


@pytest.mark.parametrize(("target", "service", "port"), data_ports())
def test_data_services_are_unreachable_from_outside_the_inventory(target, service, port):
    result = probe().run(f"nc -z -w 3 {address(instance(target))} {port}")
    assert result.rc != 0, f"{service} on {target} answers the probe"


@pytest.mark.parametrize(("target", "service", "port"), data_ports())
def test_app_hosts_on_other_machines_reach_the_data_services(target, service, port):
    kind = "db" if service == "postgresql" else "cache"
    clients = [h for h in dict.fromkeys(WEB + WORKERS) if h != target and server(h, kind) == target]
    if not clients:
        pytest.skip(f"no app host uses {target}'s {service} from another machine (all-in-one)")
    for client in clients:
        instance(client).run_expect([0], f"timeout 5 bash -c '</dev/tcp/{address(instance(target))}/{port}'")


@pytest.mark.parametrize("cache", CACHES)
@pytest.mark.parametrize("port", [PORTS["redis cache"], PORTS["redis broker"]])
def test_redis_refuses_unauthenticated_clients(cache, port):
    out = instance(cache).run(f"redis-cli -p {port} PING")
    assert "NOAUTH" in out.stdout + out.stderr


def remote_db_clients() -> list[tuple[str, str]]:
    return [
        (db, client)
        for db in DBS
        for client in dict.fromkeys(WEB + WORKERS)
        if client != db and server(client, "db") == db
    ]


@pytest.mark.parametrize("db", DBS)
def test_pg_hba_admits_exactly_the_remote_app_hosts(db):
    expected = {f"{address(instance(c))}/32" for d, c in remote_db_clients() if d == db}
    rules = psql(
        instance(db),
        "SELECT type || ' ' || coalesce(address || '/' || netmask, '') FROM pg_hba_file_rules",
        database="postgres",
    ).splitlines()
    hostssl = {rule.split()[1] for rule in rules if rule.startswith("hostssl")}
    netmasks = {"255.255.255.255": "32"}
    assert {a.rsplit("/", 1)[0] + "/" + netmasks.get(a.rsplit("/", 1)[1], "?") for a in hostssl} == expected
    assert not [rule for rule in rules if rule.startswith("host ")], "a non-TLS host rule"


@pytest.mark.parametrize(
    ("db", "client"), remote_db_clients() or [pytest.param("", "", marks=pytest.mark.skip("all-in-one"))]
)
def test_remote_app_hosts_reach_postgresql_over_tls(db, client):
    """Through pgbouncer and directly (migrations, verify-full): the server sees TLS connections from the host."""
    host = instance(client)
    for env_file in ("env", "env-direct"):
        host.run_expect([0], f"set -a; . /srv/{APP}/shared/{env_file}; psql -X -At \"$DATABASE_URL\" -c 'SELECT 1'")
    ssl = psql(
        instance(db),
        "SELECT DISTINCT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "  # noqa: S608 - lab values
        f"WHERE a.usename = '{APP}' AND a.client_addr = '{address(host)}'",
        database="postgres",
    )
    assert ssl == "t"


@pytest.mark.parametrize("db", DBS)
def test_pg_hba_has_no_trust_line(db):
    rules = psql(instance(db), "SELECT auth_method FROM pg_hba_file_rules", database="postgres").split()
    assert rules, "no pg_hba rule read"
    assert "trust" not in rules
    assert set(rules) <= {"peer", "scram-sha-256"}


def playbook_runs_log() -> str:
    """The entries of Ansible's log written by playbook runs (converge, idempotence, check).

    The same log also gets the tests' own `ansible-inventory --list` dumps (testinfra reads
    the inventory that way): they print the lab's inventory variables, plaintext test
    passwords included, and are not runs of the playbooks.
    """
    log = (EPHEMERAL / "ansible.log").read_text()
    entries = re.split(r"(?m)^(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ p=\d+ )", log)
    by_process: dict[str, list[str]] = {}
    for entry in entries:
        found = re.match(r"\S+ \S+ p=(\d+) ", entry)
        if found:
            by_process.setdefault(found.group(1), []).append(entry)
    runs = [e for es in by_process.values() if any("TASK [" in e for e in es) for e in es]
    return "".join(runs)


def test_no_secret_appears_in_the_converge_logs():
    log = playbook_runs_log()
    assert "TASK [djangostack.stack.postgresql : " in log  # the log covers the converge (roles by FQCN)
    assert "TASK [djangostack.stack.django : " in log
    leaked = [name for name, secret in SECRETS.items() if secret in log]
    assert leaked == []


@pytest.mark.parametrize("name", sorted(set(WEB + WORKERS + DBS + CACHES)))
def test_no_secret_appears_in_the_hosts_logs(name):
    """Neither the journal nor any file under /var/log (PostgreSQL's, Redis's, nginx's) holds a secret."""
    host = instance(name)
    journal = host.check_output("journalctl --no-pager -o cat")
    assert journal, "empty journal"
    assert [label for label, secret in SECRETS.items() if secret in journal] == []
    for label, secret in SECRETS.items():
        found = host.run(f"grep -rlF -- '{secret}' /var/log")
        assert found.rc == 1, f"the {label} is in {found.stdout}"


@pytest.mark.parametrize("web", WEB)
def test_site_answers_without_its_cache_and_recovers(web):
    site = f"https://{web_name(web)}"
    cache = instance(server(web, "cache"))
    cache.run_expect([0], f"systemctl stop {CACHE_UNIT}")
    try:
        for path in ("/", f"/cached/?k={uuid.uuid4().hex}"):
            status, _, _ = get(f"{site}{path}")
            assert status == 200, path
        assert '"cache": false' in get(f"{site}/health/")[2]
    finally:
        cache.run_expect([0], f"systemctl start {CACHE_UNIT}")
    assert wait_for(lambda: '"cache": true' in get(f"{site}/health/")[2], timeout=60), "the cache never came back"

    def served_from_cache() -> bool:
        # Every Gunicorn worker retries a dead server on its own (after dead_timeout).
        url = f"{site}/cached/?k={uuid.uuid4().hex}"
        return all(get(url)[1]["x-rendered-at"] == get(url)[1]["x-rendered-at"] for _ in range(3))

    assert wait_for(served_from_cache, timeout=60), "pages are not cached again"
