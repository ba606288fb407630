"""Drift: hand-made changes on a converged host are reported by `tools/drift.py` (drift.yml in
check and diff mode) per host and role, a plain converge repairs every one, and the next drift run
is clean. The score (detected and repaired out of injected) is printed and kept for `make test`.

One all-in-one host is drifted; the other stays in sync, so the report must tell them apart.

The first report (the baseline, the lab's check-mode pass) runs through the collection as a user
installs it: this tree built and installed with ansible-galaxy into a temporary directory, the
playbook by its name (djangostack.stack.drift), and nothing of the checkout on the collections
path, the roles path or a plugin path. That is how the report runs in an execution environment: its
callback, the wiring and every plugin come from the installed collection.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from lab import INVENTORY, PROJECT, ansible_playbook, instance, lab_hosts, save_score

APP = "sample"
DRIFTED = "base-debian13"


@dataclass(frozen=True)
class Drift:
    name: str
    role: str
    task: str  # a regular expression the reported task name must match: the task that sees this drift
    inject: str  # shell, run as root on the drifted host
    in_sync: str  # shell: exit 0 when the host has the desired state


def pg_hba() -> str:
    return "$(ls -d /etc/postgresql/*/main)/pg_hba.conf"


DRIFTS = [
    Drift(
        "sshd-permit-root-login",
        "ssh",
        r"Install sshd_config",
        "sed -i 's/^PermitRootLogin no$/PermitRootLogin yes/' /etc/ssh/sshd_config && systemctl reload ssh",
        "sshd -T | grep -qx 'permitrootlogin no'",
    ),
    # Before the next one: its reload would load away a rule added to the running table.
    Drift(
        "nft-fragment-dropped-by-hand",
        "firewall",
        r"Remove the fragments no role declares",
        "printf 'tcp dport 8090 accept comment \"by-hand\"\\n' > /etc/nftables.d/by-hand.nft"
        " && systemctl reload nftables",
        "test ! -e /etc/nftables.d/by-hand.nft && ! nft list table inet djangostack | grep -q 'dport 8090'",
    ),
    Drift(
        "nft-port-opened-by-hand",
        "firewall",
        r"The running ruleset is the one in",
        "nft add rule inet djangostack input tcp dport 8081 accept",
        "! nft -s -t list table inet djangostack | grep -q 'dport 8081'",
    ),
    Drift(
        "nginx-tls-1.0-enabled",
        "nginx",
        r"Install nginx\.conf",
        "sed -i 's/ssl_protocols TLSv1.2 TLSv1.3;/ssl_protocols TLSv1 TLSv1.2 TLSv1.3;/' /etc/nginx/nginx.conf"
        " && systemctl reload nginx",
        "grep -q 'ssl_protocols TLSv1.2 TLSv1.3;' /etc/nginx/nginx.conf",
    ),
    Drift(
        "celery-worker-stopped",
        "celery",
        r"Enable the units at boot, and start them",
        f"systemctl stop celery-{APP}-worker",
        f"systemctl is-active -q celery-{APP}-worker",
    ),
    Drift(
        "memcached-disabled-at-boot",
        "memcached",
        r"Enable and start memcached",
        "systemctl disable -q memcached",
        "systemctl is-enabled -q memcached",
    ),
    Drift(
        "pgbouncer-userlist-chmod-644",
        "pgbouncer",
        r"Install the authentication file",
        "chmod 644 /etc/pgbouncer/userlist.txt",
        "test $(stat -c %a /etc/pgbouncer/userlist.txt) = 640",
    ),
    Drift(
        "migration-env-file-deleted",
        "django",
        r"Install the direct database connection",
        f"rm /srv/{APP}/shared/env-direct",
        f"test $(stat -c %a:%U:%G /srv/{APP}/shared/env-direct) = 640:root:{APP}",
    ),
    Drift(
        "pg-hba-trust-line",
        "postgresql",
        r"Install pg_hba\.conf",
        f"echo 'host all all 0.0.0.0/0 trust' >> {pg_hba()} && systemctl reload postgresql",
        f"! grep -q trust {pg_hba()}",
    ),
    Drift(
        "pgbouncer-pool-mode-session",
        "pgbouncer",
        r"Install pgbouncer\.ini",
        "sed -i 's/^pool_mode = transaction$/pool_mode = session/' /etc/pgbouncer/pgbouncer.ini"
        " && systemctl reload pgbouncer",
        "grep -qx 'pool_mode = transaction' /etc/pgbouncer/pgbouncer.ini",
    ),
    Drift(
        "redis-app-password-removed",
        "redis",
        r"Install the ACL users of the instance cache",
        f"sed -i -E 's/^(user {APP} on resetpass) #[0-9a-f]{{64}}/\\1 nopass/' /etc/redis/users-cache.acl"
        " && systemctl restart redis-server@cache",
        f"redis-cli -p 6379 --user {APP} --pass not-the-password --no-auth-warning ping 2>&1 | grep -q WRONGPASS",
    ),
    Drift(
        "app-env-var-edited",
        "django",
        r"Install the environment file",
        f"sed -i 's/^DJANGO_ALLOWED_HOSTS=.*/DJANGO_ALLOWED_HOSTS=\"*\"/' /srv/{APP}/shared/env",
        f"grep -qx 'DJANGO_ALLOWED_HOSTS=\"{DRIFTED}.lab.test\"' /srv/{APP}/shared/env",
    ),
    Drift(
        "current-symlink-pointed-elsewhere",
        "django",
        r"Point current at the release",
        f"cp -a /srv/{APP}/releases/$(basename $(readlink /srv/{APP}/current)) /srv/{APP}/releases/by-hand"
        f" && ln -sfn /srv/{APP}/releases/by-hand /srv/{APP}/current",
        f"test $(basename $(readlink /srv/{APP}/current)) != by-hand",
    ),
    Drift(
        "gunicorn-unit-runs-as-root",
        "gunicorn",
        r"Install the socket and service units",
        f"sed -i 's/^User={APP}$/User=root/' /etc/systemd/system/gunicorn-{APP}.service && systemctl daemon-reload",
        f"grep -qx 'User={APP}' /etc/systemd/system/gunicorn-{APP}.service",
    ),
    Drift(
        "unattended-upgrades-removed",
        "common",
        r"Install the base package set",
        "DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq unattended-upgrades",
        "dpkg-query -W -f='${Status}' unattended-upgrades | grep -q 'ok installed'",
    ),
    Drift(
        "admin-key-added-by-hand",
        "common",
        r"Install the admins' authorized keys",
        "echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCKBz4V+3cbhCF5hPzUQvcZkcTbr+Pb8lJdgOSdwzTX intruder'"
        " >> /home/ops/.ssh/authorized_keys",
        "! grep -q intruder /home/ops/.ssh/authorized_keys",
    ),
]


# What points ansible at the checkout's roles and plugins (molecule sets some for its own steps).
CHECKOUT_PATHS = re.compile(r"^ANSIBLE_(ROLES_PATH|LIBRARY|COLLECTIONS_PATHS?|[A-Z]+_PLUGINS)$")


def succeeded(env: dict[str, str], *argv: str, cwd=None) -> str:
    """Run a command in `env`; its output, once it exited 0."""
    result = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout}{result.stderr}"
    return result.stdout


def installed_collection(base) -> dict[str, str]:
    """This tree built and installed as the collection djangostack.stack under `base`; the environment
    of a run that finds that copy and no other (the `ansible` package's collections stay: the docker
    connection, ansible.posix, ...). The install runs in that environment too: with this tree's
    collections/ on the path, ansible-galaxy would find djangostack.stack installed already and do nothing."""
    env = {name: value for name, value in os.environ.items() if not CHECKOUT_PATHS.match(name)}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(base / "collections")
    succeeded(env, "ansible-galaxy", "collection", "build", "--output-path", str(base), str(PROJECT), cwd=PROJECT)
    (archive,) = base.glob("djangostack-stack-*.tar.gz")
    installed = succeeded(
        env, "ansible-galaxy", "collection", "install", "--no-deps", "-p", str(base / "collections"), str(archive)
    )
    playbook = base / "collections" / "ansible_collections" / "djangostack" / "stack" / "playbooks" / "drift.yml"
    assert playbook.is_file(), installed
    return env


def drift_run(tmp_path_factory, label: str, *limit: str, installed: dict | None = None) -> tuple[int, dict]:
    """tools/drift.py over the lab inventory (or `--limit`): (exit code, JSON report). With `installed`
    (an installed_collection() environment), through that copy: djangostack.stack.drift by its name."""
    report = tmp_path_factory.mktemp(label) / "drift.json"
    command = [sys.executable, str(PROJECT / "tools" / "drift.py"), "-i", INVENTORY, "--json", str(report)]
    if installed:
        command += ["--playbook", "djangostack.stack.drift"]
    result = subprocess.run(
        [*command, *limit],
        capture_output=True,
        text=True,
        timeout=1200,
        env=installed,
        check=False,
    )
    summary = result.stdout[result.stdout.rfind("DRIFT REPORT") :]
    print(f"\n[{label}] drift.py exit {result.returncode}\n{summary}")
    assert report.exists(), result.stdout[-5000:] + result.stderr[-3000:]
    return result.returncode, json.loads(report.read_text())


def in_sync(drift: Drift) -> bool:
    return instance(DRIFTED).run(drift.in_sync).rc == 0


def reported(report: dict, drift: Drift) -> list[str]:
    """The tasks the report names for this drift's role on the drifted host, matching its pattern."""
    tasks = report["drifted"].get(DRIFTED, {}).get(drift.role, [])
    return [t["task"] for t in tasks if re.search(drift.task, t["task"])]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """The lab's check-mode pass, through the installed collection (see the module's docstring)."""
    installed = installed_collection(tmp_path_factory.mktemp("installed"))
    code, report = drift_run(tmp_path_factory, "baseline", installed=installed)
    return code, report, installed


