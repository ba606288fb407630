"""The drift report: tools/drift.py, drift.yml's guard, and the diff texts of the djangostack.stack.report callback."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.release import __version__ as ansible_core_version
from conftest import ROOT, load_source

drift = load_source("tools/drift.py", "djangostack_drift")

# Modules run on localhost with the interpreter of this test run (interpreter discovery may find another).
PYTHON = f"ansible_python_interpreter={sys.executable}"
GENERATED = "2026-11-25T07:00:00Z"


def env(**extra) -> dict[str, str]:
    base = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
    base.pop("DJANGOSTACK_REPORT_DIR", None)
    base.update(extra)
    return base


# --- build_report / render_summary on synthetic check.json data ------------------------------------------


def host(changed=(), failed=(), unreachable=False, plays=("Base - hardened Debian",)):
    return {
        "changed": list(changed),
        "failed": list(failed),
        "unreachable": unreachable,
        "ok": 10,
        "plays": list(plays),
    }


def change(task, role="ssh", play="Base - hardened Debian", diff_text="--- before\n+++ after\n"):
    return {
        "role": role,
        "task": task,
        "action": "ansible.builtin.template",
        "play": play,
        "diff": bool(diff_text),
        "diff_text": diff_text,
    }


def check(**hosts):
    return {"check_mode": True, "finished": 1.0, "hosts": hosts}


def report(data, rc=0, **kw):
    return drift.build_report(data, inventory="inventories/production", ansible_rc=rc, generated=GENERATED, **kw)


def test_every_host_unchanged_is_in_sync():
    r = report(check(web2=host(), db1=host()))
    assert r["status"] == "in-sync"
    assert r["in_sync"] == ["db1", "web2"]
    assert r["drifted"] == {}
    assert r["failed"] == {}
    assert r["unreachable"] == []
    assert r["errors"] == []
    assert (r["inventory"], r["limit"], r["generated"], r["ansible_rc"]) == (
        "inventories/production",
        None,
        GENERATED,
        0,
    )
    assert drift.exit_code(r) == 0


def test_the_report_names_the_ansible_core_that_ran():
    assert report(dict(check(web1=host()), ansible_core="2.19.14"))["ansible_core"] == "2.19.14"
    assert report(None)["ansible_core"] is None


def test_a_changed_task_drifts_its_host_under_its_role():
    web1 = host(
        changed=[
            change("Install the sshd configuration", diff_text="-Port 22\n+Port 2222\n"),
            change("Install the ruleset", role="firewall"),
            change("Apply the ruleset", role="firewall", diff_text=""),
            change("Write the release marker", role=None, play="App tier"),
        ]
    )
    r = report(check(web1=web1, db1=host()), limit="web1:db1")
    assert r["status"] == "drifted"
    assert r["limit"] == "web1:db1"
    assert r["in_sync"] == ["db1"]
    assert list(r["drifted"]) == ["web1"]
    assert list(r["drifted"]["web1"]) == ["ssh", "firewall", "(play)"]
    assert r["drifted"]["web1"]["ssh"] == [
        {
            "task": "Install the sshd configuration",
            "action": "ansible.builtin.template",
            "play": "Base - hardened Debian",
            "diff_text": "-Port 22\n+Port 2222\n",
        }
    ]
    assert [e["task"] for e in r["drifted"]["web1"]["firewall"]] == ["Install the ruleset", "Apply the ruleset"]
    assert r["drifted"]["web1"]["(play)"][0]["play"] == "App tier"
    assert drift.exit_code(r) == 1


def test_a_failed_task_is_an_error_even_with_drift():
    failure = dict(change("Validate the ruleset", role="firewall"), msg="nft: syntax error")
    r = report(check(web1=host(changed=[change("Install")], failed=[failure]), db1=host()), rc=2)
    assert r["status"] == "error"
    assert r["failed"] == {"web1": [{"role": "firewall", "task": "Validate the ruleset", "msg": "nft: syntax error"}]}
    assert "web1" in r["drifted"]
    assert r["in_sync"] == ["db1"]
    assert drift.exit_code(r) == 2


def test_a_failed_task_is_an_error_whatever_ansible_returned():
    failure = dict(change("Check", role=None), msg="boom")
    r = report(check(web1=host(failed=[failure])), rc=0)
    assert r["status"] == "error"
    assert r["failed"]["web1"][0]["role"] == "(play)"


def test_an_unreachable_host_is_an_error():
    r = report(check(web1=host(), db1=host(unreachable=True)), rc=4)
    assert r["status"] == "error"
    assert r["unreachable"] == ["db1"]
    assert r["in_sync"] == ["web1"]
    assert drift.exit_code(r) == 2


@pytest.mark.parametrize(
    ("data", "rc", "why"),
    [
        (check(web1=host()), 1, "ansible-playbook exited 1"),
        (None, 0, "no check.json"),
        (check(), 0, "no host was checked"),
        ({"check_mode": False, "hosts": {"web1": host()}}, 0, "not in check mode"),
    ],
)
def test_other_errors(data, rc, why):
    r = report(data, rc=rc)
    assert r["status"] == "error"
    assert any(why in e for e in r["errors"]), r["errors"]
    assert drift.exit_code(r) == 2


def test_the_guard_play_host_is_not_one_of_the_inventory():
    data = check(localhost=host(plays=[drift.GUARD_PLAY]), web1=host())
    assert report(data)["in_sync"] == ["web1"]
    # localhost in the inventory itself runs the stack's plays too: it is reported.
    data = check(localhost=host(plays=[drift.GUARD_PLAY, "Preflight"]), web1=host())
    assert report(data)["in_sync"] == ["localhost", "web1"]


def test_the_guard_play_name_is_drift_yml_s():
    plays = yaml.safe_load((ROOT / "playbooks" / "drift.yml").read_text())
    assert plays[0]["name"] == drift.GUARD_PLAY


def test_summary_of_a_drifted_run():
    web1 = host(
        changed=[
            change("Install the sshd configuration"),
            change("firewall : Install the ruleset (checked with nft -c first)", role="firewall"),
            change("firewall : Apply the ruleset", role="firewall"),
        ]
    )
    r = report(check(web1=web1, db1=host(), web2=host()))
    text = drift.render_summary(r, ".cache/drift/production.json")
    assert text == (
        f"DRIFT REPORT  inventory: inventories/production   {GENERATED}\n"
        "in sync: 2 hosts (db1, web2)\n"
        "drifted: 1 host\n"
        "  web1\n"
        "    ssh\n"
        "      Install the sshd configuration\n"
        "    firewall\n"
        "      Install the ruleset (checked with nft -c first)\n"
        "      Apply the ruleset\n"
        "failed: none    unreachable: none\n"
        "status: drifted\n"
        "JSON: .cache/drift/production.json\n"
    )


def test_summary_of_an_error_run():
    failure = dict(change("Validate", role="firewall"), msg="line one\nline two")
    r = report(check(web1=host(failed=[failure]), db1=host(unreachable=True)), rc=4, limit="web1:db1")
    text = drift.render_summary(r)
    assert text.startswith(f"DRIFT REPORT  inventory: inventories/production   limit: web1:db1   {GENERATED}\n")
    assert "in sync: none\n" in text
    assert "drifted: none\n" in text
    assert "failed: 1 host\n  web1\n    firewall: Validate: line one line two\n" in text
    assert "unreachable: 1 host (db1)\n" in text
    assert "status: error (ansible-playbook exited 4;" in text
    assert "JSON:" not in text


@pytest.mark.parametrize(
    ("inventory", "name"),
    [
        ("inventories/production", "production"),
        ("inventories/staging/hosts.yml", "staging"),
        ("web1.example.net,web2.example.net,", "web1.example.net_web2.example.net"),
    ],
)
def test_default_json_name(inventory, name):
    assert drift.inventory_name(inventory) == name


def test_ansible_env_appends_the_callback_and_keeps_what_is_set():
    got = drift.ansible_env(
        "/tmp/reports",  # noqa: S108 - a value, never created
        {"ANSIBLE_CALLBACKS_ENABLED": "profile_tasks", "ANSIBLE_ROLES_PATH": "/elsewhere"},
    )
    assert got["ANSIBLE_CALLBACKS_ENABLED"] == "profile_tasks,djangostack.stack.report"
    assert got["ANSIBLE_ROLES_PATH"] == "/elsewhere"
    # The collection (callback, plugins, roles) of this working tree first: collections/ links to it.
    assert got["ANSIBLE_COLLECTIONS_PATH"].split(":")[0] == str(ROOT / "collections")
    assert (ROOT / "collections/ansible_collections/djangostack/stack/plugins/callback/report.py").is_file()
    assert not [name for name in got if name.endswith("_PLUGINS")]
    assert got["DJANGOSTACK_REPORT_DIR"] == "/tmp/reports"  # noqa: S108
    again = drift.ansible_env(
        "/r", {"ANSIBLE_CALLBACKS_ENABLED": "djangostack.stack.report", "ANSIBLE_COLLECTIONS_PATH": "/mine"}
    )
    assert again["ANSIBLE_CALLBACKS_ENABLED"] == "djangostack.stack.report"
    assert again["ANSIBLE_COLLECTIONS_PATH"] == "/mine"


@pytest.mark.parametrize(
    ("given", "passed"),
    [
        # An installed collection's playbook goes to ansible-playbook by its name.
        ("djangostack.stack.drift", "djangostack.stack.drift"),
        # A file, by its absolute path (the run's working directory is the repository).
        ("playbooks/drift.yml", str(Path("playbooks/drift.yml").resolve())),
        ("drift.yml", str(Path("drift.yml").resolve())),
        ("/srv/ops/drift.yml", "/srv/ops/drift.yml"),
    ],
)
def test_the_playbook_is_a_file_or_a_collections_playbook(given, passed):
    assert drift.playbook_arg(given) == passed


def test_the_default_playbook_is_this_trees(tmp_path):
    args, _ = drift.parse_args(["-i", "inventories/staging"])
    assert drift.playbook_arg(args.playbook) == str(ROOT / "playbooks" / "drift.yml")


# --- --navigator: the run in the execution environment (ansible-navigator.yml) ---------------------------


def test_without_navigator_the_run_is_ansible_playbook_here():
    args, extra = drift.parse_args(["-i", "localhost,", "--limit", "web1", "--", "-e", "x=1"])
    assert drift.build_command(args, extra) == [
        "ansible-playbook",
        "-i",
        "localhost,",
        str(ROOT / "playbooks" / "drift.yml"),
        "--check",
        "--diff",
        "--limit",
        "web1",
        "-e",
        "x=1",
    ]


def test_navigator_runs_the_images_drift_playbook_in_the_execution_environment():
    args, extra = drift.parse_args(["-i", "inventories/staging", "--navigator", "--limit", "web1", "--", "-v"])
    assert drift.build_command(args, extra) == [
        "ansible-navigator",
        "run",
        "djangostack.stack.drift",
        "--mode",
        "stdout",
        "--ee",
        "true",
        "-i",
        str(ROOT / "inventories" / "staging"),
        "--check",
        "--diff",
        "--limit",
        "web1",
        "-v",
    ]


def test_navigator_takes_another_playbook():
    args, extra = drift.parse_args(["-i", "localhost,", "--navigator", "--playbook", "other.stack.drift"])
    assert drift.build_command(args, extra)[:3] == ["ansible-navigator", "run", "other.stack.drift"]


def test_navigator_settings_give_the_run_what_drift_reads():
    settings = yaml.safe_load((ROOT / "ansible-navigator.yml").read_text())["ansible-navigator"]
    assert settings["mode"] == "stdout"
    ee = settings["execution-environment"]
    assert ee["enabled"] is True
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert ee["image"] == f"djangostack-ee:{galaxy['version']}"
    variables = ee["environment-variables"]["set"]
    # The report callback and the strategy by their collection names, from the image's collection.
    assert drift.CALLBACK in variables["ANSIBLE_CALLBACKS_ENABLED"].split(",")
    assert variables["ANSIBLE_STRATEGY"] == "djangostack.stack.mitogen_linear"
    assert "collections" not in variables["ANSIBLE_COLLECTIONS_PATH"].split("/")[:2]
    # check.json lands in the repository (the mounted working directory), where drift.py reads it.
    assert variables["DJANGOSTACK_REPORT_DIR"] == drift.NAVIGATOR_REPORT_DIR
    assert not Path(drift.NAVIGATOR_REPORT_DIR).is_absolute()
    assert Path(drift.NAVIGATOR_REPORT_DIR).parts[0] == ".cache"
    assert ".cache/" in (ROOT / ".gitignore").read_text().split()


FAKE_NAVIGATOR = """#!/bin/sh
# Records how it was called and writes the report the callback would write in the image.
printf '%s\n' "$@" > "$FAKE_ARGS"
pwd >> "$FAKE_ARGS"
if [ -n "$FAKE_CHECK" ]; then printf '%s' "$FAKE_CHECK" > .cache/reports/navigator/check.json; fi
exit "${FAKE_RC:-0}"
"""


def run_fake_navigator(tmp_path, monkeypatch, check_json):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ansible-navigator"
    fake.write_text(FAKE_NAVIGATOR)
    fake.chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    monkeypatch.setattr(drift, "ROOT", repo)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_ARGS", str(tmp_path / "args"))
    monkeypatch.setenv("FAKE_CHECK", json.dumps(check_json) if check_json else "")
    out = tmp_path / "report.json"
    rc = drift.main(["-i", "localhost,", "--navigator", "--json", str(out)])
    return rc, json.loads(out.read_text()), (tmp_path / "args").read_text().splitlines(), repo


def test_navigator_run_is_read_from_the_report_directory_in_the_repository(tmp_path, monkeypatch):
    data = check(web1=host(changed=[change("ssh : Configure sshd")]))
    rc, result, argv, repo = run_fake_navigator(tmp_path, monkeypatch, data)
    assert rc == 1
    assert result["status"] == "drifted"
    assert list(result["drifted"]["web1"]) == ["ssh"]
    assert argv[:3] == ["run", "djangostack.stack.drift", "--mode"]
    assert argv[-1] == str(repo)  # run in the repository: ansible-navigator.yml is found, the tree is mounted
    assert (repo / drift.NAVIGATOR_REPORT_DIR / "check.json").is_file()


def test_navigator_run_without_a_report_is_an_error_not_the_previous_report(tmp_path, monkeypatch):
    stale = tmp_path / "repo" / drift.NAVIGATOR_REPORT_DIR / "check.json"
    stale.parent.mkdir(parents=True)
    stale.write_text(json.dumps(check(web1=host())))
    rc, result, _, _ = run_fake_navigator(tmp_path, monkeypatch, None)
    assert rc == 2
    assert any("no check.json" in e for e in result["errors"])


def test_write_json_replaces_the_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "deep" / "er" / "production.json"
    drift.write_json(target, {"status": "drifted"})
    drift.write_json(target, {"status": "in-sync"})
    assert json.loads(target.read_text()) == {"status": "in-sync"}
    assert [p.name for p in target.parent.iterdir()] == ["production.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


# --- the callback's diff texts (a real ansible-playbook run) -----------------------------------------------

DIFF_PLAYBOOK = """
- name: Diff fixture
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the config
      ansible.builtin.copy:
        content: "new line\\n"
        dest: "{{ base }}/config"
        mode: "0644"
    - name: Write the secret
      ansible.builtin.copy:
        content: "secret-new-value\\n"
        dest: "{{ base }}/secret"
        mode: "0600"
      no_log: true
    - name: Write each file
      ansible.builtin.copy:
        content: "new {{ item }}\\n"
        dest: "{{ base }}/{{ item }}"
        mode: "0644"
      loop: [a, b]
    - name: Write a big file
      ansible.builtin.copy:
        content: "{{ ('y' * 99 + '\\n') * 300 }}"
        dest: "{{ base }}/big"
        mode: "0644"
