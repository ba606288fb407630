"""Helpers shared by the molecule scenarios' testinfra tests (the lab's own plumbing)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import testinfra
import yaml

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", str(EPHEMERAL / "inventory" / "ansible_inventory.yml"))
PROBE_KEY = "/root/lab_admin_ed25519"
SSH_OPTS = (
    "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR"
)


def lab_hosts() -> list[str]:
    """The names of the scenario's instances (molecule's inventory)."""
    inventory = yaml.safe_load(Path(INVENTORY).read_text())
    return sorted(inventory["all"]["hosts"])


def instance(name: str):
    return testinfra.get_host(f"docker://{name}")


def probe():
    """The stock container on the lab network that tests the hosts from outside."""
    return testinfra.get_host(f"docker://{SCENARIO}-probe")


def address(host) -> str:
    """The host's IPv4 address on the lab network."""
    return host.check_output("hostname -I").split()[0]


def release(host) -> str:
    return host.system_info.release.split(".")[0]


def probe_ssh(target: str, user: str, command: str = "true", extra: str = "", port: int = 22):
    """Run `ssh` from the probe with the lab admin key; returns the testinfra CommandResult."""
    return probe().run(f"ssh {SSH_OPTS} -i {PROBE_KEY} -p {port} {extra} {user}@{target} {command}")


def ansible_playbook(*args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run ansible-playbook against the scenario's inventory, as molecule does."""
    env = dict(os.environ, ANSIBLE_ROLES_PATH=str(PROJECT / "roles"), ANSIBLE_NOCOLOR="1")
    env.pop("DJANGOSTACK_REPORT_DIR", None)
    return subprocess.run(
        ["ansible-playbook", "-i", INVENTORY, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def report(kind: str) -> dict:
    """The djangostack_report callback's last report of a kind ('check' or 'apply')."""
    return json.loads((EPHEMERAL / "reports" / f"{kind}.json").read_text())
