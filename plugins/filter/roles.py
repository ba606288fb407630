"""The roles of a host, from the role map of group_vars/all/wiring.yml and the host's groups."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def stack_roles(role_map, group_names, switches=None) -> list[str]:
    """Roles (in the map's order) whose groups include one of ``group_names`` (``all``: every host)
    and whose switch, if the map's switches name one, is on."""
    if not isinstance(role_map, dict):
        raise AnsibleFilterError(
            f"djangostack.stack.roles: the role map is a mapping of role to groups, got {type(role_map).__name__}"
        )
    switches = dict(switches or {})
    unknown = sorted(set(switches) - set(role_map))
    if unknown:
        raise AnsibleFilterError(
            f"djangostack.stack.roles: switches for roles not in the role map: {', '.join(unknown)}"
        )
    member = set(group_names or [])
    roles = []
    for role, groups in role_map.items():
        if not isinstance(groups, list) or not groups:
            raise AnsibleFilterError(
                f"djangostack.stack.roles: role {role}: a non-empty list of groups, got {groups!r}"
            )
        if ("all" in groups or member.intersection(groups)) and _on(switches.get(role, True), role):
            roles.append(role)
    return roles


def _on(value, role: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise AnsibleFilterError(f"djangostack.stack.roles: the switch of role {role} is not a boolean: {value!r}")


class FilterModule:
    def filters(self):
        return {"roles": stack_roles}
