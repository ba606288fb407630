"""The one host-to-address rule (plugins/filter/topology.py) and the templates built on it.

Templates are rendered with Jinja2 as the template module does (trim_blocks), with the
collection's filters; the expected pg_hba.conf texts are what the template rendered
before its entries moved into the filter, for the staging and production inventories.
"""

from __future__ import annotations

import base64
import importlib.util
import json

import jinja2
import pytest
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import b64decode, comment, to_nice_json
from conftest import ROOT

_spec = importlib.util.spec_from_file_location("topology_filter_t", ROOT / "plugins/filter/topology.py")
topology = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(topology)

FILTERS = {
    # The templates call them by their collection names (djangostack.stack.pg_hba_lines).
    **{f"djangostack.stack.{name}": function for name, function in topology.FilterModule().filters().items()},
    "comment": comment,
    "to_nice_json": to_nice_json,
    "b64decode": b64decode,
}


def render(template: str, **context) -> str:
    env = jinja2.Environment(  # noqa: S701 - configuration files, not HTML
        loader=jinja2.FileSystemLoader(ROOT / template.rsplit("/", 1)[0]),
        trim_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(FILTERS)
    return env.get_template(template.rsplit("/", 1)[1]).render(ansible_managed="Ansible managed", **context)


# The resolver's rule.

HOSTVARS = {
    "v4": {"private_address": "10.0.0.1", "ansible_facts": {"default_ipv4": {"address": "192.0.2.1"}}},
    "v6": {"private_address": "FD00:0::1"},
    "facts": {"ansible_facts": {"default_ipv4": {"address": "192.0.2.2"}, "default_ipv6": {"address": "2001:db8::2"}}},
    "v6only": {"ansible_facts": {"default_ipv4": {}, "default_ipv6": {"address": "2001:db8::3"}}},
    "none": {"ansible_facts": {"default_ipv4": {}}},
    "bad": {"private_address": "10.0.0.300"},
}


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("v4", "10.0.0.1"),  # private_address wins over the facts
        ("v6", "fd00::1"),  # IPv6 private_address, normalised
        ("facts", "192.0.2.2"),  # default IPv4 before default IPv6
        ("v6only", "2001:db8::3"),  # no IPv4 route: the IPv6 one
    ],
)
def test_address_rule(host, address):
    assert topology.stack_address(host, HOSTVARS) == address


def test_no_address_is_an_error_naming_the_host_and_the_variable():
    with pytest.raises(AnsibleFilterError, match=r"'none'.*private_address"):
        topology.stack_address("none", HOSTVARS)
    assert topology.stack_address("none", HOSTVARS, default="") == ""


def test_private_address_must_be_an_ip_address():
    with pytest.raises(AnsibleFilterError, match=r"'bad'.*private_address.*10\.0\.0\.300"):
        topology.stack_address("bad", HOSTVARS, default="")


def test_address_var_is_configurable():
    hostvars = {"h": {"lan": "10.1.1.1", "private_address": "10.9.9.9"}}
    assert topology.stack_address("h", hostvars, "lan") == "10.1.1.1"


# The firewall: every source at the address the rule gives, rendered by its family.


def test_firewall_sources_follow_the_resolved_family():
    groups = {"app": ["facts", "v6only", "v6"]}
    assert topology.firewall_sources(["app"], groups, HOSTVARS) == {
        "ipv4": ["192.0.2.2/32"],
        "ipv6": ["2001:db8::3/128", "fd00::1/128"],
    }


def test_firewall_rule_renders_a_v6_source_as_ip6_saddr():
    rule = {"name": "postgresql", "ports": [5432], "protocol": "tcp", "sources": ["app"]}
    text = render(
        "roles/firewall/templates/service.nft.j2",
        item=rule,
        groups={"app": ["v6only"]},
        hostvars=HOSTVARS,
        firewall_address_var="private_address",
    )
    assert 'ip6 saddr { 2001:db8::3/128 } tcp dport { 5432 } accept comment "postgresql"' in text
    assert "ip saddr" not in text


