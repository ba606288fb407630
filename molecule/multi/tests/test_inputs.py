"""Bad inventories: `site.yml` against the converged lab fails in the preflight play, before the
first change on any host, with a message that names the variable and says what is expected; the
hosts are exactly as they were. The score is printed and kept for `make test`.

Values come in as extra vars over the lab's inventory; impossible topologies as an inventory of
the lab's own containers with other groups (the lab's group_vars apply to it as well).

It runs in scenario `multi`: a fleet of four hosts, each with other roles, must refuse bad input
as a whole before any of them changes. (There, beside the all-in-one scenario `default`, it keeps
`make test`'s lanes even.)
"""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import yaml
from lab import INVENTORY, PROJECT, ansible_playbook, changes, fingerprint, lab_hosts, save_score

# Two of the lab's containers, for the impossible topologies (the preflight fails before it
# looks at what they run).
FIRST, SECOND = lab_hosts()[:2]
ALL_GROUPS = ["lab", "web", "db", "cache", "worker"]


@dataclass(frozen=True)
class Bad:
    name: str
    named: str  # what the failure message must contain: the variable (and what it wants)
    extra: dict = field(default_factory=dict)
    groups: dict | None = None  # group -> hosts, instead of the lab's own inventory


CASES = [
    # Wrong types.
    Bad("ssh-port-not-a-number", "ssh_port", {"ssh_port": "twenty-two"}),
    Bad("gunicorn-workers-not-a-number", "gunicorn_workers", {"gunicorn_workers": "many"}),
    Bad("firewall-rules-not-a-list", "firewall_rules", {"firewall_rules": "8080"}),
    Bad("admin-sudo-not-a-choice", "sudo", {"common_admin_users": [{"name": "ops", "sudo": "sometimes"}]}),
    Bad("cache-backend-not-a-choice", "django_cache_backend", {"django_cache_backend": "redis-cluster"}),
    # Missing secrets and example values.
    Bad(
        "secret-from-a-missing-vault-variable",
        "vault_django_secret_key_typo",
        {"django_secret_key": "{{ vault_django_secret_key_typo }}"},
    ),
    Bad("secret-too-short", "django_secret_key", {"django_secret_key": "short"}),
    Bad(
        "example-secret-in-production",
        "vault_django_database_password",
        {"stack_environment": "production", "vault_django_database_password": "CHANGE_ME"},
    ),
    # Invalid host names, CIDRs, paths.
    Bad("server-name-with-spaces", "nginx_server_names", {"nginx_server_names": ["app example com"]}),
    Bad("restricted-network-not-a-cidr", "nginx_restricted_allow", {"nginx_restricted_allow": ["10.0.0.300/24"]}),
    Bad(
        "firewall-source-prefix-33",
        "10.1.2.0/33",
        {"firewall_rules": [{"name": "metrics", "ports": [9100], "sources": ["10.1.2.0/33"]}]},
    ),
    Bad("release-escapes-its-directory", "django_release", {"django_release": "1/../../etc"}),
    Bad("unknown-timezone", "common_timezone", {"common_timezone": "Mars/Olympus Mons"}),
    # Impossible combinations.
    Bad("acme-without-an-email", "nginx_acme_email", {"nginx_tls_source": "acme", "nginx_acme_email": ""}),
    Bad("firewall-port-out-of-range", "ports are 1-65535", {"firewall_rules": [{"name": "metrics", "ports": [70000]}]}),
    Bad("port-collision-with-nginx", "port collision", {"firewall_rules": [{"name": "alt-https", "ports": [443]}]}),
    Bad("ssh-only-for-a-group-nobody-is-in", "ssh_allow_groups", {"ssh_allow_groups": ["wheel"]}),
    Bad("no-admin-left-with-passwords-off", "lock everybody out", {"common_admin_users": []}),
    Bad(
        "db-group-declared-without-a-host",
        "group db is declared but has no host",
        groups={
            "lab": [FIRST, SECOND],
            "web": [FIRST, SECOND],
            "worker": [FIRST, SECOND],
            "cache": [FIRST, SECOND],
            "db": [],
        },
    ),
    Bad(
        "two-db-hosts-for-one-stack",
        "group db has 2 hosts",
        groups={"lab": [FIRST, SECOND], "web": [FIRST], "worker": [FIRST], "cache": [FIRST], "db": [FIRST, SECOND]},
    ),
    Bad(
        "beat-on-two-workers-of-one-broker",
        "celery_beat",
        {"celery_beat": True},
        groups={"lab": [FIRST, SECOND], "web": [FIRST], "db": [FIRST], "cache": [FIRST], "worker": [FIRST, SECOND]},
    ),
    Bad(
        "backup-host-inside-the-stack",
        "group backup",
        groups={"lab": [FIRST, SECOND], **{g: [FIRST, SECOND] for g in ALL_GROUPS[1:]}, "backup": [SECOND]},
    ),
]


