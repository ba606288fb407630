"""A bad inventory fails in the preflight play, naming the variable, before any task changes a host.

The preflight play runs against the controller itself (connection local): it only
gathers facts and asserts, so nothing on this machine changes.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import ROOT

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn2ILlU0rN3a7G6fY3E9jV8m0kq9N5v7e1Qy0T8b0ZS"
GOOD_ADMIN = {"name": "ops", "ssh_keys": [KEY]}


def preflight(extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "preflight-host,",
            "-c",
            "local",
            "-e",
            "ansible_python_interpreter=" + os.environ.get("PYTHON", "python3"),
            "-e",
            json.dumps({"common_admin_users": [GOOD_ADMIN], **extra}),
            str(ROOT / "playbooks" / "preflight.yml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
        check=False,
    )


def test_good_inventory_passes():
    result = preflight({})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"ssh_port": "twenty-two"}, "ssh_port"),
        ({"common_admin_users": [{"ssh_keys": []}]}, "name"),
        ({"common_admin_users": [{"name": "ops", "sudo": "sometimes"}]}, "sudo"),
        ({"firewall_rules": "8080"}, "firewall_rules"),
        ({"ssh_password_authentication": False, "common_admin_users": [{"name": "ops"}]}, "lock everybody out"),
        ({"common_admin_users": [{**GOOD_ADMIN, "state": "absent"}]}, "lock everybody out"),
        ({"common_admin_users": [{**GOOD_ADMIN, "sudo": "password"}]}, "password_hash"),
        ({"firewall_rules": [{"name": "x", "ports": [8080], "sources": ["10.0.0.300/24"]}]}, "10.0.0.300/24"),
        ({"firewall_rules": [{"name": "a", "ports": [22]}]}, "port collision"),
        ({"common_timezone": "Mars/Olympus Mons"}, "common_timezone"),
        ({"ssh_allow_groups": ["wheel"]}, "ssh_allow_groups"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_inventory_fails_naming_the_variable(extra, named):
    result = preflight(extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert named in output, output[-3000:]
