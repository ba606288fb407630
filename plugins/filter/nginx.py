"""Filters of the nginx role."""

from __future__ import annotations

import ipaddress


def invalid_networks(values) -> list[str]:
    """The entries that are not an IP address or network (CIDR), as given: [] when all are."""
    bad = []
    for value in values or []:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            bad.append(str(value))
    return bad


class FilterModule:
    def filters(self):
        return {"invalid_networks": invalid_networks}
