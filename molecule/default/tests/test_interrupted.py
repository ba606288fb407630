"""A converge killed half-way (the controller dies after a random task) and run again finishes
cleanly, with the host in exactly the state it had before.

The killed run uses the production strategy (Mitogen); the run after it Ansible's plain `linear`:
a whole converge after an interrupted one, so `strategy = linear` stays a tested choice."""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import time

from lab import INVENTORY, PROJECT, ansible_env, ansible_playbook, changes, fingerprint, instance, lab_hosts

NAME = lab_hosts()[0]
# Where the kill lands is random (not a secret: the printed task number reproduces a failure).
CHANCE = random.Random()  # noqa: S311 - not a secret
APP = "sample"
# Work for the converge to do, so the kill lands among real changes, not only "ok" tasks.
DRIFTS = [
    f"sed -i 's/^DJANGO_HSTS_SECONDS=.*/DJANGO_HSTS_SECONDS=0/' /srv/{APP}/shared/env",
    "systemctl stop memcached",
    "sed -i 's/^pool_mode = transaction$/pool_mode = session/' /etc/pgbouncer/pgbouncer.ini",
    "chmod 644 /etc/pgbouncer/userlist.txt",
]


def kill_after(tasks: int) -> tuple[str, int]:
    """Run site.yml on the host and SIGKILL ansible-playbook (its whole process group) when its
    output starts task number `tasks`; returns (the task it was killed at, the exit status)."""
    env = ansible_env(dict(os.environ, PYTHONUNBUFFERED="1"))
    process = subprocess.Popen(
        ["ansible-playbook", "-i", INVENTORY, "--limit", NAME, str(PROJECT / "site.yml")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    seen, last = 0, ""
    for line in process.stdout:
        match = re.match(r"^(?:TASK|RUNNING HANDLER) \[(.+?)\]", line)
        if match:
            seen, last = seen + 1, match.group(1)
            if seen == tasks:
                time.sleep(CHANCE.uniform(0, 1.5))  # mid-task, not only between tasks
                os.killpg(process.pid, signal.SIGKILL)
                break
    process.stdout.close()
    return last, process.wait(timeout=120)


def test_a_converge_killed_half_way_and_run_again_ends_in_the_same_state():
    host = instance(NAME)
    before = fingerprint(NAME)
    for drift in DRIFTS:
        host.run_expect([0], drift)
    assert changes(before, fingerprint(NAME)), "the drifts changed nothing"
    # Past the preflight (18 tasks: one per role), before the app tier is done (about task 185 of 196).
    tasks = CHANCE.randint(20, 185)
    task, status = kill_after(tasks)
    print(f"\nkilled ansible-playbook at task {tasks}: {task} (exit {status})")
    assert status == -signal.SIGKILL
    plain = dict(os.environ, ANSIBLE_STRATEGY="linear")
    again = ansible_playbook("--limit", NAME, str(PROJECT / "site.yml"), timeout=1800, env=plain)
    assert again.returncode == 0, again.stdout[-5000:]
    changed = changes(before, fingerprint(NAME))
    assert not changed, changed
