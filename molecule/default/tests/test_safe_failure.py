"""Safe failure: a value that passes the preflight but that the daemon refuses fails at the
daemon's own check (sshd -t, nft -c, postgres -C, a throwaway pgbouncer), before the file is
installed; the running daemon keeps its old configuration and keeps serving.
(nginx: tests/test_deploy.py; sudoers: tests/test_base.py.)"""

from __future__ import annotations

import json
import re

from lab import PROJECT, address, ansible_playbook, instance, lab_hosts, probe_ssh

NAME = lab_hosts()[-1]
APP = "sample"


def state(path: str, probe: str) -> tuple[str, str]:
    """The file's digest and what `probe` prints (the daemon's PID, its running ruleset)."""
    host = instance(NAME)
    return host.file(path).sha256sum, host.check_output(probe)


def refused(tag: str, extra: dict, task: str, said: str, path: str, probe: str) -> None:
    """Converge one role with a bad value: it fails at `task`'s validation saying `said` (a regular
    expression), and the file and the daemon are as they were."""
    before = state(path, probe)
    result = ansible_playbook(str(PROJECT / "site.yml"), "--limit", NAME, "--tags", tag, "-e", json.dumps(extra))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert task in output
    assert "failed to validate" in output
    assert re.search(said, output), output[-3000:]
    assert state(path, probe) == before


def test_a_cipher_sshd_does_not_know_fails_at_sshd_t_and_sshd_keeps_serving():
    refused(
        "ssh",
        {"ssh_ciphers": ["aes256-gcm@openssh.com", "rot13-cbc"]},
        "Install sshd_config (checked with sshd -t first)",
        "rot13-cbc",
        "/etc/ssh/sshd_config",
        "systemctl show -p MainPID --value ssh",
    )
    assert probe_ssh(address(instance(NAME)), "ops", "true").rc == 0


def test_a_ruleset_nft_refuses_fails_at_nft_c_and_the_running_ruleset_stays():
    # An operator's "0 means no limit": nft refuses a rate of 0.
    refused(
        "firewall",
        {"firewall_ssh_rate": 0},
        "Install the ruleset (checked with nft -c first)",
        "Could not process rule",
        "/etc/nftables.conf",
        "nft -s -t list table inet djangostack",
    )
    assert probe_ssh(address(instance(NAME)), "ops", "true").rc == 0


def test_a_bad_postgresql_setting_fails_at_postgres_c_and_the_server_keeps_running():
    host = instance(NAME)
    service = host.check_output("systemctl list-units --plain --no-legend 'postgresql@*' | awk '{print $1}'")
    show = "runuser -u postgres -- psql -XAtc 'SHOW work_mem'"
    work_mem = host.check_output(show)
    refused(
        "postgresql",
        {"postgresql_settings": {"work_mem": "lots"}},
        "Install the settings (checked with postgres -C first)",
        r'invalid value for parameter \\?"work_mem\\?": \\?"lots',
        host.check_output("ls /etc/postgresql/*/main/conf.d/50-djangostack.conf"),
        f"systemctl show -p MainPID --value {service}",
    )
    assert host.check_output(show) == work_mem


def test_a_pgbouncer_ini_pgbouncer_refuses_fails_in_a_throwaway_pgbouncer_and_the_running_one_serves():
    refused(
        "pgbouncer",
        {"pgbouncer_server_host": "/var/run/postgresql 5432"},  # the port typed into the host
        "Install pgbouncer.ini (checked by a throwaway pgbouncer first)",
        "syntax error in connection string",
        "/etc/pgbouncer/pgbouncer.ini",
        "systemctl show -p MainPID --value pgbouncer",
    )
    pools = instance(NAME).check_output(
        "psql -X -At -h /var/run/postgresql -p 6432 -U root -d pgbouncer -c 'SHOW DATABASES'"
    )
    assert f"{APP}|/var/run/postgresql|" in pools
