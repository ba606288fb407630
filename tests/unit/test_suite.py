"""tools/suite.py: the end of `make test`'s output says why a scenario failed."""

from __future__ import annotations

from conftest import load_source

suite = load_source("tools/suite.py", "djangostack_suite")

PYTEST_LOG = """\
INFO     [default > verify] Executing
tests/test_web.py::test_tls[ansible://base-debian12] PASSED
tests/test_ssh.py::test_root_login_refused[ansible://base-debian13] FAILED
=================================== FAILURES ===================================
E   AssertionError: root logged in
=========================== short test summary info ============================
FAILED tests/test_ssh.py::test_root_login_refused[ansible://base-debian13] - AssertionError: root logged in
=================== 1 failed, 126 passed in 2400.00s (0:40:00) =================
CRITICAL [default > verify] Executed: Failed
INFO     [default > destroy] Executing
"""


def test_pytest_summary_and_molecule_error_are_repeated():
    why = suite.why_failed(PYTEST_LOG)
    assert why == [
        "FAILED tests/test_ssh.py::test_root_login_refused[ansible://base-debian13] - AssertionError: root logged in",
        "CRITICAL [default > verify] Executed: Failed",
    ]


def test_failed_task_and_recap_are_repeated():
    log = (
        "TASK [nginx : Install the site] ***\n"
        "ok: [base-debian12]\n"
        "fatal: [base-debian13]: FAILED! => changed=false\n"
        "PLAY RECAP ***\n"
        "base-debian12              : ok=80   changed=0    unreachable=0    failed=0    skipped=3\n"
        "base-debian13              : ok=79   changed=0    unreachable=0    failed=1    skipped=3\n"
    )
    assert suite.why_failed(log) == [
        "fatal: [base-debian13]: FAILED! => changed=false",
        "base-debian13              : ok=79   changed=0    unreachable=0    failed=1    skipped=3",
    ]


def test_long_lists_keep_both_ends():
    log = "\n".join(f"fatal: [host{number}]: FAILED!" for number in range(200))
    why = suite.why_failed(log)
    assert len(why) == suite.WHY_LINES + 1
    assert why[0] == "fatal: [host0]: FAILED!"
    assert why[-1] == "fatal: [host199]: FAILED!"
    assert "120 lines left out" in why[suite.WHY_LINES // 2]


def test_a_log_without_a_reason_says_so():
    assert suite.why_failed("INFO nothing here\n") == ["(no failed test or task found in the log: read it above)"]


def test_colours_are_stripped():
    assert suite.why_failed("\x1b[31mfatal: [h]: FAILED!\x1b[0m\n") == ["fatal: [h]: FAILED!"]


def test_a_make_item_runs_make_and_a_scenario_runs_molecule():
    assert suite.command("make:lint") == ["make", "--no-print-directory", "lint"]
    assert suite.command("default") == ["molecule", "test", "-s", "default"]
    assert suite.title("make:unit") == "make unit"
    assert suite.log_path("make:unit").name == "make-unit.log"
    assert suite.log_path("multi").name == "molecule-multi.log"


def test_busy_percent_counts_idle_and_iowait_as_idle():
    assert suite.busy_percent((100, 1000), (250, 1200)) == 75
    assert suite.busy_percent((5, 10), (5, 10)) == 0


def test_cpu_times_reads_this_machine():
    busy, total = suite.cpu_times()
    assert 0 < busy <= total


def test_a_lane_whose_command_cannot_start_fails_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(suite, "LOGS", tmp_path)
    monkeypatch.setattr(suite, "command", lambda item: [str(tmp_path / "no-such-molecule"), "test", "-s", item])
    results: dict = {}
    lane = suite.Lane(["default", "acme"], results, {})
    lane.run()
    assert results["default"][0] == 127
    assert "acme" not in results  # a failed item ends its lane
    assert "could not start" in (tmp_path / "molecule-default.log").read_text()
