"""One role map decides which roles a host runs (group_vars/all/wiring.yml, stack_role_map).

Every playbook applies a role only where the map puts it: the role carries
``when: "'<role>' in stack_roles"`` and nothing else, and a play's hosts are exactly
the groups the map gives its roles. A playbook that decides membership on its own
(``'web' in group_names``, a narrower or wider host pattern) fails here, and so does a
role named other than by its collection name (``djangostack.stack.<role>``: a short name
resolves only in a playbook run by its collection name, not through the wrappers at the
root, and nothing puts roles/ on a roles path any more).
"""

from __future__ import annotations

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from conftest import ROLES, ROOT, load_source

WIRING = yaml.safe_load((ROOT / "group_vars" / "all" / "wiring.yml").read_text())
ROLE_MAP = WIRING["stack_role_map"]
PLAYBOOKS = sorted([*ROOT.glob("*.yml"), *(ROOT / "playbooks").glob("*.yml")])
NOT_PLAYBOOKS = (
    "galaxy.yml",
    "requirements.yml",
    "requirements-test.yml",
    "execution-environment.yml",
    "ansible-navigator.yml",
)
PLAYBOOKS = [p for p in PLAYBOOKS if p.name not in NOT_PLAYBOOKS]
COLLECTION = "djangostack.stack."


roles_filter = load_source("plugins/filter/roles.py", "roles_filter")


def _task_lists(play: dict):
    for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
        yield from _flatten(play.get(key) or [])


def _flatten(tasks: list):
    for task in tasks:
        yield task
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from _flatten(task[key])


def _role_references(play: dict):
    """(role name as written, its `when`) for each role the play applies, whatever the form."""
    for entry in play.get("roles") or []:
        if isinstance(entry, str):
            yield entry, None
        else:
            yield entry.get("role") or entry.get("name"), entry.get("when")
    for task in _task_lists(play):
        for action in ("ansible.builtin.import_role", "ansible.builtin.include_role", "import_role", "include_role"):
            if action in task:
                yield task[action]["name"], task.get("when")


def _roles(play: dict) -> list[tuple[str, str, object]]:
    """(role, role name as written, its `when`) for each role the play applies."""
    return [(written.removeprefix(COLLECTION), written, when) for written, when in _role_references(play)]


def decisions(plays: list, role_map: dict) -> list[str]:
    """Where plays decide role membership other than through the role map."""
    found = []
    for play in plays:
        if "import_playbook" in play:
            continue
        name = play.get("name", "?")
        refs = _roles(play)
        for role, written, when in refs:
            if written != COLLECTION + role:
                found.append(f"{name}: role {written} is not named {COLLECTION}{role}")
            if role not in role_map:
                found.append(f"{name}: role {role} is not in the role map")
                continue
            expected = f"'{role}' in stack_roles"
            conditions = when if isinstance(when, list) else [when]
            if conditions != [expected]:
                found.append(f"{name}: role {role} has when {when!r}, not exactly {expected!r}")
        for task in _task_lists(play):
            when = task.get("when")
            text = " ".join(when) if isinstance(when, list) else str(when or "")
            if "group_names" in text or "groups[" in text:
                found.append(f"{name}: task {task.get('name', '?')!r} decides on groups itself: {text}")
        if refs:
            hosts = str(play.get("hosts", ""))
            groups = {g for role, _, _ in refs if role in role_map for g in role_map[role]}
            wanted = {"all"} if "all" in groups else groups
            if hosts != "all" and set(hosts.split(":")) != wanted:
                found.append(f"{name}: hosts {hosts!r}, but the role map puts its roles on {sorted(wanted)}")
    return found


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_playbook_decides_role_membership_on_its_own(playbook):
    assert decisions(yaml.safe_load(playbook.read_text()) or [], ROLE_MAP) == []


def test_every_role_is_in_the_role_map_and_nothing_else():
    assert list(ROLE_MAP)
    assert set(ROLE_MAP) == {role.name for role in ROLES}


def test_every_role_of_the_map_is_applied_by_a_playbook():
    applied = set()
    for playbook in PLAYBOOKS:
        for play in yaml.safe_load(playbook.read_text()) or []:
            if "import_playbook" not in play and play.get("name", "").startswith(("Base", "Data", "App", "Backup")):
                applied |= {role for role, _, _ in _roles(play)}
    assert applied == set(ROLE_MAP)


def test_a_planted_group_condition_is_found():
    plays = [
        {
            "name": "App",
            "hosts": "web:worker",
            "roles": [{"role": "djangostack.stack.nginx", "when": "'web' in group_names"}],
        }
    ]
    assert decisions(plays, {"nginx": ["web"]}) == [
        "App: role nginx has when \"'web' in group_names\", not exactly \"'nginx' in stack_roles\"",
        "App: hosts 'web:worker', but the role map puts its roles on ['web']",
    ]


def test_a_planted_role_without_condition_or_in_a_task_is_found():
    plays = [
        {
            "name": "Data",
            "hosts": "db",
            "tasks": [
                {"name": "x", "ansible.builtin.import_role": {"name": "djangostack.stack.postgresql"}},
                {"name": "y", "ansible.builtin.debug": {}, "when": "'db' in group_names"},
            ],
        }
    ]
    assert decisions(plays, {"postgresql": ["db"]}) == [
        "Data: role postgresql has when None, not exactly \"'postgresql' in stack_roles\"",
        "Data: task 'y' decides on groups itself: 'db' in group_names",
    ]


def test_a_planted_short_role_name_is_found():
    when = "'redis' in stack_roles"
    plays = [
        {"name": "Data", "hosts": "cache", "roles": [{"role": "redis", "when": when}]},
        {"name": "Pre", "hosts": "cache", "tasks": [{"ansible.builtin.import_role": {"name": "redis"}, "when": when}]},
    ]
    assert decisions(plays, {"redis": ["cache"]}) == [
        "Data: role redis is not named djangostack.stack.redis",
        "Pre: role redis is not named djangostack.stack.redis",
    ]


def test_a_play_that_follows_the_map_passes():
    plays = [
        {
            "name": "Data",
            "hosts": "cache",
            "roles": [{"role": "djangostack.stack.redis", "when": "'redis' in stack_roles"}],
        }
    ]
    assert decisions(plays, {"redis": ["cache"]}) == []


MAP = {
    "common": ["all"],
    "postgresql": ["db"],
    "memcached": ["cache"],
    "pgbouncer": ["web", "worker"],
    "nginx": ["web"],
}


def test_the_roles_of_an_all_in_one_host_follow_the_map_and_its_switches():
    roles = roles_filter.stack_roles(MAP, ["web", "db", "cache", "worker"], {"memcached": False, "pgbouncer": True})
    assert roles == ["common", "postgresql", "pgbouncer", "nginx"]


def test_the_roles_of_a_worker_host():
    assert roles_filter.stack_roles(MAP, ["worker"], {"pgbouncer": "True"}) == ["common", "pgbouncer"]


def test_a_switch_for_a_role_outside_the_map_is_refused():
    with pytest.raises(AnsibleFilterError, match="not in the role map: monitoring"):
        roles_filter.stack_roles(MAP, ["web"], {"monitoring": True})


def test_a_switch_that_is_not_a_boolean_is_refused():
    with pytest.raises(AnsibleFilterError, match="switch of role memcached is not a boolean"):
        roles_filter.stack_roles(MAP, ["cache"], {"memcached": "memcached"})