"""


def test_callback_records_diff_text_and_hides_no_log(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    before = {"config": "old line\n", "secret": "secret-old-value\n", "a": "old a\n", "b": "old b\n", "big": ""}
    for name, content in before.items():
        (files / name).write_text(content)
    playbook = tmp_path / "play.yml"
    playbook.write_text(DIFF_PLAYBOOK)
    # Coloured output: the diff texts in the report must not carry the colour codes.
    run_env = env(
        ANSIBLE_FORCE_COLOR="1",
        ANSIBLE_NOCOLOR="0",
        ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
        ANSIBLE_CALLBACKS_ENABLED="djangostack.stack.report",
        DJANGOSTACK_REPORT_DIR=str(tmp_path / "reports"),
    )
    args = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", PYTHON, "-e", f"base={files}"]
    result = subprocess.run(
        [*args, str(playbook), "--check", "--diff"],
        capture_output=True,
        text=True,
        env=run_env,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b[" in result.stdout  # the colours were on
    raw = (tmp_path / "reports" / "check.json").read_text()
    assert json.loads(raw)["ansible_core"] == ansible_core_version  # the release of this venv ran
    entries = {e["task"]: e for e in json.loads(raw)["hosts"]["localhost"]["changed"]}
    assert list(entries) == ["Write the config", "Write the secret", "Write each file", "Write a big file"]

    config = entries["Write the config"]
    assert config["play"] == "Diff fixture"
    assert config["role"] is None
    assert config["diff"] is True
    assert f"--- before: {files}/config\n+++ after: {files}/config\n" in config["diff_text"]
    assert "-old line\n+new line\n" in config["diff_text"]
    assert "\x1b" not in raw

    assert entries["Write the secret"]["diff_text"] == "(no_log: hidden)"
    assert "secret-old-value" not in raw
    assert "secret-new-value" not in raw

    loop = entries["Write each file"]
    assert [i["item"] for i in loop["items"]] == ["a", "b"]
    assert "+new a\n" in loop["items"][0]["diff_text"]
    assert "+new b\n" in loop["items"][1]["diff_text"]
    assert loop["diff_text"] == loop["items"][0]["diff_text"] + loop["items"][1]["diff_text"]

    big = entries["Write a big file"]["diff_text"]
    assert len(big) == 20000
    assert big.endswith("(diff truncated at 20000 characters)\n")

    # --check changed nothing
    assert {name: (files / name).read_text() for name in before} == before


# --- tools/drift.py end to end --------------------------------------------------------------------------

DRIFT_PLAYBOOK = """
- name: Drift fixture
  hosts: all
  gather_facts: false
  tasks:
    - name: Install the motd
      ansible.builtin.copy:
        content: "{{ wanted }}"
        dest: "{{ target }}"
        mode: "0644"
    - name: Fail when asked to
      ansible.builtin.fail:
        msg: asked to fail
      when: fail | default(false) | bool
