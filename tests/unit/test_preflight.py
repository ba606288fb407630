"""A bad inventory fails in the preflight play, naming the variable, before any task changes a host.

The preflight play runs against the controller itself (connection local): it only
gathers facts and asserts, so nothing on this machine changes.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from conftest import ROOT

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICCKBz4V+3cbhCF5hPzUQvcZkcTbr+Pb8lJdgOSdwzTX unit"
EXAMPLE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn2ILlU0rN3a7G6fY3E9jV8m0kq9N5v7e1Qy0T8b0ZS ops@example"
GOOD_ADMIN = {"name": "ops", "ssh_keys": [KEY]}


WEB = {
    "django_app": "sample",
    "django_project_dir": str(ROOT / "app"),
    "django_package": "djangostack-sample",
    "django_settings_module": "sample.settings",
    "django_wsgi_app": "sample.wsgi:application",
    "django_secret_key": "unit-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
}


def preflight(extra: dict, inventory: str = "preflight-host,") -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        [
            "ansible-playbook",
            "-i",
            inventory,
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


def failure(result: subprocess.CompletedProcess) -> str:
    """The output from the first failed task on: the variable must be named there."""
    output = result.stdout + result.stderr
    return output[output.find("fatal:") :] if "fatal:" in output else output


def test_good_inventory_passes():
    result = preflight({"vault_django_secret_key": "a-real-secret-0123456789"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_values_are_refused_only_in_production():
    example = {
        "vault_django_secret_key": "CHANGE_ME",
        "common_admin_users": [{"name": "ops", "ssh_keys": [EXAMPLE_KEY]}],
    }
    assert preflight({**example, "stack_environment": "staging"}).returncode == 0
    assert preflight(example).returncode != 0


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
        ({"firewall_rules": [{"name": "a", "ports": [70000]}]}, "ports are 1-65535"),
        ({"common_timezone": "Mars/Olympus Mons"}, "common_timezone"),
        ({"vault_django_secret_key": "CHANGE_ME"}, "vault_django_secret_key"),
        ({"vault_redis_admin_password": ""}, "vault_redis_admin_password"),
        ({"common_admin_users": [{"name": "ops", "ssh_keys": [EXAMPLE_KEY]}]}, "the example key"),
        ({"stack_environment": "prod"}, "stack_environment"),
        ({"ssh_allow_groups": ["wheel"]}, "ssh_allow_groups"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_inventory_fails_naming_the_variable(extra, named):
    result = preflight(extra)
    assert result.returncode != 0
    assert named in failure(result), failure(result)[-3000:]


@pytest.fixture(scope="module")
def web_inventory(tmp_path_factory) -> str:
    """The same host, in the group web: the web roles' inputs are validated too."""
    path = tmp_path_factory.mktemp("inventory") / "hosts.yml"
    path.write_text("web:\n  hosts:\n    preflight-host:\n")
    return str(path)


