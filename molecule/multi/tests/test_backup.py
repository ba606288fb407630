"""Pull-based encrypted backups: the backup host pulls from the db and web hosts.

Data is made through the app, pulled, encrypted with age to the lab's recovery
and drill keys (made by molecule/shared/keys.yml on the controller, which plays
the operator's workstation), restored by restore-drill.yml and compared.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import subprocess
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from lab import (
    EPHEMERAL,
    PROJECT,
    address,
    ansible_playbook,
    group,
    instance,
    post_note,
    probe,
    probe_knows_web_names,
    upload,
    web_name,
)

APP = "sample"
BACKUP = group("backup")[0]
DB = group("db")[0]
WEB = group("web")[0]
SOURCES = [DB, WEB]
PULL_USER = "djangostack_backup"
STORAGE = "/var/lib/djangostack-backup/archives"
KEYS = "/etc/djangostack-backup/keys"
PROGRAM = "/usr/local/sbin/djangostack-backup"
METRICS = "/var/lib/prometheus/node-exporter/djangostack_backup.prom"
DB_SOURCE = f"{APP}-db"
MEDIA_SOURCE = f"{WEB}-media"


def backup_host():
    return instance(BACKUP)


def archives(source: str) -> list[str]:
    """The source's archives on the backup host, oldest first (names sort by their UTC timestamp)."""
    out = backup_host().check_output(f"find {STORAGE}/{source} -maxdepth 1 -type f -name '*.age' -printf '%f\\n'")
    return sorted(out.split())


def newest(source: str) -> str:
    return f"{STORAGE}/{source}/{archives(source)[-1]}"


def run_backup() -> None:
    """One pull of every source, as the timer starts it (systemctl waits for the oneshot)."""
    result = backup_host().run("systemctl start djangostack-backup.service")
    assert result.rc == 0, backup_host().check_output("journalctl -u djangostack-backup.service -n 40 --no-pager")


def fetch(path: str, into: Path) -> Path:
    """Copy a file from the backup host to the controller (binary-safe)."""
    target = into / Path(path).name
    subprocess.run(["docker", "cp", f"{BACKUP}:{path}", str(target)], check=True, capture_output=True)
    return target


def decrypt(path: Path, identity: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["age", "--decrypt", "-i", str(identity), str(path)], capture_output=True, check=False)


def pull_ssh(key: str, target: str, *args: str, command: str = "") -> str:
    """The backup host's ssh command line with one of its pull keys, as its program runs it."""
    options = (
        f"-F none -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile={KEYS}/{key} "
        f"-o UserKnownHostsFile=/etc/djangostack-backup/known_hosts -o StrictHostKeyChecking=yes -o ConnectTimeout=10"
    )
    return f"ssh {options} {' '.join(args)} {PULL_USER}@{address(instance(target))} {command}"


@pytest.fixture(scope="module")
def made():
    """A note and an uploaded file made through the app, then one backup of everything."""
    probe_knows_web_names()
    site = f"https://{web_name(WEB)}"
    note = f"backup note {uuid.uuid4().hex}"
    assert note in post_note(site, note)
    page = upload(site, f"backup upload {uuid.uuid4().hex}")
    media = re.search(r'id="file-url" href="/media/([^"]+)"', page).group(1)
    run_backup()
    return {"note": note, "media": media}