"""


def run_drift(tmp_path, wanted, *extra, run_env=None):
    target = tmp_path / "motd"
    if not target.exists():
        target.write_text("welcome\n")
        target.chmod(0o644)
    playbook = tmp_path / "drift-fixture.yml"
    playbook.write_text(DRIFT_PLAYBOOK)
    out = tmp_path / "out" / "report.json"
    variables = json.dumps({"wanted": wanted, "target": str(target)})
    cmd = [sys.executable, str(ROOT / "tools" / "drift.py"), "-i", "localhost,", "--playbook", str(playbook)]
    cmd += ["--json", str(out), "--", "-c", "local", "-e", PYTHON, "-e", variables, *extra]
    result = subprocess.run(cmd, capture_output=True, text=True, env=run_env or env(), timeout=180, check=False)
    data = json.loads(out.read_text()) if out.exists() else None
    return result, data, target


def test_drift_tool_reports_drift_and_changes_nothing(tmp_path):
    (tmp_path / "motd").write_text("welcome\n")
    mtime = (tmp_path / "motd").stat().st_mtime_ns
    result, data, target = run_drift(tmp_path, "welcome to web1\n")
    assert result.returncode == 1, result.stdout + result.stderr
    assert data["status"] == "drifted"
    assert data["inventory"] == "localhost,"
    assert data["in_sync"] == []
    [entry] = data["drifted"]["localhost"]["(play)"]
    assert entry["task"] == "Install the motd"
    assert entry["play"] == "Drift fixture"
    assert entry["action"] == "ansible.builtin.copy"
    assert "-welcome\n+welcome to web1\n" in entry["diff_text"]
    # ansible's own output (with the diff) came through, then the summary
    assert "+welcome to web1" in result.stdout
    assert result.stdout.index("PLAY RECAP") < result.stdout.index("DRIFT REPORT")
    assert "drifted: 1 host\n  localhost\n    (play)\n      Install the motd\n" in result.stdout
    assert target.read_text() == "welcome\n"
    assert target.stat().st_mtime_ns == mtime


def test_drift_tool_in_sync(tmp_path):
    result, data, target = run_drift(tmp_path, "welcome\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert data["status"] == "in-sync"
    assert data["in_sync"] == ["localhost"]
    assert data["drifted"] == {}
    assert "in sync: 1 host (localhost)" in result.stdout
    assert target.read_text() == "welcome\n"


def test_drift_tool_failed_task_is_an_error(tmp_path):
    result, data, _ = run_drift(tmp_path, "welcome\n", "-e", "fail=true")
    assert result.returncode == 2, result.stdout + result.stderr
    assert data["status"] == "error"
    assert data["failed"]["localhost"] == [{"role": "(play)", "task": "Fail when asked to", "msg": "asked to fail"}]


def test_drift_tool_without_a_report_is_an_error(tmp_path):
    # The collection is not where ANSIBLE_COLLECTIONS_PATH points: no callback, the run leaves no check.json.
    broken = env(ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "nowhere"))
    result, data, _ = run_drift(tmp_path, "welcome\n", run_env=broken)
    assert result.returncode == 2, result.stdout + result.stderr
    assert data["status"] == "error"
    assert any("no check.json" in e for e in data["errors"])
    assert "status: error" in result.stdout


# --- drift.yml's guard ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inventory", "flags"),
    [
        ("localhost,", []),
        ("localhost,", ["--check"]),
        ("localhost,", ["--diff"]),
        # --limit leaves localhost (the first guard) out: the second guard stops the run.
        ("web1,", ["--limit", "web1"]),
    ],
)
def test_drift_playbook_refuses_to_run_without_check_and_diff(inventory, flags):
    result = subprocess.run(
        ["ansible-playbook", "-i", inventory, "-c", "local", "drift.yml", *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env(),
        timeout=180,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "--check --diff" in output
    assert "PLAY [Drift report" in output
    assert "Preflight" not in output
    assert "PLAY [Base" not in output


def test_drift_playbook_guard_lets_check_diff_through(tmp_path):
    # The guard plays alone (site.yml is not run here): they pass under --check --diff.
    plays = yaml.safe_load((ROOT / "playbooks" / "drift.yml").read_text())
    assert plays[-1] == {"name": "The whole stack, in check mode", "ansible.builtin.import_playbook": "site.yml"}
    assert len(plays) == 3
    guard = tmp_path / "guard.yml"
    guard.write_text(yaml.safe_dump(plays[:2]))
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(guard), "--check", "--diff"],
        capture_output=True,
        text=True,
        env=env(),
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok=2" in result.stdout
