"""Topology of the stack, derived from inventory groups (used by group_vars/all/wiring.yml).

The rule: a host uses a service (group ``db``, ``cache``) on itself when it runs it
(all-in-one), otherwise on the first host of the service's group. So an inventory
holds one stack (any number of app hosts, one db host, one cache host), or several
all-in-one hosts that are each a stack of their own; preflight rejects anything else.

The one place a host name becomes an address (``stack_address``): the wiring, the
firewall's sources, pg_hba.conf and the backup host's configuration all resolve hosts
through it. Its users live in this file too: Ansible loads each filter file as a module
of its own, so one filter file cannot reliably import another.
"""

from __future__ import annotations

import base64
import ipaddress

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


def _ip(host: str, value, origin: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(str(value).strip())
    except ValueError as exc:
        raise AnsibleFilterError(f"topology: host '{host}': {origin} '{value}' is not an IPv4 or IPv6 address") from exc


def stack_address(host: str, hostvars, address_var: str = "private_address", default=None) -> str:
    """The address other hosts reach ``host`` at, and the address it connects to them from.

    ``address_var`` (``private_address``) if the host sets it (IPv4 or IPv6), else the
    address of its default IPv4 route, else that of its default IPv6 route (facts).
    None of them: an error naming the host, or ``default`` when one is given.
    """
    hv = hostvars[host]
    explicit = hv.get(address_var)
    if explicit:
        return str(_ip(host, explicit, address_var))
    facts = hv.get("ansible_facts", {}) or {}
    for key in ("default_ipv4", "default_ipv6"):
        address = (facts.get(key) or {}).get("address")
        if address:
            return str(_ip(host, address, f"fact {key}.address"))
    if default is not None:
        return default
    raise AnsibleFilterError(
        f"topology: no address known for host '{host}': set {address_var} in the inventory "
        "or gather its facts (default_ipv4 / default_ipv6)"
    )


def stack_addresses(hosts, hostvars, address_var: str = "private_address") -> list[str]:
    return [stack_address(h, hostvars, address_var) for h in hosts]


def firewall_sources(sources, groups, hostvars, address_var: str = "private_address"):
    """Resolve inventory group names and addresses/CIDRs into ``{'ipv4': [...], 'ipv6': [...]}`` (firewall role).

    A group's hosts resolve by ``stack_address``; each address goes to the family it
    is of (``ip saddr`` / ``ip6 saddr``). An empty list means "anywhere" and returns
    None. A group with no hosts resolves to nothing (the rule then admits no one),
    never to "anywhere".
    """
    if not sources:
        return None
    result: dict[str, set[str]] = {"ipv4": set(), "ipv6": set()}
    for source in sources:
        source = str(source)
        addresses = stack_addresses(groups[source] or [], hostvars, address_var) if source in groups else [source]
        for address in addresses:
            try:
                net = ipaddress.ip_network(address, strict=False)
            except ValueError as exc:
                raise AnsibleFilterError(
                    f"firewall: source '{source}' is neither an inventory group nor an IP address/CIDR ({exc})"
                ) from exc
            result["ipv4" if net.version == 4 else "ipv6"].add(str(net))
    return {family: sorted(nets, key=ipaddress.ip_network) for family, nets in result.items()}


def _host_cidr(address: str) -> str:
    return f"{address}/{ipaddress.ip_address(address).max_prefixlen}"


def pg_hba_lines(entries, groups, hostvars, self_host: str = "", address_var: str = "private_address") -> list[str]:
    """The application lines of pg_hba.conf (postgresql role), in order, each once.

    Each entry ``{database, user, sources}`` allows the unix socket (``local``) and TLS
    (``hostssl``) from each source, scram-sha-256 only. A source is an inventory group
    (its hosts but ``self_host``, which uses the socket), an inventory host (the same),
    or an address (``/32`` or ``/128``) or CIDR.
    """
    lines: list[str] = []
    for entry in entries:
        database, user = entry["database"], entry["user"]
        lines.append(f"local {database} {user} scram-sha-256")
        for source in entry.get("sources") or []:
            source = str(source)
            if source in groups or source in hostvars:
                hosts = groups.get(source, [source])
                cidrs = [_host_cidr(stack_address(h, hostvars, address_var)) for h in hosts if h != self_host]
            else:
                try:
                    cidrs = [str(ipaddress.ip_interface(source))]
                except ValueError as exc:
                    raise AnsibleFilterError(
                        f"pg_hba: source '{source}' is neither an inventory group or host nor an IP address/CIDR"
                    ) from exc
            lines.extend(f"hostssl {database} {user} {cidr} scram-sha-256" for cidr in cidrs)
    return list(dict.fromkeys(lines))


def backup_plan(db_host: str, databases, media_hosts, fixtures=None) -> dict:
    """What the backup host pulls, and the SSH key (one per forced command) for each pull.

    ``sources`` are the archives the backup host makes (its config); ``keys`` the
    authorized_keys entries of the source hosts, each ``{host, id, command}``: the
    backup host keeps the private key ``<id>``, the source host forces ``command``
    (arguments of djangostack-backup-source; ``media-sync`` is rrsync, read-only).
    It reads only the groups: the role map and the wiring evaluate it often. The SSH
    ports of the sources are added where the backup host needs them (``backup_ports``).
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


def backup_ports(sources, hostvars, default_port=None, port_var: str = "ssh_port") -> list[dict]:
    """The plan's sources, each with the SSH ``port`` of its host (``port_var``; ``default_port``,
    the ssh role's default, when the host does not set it)."""
    return [{**source, "port": _ssh_port(source["host"], hostvars, port_var, default_port)} for source in sources]


def _ssh_port(host: str, hostvars, port_var: str, default):
    value = hostvars[host].get(port_var)
    if value is None:
        if default is None:
            raise AnsibleFilterError(f"backup plan: no {port_var} for host '{host}' and no default port given")
        value = default
    try:
        return int(value)
    except (TypeError, ValueError):
        # Not a port: the ssh role's preflight names it (ssh_port); the plan must not fail first.
        return value


def _source_port(source) -> int:
    """The SSH port of a backup source, which the plan (``djangostack.stack.backup_plan`` with hostvars) carries."""
    if source.get("port") is None:
        raise AnsibleFilterError(
            f"backup source '{source.get('name')}' has no port: build the plan with hostvars and the default port"
        )
    return int(source["port"])


def backup_config(
    sources,
    hostvars,
    user: str,
    key_dir: str,
    settings=None,
    address_var: str = "private_address",
) -> dict:
    """The backup program's config.json (backup role): ``settings`` and the ``sources`` to pull.

    Each source of the plan (``djangostack.stack.backup_plan``) becomes what the program
    reads: the address and SSH port of its host, the pull account and key paths.
    """
    entries = []
    for source in sources:
        entry = {
            "name": source["name"],
            "kind": source["kind"],
            "host": stack_address(source["host"], hostvars, address_var),
            "port": _source_port(source),
            "user": user,
            "key": f"{key_dir}/{source['key']}",
        }
        if source["kind"] == "postgresql":
            entry["database"] = source["database"]
            entry["stats_key"] = f"{key_dir}/{source['stats_key']}"
            entry["fixtures"] = list(source.get("fixtures") or [])
        elif source["kind"] == "media":
            entry["manifest_key"] = f"{key_dir}/{source['manifest_key']}"
        entries.append(entry)
    return {**dict(settings or {}), "sources": entries}


def backup_known_hosts(results, sources, hostvars, address_var: str = "private_address") -> list[str]:
    """known_hosts lines of the backup host: each source host's key (slurp ``results``) at its address and port."""
    ports = {}
    for source in sources:
        ports.setdefault(source["host"], _source_port(source))
    lines = []
    for result in results:
        host = result["item"]
        if host not in ports:
            raise AnsibleFilterError(f"backup known_hosts: '{host}' is not a source of the backup plan")
        port = ports[host]
        address = stack_address(host, hostvars, address_var)
        key = " ".join(base64.b64decode(result["content"]).decode("utf-8").split()[:2])
        lines.append(f"{address if port == 22 else f'[{address}]:{port}'} {key}")
    return lines


class FilterModule:
    def filters(self):
        return {
            "server": stack_server,
            "clients": stack_clients,
            "peers": stack_peers,
            "address": stack_address,
            "addresses": stack_addresses,
            "firewall_sources": firewall_sources,
            "pg_hba_lines": pg_hba_lines,
            "backup_plan": backup_plan,
            "backup_ports": backup_ports,
            "backup_config": backup_config,
            "backup_known_hosts": backup_known_hosts,
        }
