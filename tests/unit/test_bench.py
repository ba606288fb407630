"""tools/bench.py (`make bench`): the pure parts - ratios and goals, the table, and the parsing of
what wrk, pgbench, ansible-playbook (recap, profile_tasks), dpkg-query and the app's env files print."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from conftest import ROOT


def load_bench():
    """tools/bench.py as a module, registered first: its dataclasses look their module up."""
    spec = importlib.util.spec_from_file_location("djangostack_bench", ROOT / "tools" / "bench.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


bench = load_bench()

WRK = """\
Running 10s test @ https://bench-aio.lab.test/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    44.12ms   10.05ms 120.31ms   75.00%
    Req/Sec   181.32     20.11   222.00     70.00%
  1810 requests in 10.01s, 9.95MB read
Requests/sec:    180.83
Transfer/sec:      0.99MB
"""

WRK_ERRORS = """\
Running 10s test @ http://127.0.0.1:8001/
  1 threads and 8 connections
  3562 requests in 10.00s, 19.60MB read
  Socket errors: connect 0, read 3562, write 0, timeout 2
  Non-2xx or 3xx responses: 12
Requests/sec:    356.11
Transfer/sec:      1.96MB
"""

PGBENCH = """\
pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: /root/select1.sql
scaling factor: 1
query mode: simple
number of clients: 8
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 12345
number of failed transactions: 0 (0.000%)
latency average = 6.480 ms
average connection time = 5.120 ms
tps = 1234.567890 (including reconnection times)
"""

PGBENCH_PERSISTENT = """\
number of transactions actually processed: 250000
number of failed transactions: 3 (0.001%)
latency average = 0.320 ms
initial connection time = 20.101 ms
tps = 24999.123456 (without initial connection time)
"""

RECAP = """\
PLAY [Preflight] ***

PLAY RECAP *********************************************************************
bench-aio                  : ok=236  changed=0    unreachable=0    failed=0    skipped=50   rescued=0    ignored=0
bench-web                  : ok=120  changed=2    unreachable=0    failed=1    skipped=10   rescued=0    ignored=0