@pytest.fixture(scope="module")
def drill(made):
    """restore-drill.yml from the controller, and the report it left on the backup host."""
    result = ansible_playbook(str(PROJECT / "restore-drill.yml"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads(backup_host().check_output("cat /var/lib/djangostack-backup/work/drill-report.json"))
    return report


@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as tmp:
        yield Path(tmp)


def test_restore_drill_passes_for_every_source(drill):
    assert drill["ok"] is True, json.dumps(drill, indent=1)
    assert set(drill["sources"]) == {DB_SOURCE, "globals", MEDIA_SOURCE}
    assert all(source["ok"] for source in drill["sources"].values())


def test_restored_rows_match_the_database(made, drill):
    tables = drill["sources"][DB_SOURCE]["tables"]
    notes = tables["notes_note"]
    assert notes["restored"]["rows"] == notes["source"]["rows"] >= 1
    assert notes["restored"]["checksum"] == notes["source"]["checksum"]
    # The note made for this test is among the rows compared.
    db = instance(DB)
    note_id = db.check_output(
        f"runuser -u postgres -- psql -X -At -d {APP} -c \"SELECT id FROM notes_note WHERE text = '{made['note']}'\""  # noqa: S608 - the test's own uuid
    )
    assert int(note_id) <= notes["restored"]["max_key"]


def test_restored_media_match_the_web_host(made, drill):
    media = drill["sources"][MEDIA_SOURCE]
    assert media["ok"] is True, media["errors"]
    assert media["files"]["restored"] == media["files"]["archived"] == media["files"]["source"] >= 1
    # The web host's own manifest of its media directory (sha256 of every file), as its pull account sees it.
    manifest = instance(WEB).check_output(
        f"runuser -u {PULL_USER} -- /usr/local/libexec/djangostack-backup-source media-manifest"
    )
    assert made["media"] in manifest
    assert media["digests"]["restored"] == hashlib.sha256((manifest + "\n").encode()).hexdigest()


def test_the_drill_is_recorded_as_a_metric(drill):
    metrics = backup_host().check_output(f"cat {METRICS}")
    assert re.search(r"^backup_restore_drill_success 1$", metrics, re.M)
    stamp = float(re.search(r"^backup_restore_drill_last_success_timestamp_seconds (\S+)$", metrics, re.M).group(1))
    assert time.time() - stamp < 900


def lab_secrets() -> list[str]:
    """The lab's age identities (the operator's recovery key and the drill key), from the controller."""
    return [
        re.search(r"AGE-SECRET-KEY-1[0-9A-Z]+", (EPHEMERAL / f"age-{name}.txt").read_text()).group(0)
        for name in ("recovery", "drill")
    ]


@pytest.mark.parametrize("host", [*SOURCES, BACKUP])
def test_no_host_holds_a_decryption_key_or_passphrase(made, drill, host):
    """Searched on disk (drill done: its identity is gone from the backup host too)."""
    skip = "--exclude-dir=proc --exclude-dir=sys --exclude-dir=dev"
    # Any age identity, PGP secret key or borg passphrase in a text file...
    shapes = "-e 'AGE-SECRET-KEY-1[0-9A-Z]{58}' -e '^-----BEGIN PGP PRIVATE KEY BLOCK-----' -e 'BORG_PASSPHRASE='"
    found = instance(host).run(f"grep -rlsIE {skip} {shapes} / | head -20")
    assert found.stdout.strip() == ""
    # ... the lab's own identities in any file at all, binary or not ...
    exact = " ".join(f"-e {secret}" for secret in lab_secrets())
    found = instance(host).run(f"grep -rlsaF {skip} {exact} / | head -20")
    assert found.stdout.strip() == ""
    # ... and no GnuPG secret keyring.
    keyrings = instance(host).run("find / -xdev \\( -name private-keys-v1.d -o -name secring.gpg \\) -print")
    assert keyrings.stdout.strip() == ""


def test_the_backup_host_cannot_decrypt_a_dump(made):
    archive = newest(DB_SOURCE)
    without = backup_host().run(f"age --decrypt {archive}")
    assert without.rc != 0
    # Nor with any private key it holds (age also takes SSH keys as identities).
    keys = backup_host().check_output(f"find {KEYS} /etc/ssh -type f -name '*key*' ! -name '*.pub'").split()
    keys += [f"{KEYS}/{k}" for k in backup_host().check_output(f"ls {KEYS}").split() if not k.endswith(".pub")]
    for key in sorted(set(keys)):
        assert backup_host().run(f"age --decrypt -i {key} {archive} > /dev/null").rc != 0, key


@pytest.mark.parametrize("identity", ["recovery", "drill"])
@pytest.mark.parametrize(
    ("source", "plaintext"),
    [(DB_SOURCE, b"PGDMP"), ("globals", b"PostgreSQL database cluster dump"), (MEDIA_SOURCE, b"manifest.sha256")],
)
def test_each_archive_decrypts_with_the_recovery_and_drill_keys(made, workdir, identity, source, plaintext):
    archive = fetch(newest(source), workdir)
    result = decrypt(archive, EPHEMERAL / f"age-{identity}.txt")
    assert result.returncode == 0, result.stderr
    assert plaintext in result.stdout[:4096]


@pytest.mark.parametrize("source", [DB_SOURCE, "globals", MEDIA_SOURCE])
def test_every_archive_begins_with_the_age_header(made, source):
    for name in archives(source):
        head = backup_host().check_output(f"head -c 21 {STORAGE}/{source}/{name}")
        assert head == "age-encryption.org/v1", name


@pytest.mark.parametrize("command", ["id", "cat /etc/passwd", "rm -rf /tmp", "/bin/sh -i", "pg-globals"])
def test_the_dump_key_returns_only_the_dump_whatever_the_command(made, command):
    result = backup_host().run(pull_ssh(f"{DB}_pg-dump-{APP}", DB, command=shlex.quote(command)) + " | head -c 5")
    assert result.stdout == "PGDMP"


def test_the_dump_key_cannot_forward_ports(made):
    result = backup_host().run(pull_ssh(f"{DB}_pg-dump-{APP}", DB, "-W", "127.0.0.1:5432"))
    assert result.rc != 0
    assert "prohibited" in result.stderr


def test_the_dump_key_gets_no_tty(made):
    result = backup_host().run(pull_ssh(f"{DB}_pg-dump-{APP}", DB, "-tt") + " > /dev/null")
    assert "PTY allocation request failed" in result.stderr


def test_a_stolen_pull_key_is_refused_from_anywhere_but_the_backup_host(made, workdir):
    """authorized_keys from=: the same private key, used from the probe, logs in nowhere."""
    key = fetch(f"{KEYS}/{DB}_pg-dump-{APP}", workdir)
    subprocess.run(["docker", "cp", str(key), f"{probe().backend.name}:/root/stolen"], check=True)
    probe().run_expect([0], "chmod 600 /root/stolen")
    result = probe().run(
        "ssh -F none -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
        f" -i /root/stolen {PULL_USER}@{address(instance(DB))} | head -c 5"
    )
    assert result.stdout == ""
    assert "Permission denied" in result.stderr


def test_the_dump_role_reads_but_cannot_write(made):
    db = instance(DB)
    psql = f"runuser -u {PULL_USER} -- psql -X -At -d {APP} -c %s"
    assert int(db.check_output(psql, "SELECT count(*) FROM notes_note")) >= 1
    refused = db.run(psql, "INSERT INTO notes_note (text, source, created_at) VALUES ('x', 'web', now())")
    assert refused.rc != 0
    assert "permission denied" in refused.stderr
    privileged = "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
    assert db.check_output(psql, privileged) == "f"


@pytest.mark.parametrize(
    "attempt",
    [
        "echo written > /tmp/w.txt && rsync -e '{ssh}' /tmp/w.txt {target}:w.txt",
        "mkdir -p /tmp/empty && rsync -r --delete -e '{ssh}' /tmp/empty/ {target}:",
        "rsync -e '{ssh}' --remove-source-files -r {target}: /tmp/taken/",
    ],
    ids=["write", "delete", "remove-source-files"],
)
def test_the_media_entry_point_refuses_writes_and_deletes(made, attempt):
    ssh = pull_ssh(f"{WEB}_media", WEB).rsplit(" ", 2)[0]  # the ssh part, without user@host
    target = f"{PULL_USER}@{address(instance(WEB))}"
    before = instance(WEB).check_output(f"cd /srv/{APP}/shared/media && find . -type f | sort | xargs sha256sum")
    result = backup_host().run(attempt.format(ssh=ssh, target=target))
    after = instance(WEB).check_output(f"cd /srv/{APP}/shared/media && find . -type f | sort | xargs sha256sum")
    assert result.rc != 0
    assert after == before
    assert made["media"] in after


@pytest.mark.parametrize("source", SOURCES)
def test_a_source_host_cannot_connect_to_the_backup_host(source):
    target = address(backup_host())
    result = instance(source).run(f"timeout 5 bash -c '</dev/tcp/{target}/22'")
    assert result.rc != 0
    # The same port answers the probe (outside the inventory): it is the source that is refused.
    assert probe().run(f"timeout 5 bash -c '</dev/tcp/{target}/22'").rc == 0


def test_a_dump_killed_half_way_leaves_no_archive_and_runs_the_failure_path(made):
    db, backup = instance(DB), backup_host()
    before = archives(DB_SOURCE)
    started = time.time()
    # A session holding an exclusive lock makes pg_dump wait on the table: kill it there.
    db.run_expect(
        [0],
        f"systemd-run --unit lock-notes --collect runuser -u postgres -- psql -X -d {APP} -c "
        "'BEGIN; LOCK TABLE notes_note IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);'",
    )
    try:
        backup.run_expect(
            [0],
            "systemctl reset-failed djangostack-backup.service; systemctl start --no-block djangostack-backup.service",
        )
        for _ in range(60):
            if db.run(f"pgrep -u {PULL_USER} -x pg_dump").rc == 0:
                break
            time.sleep(1)
        else:
            pytest.fail("pg_dump never started on the db host")
        time.sleep(2)
        db.run_expect([0], f"pkill -KILL -u {PULL_USER} -x pg_dump")
        for _ in range(120):
            if backup.run("systemctl is-active djangostack-backup.service").stdout.strip() in ("failed", "inactive"):
                break
            time.sleep(1)
    finally:
        db.run("systemctl stop lock-notes")
    assert backup.run("systemctl is-failed djangostack-backup.service").stdout.strip() == "failed"
    assert archives(DB_SOURCE) == before
    assert backup.check_output(f"find {STORAGE} -name '*.partial'") == ""
    metrics = backup.check_output(f"cat {METRICS}")
    failed_at = float(re.search(r"^backup_last_failure_timestamp_seconds (\S+)$", metrics, re.M).group(1))
    assert failed_at >= started
    journal = backup.check_output("journalctl -u 'djangostack-backup-failed@*' --since '-10min' --no-pager")
    assert "djangostack-backup.service failed" in journal
    backup.run_expect([0], "systemctl reset-failed djangostack-backup.service")


def test_retention_keeps_exactly_the_expected_archives():
    """120 daily archives pruned with 7 daily / 4 weekly / 6 monthly (borg's rules)."""
    backup, root = backup_host(), f"/var/tmp/retention-{uuid.uuid4().hex}"  # noqa: S108 - on the backup host
    days = [datetime(2026, 1, 1, 2, tzinfo=UTC) + timedelta(days=n) for n in range(120)]
    names = [f"x-{d:%Y%m%dT%H%M%SZ}.dump.age" for d in days]
    backup.run_expect([0], f"mkdir -p {root}/x && cd {root}/x && touch {' '.join(names)}")
    backup.run_expect(
        [0],
        f"{PROGRAM} prune --storage {root} --keep-hourly 0 --keep-daily 7 --keep-weekly 4 --keep-monthly 6"
        " --keep-yearly 0",
    )
    kept = sorted(backup.check_output(f"ls {root}/x").split())
    backup.run(f"rm -rf {root}")
    expected = [
        "x-20260131T020000Z.dump.age",  # monthly: January
        "x-20260228T020000Z.dump.age",  # monthly: February
        "x-20260329T020000Z.dump.age",  # weekly: ISO week 13
        "x-20260331T020000Z.dump.age",  # monthly: March
        "x-20260405T020000Z.dump.age",  # weekly: week 14
        "x-20260412T020000Z.dump.age",  # weekly: week 15
        "x-20260419T020000Z.dump.age",  # weekly: week 16
        *[f"x-202604{day}T020000Z.dump.age" for day in range(24, 31)],  # daily: the last 7 days
    ]
    assert kept == expected


def test_the_freshness_check_fails_when_stale_and_passes_after_a_fresh_backup(made):
    backup = backup_host()
    stale = backup.run(f"{PROGRAM} check --now {int(time.time()) + 2 * 86400}")
    assert stale.rc != 0
    assert "FAIL" in stale.stdout + stale.stderr
    before = backup.check_output(f"cat {METRICS}")
    run_backup()
    fresh = backup.run(f"{PROGRAM} check")
    assert fresh.rc == 0, fresh.stdout + fresh.stderr
    after = backup.check_output(f"cat {METRICS}")
    stamp = rf'^backup_last_success_timestamp_seconds{{source="{DB_SOURCE}"}} (\S+)$'
    assert float(re.search(stamp, after, re.M).group(1)) > float(re.search(stamp, before, re.M).group(1))


def test_a_new_recipient_takes_effect_on_the_next_backup(made, workdir):
    identity = workdir / "new-recipient.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True)
    old = fetch(newest(DB_SOURCE), workdir)
    lab = [
        subprocess.run(
            ["age-keygen", "-y", str(EPHEMERAL / f"age-{k}.txt")], check=True, capture_output=True, text=True
        ).stdout.strip()
        for k in ("recovery", "drill")
    ]
    extra = json.dumps({"backup_recipients": [*lab, recipient.stdout.strip()]})
    try:
        changed = ansible_playbook(str(PROJECT / "playbooks/backup.yml"), "--tags", "backup", "-e", extra)
        assert changed.returncode == 0, changed.stdout[-3000:]
        time.sleep(1)  # the next archive's name (its second) differs from the last one's
        run_backup()
        new = fetch(newest(DB_SOURCE), workdir)
        assert decrypt(new, identity).returncode == 0
        assert decrypt(old, identity).returncode != 0
    finally:
        restored = ansible_playbook(str(PROJECT / "playbooks/backup.yml"), "--tags", "backup")
        assert restored.returncode == 0, restored.stdout[-3000:]


def test_the_weekly_drill_timer_on_a_dedicated_drill_host(made):
    """backup_drill_timer stores the drill identity and drills by timer; turned off, the identity is gone."""
    backup = backup_host()
    try:
        on = ansible_playbook(
            str(PROJECT / "playbooks/backup.yml"), "--tags", "backup", "-e", '{"backup_drill_timer": true}'
        )
        assert on.returncode == 0, on.stdout[-3000:]
        assert backup.service("djangostack-backup-drill.timer").is_running
        assert backup.file("/etc/djangostack-backup/drill-identity.txt").mode == 0o600
        drilled = backup.run("systemctl start djangostack-backup-drill.service")
        assert drilled.rc == 0, backup.check_output("journalctl -u djangostack-backup-drill.service -n 30 --no-pager")
        report = json.loads(backup.check_output("cat /var/lib/djangostack-backup/work/drill-report.json"))
        assert report["ok"] is True
    finally:
        off = ansible_playbook(str(PROJECT / "playbooks/backup.yml"), "--tags", "backup")
        assert off.returncode == 0, off.stdout[-3000:]
    assert not backup.file("/etc/djangostack-backup/drill-identity.txt").exists
    assert not backup.service("djangostack-backup-drill.timer").is_running
