"""The oldest supported ansible-core (the minimum of meta/runtime.yml's requires_ansible, in
.venv-oldest: `make oldest-venv`) checks the fleet the newest one converged: `tools/drift.py`
runs the preflight and a check-mode, diff-mode pass of site.yml over the four hosts of the lab,
and every host is in sync, nothing failed. A task that renders or decides differently on the
oldest release shows up here as drift or as a failure. `make oldest` runs the lint and the unit
tests on it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from lab import INVENTORY, PROJECT, ansible_env, lab_hosts

OLDEST = PROJECT / ".venv-oldest" / "bin"


def oldest_supported() -> str:
    runtime = (PROJECT / "meta" / "runtime.yml").read_text()
    (version,) = re.findall(r'^requires_ansible: ">=([0-9.]+)"$', runtime, re.MULTILINE)
    return version


@pytest.fixture(scope="module")
def oldest_check(tmp_path_factory):
    """The drift report of a check pass over the lab by the oldest supported ansible-core."""
    assert (OLDEST / "ansible-playbook").is_file(), "no .venv-oldest: run `make oldest-venv`"
    report = tmp_path_factory.mktemp("oldest") / "drift.json"
    env = ansible_env()
    env["PATH"] = f"{OLDEST}{os.pathsep}{env['PATH']}"
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [str(OLDEST / "python"), str(PROJECT / "tools" / "drift.py"), "-i", INVENTORY, "--json", str(report)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,  # a pass takes about 70 s; a hung run (2.19.1 did) fails here
        check=False,
    )
    print(f"\n[oldest ansible-core] drift.py exit {result.returncode}\n{result.stdout[-3000:]}")
    assert report.exists(), result.stdout[-5000:] + result.stderr[-3000:]
    return result.returncode, json.loads(report.read_text())


def test_the_check_ran_on_the_oldest_supported_ansible_core(oldest_check):
    _, report = oldest_check
    assert report["ansible_core"] == oldest_supported()


def test_the_oldest_ansible_core_finds_every_host_in_sync(oldest_check):
    code, report = oldest_check
    assert (report["status"], report["drifted"]) == ("in-sync", {})
    assert sorted(report["in_sync"]) == sorted(lab_hosts())
    assert code == 0


def test_the_oldest_ansible_core_fails_no_task(oldest_check):
    _, report = oldest_check
    assert (report["failed"], report["unreachable"], report["errors"]) == ({}, [], [])
