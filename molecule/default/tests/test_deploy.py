"""Releases: zero-downtime deploy and rollback under load, switch-back on a failed health check,
and a broken nginx value stopped by validation. These run playbooks against the lab."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from lab import (
    PROBE_CA,
    PROJECT,
    ansible_playbook,
    instance,
    lab_hosts,
    probe,
    probe_curl,
    probe_knows_web_names,
    status_and_headers,
    web_name,
)

APP = "sample"
APP_PLAY = "App - pgbouncer, nginx, Gunicorn, the Django release and Celery"
# A release whose health check can never pass; three tries are enough to fail it (the default 20
# would only wait longer for the same verdict).
UNHEALTHY = {"django_health_path": "/no-such-health-check/", "django_health_retries": 3}

pytestmark = pytest.mark.usefixtures("names")


@pytest.fixture(scope="module")
def names():
    probe_knows_web_names()


def served_release(name: str) -> str:
    result = probe_curl(f"https://{web_name(name)}/health/")
    status, headers = status_and_headers(result.stdout)
    assert status == 200, result.stdout
    return headers["x-app-release"]


def current_release(name: str) -> str:
    return instance(name).check_output(f"readlink /srv/{APP}/current").rsplit("/", 1)[-1]


class Load:
    """The probe's load generator (molecule/shared/loadgen.py), one per web instance."""

    def __init__(self, names: list[str]):
        self.run = uuid.uuid4().hex[:8]
        self.names = names

    def path(self, name: str, kind: str) -> str:
        return f"/root/load-{self.run}-{name}.{kind}"

    def start(self) -> None:
        for name in self.names:
            probe().run_expect(
                [0],
                f"setsid -f python3 /root/loadgen.py {web_name(name)} {PROBE_CA} "
                f"{self.path(name, 'stop')} {self.path(name, 'json')} >/dev/null 2>&1",
            )

    def stop(self) -> dict[str, dict]:
        for name in self.names:
            probe().run_expect([0], f"touch {self.path(name, 'stop')}")
        results = {}
        for name in self.names:
            probe().run_expect([0], f"timeout 60 sh -c 'until [ -s {self.path(name, 'json')} ]; do sleep 0.5; done'")
            results[name] = json.loads(probe().check_output(f"cat {self.path(name, 'json')}"))
        return results


def test_deploy_and_rollback_under_load_drop_no_request():
    names = lab_hosts()
    assert {current_release(name) for name in names} == {"1"}
    load = Load(names)
    load.start()
    try:
        time.sleep(3)
        deploy = ansible_playbook(str(PROJECT / "deploy.yml"), "-e", "django_release=2")
        assert deploy.returncode == 0, deploy.stdout[-4000:]
        # Rolling: one batch (the app play) per host.
        assert deploy.stdout.count(f"PLAY [{APP_PLAY}]") == len(names)
        assert {served_release(name) for name in names} == {"2"}
        time.sleep(2)
        rollback = ansible_playbook(str(PROJECT / "rollback.yml"))
        assert rollback.returncode == 0, rollback.stdout[-4000:]
        time.sleep(2)
    finally:
        results = load.stop()
    for name, result in results.items():
        print(
            f"zero-downtime {name}: {result['requests']} requests in {result['seconds']} s, "
            f"{len(result['failures'])} failed, releases served: {' -> '.join(result['releases'])}"
        )
    for name, result in results.items():
        assert result["failures"] == [], f"{name}: {result['failures'][:10]}"
        assert result["requests"] >= 100, f"{name}: too few requests to mean anything"
        assert result["releases"] == ["1", "2", "1"], name
    assert {current_release(name) for name in names} == {"1"}
    assert {served_release(name) for name in names} == {"1"}


def test_rollback_keeps_both_releases_installed():
    """Rollback switched, it did not rebuild: release 2 is still there, ready to go forward again."""
    for name in lab_hosts():
        host = instance(name)
        assert host.file(f"/srv/{APP}/releases/2/.djangostack-release.json").exists
        assert host.file(f"/srv/{APP}/releases/1/.djangostack-release.json").exists


@pytest.fixture(scope="module")
def unhealthy():
    """A rolling deploy (one host per batch) of a release whose health check never passes: the
    first host's batch fails. One run shows both the switch-back on that host and the stop before
    the next batch."""
    result = ansible_playbook(
        str(PROJECT / "deploy.yml"),
        "-e",
        json.dumps(UNHEALTHY | {"django_release": "3-unhealthy"}),
    )
    return result.returncode, result.stdout + result.stderr


def test_failed_health_check_switches_back_and_fails_loudly(unhealthy):
    """A release that does not pass its health check is switched away from automatically."""
    code, output = unhealthy
    name = lab_hosts()[0]
    assert code != 0
    assert "Release 3-unhealthy failed its health check" in output
    assert "current points back at /srv/sample/releases/1" in output
    assert current_release(name) == "1"
    assert served_release(name) == "1"


def test_a_rolling_deploy_stops_at_the_failed_batch_and_leaves_the_next_hosts_untouched(unhealthy):
    code, output = unhealthy
    second = lab_hosts()[1]
    assert code != 0
    assert output.count(f"PLAY [{APP_PLAY}]") == 1, "a second batch started"
    assert not instance(second).file(f"/srv/{APP}/releases/3-unhealthy").exists
    assert (current_release(second), served_release(second)) == ("1", "1")


def test_old_releases_are_pruned_keeping_current_and_the_newest():
    """django_keep_releases counts every release: current stays, then the newest others."""
    name = lab_hosts()[0]
    host = instance(name)
    assert set(host.check_output(f"ls /srv/{APP}/releases").split()) == {"1", "2", "3-unhealthy"}
    result = ansible_playbook(
        str(PROJECT / "deploy.yml"), "--limit", name, "--tags", "django", "-e", json.dumps({"django_keep_releases": 2})
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert set(host.check_output(f"ls /srv/{APP}/releases").split()) == {"1", "3-unhealthy"}
    assert current_release(name) == "1"
    assert served_release(name) == "1"


def test_broken_nginx_value_fails_at_validation_and_nginx_keeps_serving():
    name = lab_hosts()[0]
    host = instance(name)
    before = host.file("/etc/nginx/nginx.conf").sha256sum
    pid = host.check_output("systemctl show -p MainPID --value nginx")
    result = ansible_playbook(
        str(PROJECT / "site.yml"),
        "--limit",
        name,
        "--tags",
        "nginx",
        "-e",
        json.dumps({"nginx_server_extra": ["no_such_directive on;"]}),
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Install nginx.conf (checked with nginx -t first)" in output
    assert "failed to validate" in output
    assert re.search(r'unknown directive \\?"no_such_directive', output)
    assert host.file("/etc/nginx/nginx.conf").sha256sum == before
    assert host.check_output("systemctl show -p MainPID --value nginx") == pid
    assert served_release(name) == "1"
