"""Filters of the firewall role: turn rule sources into address sets."""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def _host_addresses(host: str, hostvars, address_var: str) -> list[str]:
    hv = hostvars[host]
    explicit = hv.get(address_var)
    if explicit:
        return [str(explicit)]
    facts = hv.get("ansible_facts", {}) or {}
    found = []
    for key in ("default_ipv4", "default_ipv6"):
        address = (facts.get(key) or {}).get("address")
        if address:
            found.append(address)
    if not found:
        raise AnsibleFilterError(f"firewall: no address known for host '{host}': gather its facts or set {address_var}")
    return found


def firewall_sources(sources, groups, hostvars, address_var="private_address"):
    """Resolve a list of inventory group names and CIDRs into {'ipv4': [...], 'ipv6': [...]}.

    An empty list means "anywhere" and returns None. A group with no hosts resolves
    to nothing (the rule then admits no one), never to "anywhere".
    """
    if not sources:
        return None
    result = {"ipv4": set(), "ipv6": set()}
    for source in sources:
        source = str(source)
        if source in groups:
            addresses = [a for h in groups[source] for a in _host_addresses(h, hostvars, address_var)]
        else:
            addresses = [source]
        for address in addresses:
            try:
                net = ipaddress.ip_network(address, strict=False)
            except ValueError as exc:
                raise AnsibleFilterError(
                    f"firewall: source '{source}' is neither an inventory group nor an IP address/CIDR ({exc})"
                ) from exc
            result["ipv4" if net.version == 4 else "ipv6"].add(str(net))
    return {family: sorted(nets, key=lambda n: ipaddress.ip_network(n)) for family, nets in result.items()}


class FilterModule:
    def filters(self):
        return {"djangostack_firewall_sources": firewall_sources}
