"""Topology of the stack, derived from inventory groups (used by group_vars/all/wiring.yml).

The rule: a host uses a service (group ``db``, ``cache``) on itself when it runs it
(all-in-one), otherwise on the first host of the service's group. So an inventory
holds one stack (any number of app hosts, one db host, one cache host), or several
all-in-one hosts that are each a stack of their own; preflight rejects anything else.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError


def _members(groups, name: str) -> list[str]:
    return list(groups.get(name) or [])


def stack_server(host: str, group: str, groups) -> str:
    """The host of ``group`` that ``host`` uses: itself if it is in the group, else the group's first; '' if none."""
    members = _members(groups, group)
    if host in members:
        return host
    return members[0] if members else ""


def stack_clients(server: str, group: str, client_groups, groups) -> list[str]:
    """Hosts of ``client_groups`` that use ``server`` for ``group``, other than ``server`` itself (inventory order)."""
    seen: list[str] = []
    for client_group in client_groups:
        for host in _members(groups, client_group):
            if host != server and host not in seen and stack_server(host, group, groups) == server:
                seen.append(host)
    return seen


def stack_peers(host: str, group: str, client_groups, groups) -> list[str]:
    """Hosts of ``client_groups`` using the same ``group`` server as ``host`` (``host`` included, inventory order)."""
    server = stack_server(host, group, groups)
    return [
        h
        for h in dict.fromkeys(h for g in client_groups for h in _members(groups, g))
        if stack_server(h, group, groups) == server
    ]


def stack_address(host: str, hostvars, address_var: str = "private_address") -> str:
    """The address other hosts reach ``host`` at: ``private_address`` if set, else its default IPv4 address."""
    hv = hostvars[host]
    explicit = hv.get(address_var)
    if explicit:
        return str(explicit)
    facts = hv.get("ansible_facts", {}) or {}
    address = (facts.get("default_ipv4") or {}).get("address")
    if not address:
        raise AnsibleFilterError(f"topology: no address known for host '{host}': gather its facts or set {address_var}")
    return str(address)


def stack_addresses(hosts, hostvars, address_var: str = "private_address") -> list[str]:
    return [stack_address(h, hostvars, address_var) for h in hosts]


class FilterModule:
    def filters(self):
        return {
            "djangostack_server": stack_server,
            "djangostack_clients": stack_clients,
            "djangostack_peers": stack_peers,
            "djangostack_address": stack_address,
            "djangostack_addresses": stack_addresses,
        }
