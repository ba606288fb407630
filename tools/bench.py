#!/usr/bin/env python3
"""Benchmarks of djangostack on the container lab (`make bench`): every figure a ratio.

Each figure is measured side by side with its baseline in the same run, on the same
machine, so the ratio means something even on a busy CI host. One table at the end
(also .cache/bench/bench.json and .cache/bench/bench.md); docs/benchmarks.md explains
the figures. A figure that misses its goal never fails the run: only a measurement that
could not be taken does (exit 1).

The lab (containers bench-*, on the default bridge network, each with its own apt cache):
    bench-aio     all-in-one Debian 12 host (web, db, cache, worker), like molecule/demo
    bench-floor   the same image, for the floor: the converge's packages in one apt-get
                  install and the release's wheels in one venv
    bench-web, bench-db, bench-worker
                  the fleet, the production shape: web | db | cache + worker

    bench.py                 the whole benchmark; the lab is removed at the end
    bench.py --keep          keep the lab (BENCH_KEEP=1 through make)
    bench.py --only stack,pgbench   some sections, on a lab kept from an earlier run
    bench.py --destroy       remove the lab

Sections: converge (first converge vs floor), ssh (no-op re-converge and drift scan over
SSH, plain linear vs Mitogen), fleet (no-op of the fleet vs the single host), stack
(HTTP rps with wrk inside bench-aio), pgbench (pgbouncer vs PostgreSQL), backup (pg_dump
piped through age vs plain pg_dump of a >= 1 GB database).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".cache" / "bench"
LAB = OUT / "lab"  # the lab's ephemeral directory (keys, PKI, wheelhouse, inventories, logs)

# Strategies compared over SSH: the plain one and the speed-up (ANSIBLE_STRATEGY values).
STRATEGY_PLAIN = "linear"
STRATEGY_FAST = "djangostack.stack.mitogen_linear"
# The strategy of the fleet's no-op and the helper plays: the project's default.
STRATEGY_DEFAULT = STRATEGY_FAST
# The first converges: the project's default too.
STRATEGY_FIRST = STRATEGY_DEFAULT

IMAGE = "djangostack/debian12-systemd:lab"
APT_CACHE = Path("/var/cache/djangostack/apt")
ADMIN = "ops"
APP = "sample"
AIO = "bench-aio"
FLOOR = "bench-floor"
FLEET = {"bench-web": ["web"], "bench-db": ["db"], "bench-worker": ["cache", "worker"]}
AIO_GROUPS = ["web", "db", "cache", "worker"]
SSH_OPTS = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]

# Load windows: short and fixed. wrk uses one thread (one of the two cores) and keeps its
# connections alive; pgbench runs 8 clients.
HTTP_SECONDS = 10
HTTP_CONNECTIONS = 8
PG_SECONDS = 10
PG_CLIENTS = 8
# pgbench -i scale of the backup database: about 15 MB a step; the size is checked.
BACKUP_SCALE = 70
BACKUP_MIN_BYTES = 1024**3

SECTIONS = ["converge", "ssh", "fleet", "stack", "pgbench", "backup"]


# --- the table -------------------------------------------------------------------------------


@dataclass
class Goal:
    """A goal on a figure: on the measured value ('value', in its unit) or on the ratio."""

    on: str  # "value" or "ratio"
    op: str  # "<=" or ">="
    limit: float

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        subject = value if self.on == "value" else ratio
        if subject is None:
            return None
        return subject <= self.limit if self.op == "<=" else subject >= self.limit

    def text(self, unit: str) -> str:
        if self.on == "value":
            return f"{self.op} {self.limit:g} {unit}".strip()
        if self.limit < 1 and self.op == ">=":
            return f">= {self.limit:.0%} of baseline"
        return f"{self.op} {self.limit:g}x baseline"


@dataclass
class Figure:
    section: str
    name: str
    unit: str
    measured: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    goal: Goal | None = None
    note: str = ""
    error: str = ""
    details: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return ratio(self.measured, self.baseline)

    @property
    def met(self) -> bool | None:
        if self.error or self.goal is None:
            return None
        return self.goal.met(self.measured, self.ratio)


def ratio(measured: float | None, baseline: float | None) -> float | None:
    if measured is None or baseline is None or baseline == 0:
        return None
    return measured / baseline


def number(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("s", "rps", "tps", "MB/s") and value >= 100:
        return f"{value:,.0f} {unit}"
    return f"{value:.1f} {unit}" if abs(value) >= 10 or unit == "s" else f"{value:.2f} {unit}"


def row(figure: Figure) -> list[str]:
    met = {True: "yes", False: "NO", None: "-"}[figure.met]
    if figure.error:
        met = "ERROR"
    baseline = number(figure.baseline, figure.unit)
    if figure.baseline_name and figure.baseline is not None:
        baseline = f"{baseline} ({figure.baseline_name})"
    measured = number(figure.measured, figure.unit)
    if figure.note:
        measured = f"{measured} ({figure.note})"
    return [
        figure.name,
        measured,
        baseline,
        "-" if figure.ratio is None else f"{figure.ratio:.2f}x",
        figure.goal.text(figure.unit) if figure.goal else "-",
        met,
    ]


HEADER = ["figure", "measured", "baseline", "ratio", "goal", "met?"]


def text_table(figures: list[Figure]) -> str:
    rows = [HEADER, *(row(f) for f in figures)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    errors = [f"ERROR {f.name}: {f.error}" for f in figures if f.error]
    return "\n".join(lines + errors)


def markdown_table(figures: list[Figure]) -> str:
    def cells(values: list[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    lines = [cells(HEADER), "|" + "---|" * len(HEADER)]
    lines += [cells(row(f)) for f in figures]
    return "\n".join(lines)


# --- parsing tool outputs ----------------------------------------------------------------------

RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*(?P<counts>(?:\w+=\d+\s*)+)$")


def parse_recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP lines: {host: {"ok": 12, "changed": 0, ...}} (the last recap of the output)."""
    recap: dict[str, dict[str, int]] = {}
    if "PLAY RECAP" not in output:
        return recap
    for line in output.rsplit("PLAY RECAP", 1)[1].splitlines()[1:]:
        match = RECAP.match(line.strip())
        if match:
            counts = dict(pair.split("=") for pair in match.group("counts").split())
            recap[match.group("host")] = {k: int(v) for k, v in counts.items()}
    return recap


