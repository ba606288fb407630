"""The djangostack.stack.report callback records what changed, so "zero changes under --check" can fail."""

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
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_CALLBACKS_ENABLED="djangostack.stack.report",
        DJANGOSTACK_REPORT_DIR=str(tmp_path / "reports"),
    )
    args = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)] + (["--check"] if check else [])
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "reports" / report).read_text())
    assert data["check_mode"] is check
    assert [c["task"] for c in data["hosts"]["localhost"]["changed"]] == ["Something that changes"]
    assert data["hosts"]["localhost"]["ok"] == 2


def test_report_names_a_collection_role_by_its_own_name(tmp_path):
    """The stack's roles run as djangostack.stack.<role>: the report (and tools/drift.py's headings) says `ssh`."""
    tasks = tmp_path / "collections" / "ansible_collections" / "testns" / "testcoll" / "roles" / "demo" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "main.yml").write_text(
        "- name: Something that changes\n  ansible.builtin.debug:\n    msg: changed\n  changed_when: true\n"
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        "- name: Role fixture\n  hosts: localhost\n  gather_facts: false\n  roles: [testns.testcoll.demo]\n"
    )
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=f"{ROOT / 'collections'}:{tmp_path / 'collections'}",
        ANSIBLE_CALLBACKS_ENABLED="djangostack.stack.report",
        DJANGOSTACK_REPORT_DIR=str(tmp_path / "reports"),
    )
    args = ["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)]
    result = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TASK [testns.testcoll.demo : Something that changes]" in result.stdout
    [entry] = json.loads((tmp_path / "reports" / "apply.json").read_text())["hosts"]["localhost"]["changed"]
    assert (entry["role"], entry["task"]) == ("demo", "demo : Something that changes")
