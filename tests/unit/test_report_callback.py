"""The djangostack_report callback records what changed, so "zero changes under --check" can fail."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from conftest import ROOT

PLAYBOOK = """
- name: Report fixture
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Something that changes
      ansible.builtin.debug:
        msg: changed
      changed_when: true
    - name: Something that does not
      ansible.builtin.debug:
        msg: ok
"""


@pytest.mark.parametrize(("check", "report"), [(True, "check.json"), (False, "apply.json")])
def test_report_names_the_changed_task(tmp_path, check, report):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAYBOOK)
    env = dict(
        os.environ,
        ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "plugins" / "callback"),
        ANSIBLE_CALLBACKS_ENABLED="djangostack_report",
        DJANGOSTACK_REPORT_DIR=str(tmp_path / "reports"),
    )
    args = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)] + (["--check"] if check else [])
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "reports" / report).read_text())
    assert data["check_mode"] is check
    assert [c["task"] for c in data["hosts"]["localhost"]["changed"]] == ["Something that changes"]
    assert data["hosts"]["localhost"]["ok"] == 2
