"""The two programs of the pull-based encrypted backups (roles/backup, roles/backup_source)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import time

import pytest
from conftest import load_source

backup = load_source("roles/backup/files/djangostack-backup", "djangostack_backup")
source = load_source("roles/backup_source/files/djangostack-backup-source", "djangostack_backup_source")

UTC = dt.UTC
GFS = {"hourly": 0, "daily": 7, "weekly": 4, "monthly": 6, "yearly": 0}


def days_2026():
    start = dt.datetime(2026, 1, 1, 2, 0, tzinfo=UTC)
    return [start + dt.timedelta(days=n) for n in range(120)]


def write_archives(directory, name, times, ext="dump", size=10):
    directory.mkdir(parents=True, exist_ok=True)
    for when in times:
        (directory / f"{name}-{when.strftime('%Y%m%dT%H%M%SZ')}.{ext}.age").write_bytes(b"x" * size)


def executable(path, text):
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


# --- archive names and prune ---------------------------------------------------------------------------


def test_archive_name_round_trips():
    when = dt.datetime(2026, 4, 30, 2, 0, 5, tzinfo=UTC)
    name = backup.archive_name("sample-db", "postgresql", when)
    assert name == "sample-db-20260430T020005Z.dump.age"
    assert backup.parse_archive_time(name, "sample-db") == when


@pytest.mark.parametrize(
    "name",
    [
        "other-20260430T020005Z.dump.age",
        "sample-db-20260430T020005Z.dump",
        ".sample-db-20260430T020005Z.dump.age.partial",
        "sample-db-20261340T020005Z.dump.age",
        "notes.txt",
    ],
)
def test_foreign_names_are_not_archives(name):
    assert backup.parse_archive_time(name, "sample-db") is None


def test_prune_120_daily_archives_keeps_exactly_the_gfs_set():
    kept = backup.prune_plan(days_2026(), GFS)
    assert sorted(when.strftime("%Y-%m-%d") for when in kept) == [
        "2026-01-31",
        "2026-02-28",
        "2026-03-29",
        "2026-03-31",
        "2026-04-05",
        "2026-04-12",
        "2026-04-19",
        "2026-04-24",
        "2026-04-25",
        "2026-04-26",
        "2026-04-27",
        "2026-04-28",
        "2026-04-29",
        "2026-04-30",
    ]


@pytest.mark.parametrize(
    ("day", "reason"),
    [("2026-04-30", "daily #1"), ("2026-04-24", "daily #7"), ("2026-04-19", "weekly #1"), ("2026-01-31", "monthly #3")],
)
def test_prune_gives_the_rule_that_kept_an_archive(day, reason):
    kept = {when.strftime("%Y-%m-%d"): why for when, why in backup.prune_plan(days_2026(), GFS).items()}
    assert kept[day] == reason


def test_prune_hourly_keeps_the_newest_archive_of_each_hour():
    start = dt.datetime(2026, 4, 30, 0, 0, tzinfo=UTC)
    times = [start + dt.timedelta(minutes=20 * n) for n in range(18)]  # 00:00 .. 05:40
    kept = backup.prune_plan(times, {"hourly": 3})
    assert {when.strftime("%H:%M"): why for when, why in kept.items()} == {
        "05:40": "hourly #1",
        "04:40": "hourly #2",
        "03:40": "hourly #3",
    }


@pytest.mark.parametrize("retention", [{}, {"hourly": 0, "daily": 0}, {"weekly": 0, "yearly": 0}])
def test_prune_always_keeps_the_newest(retention):
    kept = backup.prune_plan(days_2026(), retention)
    assert kept == {dt.datetime(2026, 4, 30, 2, 0, tzinfo=UTC): "newest"}


def test_prune_of_nothing_keeps_nothing():
    assert backup.prune_plan([], GFS) == {}


def test_prune_dry_run_deletes_nothing_and_a_real_run_deletes_the_rest(tmp_path, capsys):
    directory = tmp_path / "sample-db"
    write_archives(directory, "sample-db", days_2026())
    (directory / "README").write_text("not an archive")
    flags = ["--keep-hourly", "0", "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "6"]
    config = ["--config", str(tmp_path / "absent.json")]

    assert backup.main([*config, "prune", "--dry-run", "--storage", str(tmp_path), *flags]) == 0
    out = capsys.readouterr().out
    assert len(list(directory.iterdir())) == 121
    assert out.count("delete ") == 106
    assert "keep sample-db-20260419T020000Z.dump.age (weekly #1)" in out

    assert backup.main([*config, "prune", "--storage", str(tmp_path), *flags]) == 0
    remaining = sorted(p.name for p in directory.iterdir())
    assert len(remaining) == 15
    assert "README" in remaining
    assert "sample-db-20260131T020000Z.dump.age" in remaining


# --- check ---------------------------------------------------------------------------------------------

NEWEST = dt.datetime(2026, 4, 30, 2, 0, tzinfo=UTC)
PREVIOUS = dt.datetime(2026, 4, 29, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("archives", "age", "ok", "text"),
    [
        ([], 0, False, "FAIL sample-db: no archive"),
        ([(NEWEST, 1000), (PREVIOUS, 1000)], 720, True, "ok sample-db: newest 2026-04-30T02:00:00Z (12 min old"),
        ([(NEWEST, 1000)], 93601, False, "FAIL sample-db: newest 2026-04-30T02:00:00Z (26.0 h old"),
        ([(NEWEST, 400), (PREVIOUS, 1000)], 60, False, "smaller than 50% of the previous"),
        ([(NEWEST, 600), (PREVIOUS, 1000)], 60, True, "ok sample-db"),
    ],
)
def test_check_evaluation(archives, age, ok, text):
    result, line = backup.evaluate_check("sample-db", archives, NEWEST.timestamp() + age, 93600, 0.5)
    assert result is ok
    assert text in line


def check_config(tmp_path):
    config = {
        "storage": str(tmp_path / "archives"),
        "work": str(tmp_path / "work"),
        "metrics": str(tmp_path / "metrics" / "djangostack_backup.prom"),
        "sources": [{"name": "sample-db", "kind": "postgresql", "host": "h", "user": "u", "key": "k", "database": "d"}],
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path, config


@pytest.mark.parametrize(
    ("sizes", "age", "status"),
    [((1000, 1000), 600, 0), ((1000, 1000), 100000, 1), ((100, 1000), 600, 1)],
)
def test_check_command_exit_status(tmp_path, capsys, sizes, age, status):
    path, _ = check_config(tmp_path)
    directory = tmp_path / "archives" / "sample-db"
    write_archives(directory, "sample-db", [NEWEST], size=sizes[0])
    write_archives(directory, "sample-db", [PREVIOUS], size=sizes[1])
    now = str(NEWEST.timestamp() + age)
    assert backup.main(["--config", str(path), "check", "--now", now]) == status
    assert capsys.readouterr().out.startswith("ok sample-db" if status == 0 else "FAIL sample-db")


def test_missing_config_is_a_one_line_error(tmp_path, capsys):
    assert backup.main(["--config", str(tmp_path / "absent.json"), "check"]) == 2
    assert capsys.readouterr().err.strip() == f"djangostack-backup: config {tmp_path / 'absent.json'} does not exist"


# --- metrics and failed ----------------------------------------------------------------------------------


def test_metrics_text_format():
    text = backup.render_metrics(
        {"sample-db": [(NEWEST, 2048), (PREVIOUS, 1024)], "sample-media": []},
        {"time": 1777520000.5},
        {"time": 1777500000, "success": 1, "last_success": 1777500000},
    )
    lines = text.splitlines()
    assert 'backup_last_success_timestamp_seconds{source="sample-db"} 1777514400' in lines
    assert 'backup_last_size_bytes{source="sample-db"} 2048' in lines
    assert 'backup_archives{source="sample-db"} 2' in lines
    assert 'backup_archives{source="sample-media"} 0' in lines
    assert not any(line.startswith('backup_last_size_bytes{source="sample-media"') for line in lines)
    assert "backup_last_failure_timestamp_seconds 1777520000.5" in lines
    assert "backup_restore_drill_last_success_timestamp_seconds 1777500000" in lines
    assert "backup_restore_drill_success 1" in lines
    for line in lines:
        assert re.fullmatch(r"# (HELP|TYPE) \w+ .+|\w+(\{source=\"[^\"]+\"\})? [0-9.e+-]+", line), line
    samples = {line.split("{")[0].split(" ")[0] for line in lines if not line.startswith("#")}
    for metric in samples:
        assert f"# TYPE {metric} gauge" in lines


def test_metrics_omit_states_that_do_not_exist_yet():
    text = backup.render_metrics({"sample-db": []}, None, None)
    assert "failure" not in text
    assert "drill" not in text


def test_failed_records_state_rewrites_metrics_and_alerts(tmp_path, capsys):
    path, config = check_config(tmp_path)
    marker = tmp_path / "alerted"
    config["alert_command"] = [executable(tmp_path / "alert", f'#!/bin/sh\necho "$@" > {marker}\n')]
    path.write_text(json.dumps(config))
    assert backup.main(["--config", str(path), "failed", "djangostack-backup.service"]) == 0
    assert "<3>djangostack-backup: djangostack-backup.service failed" in capsys.readouterr().err
    assert marker.read_text() == "djangostack-backup.service\n"
    metrics = tmp_path / "metrics" / "djangostack_backup.prom"
    assert "backup_last_failure_timestamp_seconds " in metrics.read_text()
    assert oct(metrics.stat().st_mode & 0o777) == "0o644"
    assert os.listdir(metrics.parent) == ["djangostack_backup.prom"]


# --- manifests -------------------------------------------------------------------------------------------


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "b" / "deep" / "c.bin").write_bytes(b"\0" * 3000000)
    (root / "b" / "z.txt").write_text("z")
    (root / "link.txt").symlink_to(root / "a.txt")
    (root / "linkdir").symlink_to(root / "b")
    (tmp_path / "outside.txt").write_text("secret")
    (root / "escape").symlink_to(tmp_path / "outside.txt")
    return root


def test_manifest_is_sorted_nested_and_skips_symlinks(media):
    text = source.format_manifest(source.build_manifest(str(media)))
    paths = [line.split("  ", 1)[1] for line in text.splitlines()]
    assert paths == ["a.txt", "b/deep/c.bin", "b/z.txt"]
    assert text.splitlines()[0] == "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb  a.txt"


def test_both_programs_build_the_same_manifest(media):
    assert backup.format_manifest(backup.build_manifest(media)) == source.format_manifest(source.build_manifest(media))


def test_media_manifest_command_prints_the_manifest(tmp_path, media, capsysbinary):
    config = tmp_path / "source.json"
    config.write_text(json.dumps({"media": str(media)}))
    assert source.main(["media-manifest"], {source.CONFIG_ENV: str(config), "SSH_ORIGINAL_COMMAND": "rm -rf /"}) == 0
    lines = capsysbinary.readouterr().out.decode().splitlines()
    assert [line.split("  ")[1] for line in lines] == ["a.txt", "b/deep/c.bin", "b/z.txt"]


def test_manifest_comparison_names_every_difference(media):
    expected = backup.build_manifest(media)
    actual = dict(expected, **{"a.txt": "0" * 64, "new.txt": "1" * 64})
    del actual["b/z.txt"]
    assert backup.compare_manifests(expected, actual) == ["missing b/z.txt", "unexpected new.txt", "changed a.txt"]
    assert backup.parse_manifest(backup.format_manifest(expected)) == expected


# --- stats -----------------------------------------------------------------------------------------------

FIXTURES = {"sample": [{"table": "notes_note", "key": "id", "newest": "created_at"}]}


@pytest.mark.parametrize(
    ("database", "request_"),
    [
        ("sample", "auth_user 5"),
        ("sample", "notes_note abc"),
        ("sample", "notes_note 5 extra"),
        ("sample", "notes_note -1"),
        ("sample", "notes_note 5; select 1"),
        ("sample", ""),
        ("sample", None),
        ("other", "notes_note 5"),
        ("Bad-Name", "notes_note 5"),
    ],
)
def test_stats_rejects_invalid_requests_with_exit_2(tmp_path, capsys, database, request_):
    config = tmp_path / "source.json"
    config.write_text(json.dumps({"fixtures": FIXTURES}))
    env = {source.CONFIG_ENV: str(config)}
    if request_ is not None:
        env["SSH_ORIGINAL_COMMAND"] = request_
    assert source.main(["pg-stats", database], env) == 2
    assert capsys.readouterr().err.startswith("djangostack-backup-source: ")


def test_stats_request_accepts_a_configured_table():
    fixture, upto = source.parse_stats_request("notes_note 42", FIXTURES["sample"])
    assert (fixture["table"], upto) == ("notes_note", 42)


@pytest.mark.parametrize("newest", ["created_at", None])
def test_both_programs_send_the_same_stats_sql(newest):
    sql = source.stats_sql("notes_note", "id", newest, 42)
    assert sql == backup.stats_sql("notes_note", "id", newest, 42)
    assert "md5(coalesce(string_agg(\"id\"::text, ',' ORDER BY \"id\"), ''))" in sql
    assert '"id" <= 42' in sql


@pytest.mark.parametrize("table", ["Notes", "notes; drop table x", 'a"b', ""])
def test_stats_sql_rejects_unsafe_identifiers(table):
    with pytest.raises(source.UsageError):
        source.stats_sql(table, "id", None, 1)
    with pytest.raises(backup.BackupError):
        backup.stats_sql(table, "id", None, 1)


def test_source_usage_errors_exit_2(capsys):
    assert source.main(["pg-dump"], {}) == 2
    assert source.main(["shell"], {}) == 2
    assert "usage:" in capsys.readouterr().err


# --- run -------------------------------------------------------------------------------------------------

FAKE_AGE = '#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done\ncat > "$out"\n'


@pytest.fixture
def run_config(tmp_path):
    def make(ssh_script):
        path, config = check_config(tmp_path)
        config["ssh_command"] = [executable(tmp_path / "fake-ssh", ssh_script)]
        config["age_command"] = [executable(tmp_path / "fake-age", FAKE_AGE)]
        config["recipients"] = str(tmp_path / "recipients.txt")
        path.write_text(json.dumps(config))
        return path

    return make


def test_run_removes_the_partial_when_the_producer_fails(tmp_path, capsys, run_config):
    path = run_config("#!/bin/sh\necho partial-dump-data\nexit 3\n")
    assert backup.main(["--config", str(path), "run"]) == 1
    assert "djangostack-backup: sample-db: " in capsys.readouterr().err
    assert list((tmp_path / "archives" / "sample-db").iterdir()) == []


def test_run_fails_when_the_producer_sends_nothing(tmp_path, capsys, run_config):
    path = run_config("#!/bin/sh\nexit 0\n")
    assert backup.main(["--config", str(path), "run"]) == 1
    assert "produced no data" in capsys.readouterr().err
    assert list((tmp_path / "archives" / "sample-db").iterdir()) == []


def test_run_writes_an_archive_named_by_its_start_time(tmp_path, run_config):
    path = run_config("#!/bin/sh\necho DUMP\n")
    stale = tmp_path / "archives" / "sample-db" / ".sample-db-20260101T000000Z.dump.age.partial"
    stale.parent.mkdir(parents=True)
    stale.write_text("stale")
    before = int(time.time())
    assert backup.main(["--config", str(path), "run", "--source", "sample-db"]) == 0
    after = time.time()
    archives = list(stale.parent.iterdir())
    assert len(archives) == 1
    when = backup.parse_archive_time(archives[0].name, "sample-db")
    assert before <= when.timestamp() <= after
    assert archives[0].read_text() == "DUMP\n"
    assert oct(archives[0].stat().st_mode & 0o777) == "0o600"
    assert oct(stale.parent.stat().st_mode & 0o777) == "0o700"
    metrics = (tmp_path / "metrics" / "djangostack_backup.prom").read_text()
    assert 'backup_archives{source="sample-db"} 1' in metrics


def test_run_sends_pg_dump_over_the_configured_ssh(tmp_path, monkeypatch, run_config):
    argv_file = tmp_path / "argv"
    path = run_config("#!/bin/sh\nexit 9\n")
    fake = executable(tmp_path / "env-ssh", f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv_file}\necho DUMP\n')
    monkeypatch.setenv("DJANGOSTACK_BACKUP_SSH", fake)
    assert backup.main(["--config", str(path), "run"]) == 0
    argv = argv_file.read_text().splitlines()
    assert argv[-2:] == ["u@h", "pg-dump"]
    assert "StrictHostKeyChecking=yes" in argv
    assert "IdentityFile=k" in argv


def test_unknown_source_is_a_usage_error(tmp_path, capsys, run_config):
    path = run_config("#!/bin/sh\necho DUMP\n")
    assert backup.main(["--config", str(path), "run", "--source", "nope"]) == 2
    assert "unknown source(s): nope" in capsys.readouterr().err


@pytest.mark.skipif(not (shutil.which("age") and shutil.which("age-keygen")), reason="age not installed")
def test_run_archive_decrypts_with_the_identity(tmp_path, run_config):
    path = run_config("#!/bin/sh\necho REAL-DUMP\n")
    identity = tmp_path / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True)
    config = json.loads(path.read_text())
    del config["age_command"]
    (tmp_path / "recipients.txt").write_text(recipient.stdout)
    path.write_text(json.dumps(config))
    assert backup.main(["--config", str(path), "run"]) == 0
    (archive,) = (tmp_path / "archives" / "sample-db").iterdir()
    plain = subprocess.run(["age", "--decrypt", "-i", str(identity), str(archive)], check=True, capture_output=True)
    assert plain.stdout == b"REAL-DUMP\n"


def test_ssh_command_line_is_locked_down(monkeypatch):
    monkeypatch.delenv("DJANGOSTACK_BACKUP_SSH", raising=False)
    source_ = {"host": "10.0.0.2", "port": 2222, "user": "djangostack-backup"}
    argv = backup.ssh_argv({"known_hosts": "/etc/kh"}, source_, "/etc/k", "pg-dump")
    assert argv == [
        *("ssh", "-F", "none", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none"),
        *("-o", "IdentityFile=/etc/k", "-o", "UserKnownHostsFile=/etc/kh", "-o", "GlobalKnownHostsFile=/dev/null"),
        *("-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=20", "-o", "ServerAliveInterval=30"),
        *("-o", "ClearAllForwardings=yes", "-T", "-p", "2222", "djangostack-backup@10.0.0.2", "pg-dump"),
    ]
