"""Moving sshd to another port over a real SSH connection (not the lab's docker connection): the run
that changes ssh_port and the firewall never loses its connection and ends with sshd reachable on the
new port; the run after the inventory moved too closes the old port. Every task opens its own SSH
connection (plain linear strategy, no ControlMaster), so a port closed under the run would fail it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from lab import EPHEMERAL, INVENTORY, PROJECT, address, ansible_playbook, instance, lab_hosts

NAME = lab_hosts()[-1]
NEW = 2222
KEY = str(EPHEMERAL / "lab_admin_ed25519")
SSH = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]


def ssh_from_controller(port: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ssh", *SSH, "-o", "ConnectTimeout=5", "-i", KEY, "-p", str(port), f"ops@{address(instance(NAME))}", "id -un"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def over_ssh(tmp_path_factory):
    """An inventory of the same host reached over SSH as the admin (sudo), with the lab's groups and group_vars."""
    lab = yaml.safe_load(Path(INVENTORY).read_text())
    groups = [g for g, body in lab.items() if g != "all" and NAME in ((body or {}).get("hosts") or {})]
    host = {
        "ansible_connection": "ssh",
        "ansible_host": address(instance(NAME)),
        "ansible_user": "ops",
        "ansible_become": True,
        "ansible_ssh_private_key_file": KEY,
        "ansible_ssh_common_args": " ".join(SSH),
    }
    data = {"all": {"hosts": {NAME: host}}, **{g: {"hosts": {NAME: None}} for g in groups}}
    directory = tmp_path_factory.mktemp("over-ssh")
    (directory / "hosts.yml").write_text(yaml.safe_dump(data))
    (directory / "group_vars").symlink_to(PROJECT / "molecule" / "shared" / "group_vars")
    yield str(directory / "hosts.yml")
    # Back to the lab's port 22 only, over the lab's own connection.
    back = ansible_playbook("--limit", NAME, "--tags", "ssh,firewall", str(PROJECT / "site.yml"))
    assert back.returncode == 0, back.stdout[-3000:]
    assert ssh_from_controller(22).returncode == 0


def converge(inventory: str, ansible_port: int):
    # Plain linear: the Mitogen strategy keeps one SSH connection per host for the whole run,
    # which a port closed under the run would not break; here every task must connect anew.
    env = dict(os.environ, ANSIBLE_SSH_ARGS="-o ControlMaster=no", ANSIBLE_STRATEGY="linear")
    extra = f'{{"ssh_port": {NEW}, "ansible_port": {ansible_port}}}'
    # ssh and firewall in the base play, nginx in the app play: tasks after sshd's reload.
    return ansible_playbook(
        "-i", inventory, "--tags", "ssh,firewall,nginx", "-e", extra, str(PROJECT / "site.yml"), inventory=None, env=env
    )


@pytest.fixture(scope="module")
def moved(over_ssh):
    return converge(over_ssh, 22)


@pytest.fixture(scope="module")
def settled(moved, over_ssh):
    return converge(over_ssh, NEW)


def test_the_run_that_moves_sshd_keeps_its_connection(moved):
    assert moved.returncode == 0, moved.stdout[-5000:]
    assert "unreachable=0" in moved.stdout
    assert "Reload sshd" in moved.stdout


def test_sshd_answers_on_the_new_port_after_the_move(moved):
    assert ssh_from_controller(NEW).stdout.strip() == "ops"


def test_the_old_port_stays_until_the_inventory_moves(moved):
    assert ssh_from_controller(22).stdout.strip() == "ops"


def test_the_run_over_the_new_port_closes_the_old_one(settled):
    assert settled.returncode == 0, settled.stdout[-5000:]
    assert ssh_from_controller(NEW).stdout.strip() == "ops"
    assert ssh_from_controller(22).returncode == 255
    sshd = instance(NAME).check_output("ss -Htlnp | grep '\"sshd' | awk '{print $4}'").split()
    assert sshd, "sshd listens nowhere"
    assert all(socket.endswith(f":{NEW}") for socket in sshd), sshd


def test_the_firewall_admits_ssh_on_the_new_port_only(settled):
    chain = instance(NAME).check_output("nft list chain inet djangostack input")
    rules = [line for line in chain.splitlines() if 'comment "ssh"' in line]
    assert rules, chain
    for rule in rules:
        ports = re.search(r"dport (\{[^}]*\}|\d+)", rule).group(1)
        assert set(re.findall(r"\d+", ports)) == {str(NEW)}, rule