@pytest.fixture(scope="module")
def injected(baseline):
    """Every drift, injected on one host of a lab the baseline run found in sync."""
    for drift in DRIFTS:
        assert in_sync(drift), f"{drift.name}: not in sync before injection"
        instance(DRIFTED).run_expect([0], drift.inject)
    return {drift.name: not in_sync(drift) for drift in DRIFTS}


@pytest.fixture(scope="module")
def detected(injected, tmp_path_factory):
    code, report = drift_run(tmp_path_factory, "drifted")
    still = {drift.name: not in_sync(drift) for drift in DRIFTS}
    return code, report, still


@pytest.fixture(scope="module")
def repaired(detected, tmp_path_factory):
    """A plain converge of the drifted host, then the drift run over it again. The other host was
    reported in sync by the run before: sparing it two whole-stack runs keeps `make test` inside
    CI's time."""
    converge = ansible_playbook("--limit", DRIFTED, str(PROJECT / "site.yml"), timeout=1800)
    assert converge.returncode == 0, converge.stdout[-6000:]
    fixed = {drift.name: in_sync(drift) for drift in DRIFTS}
    yield fixed, drift_run(tmp_path_factory, "repaired", "--limit", DRIFTED)
    instance(DRIFTED).run(f"rm -rf /srv/{APP}/releases/by-hand")


