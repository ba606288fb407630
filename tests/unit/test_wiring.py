"""A role option the wiring sets says so in its argument spec, and no other option does.

Playbook-adjacent group_vars outrank the inventory's, so an inventory that sets an option of
group_vars/all/wiring.yml silently changes nothing. Its description in the role's
meta/argument_specs.yml (and so docs/roles) marks it "(wired)" or "(wired from <inputs>)"; a mark
on an option the wiring no longer sets is stale. The preflight refuses such a variable in an
inventory (plugins/action/preflight.py, `wiring`), naming the inputs to set instead:
its derivation of those inputs is tested here too.
"""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROLES, ROOT, load_source

WIRING = yaml.safe_load((ROOT / "group_vars" / "all" / "wiring.yml").read_text())
SPECS = {
    role.name: yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    for role in ROLES
}
# Keys the wiring is about to set (role contributions collected by the wiring): wired even before it does.
ALSO_WIRED = {"firewall_dependent_rules", "django_services"}
MARK = re.compile(r"\(wired(?: from [^()]+)?\)")
# What tools/roledocs.py flags as wired in docs/roles: any such text must be true.
LOOSE_MARK = "(wired"

preflight = load_source("plugins/action/preflight.py", "djangostack_preflight_action")


def description(spec: dict) -> str:
    text = spec.get("description", "")
    return " ".join(text) if isinstance(text, list) else str(text)


def is_marked(spec: dict) -> bool:
    """The description says "(wired)" or "(wired from <inputs>)"."""
    return bool(MARK.search(" ".join(description(spec).split())))


def looks_marked(spec: dict) -> bool:
    """The description says "(wired" in any form: the docs flag the option as wired."""
    return LOOSE_MARK in description(spec).lower()


def role_of(name: str, specs: dict) -> str | None:
    """The role an option belongs to, by its name prefix (the longest role name: backup_source_ before backup_)."""
    return next((role for role in sorted(specs, key=len, reverse=True) if name.startswith(f"{role}_")), None)


def wired_options(wiring: dict, specs: dict) -> dict[str, str]:
    """{option: role} of every top-level key of the wiring that is an option of its role."""
    found = {}
    for name in wiring:
        role = role_of(name, specs)
        if role is not None and name in specs[role]:
            found[name] = role
    return found


def unmarked(wiring: dict, specs: dict) -> list[str]:
    """Options the wiring sets whose description does not say "(wired)" / "(wired from ...)"."""
    return sorted(name for name, role in wired_options(wiring, specs).items() if not is_marked(specs[role][name]))


def _marked_paths(options: dict, prefix: str = ""):
    for name, spec in options.items():
        if looks_marked(spec):
            yield prefix + name
        yield from _marked_paths(spec.get("options") or {}, f"{prefix}{name}.")


def stale(wiring: dict, specs: dict) -> list[str]:
    """Marked options the wiring does not set (a sub-option's mark counts when its option is wired)."""
    wired = wired_options(wiring, specs)
    return sorted(
        path for options in specs.values() for path in _marked_paths(options) if path.split(".")[0] not in wired
    )


def test_every_option_the_wiring_sets_is_marked_wired():
    wiring = {**WIRING, **dict.fromkeys(ALSO_WIRED, "")}
    assert unmarked(wiring, SPECS) == [], (
        "set by group_vars/all/wiring.yml (an inventory cannot change them), but not marked in their "
        'argument spec: end the description with " (wired)" or say "(wired from <inputs>)"'
    )


def test_every_option_marked_wired_is_set_by_the_wiring():
    wiring = {**WIRING, **dict.fromkeys(ALSO_WIRED, "")}
    assert stale(wiring, SPECS) == [], "marked wired in its argument spec, but the wiring does not set it"


def test_the_contributions_about_to_be_wired_are_role_options():
    assert {name: role_of(name, SPECS) for name in ALSO_WIRED} == {
        "firewall_dependent_rules": "firewall",
        "django_services": "django",
    }
    assert all(name in SPECS[role_of(name, SPECS)] for name in ALSO_WIRED)


PLANTED_SPECS = {
    "web": {
        "web_port": {"type": "int", "description": "Port (wired from app_port)."},
        "web_user": {"type": "str", "description": "Account the server runs as."},
        "web_name": {"type": "str", "description": ["Unit name,", "from the app (wired)."]},
        "web_root": {"type": "str", "description": "Document root (wired from app_root)."},
        "web_group": {"type": "str", "description": "Group (Wired on web hosts)."},
        "web_sites": {
            "type": "list",
            "description": "Sites.",
            "options": {"port": {"type": "int", "description": "Port of the site (wired)."}},
        },
    },
    "web_tls": {"web_tls_mode": {"type": "str", "description": "TLS mode."}},
}
PLANTED_WIRING = {
    "stack_app": "{{ app_name }}",  # no role's option
    "web_port": "{{ app_port }}",
    "web_user": "{{ stack_app }}",  # planted: wired, not marked
    "web_name": "{{ stack_app }}",
    "web_tls_mode": "{{ 'on' }}",  # planted: wired (role web_tls, not web), not marked
}


def test_planted_unmarked_wired_options_are_reported():
    assert unmarked(PLANTED_WIRING, PLANTED_SPECS) == ["web_tls_mode", "web_user"]


