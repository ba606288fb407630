"""ACME: certbot (webroot) against Debian's pebble, with real http-01 validation through nginx."""

from __future__ import annotations

import pytest
from lab import assert_check_made_no_changes, web_name

LIVE = "/etc/letsencrypt/live"


@pytest.fixture
def name(host) -> str:
    return web_name(host.backend.host)


@pytest.fixture
def pebble_root(host) -> str:
    """Pebble's issuing root (a new one per pebble start), fetched from its management API."""
    path = "/root/pebble-root.pem"
    host.run_expect(
        [0],
        'python3 -c "import ssl, urllib.request; '
        "ctx = ssl.create_default_context(cafile='/etc/ssl/lab-ca.pem'); "
        "open('/root/pebble-root.pem', 'wb').write("
        "urllib.request.urlopen('https://acme-pebble.lab.test:15000/roots/0', context=ctx).read())\"",
    )
    return path


def served_certificate(host, name: str, root: str) -> str:
    return host.run(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} -CAfile {root} "
        f"-verify_hostname {name} -verify_return_error </dev/null 2>&1"
    ).stdout


def serial(host, name: str) -> str:
    return host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null "
        "| openssl x509 -noout -serial"
    )


def test_converged_hosts_report_zero_changes_under_check():
    """ACME included: the certificate is not requested again, nothing would change."""
    assert_check_made_no_changes()


def test_challenge_was_answered_by_nginx(host):
    """http-01 for real: pebble's validator fetched the token from nginx's webroot location."""
    log = host.file("/var/log/nginx/access.log").content_string
    assert "GET /.well-known/acme-challenge/" in log
    assert "Pebble" in log


def test_served_certificate_chains_to_pebble(host, name, pebble_root):
    out = served_certificate(host, name, pebble_root)
    assert "Verify return code: 0 (ok)" in out, out[-2000:]
    assert host.file(f"{LIVE}/{name}/fullchain.pem").exists


def test_nginx_serves_the_acme_certificate_not_the_bootstrap_one(host, name):
    """The certificate on the wire is certbot's, byte for byte (its fingerprint), not the bootstrap one."""
    served = host.check_output(
        f"openssl s_client -connect 127.0.0.1:443 -servername {name} </dev/null 2>/dev/null "
        "| openssl x509 -noout -fingerprint -sha256"
    )
    issued = host.check_output(f"openssl x509 -in {LIVE}/{name}/cert.pem -noout -fingerprint -sha256")
    assert served == issued
    assert "Pebble" in host.check_output(f"openssl x509 -in {LIVE}/{name}/cert.pem -noout -issuer")


def test_renewal_reloads_nginx_never_restarts_it(host, name):
    renewal = host.file(f"/etc/letsencrypt/renewal/{name}.conf").content_string
    assert "renew_hook = systemctl reload nginx" in renewal
    pid = host.check_output("systemctl show -p MainPID --value nginx")
    before = serial(host, name)
    host.run_expect(
        [0],
        "REQUESTS_CA_BUNDLE=/etc/ssl/lab-ca.pem "
        "certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive -q",
    )
    assert serial(host, name) != before
    assert host.check_output("systemctl show -p MainPID --value nginx") == pid


def test_renewals_are_scheduled_and_trust_the_acme_api(host):
    timer = host.service("certbot.timer")
    assert timer.is_enabled
    assert timer.is_running
    environment = host.check_output("systemctl show -p Environment --value certbot.service")
    assert "REQUESTS_CA_BUNDLE=/etc/ssl/lab-ca.pem" in environment