def test_firewall_rule_renders_each_family_once():
    rule = {"name": "redis", "ports": [6379, 6379], "sources": ["app", "198.51.100.0/24"]}
    text = render(
        "roles/firewall/templates/service.nft.j2",
        item=rule,
        groups={"app": ["v4", "v6"]},
        hostvars=HOSTVARS,
        firewall_address_var="private_address",
    )
    lines = [line.strip() for line in text.splitlines() if "saddr" in line]
    assert lines == [
        'ip saddr { 10.0.0.1/32, 198.51.100.0/24 } tcp dport { 6379 } accept comment "redis"',
        'ip6 saddr { fd00::1/128 } tcp dport { 6379 } accept comment "redis"',
    ]


# pg_hba.conf: the entries come from the filter, the template prints them.

HBA_HEAD = """\
#
# Ansible managed
#
# Client authentication: peer for administration, SCRAM-SHA-256 for everyone
# else, TCP only with TLS; no method without a password.
# Generated from postgresql_hba + postgresql_dependent_hba.
# TYPE     DATABASE  USER  ADDRESS  METHOD

# Administration: the postgres account (and root, through the ident map).
local all postgres peer map=djangostack_admin
"""

# inventories/staging: one all-in-one host, no backup host; the wiring gives the app's
# entry no source (no remote client), so the socket only.
STAGING = {
    "inventory_hostname": "staging-aio.example.net",
    "groups": {g: ["staging-aio.example.net"] for g in ("web", "db", "cache", "worker")} | {"backup": []},
    "hostvars": {"staging-aio.example.net": {"ansible_facts": {"default_ipv4": {"address": "192.0.2.10"}}}},
    "__postgresql_hba": [{"database": "sample", "user": "sample", "sources": []}],
    "__postgresql_databases": [{"name": "sample", "owner": "sample"}],
    "__postgresql_admin_map": "djangostack_admin",
    "postgresql_backup_role": "",
}
STAGING_HBA = (
    HBA_HEAD
    + """
# Applications
local sample sample scram-sha-256
"""
)

# inventories/production: db1 serves web1, web2 and worker1 (the wiring's
# stack_db_client_addresses), backup1 pulls from it.
PRODUCTION_HOSTS = {
    "web1.example.net": "10.10.0.11",
    "web2.example.net": "10.10.0.12",
    "db1.example.net": "10.10.0.21",
    "cache1.example.net": "10.10.0.31",
    "worker1.example.net": "10.10.0.41",
    "backup1.example.net": "10.10.0.51",
}
PRODUCTION = {
    "inventory_hostname": "db1.example.net",
    "groups": {
        "web": ["web1.example.net", "web2.example.net"],
        "db": ["db1.example.net"],
        "cache": ["cache1.example.net"],
        "worker": ["worker1.example.net"],
        "backup": ["backup1.example.net"],
    },
    "hostvars": {host: {"private_address": address} for host, address in PRODUCTION_HOSTS.items()},
    "__postgresql_hba": [
        {"database": "sample", "user": "sample", "sources": ["10.10.0.11", "10.10.0.12", "10.10.0.41"]}
    ],
    "__postgresql_databases": [{"name": "sample", "owner": "sample"}],
    "__postgresql_admin_map": "djangostack_admin",
    "postgresql_backup_role": "djangostack_backup",
}
PRODUCTION_HBA = (
    HBA_HEAD
    + """
# Applications
local sample sample scram-sha-256
hostssl sample sample 10.10.0.11/32 scram-sha-256
hostssl sample sample 10.10.0.12/32 scram-sha-256
hostssl sample sample 10.10.0.41/32 scram-sha-256

# Pulled backups: the OS account of the same name, over the socket only.
local postgres djangostack_backup peer
local sample djangostack_backup peer
"""
)


@pytest.mark.parametrize(("context", "expected"), [(STAGING, STAGING_HBA), (PRODUCTION, PRODUCTION_HBA)])
def test_pg_hba_renders_as_before(context, expected):
    assert render("roles/postgresql/templates/pg_hba.conf.j2", **context) == expected


