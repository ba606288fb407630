"""The wiring derives from the inventory and never restates a role's default.

A role input read where its role is not loaded goes through the
``djangostack.stack.role_input`` lookup (the inventory's value, else the role's own
default); ``<role input> | default(...)`` in group_vars/all/wiring.yml is a copy
of that default that silently disagrees the day the role changes it.
"""

from __future__ import annotations

import json
import os
import subprocess

import jinja2
import jinja2.nodes
import yaml
from conftest import ROLES, ROOT, load_source

_strings = load_source("plugins/action/preflight.py", "preflight_action")._strings
WIRING = yaml.safe_load((ROOT / "group_vars" / "all" / "wiring.yml").read_text())
ROLE_INPUTS = {
    name: role.name for role in ROLES for name in (yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {})
}


def _defaulted_name(node) -> str | None:
    """The variable a `| default(...)` applies to: `x`, `hostvars[h].x`, `hostvars[h]['x']`."""
    if isinstance(node, jinja2.nodes.Name):
        return node.name
    if isinstance(node, jinja2.nodes.Getattr):
        return node.attr
    if isinstance(node, jinja2.nodes.Getitem) and isinstance(node.arg, jinja2.nodes.Const):
        return str(node.arg.value)
    return None


def restated_defaults(wiring: dict, role_inputs: dict) -> list[str]:
    """`<role input> | default(...)` anywhere in the wiring's values."""
    env = jinja2.Environment(autoescape=True)  # parses only, renders nothing
    found = []
    for key, value in wiring.items():
        for text in _strings(value):
            for node in env.parse(text).find_all(jinja2.nodes.Filter):
                if node.name in ("default", "d"):
                    name = _defaulted_name(node.node)
                    if name in role_inputs:
                        found.append(f"{key}: restates the default of {name} (role {role_inputs[name]})")
    return found


def test_the_wiring_restates_no_role_default():
    assert restated_defaults(WIRING, ROLE_INPUTS) == []


def test_a_planted_restated_default_is_found():
    planted = {
        "stack_db_port": "{{ hostvars[stack_db_host].postgresql_port | default(5432) }}",
        "stack_database_name": "{{ django_database_name | default(django_app) }}",
        "stack_cache_port": "{{ hostvars[h]['redis_cache_port'] | d(6379) }}",
        "firewall_ssh_ports": "{{ [ansible_port | default(22)] }}",
        "backup_sources": ["{{ groups['db'] | default([]) }}"],
    }
    inputs = {"postgresql_port": "postgresql", "django_database_name": "django", "redis_cache_port": "redis"}
    assert restated_defaults(planted, inputs) == [
        "stack_db_port: restates the default of postgresql_port (role postgresql)",
        "stack_database_name: restates the default of django_database_name (role django)",
        "stack_cache_port: restates the default of redis_cache_port (role redis)",
    ]


lookup = load_source("plugins/lookup/role_input.py", "role_input_lookup")


def test_an_input_belongs_to_the_longest_role_name_that_prefixes_it():
    assert lookup.owner("backup_source_user") == "backup_source"
    assert lookup.owner("backup_pull_user") == "backup"


PLAY = """
- hosts: all
  gather_facts: false
  vars:
    nginx_allow_from: [10.0.0.0/8]
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ answers | to_json }}"
      delegate_to: localhost
      vars:
        answers:
          port: "{{ lookup('djangostack.stack.role_input', 'postgresql_port') }}"
          port_of_db: "{{ lookup('djangostack.stack.role_input', 'postgresql_port', host='db1') }}"
          port_default: "{{ lookup('djangostack.stack.role_input', 'postgresql_port', host='db1', inventory=false) }}"
          database: "{{ lookup('djangostack.stack.role_input', 'django_database_name') }}"
          media: "{{ lookup('djangostack.stack.role_input', 'django_media_dir') }}"
          rules: >-
            {{ query('djangostack.stack.role_input', 'nginx', 'common', 'celery', contribution='firewall_rules') }}
"""


def run_play(directory, inventory: str):
    """Run directory/play.yml on the controller with the collection's lookups; what it wrote to `out`."""
    out = directory / "out.json"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"))
    result = subprocess.run(
        ["ansible-playbook", "-i", inventory, "-c", "local", "-e", f"out={out}", "play.yml"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(out.read_text())


def test_the_lookup_answers_with_the_inventory_else_the_roles_own_default(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "hosts.yml").write_text(
        yaml.safe_dump({"all": {"hosts": {"db1": {"postgresql_port": 5433}}, "vars": {"django_app": "shop"}}})
    )
    answers = run_play(tmp_path, str(tmp_path / "hosts.yml"))
    assert answers == {
        "port": 5433,
        "port_of_db": 5433,
        "port_default": 5432,
        "database": "shop",
        "media": "/srv/shop/shared/media",
        "rules": [[{"name": "nginx", "ports": [80, 443], "protocol": "tcp", "sources": ["10.0.0.0/8"]}], []],
    }


def test_the_lookup_renders_a_loaded_roles_templated_declaration(tmp_path):
    """Where the role is loaded (its defaults are play variables), its template is rendered, not returned."""
    (tmp_path / "play.yml").write_text(
        """
- hosts: all
  gather_facts: false
  vars:
    redis_allow_from: [10.0.0.5]
    redis_firewall_rules: "{{ [{'name': 'redis', 'sources': redis_allow_from}] if redis_allow_from else [] }}"
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ query('djangostack.stack.role_input', 'redis', contribution='firewall_rules') | to_json }}"
      delegate_to: localhost
"""
    )
    assert run_play(tmp_path, "h1,") == [[{"name": "redis", "sources": ["10.0.0.5"]}]]
