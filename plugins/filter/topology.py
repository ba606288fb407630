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


def backup_plan(db_host: str, databases, media_hosts, fixtures=None) -> dict:
    """What the backup host pulls, and the SSH key (one per forced command) for each pull.

    ``sources`` are the archives the backup host makes (its config); ``keys`` the
    authorized_keys entries of the source hosts, each ``{host, id, command}``: the
    backup host keeps the private key ``<id>``, the source host forces ``command``
    (arguments of djangostack-backup-source; ``media-sync`` is rrsync, read-only).
    """
    fixtures = fixtures or {}
    sources: list[dict] = []
    keys: list[dict] = []

    def key(host: str, purpose: str, command: str) -> str:
        ident = f"{host}_{purpose}"
        keys.append({"host": host, "id": ident, "command": command})
        return ident

    if db_host:
        for database in databases:
            sources.append(
                {
                    "name": f"{database}-db",
                    "kind": "postgresql",
                    "host": db_host,
                    "database": database,
                    "key": key(db_host, f"pg-dump-{database}", f"pg-dump {database}"),
                    "stats_key": key(db_host, f"pg-stats-{database}", f"pg-stats {database}"),
                    "fixtures": list(fixtures.get(database, [])),
                }
            )
        sources.append(
            {
                "name": "globals",
                "kind": "postgresql-globals",
                "host": db_host,
                "key": key(db_host, "pg-globals", "pg-globals"),
            }
        )
    for host in media_hosts:
        sources.append(
            {
                "name": f"{host}-media",
                "kind": "media",
                "host": host,
                "key": key(host, "media", "media-sync"),
                "manifest_key": key(host, "media-manifest", "media-manifest"),
            }
        )
    return {"sources": sources, "keys": keys}


class FilterModule:
    def filters(self):
        return {
            "djangostack_server": stack_server,
            "djangostack_clients": stack_clients,
            "djangostack_peers": stack_peers,
            "djangostack_address": stack_address,
            "djangostack_addresses": stack_addresses,
            "djangostack_backup_plan": backup_plan,
        }
