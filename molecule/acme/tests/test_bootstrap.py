"""A brand-new server's first run, as the README's "First run on a new server" walks it: a fresh
Debian 13 container whose only way in is root with the operator's key (as a provider delivers a
VPS) is bootstrapped by djangostack.stack.bootstrap as root, then converged by site.yml as the
admin the bootstrap created; from then on root's login is refused.

The server is a container of this test's own (acme-bootstrap, on the scenario's network) reached
over real SSH from the controller, not through docker exec as the lab's instances are: what is
tested is the way in. The inventory is the production shape: ansible_user is the admin, who does
not exist yet when the bootstrap runs. Scenario acme is the lab's first-run scenario (DNS, ACME).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from lab import EPHEMERAL, PROJECT, ansible_playbook

NAME = "acme-bootstrap"
NETWORK = "djangostack-acme"
IMAGE = "djangostack/debian13-systemd:lab"
APT_CACHE = "/var/cache/djangostack/apt/trixie-bootstrap"
CONTAINER = PROJECT / "molecule" / "shared" / "vars" / "container.yml"
KEY = EPHEMERAL / "lab_admin_ed25519"  # the operator's key: root's on the new server, then the admin's
SSH = ["ssh", "-i", str(KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no"]
SSH += ["-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"]


def docker(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["docker", *args], input=stdin, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stdout}{result.stderr}"
    return result.stdout.strip()


def ssh(user: str, address: str, command: str = "true") -> subprocess.CompletedProcess:
    return subprocess.run([*SSH, f"{user}@{address}", command], capture_output=True, text=True, timeout=60, check=False)


def boot_new_server() -> str:
    """The container a provider would hand over: Debian with sshd, root's authorized_keys holding
    the operator's key, nothing else of the stack. Its address on the scenario's network."""
    subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)
    # Booted as the lab's helper containers are (molecule/shared/vars/container.yml), with an apt cache of its own.
    box = yaml.safe_load(CONTAINER.read_text())["lab_systemd_container"]
    options = ["--cgroupns", box["cgroupns_mode"], "--network", NETWORK, "--hostname", NAME]
    options += [f"--cap-add={cap}" for cap in box["capabilities"]]
    options += [f"--security-opt={opt}" for opt in box["security_opts"]]
    options += [f"--tmpfs={path}" for path in box["tmpfs"]]
    options += ["-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw", "-v", f"{APT_CACHE}:/var/cache/apt/archives:rw"]
    docker("run", "-d", "--name", NAME, "--label", "djangostack-lab=bootstrap", *options, IMAGE, box["command"])
    for _ in range(60):
        state = subprocess.run(
            ["docker", "exec", NAME, "systemctl", "is-system-running"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    else:
        pytest.fail(f"{NAME} did not boot: systemd says {state!r}")
    authorize = "install -d -m 0700 /root/.ssh && cat > /root/.ssh/authorized_keys"
    docker("exec", "-i", NAME, "sh", "-c", authorize, stdin=Path(f"{KEY}.pub").read_text())
    docker("exec", NAME, "systemctl", "enable", "--now", "ssh")
    return docker("inspect", "-f", '{{ (index .NetworkSettings.Networks "' + NETWORK + '").IPAddress }}', NAME)


def inventory(base: Path, address: str) -> Path:
    """The production shape for one base host: it connects as the admin `ops` with sudo."""
    (base / "group_vars").mkdir(parents=True)
    admin = {"name": "ops", "ssh_keys": [Path(f"{KEY}.pub").read_text().strip()], "sudo": "nopasswd"}
    (base / "group_vars" / "all.yml").write_text(
        yaml.safe_dump({"stack_environment": "lab", "common_admin_users": [admin]})
    )
    host = {
        "ansible_host": address,
        "ansible_user": "ops",
        "ansible_become": True,
        "ansible_ssh_private_key_file": str(KEY),
    }
    (base / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {NAME: host}}}))
    return base / "hosts.yml"


def recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The PLAY RECAP counters of the new server in a run's output ({} when it has no line)."""
    for line in result.stdout.splitlines():
        if line.startswith(f"{NAME} ") and " : " in line:
            return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line)}
    return {}


def run(inventory_file: Path, playbook: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_HOST_KEY_CHECKING="False")
    return ansible_playbook("-i", str(inventory_file), playbook, *args, inventory=None, env=env, timeout=1200)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    address = boot_new_server()
    yield address, inventory(tmp_path_factory.mktemp("bootstrap-inventory"), address)
    subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)


@pytest.fixture(scope="module")
def before(server):
    """Logins of root and of the admin on the new server, before anything ran."""
    address, _ = server
    return {user: ssh(user, address).returncode for user in ("root", "ops")}


@pytest.fixture(scope="module")
def bootstrapped(server, before):
    address, hosts = server
    result = run(hosts, "djangostack.stack.bootstrap")
    print(f"\n[bootstrap] exit {result.returncode}\n{result.stdout[-2500:]}{result.stderr[-2000:]}")
    return result, {"root": ssh("root", address), "ops": ssh("ops", address, "sudo -n id -un")}


@pytest.fixture(scope="module")
def converged(server, bootstrapped):
    address, hosts = server
    result = run(hosts, "djangostack.stack.site")
    print(f"\n[site as ops] exit {result.returncode}\n{result.stdout[-2500:]}{result.stderr[-2000:]}")
    return result, {"root": ssh("root", address), "ops": ssh("ops", address, "sudo -n id -un")}


def test_the_new_server_lets_root_in_and_has_no_admin_yet(before):
    assert before == {"root": 0, "ops": 255}


def test_the_bootstrap_runs_as_root_on_the_new_server(bootstrapped):
    result, _ = bootstrapped
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert recap(result)["ok"] > 0
    assert (recap(result)["unreachable"], recap(result)["failed"]) == (0, 0)


def test_after_the_bootstrap_the_admin_logs_in_with_its_key_and_sudo(bootstrapped):
    _, logins = bootstrapped
    assert (logins["ops"].returncode, logins["ops"].stdout.strip()) == (0, "root"), logins["ops"].stderr


def test_the_bootstrap_stops_there_root_still_logs_in(bootstrapped):
    _, logins = bootstrapped
    assert logins["root"].returncode == 0, logins["root"].stderr


def test_site_converges_the_server_as_the_admin(converged):
    result, _ = converged
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert recap(result)["changed"] > 0
    assert (recap(result)["unreachable"], recap(result)["failed"]) == (0, 0)


def test_after_site_root_login_is_refused(converged):
    _, logins = converged
    assert logins["root"].returncode == 255
    assert "Permission denied" in logins["root"].stderr


def test_after_site_the_admin_still_logs_in_with_sudo(converged):
    _, logins = converged
    assert (logins["ops"].returncode, logins["ops"].stdout.strip()) == (0, "root"), logins["ops"].stderr


def test_the_bootstrap_run_again_as_the_admin_changes_nothing(server, converged):
    _, hosts = server
    result = run(hosts, "djangostack.stack.bootstrap", "-e", "bootstrap_user=ops")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert recap(result)["ok"] > 0
    assert (recap(result)["changed"], recap(result)["failed"]) == (0, 0)