def test_pg_hba_lines_of_an_all_in_one_host_skip_the_host_itself():
    entries = [{"database": "app", "user": "app", "sources": ["web", "staging-aio.example.net"]}]
    assert topology.pg_hba_lines(entries, STAGING["groups"], STAGING["hostvars"], "staging-aio.example.net") == [
        "local app app scram-sha-256"
    ]


def test_pg_hba_lines_of_a_split_inventory_resolve_groups_hosts_and_cidrs():
    hostvars = PRODUCTION["hostvars"] | {"web2.example.net": {"private_address": "fd00::12"}}
    entries = [
        {"database": "app", "user": "app", "sources": ["web", "worker1.example.net", "10.10.0.11", "2001:db8::/32"]},
        {"database": "app", "user": "report", "sources": ["db"]},
        {"database": "app", "user": "app"},
    ]
    assert topology.pg_hba_lines(entries, PRODUCTION["groups"], hostvars, "db1.example.net") == [
        "local app app scram-sha-256",
        "hostssl app app 10.10.0.11/32 scram-sha-256",
        "hostssl app app fd00::12/128 scram-sha-256",
        "hostssl app app 10.10.0.41/32 scram-sha-256",
        "hostssl app app 2001:db8::/32 scram-sha-256",
        "local app report scram-sha-256",
    ]


def test_pg_hba_rejects_a_source_that_is_no_group_host_or_address():
    with pytest.raises(AnsibleFilterError, match="webz"):
        topology.pg_hba_lines([{"database": "a", "user": "a", "sources": ["webz"]}], {}, {}, "db1")


# The backup host's config.json and known_hosts.

BACKUP_HOSTVARS = {
    "db1": {"private_address": "10.10.0.21", "ssh_port": 2222},
    "web1": {"ansible_facts": {"default_ipv4": {}, "default_ipv6": {"address": "2001:db8::11"}}},
}
FIXTURES = {"app": [{"table": "notes_note", "key": "id", "newest": "created_at"}]}
KEY_DIR = "/etc/djangostack-backup/keys"


def plan_with_ports(db_host, databases, media_hosts, fixtures, hostvars, default_port=None):
    """The plan as the wiring hands it to the backup host: sources with their SSH ports."""
    plan = topology.backup_plan(db_host, databases, media_hosts, fixtures)
    return {**plan, "sources": topology.backup_ports(plan["sources"], hostvars, default_port)}


def test_backup_plan_carries_each_sources_ssh_port_when_given_hostvars():
    plan = plan_with_ports("db1", ["app"], ["web1"], FIXTURES, BACKUP_HOSTVARS, 22)
    assert [(s["name"], s["port"]) for s in plan["sources"]] == [
        ("app-db", 2222),
        ("globals", 2222),
        ("web1-media", 22),
    ]
    assert all(set(k) == {"host", "id", "command"} for k in plan["keys"])
    assert all("port" not in s for s in topology.backup_plan("db1", ["app"], ["web1"])["sources"])


def test_backup_config_is_what_the_backup_program_reads():
    plan = plan_with_ports("db1", ["app"], ["web1"], FIXTURES, BACKUP_HOSTVARS, 22)
    config = topology.backup_config(plan["sources"], BACKUP_HOSTVARS, "djangostack_backup", KEY_DIR, {"storage": "/s"})
    assert config == {
        "storage": "/s",
        "sources": [
            {
                "name": "app-db",
                "kind": "postgresql",
                "host": "10.10.0.21",
                "port": 2222,
                "user": "djangostack_backup",
                "key": f"{KEY_DIR}/db1_pg-dump-app",
                "database": "app",
                "stats_key": f"{KEY_DIR}/db1_pg-stats-app",
                "fixtures": FIXTURES["app"],
            },
            {
                "name": "globals",
                "kind": "postgresql-globals",
                "host": "10.10.0.21",
                "port": 2222,
                "user": "djangostack_backup",
                "key": f"{KEY_DIR}/db1_pg-globals",
            },
            {
                "name": "web1-media",
                "kind": "media",
                "host": "2001:db8::11",
                "port": 22,
                "user": "djangostack_backup",
                "key": f"{KEY_DIR}/web1_media",
                "manifest_key": f"{KEY_DIR}/web1_media-manifest",
            },
        ],
    }


