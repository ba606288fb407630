"""nftables: default-deny inbound, seen from another container."""

from __future__ import annotations

import json

import pytest
from lab import PROJECT, address, ansible_playbook, instance, lab_hosts, probe

LISTENERS = {
    8080: "declared (firewall_rules: lab-open)",
    8081: "declared by no role",
    8082: "open to 192.0.2.0/24 only",
    8083: "open to the inventory group lab only",
}


@pytest.fixture(scope="module")
def listeners():
    """Small TCP servers on every lab host, on a declared port and on undeclared ones."""
    hosts = [instance(name) for name in lab_hosts()]
    for target in hosts:
        for port in LISTENERS:
            target.run(f"systemctl stop lab-listen-{port}")
            target.run_expect(
                [0],
                f"systemd-run --unit lab-listen-{port} --collect "
                f"python3 -m http.server {port} --bind 0.0.0.0 --directory /srv",
            )
        for port in LISTENERS:
            target.run_expect([0], f"timeout 10 sh -c 'until ss -ltn | grep -q :{port}; do sleep 0.2; done'")
    yield
    for target in hosts:
        for port in LISTENERS:
            target.run(f"systemctl stop lab-listen-{port}")


def reachable_from_probe(target: str, port: int) -> bool:
    return probe().run(f"nc -z -w 3 {target} {port}").rc == 0


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize(("port", "expected"), [(22, True), (8080, True), (8081, False), (8082, False), (8083, False)])
def test_port_reachability_from_another_container(host, port, expected):
    assert reachable_from_probe(address(host), port) is expected, LISTENERS.get(port, "ssh")


@pytest.mark.usefixtures("listeners")
def test_group_sourced_port_open_to_group_members(host):
    """8083 admits the hosts of the group "lab" (the other lab host), not the probe."""
    peers = [name for name in host.ansible.get_variables()["groups"]["lab"] if name != host.backend.host]
    assert peers
    peer = instance(peers[0])
    connect = f"python3 -c 'import socket; socket.create_connection((\"{address(host)}\", 8083), 3)'"
    assert peer.run(connect).rc == 0


@pytest.mark.usefixtures("listeners")
@pytest.mark.parametrize("port", [8081, 8082, 8083])
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


@pytest.mark.usefixtures("listeners")
def test_ruleset_is_restored_at_boot(host):
    """With the live ruleset flushed, starting nftables.service (as at boot) closes 8081 again."""
    target = address(host)
    with host.sudo():
        host.run_expect([0], "nft flush ruleset")
        try:
            assert reachable_from_probe(target, 8081), "flushed: the probe should get in"
        finally:
            host.run_expect([0], "systemctl restart nftables")
    assert not reachable_from_probe(target, 8081)
    assert reachable_from_probe(target, 22)


@pytest.fixture
def without_declarations():
    """One converge of the firewall on a host whose roles declare no rule any more (as when the host
    leaves the web group: nginx's 80 and 443 are no longer declared), then one with the declarations back."""
    name = lab_hosts()[0]
    converge = ["--limit", name, "--tags", "firewall", str(PROJECT / "site.yml")]
    gone = ansible_playbook(*converge, "-e", json.dumps({"firewall_dependent_rules": []}))
    assert gone.returncode == 0, gone.stdout[-3000:]
    yield address(instance(name))
    back = ansible_playbook(*converge)
    assert back.returncode == 0, back.stdout[-3000:]
    assert reachable_from_probe(address(instance(name)), 443)


def test_a_port_no_role_declares_any_more_is_closed_after_one_converge(without_declarations):
    assert not reachable_from_probe(without_declarations, 443)
    assert reachable_from_probe(without_declarations, 22)