def test_good_web_inventory_passes(web_inventory):
    result = preflight(WEB, web_inventory)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"nginx_tls_source": "letsencrypt"}, "nginx_tls_source"),
        ({"nginx_tls_source": "provided"}, "nginx_tls_certificate"),
        ({"nginx_tls_source": "acme"}, "nginx_acme_email"),
        ({"nginx_tls_source": "acme", "nginx_acme_email": "ops at example"}, "nginx_acme_email"),
        ({"nginx_server_names": ["app example com"]}, "nginx_server_names"),
        ({"nginx_restricted_allow": ["everyone"]}, "nginx_restricted_allow"),
        ({"nginx_restricted_allow": ["10.0.0.300/24"]}, "not valid: 10.0.0.300/24"),
        ({"nginx_static_url": "/static"}, "nginx_static_url"),
        ({"firewall_rules": [{"name": "alt-https", "ports": [443]}]}, "port collision"),
        ({"gunicorn_workers": "many"}, "gunicorn_workers"),
        ({"django_secret_key": "short"}, "django_secret_key"),
        ({"django_release": "1/../../etc"}, "django_release"),
        ({"django_package": ""}, "django_package"),
        ({"django_keep_releases": 1}, "django_keep_releases"),
        ({"django_environment": {"BAD NAME": "x"}}, "django_environment"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_web_inventory_fails_naming_the_variable(web_inventory, extra, named):
    result = preflight({**WEB, **extra}, web_inventory)
    assert result.returncode != 0
    assert named in failure(result), failure(result)[-3000:]


def test_a_declared_db_group_without_a_host_is_refused(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text("web:\n  hosts:\n    preflight-host:\ndb:\n  hosts: {}\n")
    result = preflight(WEB, str(path))
    assert result.returncode != 0
    assert "group db is declared but has no host" in failure(result), failure(result)[-3000:]


def test_every_broken_rule_of_a_role_is_reported_at_once(web_inventory):
    """One preflight task per role: all of its broken rules in one run, each naming its variable."""
    result = preflight({**WEB, "nginx_server_names": ["app example com"], "nginx_static_url": "/static"}, web_inventory)
    assert result.returncode != 0
    output = failure(result)
    assert "nginx_server_names: host names only" in output, output[-3000:]
    assert "nginx: /static must start and end with '/'" in output, output[-3000:]


def test_a_wrong_type_is_reported_by_the_argument_spec_before_the_rules_run(web_inventory):
    result = preflight({**WEB, "nginx_server_names": {"app.example.com": True}}, web_inventory)
    assert result.returncode != 0
    output = failure(result)
    assert "nginx: argument ''nginx_server_names'' is of type dict" in output, output[-3000:]
    assert "djangostack.stack.nginx: argument" not in output  # the role by its own name, as its inputs
    assert "host names only" not in output, output[-3000:]


def _checks_the_wiring() -> bool:
    """Whether playbooks/preflight.yml has its task refusing the wiring's variables in an inventory."""
    plays = yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text())
    return any(
        isinstance(task.get("djangostack.stack.preflight"), dict) and "wiring" in task["djangostack.stack.preflight"]
        for play in plays
        for task in play.get("tasks", [])
    )


def unfolded(output: str) -> str:
    """The output as plain text: YAML's single-quoted scalars doubled the quotes and folded the lines."""
    return " ".join(output.replace("''", "'").split())


needs_the_wiring_task = pytest.mark.skipif(
    not _checks_the_wiring(),
    reason="playbooks/preflight.yml has no djangostack.stack.preflight task with `wiring` yet",
)


@needs_the_wiring_task
def test_a_wired_variable_in_the_inventorys_vars_is_refused(tmp_path):
    """The inventory's all.vars are outranked by the playbooks' group_vars: the value would do nothing."""
    path = tmp_path / "hosts.yml"
    inventory = {"all": {"hosts": {"preflight-host": None}, "vars": {"ssh_admin_users": [GOOD_ADMIN]}}}
    path.write_text(yaml.safe_dump(inventory))
    result = preflight({"vault_django_secret_key": "a-real-secret-0123456789"}, str(path))
    assert result.returncode != 0
    output = unfolded(failure(result))
    assert (
        "ssh_admin_users is set by the stack's wiring (group_vars/all/wiring.yml) and the inventory's value is "
        "ignored: remove it from the inventory and set common_admin_users instead"
    ) in output, output[-3000:]


@needs_the_wiring_task
def test_a_wired_variable_in_the_inventorys_group_vars_or_host_vars_is_refused(tmp_path):
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    preflight-host:\n")
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump({"ssh_admin_users": [GOOD_ADMIN]}))
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "host_vars" / "preflight-host.yml").write_text(yaml.safe_dump({"ssh_admin_group": "admins"}))
    result = preflight({"vault_django_secret_key": "a-real-secret-0123456789"}, str(tmp_path / "hosts.yml"))
    assert result.returncode != 0
    output = unfolded(failure(result))
    assert "ssh_admin_users is set by the stack's wiring" in output, output[-3000:]
    assert "set common_admin_users instead" in output, output[-3000:]
    assert "ssh_admin_group is set by the stack's wiring" in output, output[-3000:]
    assert "set common_admin_group instead" in output, output[-3000:]


@needs_the_wiring_task
def test_a_wired_variable_in_extra_vars_is_not_refused():
    """-e is not the inventory: it outranks the wiring, and the preflight lets it through."""
    result = preflight({"vault_django_secret_key": "a-real-secret-0123456789", "ssh_admin_users": [GOOD_ADMIN]})
    output = unfolded(result.stdout + result.stderr)
    assert "set by the stack's wiring" not in output, output[-3000:]
    assert result.returncode == 0, output[-3000:]