def lab_inventory(tmp_path, groups: dict) -> str:
    """The lab's containers in other groups, with the lab's group_vars."""
    connection = {"ansible_connection": "community.docker.docker"}
    data = {"all": {"hosts": {h: connection for h in lab_hosts()}}}
    data.update({g: {"hosts": {h: None for h in hosts}} for g, hosts in groups.items()})
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(data))
    (tmp_path / "group_vars").symlink_to(PROJECT / "molecule" / "shared" / "group_vars")
    return str(tmp_path / "hosts.yml")


@pytest.fixture(scope="module")
def before():
    return {name: fingerprint(name) for name in lab_hosts()}


@pytest.fixture(scope="module")
def runs(before, tmp_path_factory):
    def run(case: Bad):
        args = ["-e", json.dumps(case.extra)] if case.extra else []
        if case.groups is not None:
            args += ["-i", lab_inventory(tmp_path_factory.mktemp(case.name), case.groups)]
        return ansible_playbook(*args, str(PROJECT / "site.yml"), inventory=None if case.groups else INVENTORY)

    # Three at a time: each run mostly waits on the containers.
    with ThreadPoolExecutor(max_workers=3) as pool:
        return dict(zip((case.name for case in CASES), pool.map(run, CASES), strict=True))


def failure(output: str) -> str:
    return output[output.find("fatal:") :] if "fatal:" in output else output


def plays(output: str) -> list[str]:
    return re.findall(r"^PLAY \[(.+?)\]", output, re.M)


def recap_changes(output: str) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


PREFLIGHT = "Preflight - validate the inventory before any host is touched"


def output_of(result) -> str:
    return result.stdout + result.stderr


def stopped_in_preflight(output: str) -> bool:
    """Only the preflight play started, and the recap shows no change on any host."""
    return plays(output) in ([], [PREFLIGHT]) and set(recap_changes(output).values()) <= {0}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_run_fails(runs, case):
    assert runs[case.name].returncode != 0, runs[case.name].stdout[-3000:]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_it_stops_in_the_preflight_before_any_change(runs, case):
    output = output_of(runs[case.name])
    assert stopped_in_preflight(output), (plays(output), recap_changes(output))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_the_message_names_the_variable(runs, case):
    output = output_of(runs[case.name])
    assert case.named in failure(output), failure(output)[-3000:]


def test_nothing_on_the_hosts_changed(runs, before):
    after = {name: fingerprint(name) for name in lab_hosts()}
    changed = "\n".join(
        f"{name}:\n{changes(before[name], after[name])}" for name in before if after[name] != before[name]
    )
    assert not changed, changed


def test_bad_input_score(runs, before):
    good = 0
    for case in CASES:
        output = output_of(runs[case.name])
        good += runs[case.name].returncode != 0 and stopped_in_preflight(output) and case.named in failure(output)
    unchanged = {name: fingerprint(name) for name in lab_hosts()} == before
    line = (
        f"bad-input suite: {good}/{len(CASES)} refused before any change, naming the variable"
        f" (hosts unchanged: {unchanged})"
    )
    save_score("bad-input", line)
    assert good == len(CASES) >= 15, line
    assert unchanged, line
