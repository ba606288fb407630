"""Web tier: nginx TLS termination in front of Gunicorn and the Django release, from the probe."""

from __future__ import annotations

import json
import re
import subprocess
import uuid

import pytest
from lab import EPHEMERAL, PROBE_CA, probe, probe_curl, probe_knows_web_names, status_and_headers, upload, web_name

APP = "sample"


@pytest.fixture(scope="module", autouse=True)
def names():
    probe_knows_web_names()


@pytest.fixture
def site(host) -> str:
    return f"https://{web_name(host.backend.host)}"


def get(url: str, *args: str) -> tuple[int, dict[str, str], str]:
    result = probe_curl(url, *args)
    assert result.rc == 0, result.stderr
    status, headers = status_and_headers(result.stdout)
    return status, headers, result.stdout


def test_https_request_reaches_django(site):
    status, headers, body = get(f"{site}/")
    assert status == 200
    assert headers.get("x-app-release") == "1"  # stamped by the app on every response
    assert "Notes" in body


def test_http_redirects_to_https(host):
    status, headers, _ = get(f"http://{web_name(host.backend.host)}/some/path?x=1")
    assert status == 301
    assert headers["location"] == f"https://{web_name(host.backend.host)}/some/path?x=1"


def test_http2_and_security_headers(site):
    result = probe().run(f"curl -sS --http2 --cacert {PROBE_CA} -o /dev/null -D - {site}/")
    status_line = result.stdout.splitlines()[0]
    _, headers = status_and_headers(result.stdout)
    assert status_line.startswith("HTTP/2 200")
    assert headers["strict-transport-security"] == "max-age=63072000"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["server"] == "nginx"  # server_tokens off: no version
    assert result.stdout.lower().count("strict-transport-security") == 1


def test_unknown_server_name_gets_no_answer(host):
    """A request by bare IP (or any other name) is closed without a response (444)."""
    ip = host.check_output("hostname -I").split()[0]
    result = probe().run(f"curl -sS -k --max-time 10 -o /dev/null -w '%{{http_code}}' https://{ip}/")
    assert result.rc != 0
    assert result.stdout in ("", "000")


def test_static_file_served_by_nginx_with_cache_headers(host, site):
    manifest = json.loads(host.file(f"/srv/{APP}/current/static/staticfiles.json").content_string)
    hashed = manifest["paths"]["notes/style.css"]
    assert re.search(r"\.[0-9a-f]{12}\.css$", hashed)
    marker = uuid.uuid4().hex
    status, headers, _ = get(f"{site}/static/{hashed}?{marker}")
    assert status == 200
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "x-app-release" not in headers, "the app answered a static file"
    gunicorn_log = host.check_output(f"journalctl -u gunicorn-{APP}.service --since '-10min' --no-pager")
    assert marker not in gunicorn_log


def test_uploaded_file_is_served_from_media(site):
    content = f"uploaded {uuid.uuid4().hex}"
    url = re.search(r'id="file-url" href="([^"]+)"', upload(site, content)).group(1)
    assert url.startswith("/media/")
    status, headers, body = get(f"{site}{url}")
    assert status == 200
    assert body.endswith(content)
    assert "x-app-release" not in headers, "the app answered a media file"
    assert "sandbox" in headers["content-security-policy"]


def test_media_never_executes_uploaded_markup(host, site):
    """An HTML file dropped into media is served as a download, never rendered."""
    host.run_expect([0], f"printf '<script>alert(1)</script>' > /srv/{APP}/shared/media/lab-test.html")
    status, headers, _ = get(f"{site}/media/lab-test.html")
    host.run(f"rm -f /srv/{APP}/shared/media/lab-test.html")
    assert status == 200
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"] == "attachment"


def test_media_directory_is_not_listed(site):
    status, _, _ = get(f"{site}/media/")
    assert status in (403, 404)


def test_gunicorn_runs_as_the_app_user(host):
    pids = host.check_output(f"systemctl show -p MainPID --value gunicorn-{APP}.service")
    assert pids != "0"
    users = host.check_output(f"ps -o user= --ppid {pids} -p {pids}").split()
    assert len(users) >= 2
    assert set(users) == {APP}