def test_converged_hosts_report_zero_changes_under_check_diff(baseline):
    """The scenario's `check` step: drift.yml --check --diff over the converged lab changes nothing."""
    code, report, _ = baseline
    assert (code, report["status"]) == (0, "in-sync"), report
    assert report["in_sync"] == lab_hosts()


def test_the_check_pass_ran_through_the_installed_collection(baseline):
    """The baseline's playbook by its name resolves to the installed copy, not to this tree."""
    _, _, installed = baseline
    found = succeeded(installed, "ansible-playbook", "--syntax-check", "-i", "localhost,", "djangostack.stack.drift")
    path = installed["ANSIBLE_COLLECTIONS_PATH"]
    assert f"{path}/ansible_collections/djangostack/stack/playbooks/drift.yml" in found
    assert str(PROJECT) not in found


@pytest.mark.parametrize("drift", DRIFTS, ids=lambda d: d.name)
def test_each_drift_was_injected(injected, drift):
    assert injected[drift.name]


def test_the_drift_run_exits_1_and_tells_drifted_from_in_sync_hosts(detected):
    code, report, _ = detected
    assert code == 1
    assert report["status"] == "drifted"
    assert list(report["drifted"]) == [DRIFTED]
    assert report["in_sync"] == [h for h in lab_hosts() if h != DRIFTED]
    assert report["failed"] == {}


@pytest.mark.parametrize("drift", DRIFTS, ids=lambda d: d.name)
def test_the_drift_is_reported_under_its_role(detected, drift):
    _, report, _ = detected
    assert reported(report, drift), f"{drift.role}: {report['drifted'].get(DRIFTED, {}).get(drift.role)}"


@pytest.mark.parametrize("drift", DRIFTS, ids=lambda d: d.name)
def test_the_drift_run_changed_nothing(detected, drift):
    _, _, still = detected
    assert still[drift.name], f"{drift.name} was repaired by the check run"


@pytest.mark.parametrize("drift", DRIFTS, ids=lambda d: d.name)
def test_a_converge_repairs_the_drift(repaired, drift):
    fixed, _ = repaired
    assert fixed[drift.name]


def test_after_the_repair_the_drift_run_is_clean(repaired):
    _, (code, report) = repaired
    assert (code, report["status"]) == (0, "in-sync"), report["drifted"]
    assert report["in_sync"] == [DRIFTED]


def test_drift_score(detected, repaired):
    _, report, _ = detected
    fixed, (code, _) = repaired
    found = sum(1 for drift in DRIFTS if reported(report, drift))
    mended = sum(1 for drift in DRIFTS if fixed[drift.name])
    line = (
        f"drift suite: {found}/{len(DRIFTS)} detected, {mended}/{len(DRIFTS)} repaired (final check clean: {code == 0})"
    )
    save_score("drift", line)
    assert found == mended == len(DRIFTS) >= 12, line
    assert code == 0, line