def test_planted_stale_marks_are_reported():
    # web_root, web_group (a loose mark, flagged in the docs all the same): marked, not wired;
    # web_sites.port: a sub-option's mark, its option not wired.
    assert stale(PLANTED_WIRING, PLANTED_SPECS) == ["web_group", "web_root", "web_sites.port"]


def test_the_marks_pass_once_the_planted_mistakes_are_fixed():
    specs = yaml.safe_load(yaml.safe_dump(PLANTED_SPECS))
    specs["web"]["web_user"]["description"] += " (wired from app_name)"
    specs["web_tls"]["web_tls_mode"]["description"] += " (wired)"
    specs["web"]["web_root"]["description"] = "Document root."
    specs["web"]["web_group"]["description"] = "Group, on web hosts."
    assert unmarked(PLANTED_WIRING, specs) == []
    assert stale(PLANTED_WIRING, specs) == ["web_sites.port"]
    # a sub-option's mark is right once its option is wired (and marked)
    specs["web"]["web_sites"]["description"] += " (wired from app_sites)"
    wiring = {**PLANTED_WIRING, "web_sites": "{{ app_sites }}"}
    assert unmarked(wiring, specs) == []
    assert stale(wiring, specs) == []


@pytest.mark.parametrize(
    ("description_", "marked", "flagged"),
    [
        ("Port (wired).", True, True),
        ("Port (wired)", True, True),
        ("Port (wired from ssh_port and the connection port).", True, True),
        (["Port,", "(wired from ssh_port)."], True, True),
        ("Port, wired to the connection port.", False, False),
        ("Port (wired on web hosts).", False, True),
        ("Port (Wired).", False, True),
        ("Port (wiring adds one).", False, False),
    ],
)
def test_what_counts_as_a_mark(description_, marked, flagged):
    """A wired option needs the mark; anything the docs flag as wired must be wired."""
    assert is_marked({"description": description_}) is marked
    assert looks_marked({"description": description_}) is flagged


# The preflight's reading of the wiring: what to set instead of a wired variable.

INPUTS = preflight.wiring_inputs(WIRING)


def test_every_wiring_expression_parses():
    env = preflight._parser()
    for key, value in WIRING.items():
        for text in preflight._strings(value):
            env.parse(text)  # a syntax error would silently hide the value's inputs
            assert key in INPUTS


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("ssh_admin_users", ["common_admin_users"]),
        ("ssh_admin_group", ["common_admin_group"]),
        # through the wiring's own firewall_ssh_ports; ansible_port is Ansible's, dropped
        ("ssh_firewall_open_ports", ["ssh_port"]),
        ("ssh_transition_ports", []),
        # a role input read by djangostack.stack.role_input, through stack_db_port
        ("pgbouncer_server_port", ["postgresql_port"]),
        # wired from another wired option: expanded to what that one follows
        ("celery_environment_files", ["django_environment_files"]),
        ("celery_writable_paths", ["django_data_dir", "django_media_dir"]),
        ("redis_cache_users", ["django_cache_password", "django_cache_user"]),
        # only the inventory's groups and hosts (magic names dropped)
        ("pgbouncer_peers", []),
        ("postgresql_allow_from", []),
        ("django_allowed_hosts", ["nginx_server_names"]),
    ],
)
def test_the_inputs_a_wired_variable_follows(name, inputs):
    assert INPUTS[name] == inputs


def test_no_input_is_set_by_the_wiring_or_magic():
    for name, inputs in INPUTS.items():
        assert not set(inputs) & set(WIRING), name
        assert not [i for i in inputs if i.startswith("ansible_") or i in preflight.MAGIC_NAMES], name


def test_inputs_of_a_synthetic_wiring():
    wiring = {
        "stack_a": "{{ stack_b | default(x_in) }}",
        "stack_b": "{{ lookup('djangostack.stack.role_input', 'role_port', host=stack_c) }}",
        "stack_c": "{{ groups['db'] | first }}",
        "role_default_only": "{{ lookup('djangostack.stack.role_input', 'role_port', inventory=false) }}",
        "role_contrib": "{{ query('djangostack.stack.role_input', *stack_roles, contribution='rules') | flatten }}",
        "role_x": ["{{ stack_a }}", {"name": "{{ y_in ~ inventory_hostname ~ ansible_port | default(22) }}"}],
        "cycle_a": "{{ cycle_b ~ z_in }}",
        "cycle_b": "{{ cycle_a }}",
        "plain": [1, 2],
    }
    assert preflight.wiring_inputs(wiring) == {
        "stack_a": ["role_port", "x_in"],
        "stack_b": ["role_port"],
        "stack_c": [],
        "role_default_only": [],
        "role_contrib": ["<role>_rules"],
        "role_x": ["role_port", "x_in", "y_in"],
        "cycle_a": ["z_in"],
        "cycle_b": ["z_in"],
        "plain": [],
    }


def test_the_message_names_the_variable_and_what_to_set_instead():
    path = "/srv/stack/playbooks/group_vars/all/wiring.yml"
    assert preflight.wiring_message("ssh_admin_users", ["common_admin_users"], path) == (
        "ssh_admin_users is set by the stack's wiring (group_vars/all/wiring.yml) and the inventory's value is "
        "ignored: remove it from the inventory and set common_admin_users instead"
    )
    assert preflight.wiring_message("x", ["a", "b", "c"], path).endswith("set a, b or c instead")
    assert preflight.wiring_message("x", [], path).endswith(
        "remove it from the inventory (it follows from the inventory's hosts and groups)"
    )
