"""common: sudo validation, journald, sysctl, packages, time."""

from __future__ import annotations

import json

import pytest
from lab import EPHEMERAL, PROJECT, ansible_playbook

SUDOERS = "/etc/sudoers.d/50-djangostack-admins"


def test_sudoers_mistake_is_rejected_and_old_file_stays(host):
    before = host.file(SUDOERS).sha256sum
    key = (EPHEMERAL / "lab_admin_ed25519.pub").read_text().strip()
    typo = {"common_admin_users": [{"name": "ops", "ssh_keys": [key], "sudo_commands": ["ALL,"]}]}
    result = ansible_playbook(
        "--limit", host.backend.host, "--tags", "common", "-e", json.dumps(typo), str(PROJECT / "site.yml")
    )
    assert result.returncode != 0
    assert "failed to validate" in result.stdout + result.stderr
    assert host.file(SUDOERS).sha256sum == before
    assert host.run("visudo -c").rc == 0
    assert host.run("sudo -n -l -U ops").rc == 0


def test_sudo_with_password_user_needs_password(host):
    result = host.run("runuser -u auditor -- sudo -n /usr/bin/journalctl -n 1")
    assert result.rc != 0
    assert "password is required" in result.stderr


def test_journal_is_persistent(host):
    machine_id = host.file("/etc/machine-id").content_string.strip()
    assert host.file(f"/var/log/journal/{machine_id}").is_directory
    assert host.run("journalctl --disk-usage").rc == 0


def test_journal_is_capped(host):
    config = host.check_output("systemd-analyze cat-config systemd/journald.conf")
    assert "SystemMaxUse=1G" in config


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kernel.kptr_restrict", "2"),
        ("net.ipv4.conf.all.accept_redirects", "0"),
        ("net.ipv4.tcp_syncookies", "1"),
        ("kernel.yama.ptrace_scope", "1"),
        ("fs.protected_regular", "2"),
    ],
)
def test_sysctl_settings_rendered(host, key, value):
    """Rendered for the boot-time sysctl load; not applied here (containers share the test machine's kernel)."""
    settings = dict(
        line.split(" = ", 1)
        for line in host.file("/etc/sysctl.d/90-djangostack.conf").content_string.splitlines()
        if " = " in line
    )
    assert settings[key] == value


def test_sysctl_file_parses(host):
    """systemd-sysctl accepts every line (a typo would be reported as unknown)."""
    out = host.run("/lib/systemd/systemd-sysctl --cat-config")
    assert out.rc == 0
    assert "kernel.kptr_restrict = 2" in out.stdout


@pytest.mark.parametrize("package", ["gcc", "make", "build-essential", "cpp"])
def test_no_compilers(host, package):
    assert not host.package(package).is_installed


@pytest.mark.parametrize("package", ["sudo", "unattended-upgrades", "nftables", "openssh-server"])
def test_base_packages(host, package):
    assert host.package(package).is_installed


def test_unattended_upgrades_security_only(host):
    dump = host.check_output("apt-config dump Unattended-Upgrade::Origins-Pattern")
    assert "label=Debian-Security" in dump
    assert 'label=Debian"' not in dump


def test_timezone_and_locale(host):
    assert host.check_output("date +%Z") == "UTC"
    assert "en_US.utf8" in host.check_output("locale -a")


def test_admin_authorized_keys_exact(host):
    keys = host.file("/home/ops/.ssh/authorized_keys")
    assert keys.user == "ops"
    assert oct(keys.mode) == "0o600"
    assert keys.content_string.count("ssh-ed25519") == 1