PROFILE_LINE = re.compile(r"^(?P<task>.+?) -{2,} (?P<seconds>\d+\.\d+)s$")


def parse_profile(output: str, limit: int = 10) -> list[tuple[str, float]]:
    """The slowest tasks from ansible.posix.profile_tasks' summary (after the last '=====' rule)."""
    parts = re.split(r"^={20,}\s*$", output, flags=re.MULTILINE)
    if len(parts) < 2:
        return []
    tasks = []
    for line in parts[-1].splitlines():
        match = PROFILE_LINE.match(line.strip())
        if match:
            tasks.append((match.group("task").strip(), float(match.group("seconds"))))
    return sorted(tasks, key=lambda t: -t[1])[:limit]


def parse_wrk(output: str) -> dict:
    """wrk's summary: requests per second, requests, and the failures it counts."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    if not rps or not total:
        raise ValueError(f"no wrk summary in: {output[-500:]!r}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    # A server that closes after each response (Gunicorn's sync workers) makes wrk count a
    # "read" error per connection it reconnects: not a failed request.
    return {
        "rps": float(rps.group(1)),
        "requests": int(total.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "connect_errors": int(socket.group(1)) if socket else 0,
        "timeouts": int(socket.group(4)) if socket else 0,
    }


def parse_pgbench(output: str) -> dict:
    """pgbench's summary: tps (without initial connection time when it says so), transactions, failures."""
    tps = re.search(
        r"^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)",
        output,
        re.MULTILINE,
    )
    tps = tps or re.search(r"^tps = ([\d.]+)", output, re.MULTILINE)
    done = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if not tps or not done:
        raise ValueError(f"no pgbench summary in: {output[-500:]!r}")
    return {
        "tps": float(tps.group(1)),
        "transactions": int(done.group(1)),
        "failed": int(failed.group(1)) if failed else 0,
    }


def libpq_env(url: str) -> dict[str, str]:
    """A postgres:// URL (as the app's env file has it) as libpq environment variables."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"not a postgres URL: {parts.scheme}://...")
    # Not parts.hostname: it lower-cases, and a socket directory is case-sensitive.
    host = parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0]
    env = {
        "PGHOST": urllib.parse.unquote(host),
        "PGPORT": str(parts.port or 5432),
        "PGUSER": urllib.parse.unquote(parts.username or ""),
        "PGPASSWORD": urllib.parse.unquote(parts.password or ""),
        "PGDATABASE": urllib.parse.unquote(parts.path.lstrip("/")),
    }
    # libpq's parameters (sslmode, sslrootcert, connect_timeout) have PG<NAME> variables.
    for key, value in urllib.parse.parse_qsl(parts.query):
        env["PG" + key.upper()] = value
    return {k: v for k, v in env.items() if v}


def parse_env_file(text: str) -> dict[str, str]:
    """KEY=value lines of a systemd environment file (values may be quoted)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def new_packages(image: dict[str, str], host: dict[str, str]) -> list[str]:
    """Packages the host has that the image lacks, or has at another version (dpkg-query -W maps)."""
    return sorted(name for name, version in host.items() if image.get(name) != version)


def parse_dpkg(output: str) -> dict[str, str]:
    """`dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'`: installed packages and versions."""
    packages = {}
    for line in output.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2].startswith("ii"):
            packages[fields[0]] = fields[1]
    return packages


# --- running things ---------------------------------------------------------------------------


class MeasurementError(RuntimeError):
    """A measurement could not be taken (the only thing that fails the run)."""


def log(message: str) -> None:
    print(f"==> [{time.strftime('%H:%M:%S')}] {message}", flush=True)


def run(argv: list[str], *, check: bool = True, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, **kw)
    if check and result.returncode != 0:
        raise MeasurementError(
            f"{shlex.join(argv)[:200]} exited {result.returncode}: {(result.stderr or result.stdout)[-2000:]}"
        )
    return result


def sh(container: str, script: str, *, check: bool = True, timeout: float = 1800, env: dict | None = None):
    """A shell script as root in a container."""
    argv = ["docker", "exec"]
    for key, value in (env or {}).items():
        argv += ["-e", f"{key}={value}"]
    return run([*argv, container, "bash", "-euo", "pipefail", "-c", script], check=check, timeout=timeout)


def timed(fn, *args, **kw) -> tuple[float, object]:
    started = time.monotonic()
    result = fn(*args, **kw)
    return time.monotonic() - started, result


def container_ip(name: str) -> str:
    return run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name]
    ).stdout.strip()