def test_gunicorn_is_sandboxed(host):
    show = host.check_output(
        f"systemctl show gunicorn-{APP}.service -p NoNewPrivileges -p ProtectSystem -p PrivateTmp "
        "-p ProtectHome -p CapabilityBoundingSet"
    )
    props = dict(line.split("=", 1) for line in show.splitlines())
    assert props["NoNewPrivileges"] == "yes"
    assert props["ProtectSystem"] == "strict"
    assert props["PrivateTmp"] == "yes"
    assert props["ProtectHome"] == "yes"
    assert props["CapabilityBoundingSet"] == ""


def test_app_cannot_write_its_code(host):
    """The release is root's: the app account can write media and data only."""
    release = host.check_output(f"readlink -f /srv/{APP}/current")
    assert host.run(f"runuser -u {APP} -- touch {release}/venv/x").rc != 0
    assert host.run(f"runuser -u {APP} -- touch /srv/{APP}/shared/media/.w && rm /srv/{APP}/shared/media/.w").rc == 0


def test_env_file_is_not_world_readable(host):
    env = host.file(f"/srv/{APP}/shared/env")
    assert env.user == "root"
    assert env.group == APP
    assert env.mode == 0o640
    # Behaviour: another account cannot read the secrets; the app's can.
    assert host.run(f"runuser -u nobody -- cat /srv/{APP}/shared/env").rc != 0
    assert "DJANGO_SECRET_KEY=" in host.check_output(f"runuser -u {APP} -- cat /srv/{APP}/shared/env")


def test_admin_refused_from_a_disallowed_network(site):
    status, _, _ = get(f"{site}/admin/")
    assert status == 403


def test_admin_reachable_from_an_allowed_network(host):
    """The positive control: from the host itself (127.0.0.1, allowed) the admin answers."""
    name = web_name(host.backend.host)
    script = (
        "import ssl, http.client as h; "
        "c = h.HTTPSConnection('127.0.0.1', context=ssl._create_unverified_context()); "
        f"c.request('GET', '/admin/', headers={{'Host': '{name}'}}); "
        "r = c.getresponse(); print(r.status, r.getheader('Location'))"
    )
    out = host.check_output(f'python3 -c "{script}"')
    assert out.startswith("302 /admin/login/")


def test_django_check_deploy_is_clean(host):
    result = host.run(f"{APP}-manage check --deploy --fail-level WARNING")
    assert result.rc == 0, result.stderr
    assert "no issues" in result.stdout


def test_error_page_does_not_depend_on_the_app(host, site):
    """With Gunicorn and its socket down, nginx answers 502 with its own static page."""
    host.run_expect([0], f"systemctl stop gunicorn-{APP}.socket gunicorn-{APP}.service")
    try:
        status, _, body = get(f"{site}/")
    finally:
        host.run_expect([0], f"systemctl start gunicorn-{APP}.socket gunicorn-{APP}.service")
    assert status == 502
    assert "Temporarily unavailable" in body


def sslyze(target: str, cafile: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sslyze", "--mozilla_config=intermediate", f"--certinfo_ca_file={cafile}", target],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_sslyze_mozilla_intermediate_compliant(host):
    """sslyze (from the controller) with the lab's test CA as the trust anchor."""
    name = web_name(host.backend.host)
    ip = host.check_output("hostname -I").split()[0]
    result = sslyze(f"{name}:443{{{ip}}}", f"{EPHEMERAL}/pki/ca.pem")
    print(result.stdout[-1500:])
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{name}:443: OK - Compliant." in result.stdout


def test_sslyze_fails_a_stock_debian_nginx():
    """The negative control: Debian's nginx with its default TLS settings (on the probe) fails the check."""
    stock = probe()
    stock.run_expect(
        [0], "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx ssl-cert"
    )
    stock.run_expect(
        [0],
        "sed -i -e 's/^\\s*# \\(listen .*443 ssl default_server;\\)/\\1/' "
        "-e 's/^\\s*# \\(include snippets\\/snakeoil.conf;\\)/\\1/' /etc/nginx/sites-available/default "
        "&& systemctl restart nginx",
    )
    ip = stock.check_output("hostname -I").split()[0]
    certificate = stock.check_output("cat /etc/ssl/certs/ssl-cert-snakeoil.pem")
    cafile = EPHEMERAL / "stock-nginx.pem"
    cafile.write_text(certificate + "\n")
    result = sslyze(f"{ip}:443", str(cafile))
    print(result.stdout[-1500:])
    assert result.returncode != 0
    assert "FAILED - Not compliant." in result.stdout
    assert "* ciphers: Cipher suites" in result.stdout
    assert "* maximum_certificate_lifespan:" in result.stdout
