"""The Python plugins of the roles."""

from __future__ import annotations

import importlib.util

import pytest
from ansible.errors import AnsibleFilterError
from conftest import ROOT


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, ROOT / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The firewall role's filter lives with the one host-to-address resolver (plugins/filter/topology.py).
topology = load("plugins/filter/topology.py", "topology_filter")
firewall = topology
moduli = load("plugins/test/moduli.py", "moduli_test")

GROUPS = {"web": ["web1", "web2"], "db": ["db1"], "empty": []}
HOSTVARS = {
    "web1": {"private_address": "10.0.0.11"},
    "web2": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.12"}, "default_ipv6": {"address": "fd00::12"}}},
    "db1": {"ansible_facts": {}},
}


def test_empty_sources_mean_anywhere():
    assert firewall.firewall_sources([], GROUPS, HOSTVARS) is None


def test_group_resolves_to_private_address_or_facts():
    # One address per host, by the resolver's rule: a dual-stack host is admitted at its IPv4 address.
    assert firewall.firewall_sources(["web"], GROUPS, HOSTVARS) == {
        "ipv4": ["10.0.0.11/32", "10.0.0.12/32"],
        "ipv6": [],
    }


def test_cidrs_are_normalised_and_split_by_family():
    assert firewall.firewall_sources(["192.0.2.7/24", "2001:db8::/32"], GROUPS, HOSTVARS) == {
        "ipv4": ["192.0.2.0/24"],
        "ipv6": ["2001:db8::/32"],
    }


def test_empty_group_admits_no_one():
    assert firewall.firewall_sources(["empty"], GROUPS, HOSTVARS) == {"ipv4": [], "ipv6": []}


@pytest.mark.parametrize("bad", ["10.0.0.300/24", "webz", "10.0.0.0/33"])
def test_invalid_source_is_an_error_naming_it(bad):
    with pytest.raises(AnsibleFilterError, match=bad.replace(".", r"\.")):
        firewall.firewall_sources([bad], GROUPS, HOSTVARS)


def test_host_without_address_is_an_error():
    with pytest.raises(AnsibleFilterError, match="db1"):
        firewall.firewall_sources(["db"], GROUPS, HOSTVARS)


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("# Time Type Tests Tries Size Generator Modulus", True),
        ("20230330041214 2 6 100 2047 2 C7A1", False),
        ("20230330041214 2 6 100 3071 2 C7A1", True),
        ("20230330041214 2 6 100 8191 5 C7A1", True),
        ("garbage", False),
    ],
)
def test_moduli_filter(line, kept):
    assert moduli.moduli_at_least(line, 3071) is kept


ONE_STACK = {"web": ["web1", "web2"], "worker": ["worker1"], "db": ["db1"], "cache": ["worker1"]}
TWO_AIO = {name: ["aio12", "aio13"] for name in ("web", "worker", "db", "cache")}


@pytest.mark.parametrize(
    ("groups", "host", "group", "server"),
    [
        (ONE_STACK, "web1", "db", "db1"),
        (ONE_STACK, "worker1", "cache", "worker1"),
        (ONE_STACK, "web2", "cache", "worker1"),
        (TWO_AIO, "aio13", "db", "aio13"),
        ({"web": ["w"]}, "w", "db", ""),
    ],
)
def test_a_host_uses_its_own_service_else_the_groups_first(groups, host, group, server):
    assert topology.stack_server(host, group, groups) == server


def test_clients_are_the_remote_hosts_that_use_the_server():
    assert topology.stack_clients("db1", "db", ["web", "worker"], ONE_STACK) == ["web1", "web2", "worker1"]
    assert topology.stack_clients("worker1", "cache", ["web", "worker"], ONE_STACK) == ["web1", "web2"]


def test_all_in_one_hosts_have_no_remote_clients():
    assert topology.stack_clients("aio12", "db", ["web", "worker"], TWO_AIO) == []


def test_peers_share_a_server_so_one_beat_per_broker():
    assert topology.stack_peers("worker1", "cache", ["worker"], ONE_STACK) == ["worker1"]
    assert topology.stack_peers("aio13", "cache", ["worker"], TWO_AIO) == ["aio13"]
    assert topology.stack_peers("web2", "db", ["web", "worker"], ONE_STACK) == ["web1", "web2", "worker1"]


def test_address_is_private_address_or_default_ipv4():
    assert topology.stack_addresses(["web1", "web2"], HOSTVARS) == ["10.0.0.11", "10.0.0.12"]
    with pytest.raises(AnsibleFilterError, match="db1"):
        topology.stack_address("db1", HOSTVARS)


def test_backup_plan_pulls_each_database_the_globals_and_each_web_hosts_media():
    plan = topology.backup_plan("db1", ["app"], ["web1", "web2"], {"app": [{"table": "t", "key": "id"}]})
    assert [(s["name"], s["kind"], s["host"]) for s in plan["sources"]] == [
        ("app-db", "postgresql", "db1"),
        ("globals", "postgresql-globals", "db1"),
        ("web1-media", "media", "web1"),
        ("web2-media", "media", "web2"),
    ]
    assert plan["sources"][0]["fixtures"] == [{"table": "t", "key": "id"}]


def test_backup_plan_has_one_key_per_forced_command():
    plan = topology.backup_plan("db1", ["app"], ["web1"])
    assert [(k["host"], k["command"]) for k in plan["keys"]] == [
        ("db1", "pg-dump app"),
        ("db1", "pg-stats app"),
        ("db1", "pg-globals"),
        ("web1", "media-sync"),
        ("web1", "media-manifest"),
    ]
    assert len({k["id"] for k in plan["keys"]}) == len(plan["keys"])
    keys = {k["id"] for k in plan["keys"]}
    for source in plan["sources"]:
        assert {source[f] for f in ("key", "stats_key", "manifest_key") if f in source} <= keys


def test_backup_plan_without_db_host_pulls_media_only():
    plan = topology.backup_plan("", ["app"], ["web1"])
    assert [s["kind"] for s in plan["sources"]] == ["media"]