def start_container(name: str) -> None:
    """A fresh systemd container from the lab image, as molecule's platforms start them."""
    cache = APT_CACHE / name
    cache.mkdir(parents=True, exist_ok=True)
    run(["docker", "rm", "-f", name], check=False)
    run(
        [
            "docker", "run", "-d", "--name", name, "--hostname", name,
            "--label", "djangostack-lab=bench",
            "--cgroupns", "host",
            "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "SYS_PTRACE",
            "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
            "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",  # noqa: S108 - the container's
            "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
            "-v", f"{cache}:/var/cache/apt/archives:rw",
            IMAGE, "/lib/systemd/systemd",
        ]
    )  # fmt: skip


def wait_booted(name: str) -> None:
    for _ in range(120):
        state = run(["docker", "exec", name, "systemctl", "is-system-running"], check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise MeasurementError(f"{name} did not finish booting")


def lab_containers() -> list[str]:
    out = run(["docker", "ps", "-a", "--filter", "label=djangostack-lab=bench", "--format", "{{.Names}}"]).stdout
    return [name for name in out.split() if name.startswith("bench-")]


def destroy() -> None:
    names = lab_containers()
    if names:
        log(f"removing the lab: {' '.join(names)}")
        run(["docker", "rm", "-f", "-v", *names], check=False)


def ansible_env(strategy: str = STRATEGY_DEFAULT, report: str = "reports") -> dict[str, str]:
    """The environment of the lab's ansible runs: the repository's ansible.cfg plus the lab's settings
    (those of .config/molecule/config.yml), the collection from this tree (collections/ links to it), profile_tasks."""
    env = dict(os.environ)
    env.update(
        {
            "MOLECULE_EPHEMERAL_DIRECTORY": str(LAB),
            "MOLECULE_SCENARIO_NAME": "bench",
            "MOLECULE_PROJECT_DIRECTORY": str(ROOT),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": f"{ROOT / 'collections'}:{Path.home() / '.ansible' / 'collections'}",
            "ANSIBLE_CALLBACKS_ENABLED": "djangostack.stack.report,ansible.posix.profile_tasks",
            "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "10",
            "DJANGOSTACK_REPORT_DIR": str(LAB / report),
            "ANSIBLE_VAULT_PASSWORD_FILE": str(ROOT / "inventories" / "staging" / "vault-password.txt"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STRATEGY": strategy,
            "ANSIBLE_PIPELINING": "True",
            "ANSIBLE_INTERPRETER_PYTHON": "auto_silent",
            "ANSIBLE_FORCE_HANDLERS": "True",
            "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
        }
    )
    return env


def inventory(name: str, hosts: dict[str, list[str]], ssh: bool) -> Path:
    """An inventory of the lab (docker connection, or SSH as the admin with sudo) with molecule's group_vars."""
    directory = LAB / f"inventory-{name}"
    directory.mkdir(parents=True, exist_ok=True)
    data: dict = {"all": {"hosts": {}}}
    for host, groups in hosts.items():
        if ssh:
            data["all"]["hosts"][host] = {
                "ansible_connection": "ssh",
                "ansible_host": container_ip(host),
                "ansible_user": ADMIN,
                "ansible_become": True,
                "ansible_ssh_private_key_file": str(LAB / "lab_admin_ed25519"),
                "ansible_ssh_common_args": " ".join(SSH_OPTS),
            }
        else:
            data["all"]["hosts"][host] = {"ansible_connection": "community.docker.docker"}
        for group in groups:
            data.setdefault(group, {"hosts": {}})["hosts"][host] = None
    (directory / "hosts.yml").write_text(yaml.safe_dump(data, sort_keys=False))
    group_vars = directory / "group_vars"
    if not group_vars.is_symlink():
        group_vars.symlink_to(ROOT / "molecule" / "shared" / "group_vars")
    return directory / "hosts.yml"


@dataclass
class Run:
    seconds: float
    returncode: int
    output: str
    recap: dict
    profile: list

    @property
    def changed(self) -> int:
        return sum(counts.get("changed", 0) for counts in self.recap.values())

    @property
    def failed(self) -> int:
        return sum(counts.get("failed", 0) + counts.get("unreachable", 0) for counts in self.recap.values())

    def tasks(self, host: str | None = None) -> int:
        """Tasks that ran on a host (ok + changed + failed), or on every host."""
        hosts = [host] if host else list(self.recap)
        return sum(self.recap.get(h, {}).get(k, 0) for h in hosts for k in ("ok", "changed", "failed"))


def playbook(
    label: str, inv: Path, *args: str, strategy: str = STRATEGY_DEFAULT, report: str = "reports", timeout: float = 1800
) -> Run:
    """ansible-playbook from the repository's root, its output logged to .cache/bench/lab/<label>.log."""
    argv = ["ansible-playbook", "-i", str(inv), *args]
    log(f"{label}: {shlex.join(argv[3:])} (ANSIBLE_STRATEGY={strategy})")
    started = time.monotonic()
    result = subprocess.run(
        argv, capture_output=True, text=True, cwd=ROOT, env=ansible_env(strategy, report), timeout=timeout, check=False
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    (LAB / f"{label}.log").write_text(output)
    done = Run(seconds, result.returncode, output, parse_recap(result.stdout), parse_profile(result.stdout))
    log(f"{label}: {seconds:.1f} s, rc {result.returncode}, changed {done.changed}, tasks {done.tasks()}")
    return done


def lab_up(names: list[str]) -> None:
    LAB.mkdir(parents=True, exist_ok=True)
    log(f"starting {' '.join(names)} from {IMAGE}")
    for name in names:
        start_container(name)
    with concurrent.futures.ThreadPoolExecutor(len(names)) as pool:
        list(pool.map(wait_booted, names))
    everything = {AIO: AIO_GROUPS, **FLEET}
    inv = inventory("keys", {n: g for n, g in everything.items() if n in names}, ssh=False)
    for play in ("keys.yml", "pki.yml"):
        done = playbook(f"lab-{play[:-4]}", inv, str(ROOT / "molecule" / "shared" / play))
        if done.returncode != 0:
            raise MeasurementError(f"{play} failed: {done.output[-2000:]}")


# --- 1. converge: first converge against the floor; no-op and drift over SSH ---------------------

SITE = str(ROOT / "site.yml")
DPKG = "dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n'"


def wheelhouse() -> Path:
    """The release's wheelhouse the converge built on the controller (Debian 12's Python)."""
    found = sorted((LAB / "wheelhouse" / APP).glob("*/cp3.11.*.tar"))
    if not found:
        raise MeasurementError(f"no wheelhouse under {LAB / 'wheelhouse' / APP}: did the converge build one?")
    return found[-1]


def floor(packages: list[str], wheels: Path) -> float:
    """In a fresh container: the converge's packages in one apt-get install, the release's wheels in one venv."""
    install = (
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; "
        f"apt-get install -y -qq --no-install-recommends {shlex.join(packages)} >/dev/null; "
        "mkdir -p /srv/floor/wheels; tar -x -C /srv/floor/wheels -f -; python3 -m venv /srv/floor/venv; "
        "/srv/floor/venv/bin/pip install --quiet --no-index --no-cache-dir --only-binary=:all: "
        "--disable-pip-version-check --find-links=/srv/floor/wheels "
        f"--requirement=/srv/floor/wheels/requirements.txt djangostack-{APP}"
    )
    started = time.monotonic()
    with wheels.open("rb") as tar:
        result = subprocess.run(
            ["docker", "exec", "-i", FLOOR, "bash", "-euo", "pipefail", "-c", install],
            stdin=tar,
            capture_output=True,
            text=False,
            timeout=1800,
            check=False,
        )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise MeasurementError(f"the floor's install failed: {result.stderr.decode()[-2000:]}")
    return seconds


def section_converge(figures: list[Figure], context: dict) -> None:
    image = parse_dpkg(sh(FLOOR, DPKG).stdout)
    if context.get("with_fleet"):
        # The fleet's first converge is no figure, only the lab of the fleet section: it runs
        # alongside (the converge, then the floor) so that the whole bench fits its 20 minutes.
        pool = concurrent.futures.ThreadPoolExecutor(1)
        context["fleet_future"] = pool.submit(converge_fleet, context)
        pool.shutdown(wait=False)
    inv = inventory("aio-docker", {AIO: AIO_GROUPS}, ssh=False)
    first = playbook("converge-first", inv, SITE, strategy=STRATEGY_FIRST)
    figure = Figure("converge", "first converge, all-in-one", "s", baseline_name="floor")
    figure.goal = Goal("ratio", "<=", 3)
    figures.append(figure)
    if first.returncode != 0 or first.failed:
        raise MeasurementError(f"the first converge failed: {failure(first.output)} (see {LAB / 'converge-first.log'})")
    figure.measured = first.seconds
    figure.note = f"{first.tasks(AIO)} tasks"
    figure.details["slowest"] = first.profile
    figure.details["strategy"] = STRATEGY_FIRST
    packages = new_packages(image, parse_dpkg(sh(AIO, DPKG).stdout))
    wheels = wheelhouse()
    log(f"floor: {len(packages)} packages in one apt-get install, then {wheels.name} into one venv")
    figure.baseline = floor(packages, wheels)
    figure.details["floor_packages"] = packages
    log(f"floor: {figure.baseline:.1f} s")
    context["aio_ssh"] = inventory("aio-ssh", {AIO: AIO_GROUPS}, ssh=True)
    future = context.get("fleet_future")
    if future is not None and not future.done():
        log("waiting for the fleet's first converge")
        future.exception()


def drift_scan(label: str, inv: Path, strategy: str) -> Run:
    """tools/drift.py (what `make drift` runs) over an inventory: seconds, recap and profile."""
    argv = [sys.executable, str(ROOT / "tools" / "drift.py"), "-i", str(inv), "--json", str(LAB / f"{label}.json")]
    log(f"{label}: tools/drift.py -i {inv.parent.name} (ANSIBLE_STRATEGY={strategy})")
    env = ansible_env(strategy, report=f"reports-{label}")
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800, check=False)
    seconds = time.monotonic() - started
    (LAB / f"{label}.log").write_text(result.stdout + result.stderr)
    done = Run(seconds, result.returncode, result.stdout + result.stderr, parse_recap(result.stdout), [])
    done.profile = parse_profile(result.stdout)
    log(f"{label}: {seconds:.1f} s, exit {result.returncode}, tasks {done.tasks()}")
    return done


def cold_ssh(label: str) -> None:
    """Each run starts without an SSH control master (ansible.cfg's ControlPersist would carry one over)."""
    os.environ["ANSIBLE_SSH_CONTROL_PATH_DIR"] = str(LAB / "cp" / label)


def section_ssh(figures: list[Figure], context: dict) -> None:
    inv = context.get("aio_ssh") or inventory("aio-ssh", {AIO: AIO_GROUPS}, ssh=True)
    noop = Figure(
        "ssh", "no-op re-converge over SSH, Mitogen", "s", baseline_name=STRATEGY_PLAIN, goal=Goal("value", "<=", 20)
    )
    drift = Figure("ssh", "drift scan over SSH, Mitogen", "s", baseline_name=STRATEGY_PLAIN)
    drift.goal = Goal("value", "<=", 20)
    figures += [noop, drift]
    runs: dict[str, Run] = {}
    # Interleaved, the plain strategy first: neither gets a warmer host than the other.
    for kind in ("noop", "drift"):
        for name, strategy in (("plain", STRATEGY_PLAIN), ("fast", STRATEGY_FAST)):
            label = f"{kind}-{name}"
            cold_ssh(label)
            if kind == "noop":
                runs[label] = playbook(label, inv, SITE, strategy=strategy, report=f"reports-{label}")
            else:
                runs[label] = drift_scan(label, inv, strategy)
    os.environ.pop("ANSIBLE_SSH_CONTROL_PATH_DIR", None)
    for figure, kind, ok in ((noop, "noop", (0,)), (drift, "drift", (0,))):
        plain, fast = runs[f"{kind}-plain"], runs[f"{kind}-fast"]
        figure.details = {
            "strategy": STRATEGY_FAST,
            "baseline_strategy": STRATEGY_PLAIN,
            "seconds": {"plain": plain.seconds, "fast": fast.seconds},
            "tasks": {"plain": plain.tasks(AIO), "fast": fast.tasks(AIO)},
            "changed": {"plain": plain.changed, "fast": fast.changed},
            "slowest": {"plain": plain.profile, "fast": fast.profile},
        }
        if plain.returncode not in ok:
            figure.error = f"{kind} with {STRATEGY_PLAIN} exited {plain.returncode} (see {LAB / (kind + '-plain.log')})"
            continue
        figure.baseline = plain.seconds
        notes = [f"{plain.tasks(AIO)} tasks"]
        if plain.changed:
            notes.append(f"changed={plain.changed} with {STRATEGY_PLAIN}")
        if fast.returncode not in ok:
            figure.error = f"{kind} with {STRATEGY_FAST} exited {fast.returncode}: {failure(fast.output)}"
            figure.measured = None
        else:
            figure.measured = fast.seconds
            if fast.changed:
                notes.append(f"changed={fast.changed}")
        figure.note = ", ".join(notes)
    if STRATEGY_DEFAULT == STRATEGY_FAST and runs["noop-fast"].returncode == 0:
        context["single_noop"] = runs["noop-fast"]


def failure(output: str) -> str:
    """The first fatal/ERROR line of an ansible run's output, for the table."""
    for line in output.splitlines():
        if line.startswith(("fatal:", "ERROR!", "[ERROR]")) or "FAILED!" in line:
            return line.strip()[:300]
    return output.strip().splitlines()[-1][:300] if output.strip() else "(no output)"


# --- 2. the fleet: a no-op converge of the production shape against the single host ------------


def section_fleet(figures: list[Figure], context: dict) -> None:
    figure = Figure("fleet", f"fleet no-op over SSH, {len(FLEET)} hosts", "s", baseline_name="1 host")
    figure.goal = Goal("ratio", "<=", len(FLEET) / 2)
    figures.append(figure)
    future = context.get("fleet_future")
    if future is not None:
        future.result()  # its MeasurementError fails this section
    elif not lab_has_fleet():
        converge_fleet(context)
    inv = inventory("fleet-ssh", FLEET, ssh=True)
    single_inv = context.get("aio_ssh") or inventory("aio-ssh", {AIO: AIO_GROUPS}, ssh=True)
    cold_ssh("fleet-noop")
    fleet = playbook("fleet-noop", inv, SITE, strategy=STRATEGY_DEFAULT, report="reports-fleet-noop")
    # The single host: the ssh section's no-op with the same strategy, or one now.
    single = context.get("single_noop")
    if single is None:
        cold_ssh("single-noop")
        single = playbook("single-noop", single_inv, SITE, strategy=STRATEGY_DEFAULT, report="reports-single-noop")
    os.environ.pop("ANSIBLE_SSH_CONTROL_PATH_DIR", None)
    shape = " | ".join(f"{host.removeprefix('bench-')}: {'+'.join(groups)}" for host, groups in FLEET.items())
    figure.details = {
        "shape": shape,
        "strategy": STRATEGY_DEFAULT,
        "tasks": {"fleet": fleet.tasks(), "single": single.tasks(AIO)},
        "changed": {"fleet": fleet.changed, "single": single.changed},
        "slowest": {"fleet": fleet.profile, "single": single.profile},
    }
    if fleet.returncode != 0:
        figure.error = f"the fleet's no-op exited {fleet.returncode}: {failure(fleet.output)}"
        return
    if single.returncode != 0:
        figure.error = f"the single host's no-op exited {single.returncode}: {failure(single.output)}"
        return
    figure.measured, figure.baseline = fleet.seconds, single.seconds
    figure.note = shape + (f", changed={fleet.changed}" if fleet.changed else "")


def converge_fleet(context: dict) -> None:
    """The fleet's first converge (not a figure: the lab of the fleet's no-op and the remote pgbench),
    with the project's default strategy."""
    inv = inventory("fleet-docker", FLEET, ssh=False)
    # A wheelhouse directory of its own: the single host's converge builds the same tarball meanwhile.
    args = ["-e", f"django_wheelhouse_dir={LAB / 'wheelhouse-fleet'}", SITE]
    done = playbook("fleet-converge", inv, *args, strategy=STRATEGY_DEFAULT, report="reports-fleet-converge")
    if done.returncode != 0 or done.failed:
        raise MeasurementError(
            f"the fleet's first converge failed: {failure(done.output)} (see {LAB}/fleet-converge.log)"
        )
    (LAB / "fleet-converged").touch()


# --- 3. the stack: HTTP requests per second, with wrk on loopback inside bench-aio ----------------

SERVER_NAME = f"{AIO}.lab.test"
CONFIGURED_PORT = 8001  # the configured Gunicorn (its config file), the app plus Django's static files
DEFAULT_PORT = 8002  # a default Gunicorn: one sync worker
STATIC = "/static/notes/style.css"
STATIC_WSGI = """\
# The app with Django's own static file serving (runserver's handler), for the benchmark only.
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application

application = StaticFilesHandler(get_wsgi_application())
"""


def gunicorn_unit(unit: str, port: int, *args: str) -> str:
    """A Gunicorn of the current release on a loopback port, as the app's account with the app's environment."""
    current = f"/srv/{APP}/current"
    argv = [
        "systemd-run", f"--unit={unit}", f"--uid={APP}", f"--gid={APP}",
        f"--property=EnvironmentFile=/srv/{APP}/shared/env", f"--property=EnvironmentFile={current}/release.env",
        f"--property=WorkingDirectory={current}", "--setenv=PYTHONUNBUFFERED=1",
        f"{current}/venv/bin/gunicorn", f"--bind=127.0.0.1:{port}", *args,
    ]  # fmt: skip
    reset = f"systemctl stop {unit} 2>/dev/null || true; systemctl reset-failed {unit} 2>/dev/null || true"
    return f"{reset}; {shlex.join(argv)}"


WAIT_HTTP = (
    "import http.client, sys, time\n"
    "for _ in range(60):\n"
    "    try:\n"
    "        c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=5)\n"
    "        c.request('GET', '/health/', headers={{'Host': '{host}'}})\n"
    "        if c.getresponse().status == 200:\n"
    "            sys.exit(0)\n"
    "    except OSError:\n"
    "        pass\n"
    "    time.sleep(1)\n"
    "sys.exit('nothing answers on 127.0.0.1:{port}')\n"
)


def wrk(container: str, url: str, *headers: str, seconds: int = HTTP_SECONDS) -> dict:
    argv = ["wrk", "-t1", f"-c{HTTP_CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s"]
    for header in headers:
        argv += ["-H", header]
    # A short warm-up first: workers loaded, caches filled, TLS session cache primed.
    sh(container, shlex.join([*argv[:3], "-d2s", *argv[4:], url]) + " >/dev/null")
    result = parse_wrk(sh(container, shlex.join([*argv, url])).stdout)
    bad = result["non_2xx"] + result["connect_errors"] + result["timeouts"]
    if result["requests"] == 0 or bad > 0.01 * result["requests"]:
        raise MeasurementError(f"wrk {url}: {bad} of {result['requests']} requests failed: {result}")
    log(f"wrk {url} {' '.join(headers)}: {result['rps']:.0f} rps")
    return result


def section_stack(figures: list[Figure], context: dict) -> None:
    log("stack: wrk from Debian, two extra Gunicorns on loopback in bench-aio")
    sh(AIO, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null")
    sh(AIO, f"grep -q ' {SERVER_NAME}$' /etc/hosts || echo '127.0.0.1 {SERVER_NAME}' >> /etc/hosts")
    sh(AIO, f"mkdir -p /var/lib/bench && printf '%s' {shlex.quote(STATIC_WSGI)} > /var/lib/bench/bench_wsgi.py")
    config = f"/etc/gunicorn/{APP}.conf.py"
    sh(AIO, gunicorn_unit("bench-gunicorn-configured", CONFIGURED_PORT, f"--config={config}",
                          "--pythonpath=/var/lib/bench", "bench_wsgi:application"))  # fmt: skip
    sh(AIO, gunicorn_unit("bench-gunicorn-default", DEFAULT_PORT, f"{APP}.wsgi:application"))
    for port in (CONFIGURED_PORT, DEFAULT_PORT):
        sh(AIO, f"python3 -c {shlex.quote(WAIT_HTTP.format(port=port, host=SERVER_NAME))}", timeout=120)
    direct = [f"Host: {SERVER_NAME}", "X-Forwarded-Proto: https"]
    tls = f"https://{SERVER_NAME}"
    nginx_db = wrk(AIO, f"{tls}/")
    gunicorn_db = wrk(AIO, f"http://127.0.0.1:{CONFIGURED_PORT}/", *direct)
    nginx_cached = wrk(AIO, f"{tls}/cached/")
    nginx_static = wrk(AIO, f"{tls}{STATIC}")
    django_static = wrk(AIO, f"http://127.0.0.1:{CONFIGURED_PORT}{STATIC}", *direct)
    default_db = wrk(AIO, f"http://127.0.0.1:{DEFAULT_PORT}/", *direct)
    sh(AIO, "systemctl stop bench-gunicorn-configured bench-gunicorn-default", check=False)
    workers = sh(AIO, f"grep -E '^(workers|threads)' {config} | tr -d ' ' | paste -sd,").stdout.strip()
    rows = [
        ("Django / through nginx+TLS", nginx_db, gunicorn_db, "Gunicorn direct", Goal("ratio", ">=", 0.85)),
        ("cached page /cached/, nginx+TLS", nginx_cached, nginx_db, "database page /", None),
        ("static file, nginx+TLS", nginx_static, django_static, "Django static view", None),
        (f"configured Gunicorn ({workers}) /", gunicorn_db, default_db, "default: 1 worker", None),
    ]
    for name, measured, baseline, baseline_name, goal in rows:
        figure = Figure("stack", name, "rps", measured["rps"], baseline["rps"], baseline_name, goal)
        figure.details = {"measured": measured, "baseline": baseline}
        figures.append(figure)


# --- 4. pgbouncer against PostgreSQL: pgbench SELECT 1, 8 clients ---------------------------------


def app_databases(container: str) -> tuple[dict[str, str], dict[str, str]]:
    """libpq settings of the app's two connections, from its env files: through pgbouncer, and direct."""
    pooled = parse_env_file(sh(container, f"cat /srv/{APP}/shared/env").stdout)["DATABASE_URL"]
    direct = parse_env_file(sh(container, f"cat /srv/{APP}/shared/env-direct").stdout)["DATABASE_URL"]
    return libpq_env(pooled), libpq_env(direct)


def pgbench(container: str, env: dict[str, str], connect: bool) -> dict:
    argv = ["pgbench", "-n", "-f", "/root/select1.sql", "-c", str(PG_CLIENTS), "-j", "2", "-T", str(PG_SECONDS)]
    if connect:
        argv.append("-C")
    result = sh(container, shlex.join(argv) + " 2>&1", env=env, check=False)
    where = f"{env.get('PGHOST')}:{env.get('PGPORT')}"
    if result.returncode != 0:
        raise MeasurementError(f"pgbench on {container} to {where}: {result.stdout[-800:]}")
    parsed = parse_pgbench(result.stdout)
    if parsed["transactions"] == 0 or parsed["failed"]:
        raise MeasurementError(f"pgbench on {container} to {where}: {parsed}")
    log(f"pgbench {'-C ' if connect else ''}on {container} to {where}: {parsed['tps']:.0f} tps")
    return parsed


def pgbench_tool(container: str) -> None:
    """pgbench on an app host: Debian ships it with the server (postgresql-15), which bench-aio has."""
    sh(container, "printf 'SELECT 1;\\n' > /root/select1.sql")
    if sh(container, "command -v pgbench && pgbench --version", check=False).returncode == 0:
        return
    binary = LAB / "pgbench"
    run(["docker", "cp", f"{AIO}:/usr/lib/postgresql/15/bin/pgbench", str(binary)])
    run(["docker", "cp", str(binary), f"{container}:/usr/local/bin/pgbench"])
    sh(container, "pgbench --version")


def section_pgbench(figures: list[Figure], context: dict) -> None:
    hosts = [(AIO, "all-in-one")]
    if lab_has_fleet():
        hosts.append(("bench-web", "web host, db over TLS"))
    for host, where in hosts:
        pgbench_tool(host)
        pooled, direct = app_databases(host)
        how = "socket" if direct.get("PGHOST", "").startswith("/") else f"sslmode={direct.get('PGSSLMODE', 'prefer')}"
        for connect in (True, False):
            mode = "-C" if connect else "persistent"
            measured, baseline = pgbench(host, pooled, connect), pgbench(host, direct, connect)
            figure = Figure("pgbench", f"pgbouncer {mode}, {where}", "tps", measured["tps"], baseline["tps"])
            figure.baseline_name = f"direct, {how}"
            figure.goal = Goal("ratio", ">=", 3) if connect else None
            figure.details = {"measured": measured, "baseline": baseline, "host": host}
            figures.append(figure)


def lab_has_fleet() -> bool:
    """The fleet's first converge succeeded (in this run, or in the run that kept the lab)."""
    return (LAB / "fleet-converged").exists() and all(name in lab_containers() for name in FLEET)


# --- 5. backup: pg_dump | age to the recipients against a plain pg_dump ---------------------------


def section_backup(figures: list[Figure], context: dict) -> None:
    host = AIO
    figure = Figure("backup", "pg_dump | age, 2 recipients", "MB/s", baseline_name="plain pg_dump")
    figures.append(figure)
    keys = [LAB / f"age-{name}.txt" for name in ("recovery", "drill")]
    recipients = "".join(run(["age-keygen", "-y", str(key)]).stdout for key in keys)
    sh(host, "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends age >/dev/null; "
             f"printf '%s' {shlex.quote(recipients)} > /root/recipients.txt")  # fmt: skip
    pg = "runuser -u postgres --"
    log(f"backup: pgbench -i -s {BACKUP_SCALE} into the database benchdump on {host}")
    sh(host, f"{pg} dropdb --if-exists benchdump; {pg} createdb benchdump; "
             f"{pg} pgbench -i -q -s {BACKUP_SCALE} -I dtGvp benchdump >/dev/null 2>&1", timeout=1200)  # fmt: skip
    size = int(sh(host, f"{pg} psql -Atc \"SELECT pg_database_size('benchdump')\"").stdout.strip())
    if size < BACKUP_MIN_BYTES:
        raise MeasurementError(f"the backup database is {size} bytes, less than {BACKUP_MIN_BYTES}: raise BACKUP_SCALE")
    # What the backup source runs (djangostack-backup-source pg-dump) and what the backup host pipes it into.
    dump = f"{pg} pg_dump --format=custom --no-password --dbname benchdump"
    plain = f"{dump} > /var/tmp/bench-plain.dump"
    encrypted = f"{dump} | age --encrypt -R /root/recipients.txt -o /var/tmp/bench.age"
    # Twice each, alternating: the sums of both.
    plain_s = age_s = 0.0
    for _ in range(2):
        plain_s += timed(sh, host, plain, timeout=1200)[0]
        age_s += timed(sh, host, encrypted, timeout=1200)[0]
    sizes = [int(s) for s in sh(host, "stat -c %s /var/tmp/bench-plain.dump /var/tmp/bench.age").stdout.split()]
    sh(host, f"rm -f /var/tmp/bench-plain.dump /var/tmp/bench.age; {pg} dropdb benchdump")
    log(f"backup: plain {plain_s:.1f} s, through age {age_s:.1f} s ({size / 1e9:.2f} GB database)")
    megabytes = 2 * size / 1e6
    figure.measured, figure.baseline = megabytes / age_s, megabytes / plain_s
    figure.note = f"{size / 1024**3:.2f} GiB database, {sizes[0] / 1e6:.0f} MB dump"
    figure.details = {"database_bytes": size, "seconds": {"age": age_s, "plain": plain_s}, "dump_bytes": sizes}


# --- the run -----------------------------------------------------------------------------------

SECTION_FUNCTIONS = {
    "converge": section_converge,
    "ssh": section_ssh,
    "fleet": section_fleet,
    "stack": section_stack,
    "pgbench": section_pgbench,
    "backup": section_backup,
}


def machine() -> dict:
    def first_line(argv: list[str]) -> str:
        try:
            return run(argv, check=False).stdout.strip().splitlines()[0]
        except (IndexError, OSError):
            return "?"

    try:
        from importlib.metadata import version

        versions = {name: version(name) for name in ("ansible-core", "mitogen")}
    except Exception:
        versions = {}
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), "0"
    )
    return {
        "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
        "nproc": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024**2, 1),
        "debian": Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "docker": first_line(["docker", "version", "--format", "{{.Server.Version}}"]),
        **versions,
    }


