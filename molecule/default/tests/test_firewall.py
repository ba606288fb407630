"""nftables: default-deny inbound, seen from another container."""

from __future__ import annotations

import pytest
from lab import address, probe

LISTENERS = {
    8080: "declared (firewall_rules: lab-open)",
    8081: "declared by no role",
    8082: "open to 192.0.2.0/24 only",
}


@pytest.fixture(scope="module")
def listeners(host):
    """Small TCP servers on the host, on a declared port and on undeclared ones."""
    for port in LISTENERS:
        host.run_expect(
            [0],
            f"systemd-run --unit lab-listen-{port} --collect "
            f"python3 -m http.server {port} --bind 0.0.0.0 --directory /srv",
        )
    for port in LISTENERS:
        host.run_expect([0], f"timeout 10 sh -c 'until ss -ltn | grep -q :{port}; do sleep 0.2; done'")
    yield
    for port in LISTENERS:
        host.run(f"systemctl stop lab-listen-{port}")


def reachable_from_probe(target: str, port: int) -> bool:
    return probe().run(f"nc -z -w 3 {target} {port}").rc == 0


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize(("port", "expected"), [(22, True), (8080, True), (8081, False), (8082, False)])
def test_port_reachability_from_another_container(host, port, expected):
    assert reachable_from_probe(address(host), port) is expected, LISTENERS.get(port, "ssh")


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize("port", [8081, 8082])
def test_closed_ports_still_serve_locally(host, port):
    """The listener is up: only the firewall keeps the probe out."""
    connect = f"python3 -c 'import socket; socket.create_connection((\"{address(host)}\", {port}), 3)'"
    assert host.run(connect).rc == 0


def test_input_policy_is_drop_for_both_families(host):
    """One inet table: the same default-deny for IPv4 and IPv6."""
    with host.sudo():
        ruleset = host.check_output("nft list chain inet djangostack input")
    assert "policy drop" in ruleset
    assert "type filter hook input" in ruleset


def test_ruleset_survives_reboot_config(host):
    """nftables.service loads /etc/nftables.conf at boot."""
    assert host.service("nftables").is_enabled
