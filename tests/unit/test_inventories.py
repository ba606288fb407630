"""The example inventories are complete and parse, and the staging vault opens with its documented password."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import ROOT

EXPECTED = {
    "staging": {"web": 1, "db": 1, "cache": 1, "worker": 1},
    "production": {"web": 2, "db": 1, "cache": 1, "worker": 1, "backup": 1},
}


def inventory(env: str) -> dict:
    result = subprocess.run(
        [
            "ansible-inventory",
            "-i",
            str(ROOT / "inventories" / env),
            "--list",
            "--vault-password-file",
            str(ROOT / "inventories" / "staging" / "vault-password.txt"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("env", sorted(EXPECTED))
def test_inventory_groups(env):
    data = inventory(env)
    sizes = {group: len(data.get(group, {}).get("hosts", [])) for group in EXPECTED[env]}
    assert sizes == EXPECTED[env]


def test_staging_is_all_in_one():
    data = inventory("staging")
    hosts = {h for g in ("web", "db", "cache", "worker") for h in data[g]["hosts"]}
    assert len(hosts) == 1


def test_production_hosts_have_private_addresses():
    hostvars = inventory("production")["_meta"]["hostvars"]
    assert all("private_address" in v for v in hostvars.values())


def test_staging_vault_is_encrypted_and_opens():
    vault = ROOT / "inventories" / "staging" / "group_vars" / "all" / "vault.yml"
    assert vault.read_text().startswith("$ANSIBLE_VAULT;")
    hostvars = inventory("staging")["_meta"]["hostvars"]
    (aio,) = hostvars.values()
    assert aio["vault_common_ops_password_hash"].startswith("$6$")


def test_no_plaintext_secret_in_inventories():
    """Secrets are referenced from vault_* variables, never written in plain group_vars."""
    for path in (ROOT / "inventories").rglob("*.yml"):
        if path.name == "vault.yml":
            continue
        text = path.read_text()
        assert "$6$" not in text, path
        assert 'password_hash: "{{ vault_' in text or "password_hash" not in text, path