def slowest_text(figures: list[Figure]) -> str:
    """The ten slowest tasks of each ansible run of the table (profile_tasks)."""
    blocks = []
    for figure in figures:
        slowest = figure.details.get("slowest")
        if not slowest:
            continue
        runs = slowest if isinstance(slowest, dict) else {"": slowest}
        for name, tasks in runs.items():
            if not tasks:
                continue
            strategy = {"plain": STRATEGY_PLAIN, "fast": STRATEGY_FAST}.get(name, name)
            title = f"{figure.name}" + (f" [{strategy}]" if strategy else "")
            lines = [f"  {seconds:6.2f} s  {task}" for task, seconds in tasks]
            blocks.append(f"ten slowest tasks: {title}\n" + "\n".join(lines))
    return "\n\n".join(blocks)


def write_results(figures: list[Figure], started: float, sections: list[str], info: dict) -> str:
    wall = time.monotonic() - started
    info["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    table = text_table(figures)
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    OUT.mkdir(parents=True, exist_ok=True)
    data = {
        "generated": generated,
        "wall_seconds": round(wall, 1),
        "sections": sections,
        "machine": info,
        "strategies": {"plain": STRATEGY_PLAIN, "fast": STRATEGY_FAST, "first": STRATEGY_FIRST},
        "figures": [
            {
                "section": f.section,
                "figure": f.name,
                "unit": f.unit,
                "measured": f.measured,
                "baseline": f.baseline,
                "baseline_name": f.baseline_name,
                "ratio": f.ratio,
                "goal": f.goal.text(f.unit) if f.goal else None,
                "met": f.met,
                "note": f.note,
                "error": f.error or None,
                "details": f.details,
            }
            for f in figures
        ],
    }
    (OUT / "bench.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    load = f"load average {info['load_average_at_start'][0]} at the start, {info['load_average_at_end'][0]} at the end"
    markdown = (
        f"Run {generated}, wall time {wall / 60:.1f} min, {load}, sections: {', '.join(sections)}.\n\n"
        + markdown_table(figures)
        + "\n\n```\n"
        + slowest_text(figures)
        + "\n```\n"
    )
    (OUT / "bench.md").write_text(markdown)
    return table + f"\n\nwall time {wall / 60:.1f} min, {load}; .cache/bench/bench.json, .cache/bench/bench.md"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", default=os.environ.get("BENCH_KEEP", "") not in ("", "0"))
    parser.add_argument("--only", help=f"comma-separated sections of {','.join(SECTIONS)}, on a kept lab")
    parser.add_argument("--destroy", action="store_true", help="remove the lab and exit")
    args = parser.parse_args()
    if args.destroy:
        destroy()
        return 0
    sections = args.only.split(",") if args.only else list(SECTIONS)
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    started = time.monotonic()
    info = machine()
    log(f"bench on {info['nproc']} CPUs, {info['memory_gib']} GiB, Debian {info['debian']}, kernel {info['kernel']}")
    figures: list[Figure] = []
    context: dict = {}
    status = 0
    try:
        if not args.only:
            destroy()
            shutil.rmtree(LAB, ignore_errors=True)
            lab_up([AIO, FLOOR, *FLEET])
        context["with_fleet"] = "fleet" in sections and "converge" in sections
        for section in sections:
            log(f"section {section}")
            try:
                SECTION_FUNCTIONS[section](figures, context)
            except (MeasurementError, subprocess.TimeoutExpired, ValueError) as error:
                status = 1
                log(f"section {section} could not be measured: {error}")
                figures.append(Figure(section, f"{section} (not measured)", "", error=str(error)[:500]))
    except KeyboardInterrupt:
        status = 130
    except MeasurementError as error:
        status = 1
        figures.append(Figure("lab", "the lab", "", error=str(error)[:500]))
    finally:
        if args.keep or status == 130:
            log(f"lab kept: {' '.join(lab_containers())} (remove it: tools/bench.py --destroy)")
        elif not args.only:
            destroy()
    print("\n" + write_results(figures, started, sections, info), flush=True)
    slowest = slowest_text(figures)
    if slowest:
        print("\n" + slowest)
    if any(f.error for f in figures):
        status = status or 1
    return status


if __name__ == "__main__":
    sys.exit(main())