def test_backup_port_comes_from_the_plan_and_a_plan_without_it_is_refused():
    hostvars = {"db1": {"private_address": "10.10.0.21", "ssh_port": 2222}}
    source = {"name": "globals", "kind": "postgresql-globals", "host": "db1", "key": "k"}
    assert topology.backup_config([source | {"port": 2200}], hostvars, "u", KEY_DIR)["sources"][0]["port"] == 2200
    with pytest.raises(AnsibleFilterError, match="backup source 'globals' has no port"):
        topology.backup_config([source], hostvars, "u", KEY_DIR)


def test_backup_plan_takes_the_default_port_it_is_given_and_needs_one():
    hostvars = {"db1": {"private_address": "10.10.0.21"}}
    assert {s["port"] for s in plan_with_ports("db1", ["app"], [], None, hostvars, 2022)["sources"]} == {2022}
    with pytest.raises(AnsibleFilterError, match="no ssh_port for host 'db1' and no default port"):
        plan_with_ports("db1", ["app"], [], None, hostvars)


BACKUP_CONTEXT = {
    "backup_pull_user": "djangostack_backup",
    "backup_key_dir": KEY_DIR,
    "backup_storage_dir": "/var/lib/djangostack-backup/archives",
    "backup_work_dir": "/var/lib/djangostack-backup/work",
    "__backup_recipients": "/etc/djangostack-backup/recipients.txt",
    "__backup_known_hosts": "/etc/djangostack-backup/known_hosts",
    "__backup_metrics_file": "/var/lib/prometheus/node-exporter/djangostack_backup.prom",
    "backup_retention": {"hourly": 24, "daily": 7, "weekly": 4, "monthly": 6, "yearly": 0},
    "backup_max_age": 10800,
    "backup_min_size_ratio": 0.5,
    "backup_drill_rpo": 7200,
    "backup_alert_command": [],
}


def test_backup_config_template_writes_the_filters_dict_as_json():
    plan = plan_with_ports("db1", ["app"], ["web1"], FIXTURES, BACKUP_HOSTVARS, 22)
    text = render(
        "roles/backup/templates/config.json.j2",
        backup_sources=plan["sources"],
        hostvars=BACKUP_HOSTVARS,
        **BACKUP_CONTEXT,
    )
    config = json.loads(text)
    assert set(config) == {
        "_comment",
        "storage",
        "work",
        "recipients",
        "known_hosts",
        "metrics",
        "retention",
        "max_age_seconds",
        "min_size_ratio",
        "rpo_seconds",
        "alert_command",
        "sources",
    }
    assert config["_comment"] == "Ansible managed"
    assert (config["max_age_seconds"], config["rpo_seconds"], config["retention"]["daily"]) == (10800, 7200, 7)
    assert (
        config["sources"]
        == topology.backup_config(plan["sources"], BACKUP_HOSTVARS, "djangostack_backup", KEY_DIR)["sources"]
    )


def test_backup_known_hosts_at_each_sources_address_and_port():
    plan = plan_with_ports("db1", ["app"], ["web1"], FIXTURES, BACKUP_HOSTVARS, 22)
    content = base64.b64encode(b"ssh-ed25519 AAAAC3Nz root@host\n").decode()
    results = [{"item": host, "content": content} for host in ("db1", "web1")]
    text = render(
        "roles/backup/templates/known_hosts.j2",
        __backup_host_keys={"results": results},
        backup_sources=plan["sources"],
        hostvars=BACKUP_HOSTVARS,
    )
    assert text.splitlines()[-2:] == ["[10.10.0.21]:2222 ssh-ed25519 AAAAC3Nz", "2001:db8::11 ssh-ed25519 AAAAC3Nz"]


def test_backup_plan_leaves_a_port_that_is_not_a_number_to_the_ssh_roles_preflight():
    hostvars = {"db1": {"private_address": "10.10.0.21", "ssh_port": "twenty-two"}}
    assert {s["port"] for s in plan_with_ports("db1", ["app"], [], None, hostvars, 22)["sources"]} == {"twenty-two"}
