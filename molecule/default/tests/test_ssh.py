"""SSH: who may log in, how, and with which algorithms - tested from the probe."""

from __future__ import annotations

import subprocess
import time

import pytest
from lab import address, probe, probe_ssh, release

POLICIES = {"12": "Hardened Debian 12 (version 3)", "13": "Hardened Debian 13 (version 1)"}


def ssh_audit(*args: str) -> subprocess.CompletedProcess:
    """Run ssh-audit from the controller.

    OpenSSH 10 penalises sources that connect without authenticating (PerSourcePenalties,
    "Not allowed at this time"); audits are such connections, so wait out the penalty.
    """
    deadline = time.monotonic() + 180
    while True:
        result = subprocess.run(["ssh-audit", "-n", *args], capture_output=True, text=True, timeout=300, check=False)
        if "Not allowed at this time" not in result.stdout or time.monotonic() > deadline:
            return result
        time.sleep(10)


def test_admin_key_login_works(host):
    """The positive control: the admin's key gets in (so the refusals below mean something)."""
    result = probe_ssh(address(host), "ops", "id -un")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "ops"


def test_admin_sudo_without_password(host):
    result = probe_ssh(address(host), "ops", "sudo -n id -u")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "0"


def key_login_refused(host, user: str, home: str) -> bool:
    """Give `user` the admin's own key, try it from the probe, take the key away again."""
    host.run_expect(
        [0],
        f"install -d -o {user} -m 0700 {home}/.ssh && "
        f"install -o {user} -m 0600 /home/ops/.ssh/authorized_keys {home}/.ssh/authorized_keys",
    )
    try:
        result = probe_ssh(address(host), user)
        return result.rc == 255 and "Permission denied" in result.stderr
    finally:
        host.run(f"rm -f {home}/.ssh/authorized_keys")


def test_root_login_refused(host):
    """root holds a valid key: only sshd's policy (PermitRootLogin no) refuses it."""
    assert key_login_refused(host, "root", "/root")


def test_password_login_refused(host):
    """auditor has the known password "lab-password": sshd must not even offer password auth."""
    result = probe().run(
        "sshpass -p lab-password ssh -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
        "-o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive "
        f"-o NumberOfPasswordPrompts=1 -o ConnectTimeout=5 auditor@{address(host)} true"
    )
    assert result.rc != 0
    assert "Permission denied (publickey)" in result.stderr


def test_user_outside_allowed_groups_refused(host):
    """A valid key is not enough: the account must be in ssh_allow_groups."""
    host.run_expect([0], "id outsider || useradd -m outsider")
    try:
        assert key_login_refused(host, "outsider", "/home/outsider")
    finally:
        host.run("userdel -r outsider")


@pytest.mark.parametrize(
    ("option", "weak"),
    [
        ("ciphers", ("cbc", "3des", "arcfour", "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha")),
        ("macs", ("sha1", "md5", "umac-64", "hmac-sha2-256,")),
        ("kexalgorithms", ("sha1", "ecdh-sha2-nistp", "diffie-hellman-group14")),
        ("hostkeyalgorithms", ("ssh-rsa,", "ecdsa", "ssh-dss")),
    ],
)
def test_sshd_offers_only_modern_algorithms(host, option, weak):
    with host.sudo():
        effective = dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)
    value = effective[option] + ","
    for fragment in weak:
        assert fragment not in value, f"{option} offers {fragment}: {value}"


def test_sshd_rejects_small_rsa_keys(host):
    with host.sudo():
        assert "requiredrsasize 3072" in host.check_output("sshd -T")


def test_ssh_audit_policy_passes(host):
    """ssh-audit's built-in hardened policy for the host's Debian release."""
    policy = POLICIES[release(host)]
    result = ssh_audit("-P", policy, address(host))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_ssh_audit_shows_no_fail(host):
    result = ssh_audit(address(host))
    fails = [line for line in result.stdout.splitlines() if "[fail]" in line]
    assert fails == [], "\n".join(fails)
    assert "(gen) software: OpenSSH" in result.stdout


def test_ssh_audit_policy_fails_on_stock_sshd():
    """The same check against the probe's untouched Debian 12 sshd fails: the test can fail."""
    result = ssh_audit("-P", POLICIES["12"], address(probe()))
    assert result.returncode != 0
    for section in ("Ciphers", "Key exchanges", "MACs", "Host keys", "Host key (rsa-sha2-512) sizes"):
        assert f"{section} did not match" in result.stdout, result.stdout


THROTTLING = "Potentially insufficient connection throttling detected"


def test_dheat_connection_rate_is_throttled(host):
    """The firewall's per-source rate limit on the SSH port (OpenSSH 10 also penalises by itself)."""
    result = ssh_audit(address(host))
    assert "(gen) software: OpenSSH" in result.stdout
    assert THROTTLING not in result.stdout


def test_dheat_finding_on_stock_sshd():
    """Without the firewall, ssh-audit's rate test flags the stock Debian 12 sshd: the test above can fail."""
    assert THROTTLING in ssh_audit(address(probe())).stdout