TASKS RECAP ********************************************************************
Wednesday 02 December 2026  07:17:25 +0000 (0:00:00.675)       0:01:08.072 ****
===============================================================================
postgresql : Install PostgreSQL ---------------------------------------- 17.15s
common : Install the base package set ---------------------------------- 10.94s
Gathering Facts --------------------------------------------------------- 2.10s
ssh : Ensure the host keys (ed25519, and RSA of the required size) ------ 1.95s
"""


# --- ratios and goals ------------------------------------------------------------------------------


def test_ratio_is_measured_over_baseline():
    assert bench.ratio(30.0, 10.0) == 3.0
    assert bench.ratio(None, 10.0) is None
    assert bench.ratio(5.0, None) is None
    assert bench.ratio(5.0, 0) is None


@pytest.mark.parametrize(
    ("goal", "value", "ratio", "met"),
    [
        (bench.Goal("value", "<=", 20), 19.9, None, True),
        (bench.Goal("value", "<=", 20), 20.0, 0.5, True),
        (bench.Goal("value", "<=", 20), 44.4, 0.5, False),
        (bench.Goal("ratio", "<=", 3), 300, 2.9, True),
        (bench.Goal("ratio", "<=", 3), 10, 3.1, False),
        (bench.Goal("ratio", ">=", 3), 1, 3.0, True),
        (bench.Goal("ratio", ">=", 0.85), 1, 0.84, False),
        (bench.Goal("ratio", ">=", 0.85), 1, None, None),
        (bench.Goal("value", "<=", 20), None, 1, None),
    ],
)
def test_goal_on_value_or_ratio(goal, value, ratio, met):
    assert goal.met(value, ratio) is met


def test_goal_texts():
    assert bench.Goal("value", "<=", 20).text("s") == "<= 20 s"
    assert bench.Goal("ratio", "<=", 3).text("s") == "<= 3x baseline"
    assert bench.Goal("ratio", ">=", 0.85).text("rps") == ">= 85% of baseline"
    assert bench.Goal("ratio", ">=", 3).text("tps") == ">= 3x baseline"


def test_figure_ratio_and_verdict():
    figure = bench.Figure("ssh", "no-op", "s", measured=44.4, baseline=89.4, goal=bench.Goal("value", "<=", 20))
    assert figure.ratio == pytest.approx(0.4966, abs=1e-3)
    assert figure.met is False
    figure.measured = 15.0
    assert figure.met is True
    figure.error = "mitogen failed"
    assert figure.met is None
    assert bench.Figure("x", "no goal", "s", 1.0, 2.0).met is None


# --- the table ---------------------------------------------------------------------------------------


def figures():
    return [
        bench.Figure(
            "converge", "first converge", "s", 300.0, 100.0, "floor", bench.Goal("ratio", "<=", 3), note="400 tasks"
        ),
        bench.Figure("stack", "nginx+TLS", "rps", 170.0, 200.0, "Gunicorn direct", bench.Goal("ratio", ">=", 0.85)),
        bench.Figure("pgbench", "pgbouncer -C", "tps", 1500.0, 400.0, "direct", bench.Goal("ratio", ">=", 3)),
        bench.Figure("backup", "backup (not measured)", "", error="pgbench -i failed"),
    ]


def test_text_table_has_one_row_per_figure_and_aligned_columns():
    table = bench.text_table(figures())
    lines = table.splitlines()
    assert lines[0].split() == ["figure", "measured", "baseline", "ratio", "goal", "met?"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "300 s (400 tasks)" in lines[2]
    assert "100 s (floor)" in lines[2]
    assert "3.00x" in lines[2]
    assert lines[2].endswith("yes")
    assert "0.85x" in lines[3]
    assert lines[3].endswith("yes")
    assert "1,500 tps" in lines[4]
    assert "3.75x" in lines[4]
    assert lines[4].endswith("yes")
    assert lines[5].endswith("ERROR")
    assert lines[-1] == "ERROR backup (not measured): pgbench -i failed"
    # Columns line up: "ratio" starts at the same place on every row of the table.
    column = lines[0].index("ratio")
    assert all(line[column - 2 : column] == "  " for line in lines[1:6])


def test_markdown_table():
    table = bench.markdown_table(figures())
    lines = table.splitlines()
    assert lines[0] == "| figure | measured | baseline | ratio | goal | met? |"
    assert lines[1] == "|---|---|---|---|---|---|"
    assert len(lines) == 2 + len(figures())
    assert lines[3] == "| nginx+TLS | 170 rps | 200 rps (Gunicorn direct) | 0.85x | >= 85% of baseline | yes |"


def test_number_formats():
    assert bench.number(None, "s") == "-"
    assert bench.number(9.87, "s") == "9.9 s"
    assert bench.number(1234.5, "rps") == "1,234 rps"  # round half to even
    assert bench.number(56.78, "MB/s") == "56.8 MB/s"
    assert bench.number(0.5, "MB/s") == "0.50 MB/s"


# --- tool outputs ----------------------------------------------------------------------------------


def test_parse_wrk():
    assert bench.parse_wrk(WRK) == {"rps": 180.83, "requests": 1810, "non_2xx": 0, "connect_errors": 0, "timeouts": 0}


def test_parse_wrk_counts_failures_but_not_reconnects():
    result = bench.parse_wrk(WRK_ERRORS)
    assert result["non_2xx"] == 12
    assert result["timeouts"] == 2
    assert result["connect_errors"] == 0
    assert result["rps"] == 356.11


def test_parse_wrk_without_summary_raises():
    with pytest.raises(ValueError, match="no wrk summary"):
        bench.parse_wrk("unable to connect to 127.0.0.1:8001 Connection refused")


def test_parse_pgbench_with_reconnects():
    assert bench.parse_pgbench(PGBENCH) == {"tps": 1234.56789, "transactions": 12345, "failed": 0}


def test_parse_pgbench_persistent():
    assert bench.parse_pgbench(PGBENCH_PERSISTENT) == {"tps": 24999.123456, "transactions": 250000, "failed": 3}


def test_parse_pgbench_without_summary_raises():
    with pytest.raises(ValueError, match="no pgbench summary"):
        bench.parse_pgbench("pgbench: error: connection to server failed: FATAL:  password authentication failed")


def test_parse_recap():
    recap = bench.parse_recap(RECAP)
    assert recap["bench-aio"] == {
        "ok": 236,
        "changed": 0,
        "unreachable": 0,
        "failed": 0,
        "skipped": 50,
        "rescued": 0,
        "ignored": 0,
    }
    assert recap["bench-web"]["failed"] == 1
    assert bench.parse_recap("no recap here") == {}


def test_run_counts_tasks_changes_and_failures():
    done = bench.Run(1.0, 2, RECAP, bench.parse_recap(RECAP), [])
    assert done.tasks("bench-aio") == 236
    assert done.tasks() == 236 + 120 + 2 + 1
    assert done.changed == 2
    assert done.failed == 1


def test_parse_profile_sorted_and_limited():
    profile = bench.parse_profile(RECAP)
    assert profile[0] == ("postgresql : Install PostgreSQL", 17.15)
    assert profile[-1] == ("ssh : Ensure the host keys (ed25519, and RSA of the required size)", 1.95)
    assert [seconds for _, seconds in profile] == sorted((s for _, s in profile), reverse=True)
    assert len(bench.parse_profile(RECAP, limit=2)) == 2
    assert bench.parse_profile("PLAY RECAP\nhost : ok=1") == []


def test_failure_finds_the_fatal_line():
    output = "TASK [x]\nok: [a]\nfatal: [bench-aio]: FAILED! => cryptography\nPLAY RECAP\n"
    assert bench.failure(output) == "fatal: [bench-aio]: FAILED! => cryptography"
    assert bench.failure("last line") == "last line"
    assert bench.failure("") == "(no output)"


# --- packages, env files, URLs ------------------------------------------------------------------------


def test_parse_dpkg_keeps_installed_packages_only():
    output = "nginx 1.22.1-9+deb12u3 ii \npython3 3.11.2-1+b1 ii \nold-conf 1.0 rc \n"
    assert bench.parse_dpkg(output) == {"nginx": "1.22.1-9+deb12u3", "python3": "3.11.2-1+b1"}


def test_new_packages_are_added_or_upgraded_ones():
    image = {"python3": "3.11.2-1", "libssl3": "3.0.15-1", "less": "590-2"}
    host = {"python3": "3.11.2-1", "libssl3": "3.0.17-1", "less": "590-2", "nginx": "1.22.1-9", "age": "1.1.1-1"}
    assert bench.new_packages(image, host) == ["age", "libssl3", "nginx"]


def test_parse_env_file():
    text = '#\n# Ansible managed\nDATABASE_URL="postgres://sample:p%40ss@127.0.0.1:6432/sample"\nPLAIN=1\n\nBAD LINE\n'
    url = "postgres://sample:p%40ss@127.0.0.1:6432/sample"
    assert bench.parse_env_file(text) == {"DATABASE_URL": url, "PLAIN": "1"}


def test_libpq_env_from_the_apps_pooled_url():
    assert bench.libpq_env("postgres://sample:p%40ss%2Fw@127.0.0.1:6432/sample") == {
        "PGHOST": "127.0.0.1",
        "PGPORT": "6432",
        "PGUSER": "sample",
        "PGPASSWORD": "p@ss/w",
        "PGDATABASE": "sample",
    }


def test_libpq_env_from_a_socket_directory_and_tls_options():
    socket = bench.libpq_env("postgres://sample:pw@%2Fvar%2Frun%2Fpostgresql:5432/sample")
    assert socket["PGHOST"] == "/var/run/postgresql"
    remote = bench.libpq_env(
        "postgres://sample:pw@172.17.0.4:5432/sample?sslmode=verify-full&sslrootcert=%2Fetc%2Fpgbouncer%2Fserver-ca.pem"
    )
    assert remote["PGHOST"] == "172.17.0.4"
    assert remote["PGSSLMODE"] == "verify-full"
    assert remote["PGSSLROOTCERT"] == "/etc/pgbouncer/server-ca.pem"


def test_libpq_env_refuses_other_urls():
    with pytest.raises(ValueError, match="not a postgres URL"):
        bench.libpq_env("sqlite:////srv/sample/shared/data/db.sqlite3")


def test_slowest_text_names_the_run_and_its_strategy():
    noop = bench.Figure("ssh", "no-op", "s", 44.0, 89.0)
    noop.details["slowest"] = {"plain": [("Gathering Facts", 3.36)], "fast": [("django : Look for migrations", 0.9)]}
    first = bench.Figure("converge", "first converge", "s", 300.0, 100.0)
    first.details["slowest"] = [("postgresql : Install PostgreSQL", 17.15)]
    text = bench.slowest_text([noop, first, bench.Figure("stack", "no profile", "rps", 1.0, 1.0)])
    assert f"ten slowest tasks: no-op [{bench.STRATEGY_PLAIN}]\n    3.36 s  Gathering Facts" in text
    assert f"ten slowest tasks: no-op [{bench.STRATEGY_FAST}]\n    0.90 s  django : Look for migrations" in text
    assert "ten slowest tasks: first converge\n   17.15 s  postgresql : Install PostgreSQL" in text
    assert "no profile" not in text
