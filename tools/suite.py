#!/usr/bin/env python3
"""Run the molecule scenarios in lanes, side by side, then print their logs and the suite's scores.

    suite.py LANE [LANE ...]      a lane is one scenario or several joined by '+', run in order

    suite.py default multi+acme   `default` beside `multi` then `acme` (what `make test` runs)
    suite.py default              one scenario
    suite.py default make:lint+make:unit   a lane item `make:TARGET` runs `make TARGET`

Side by side, the lanes keep a 2-core machine's CPUs busy (one scenario alone leaves them
half idle, waiting on apt, systemd and health checks); the CPU is sampled at every heartbeat
into .cache/logs/cpu.log. The lint and unit tests (`make:lint+make:unit`) run as a lane item
like a scenario. Each scenario's output goes to .cache/logs/molecule-<name>.log
and is printed whole once every lane is done (in the order given), followed by the
scores the suites saved in .cache/scores/ (the drift and bad-input suites). A failed
scenario ends its lane; the other lanes finish. Exit status 1 when any scenario failed.
The end of the output says why each failed scenario failed (pytest's short summary, the
failed tasks, molecule's errors), so the tail of a CI log is enough to start from.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / ".cache" / "logs"
SCORES = ROOT / ".cache" / "scores"
HEARTBEAT = 300  # seconds between "still running" lines, so a CI log never looks stuck
# Lines of a failed scenario's log worth repeating at the end of the output.
WHY = re.compile(r"^(FAILED |ERROR |CRITICAL |fatal: |failed: |\S+\s+: ok=\d+ .*failed=[1-9])")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
WHY_LINES = 80


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def busy_percent(before: tuple[int, int], after: tuple[int, int]) -> int:
    """How busy the CPUs were between two cpu_times() samples, in percent."""
    total = after[1] - before[1]
    return round(100 * (after[0] - before[0]) / total) if total else 0


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"


class Lane(threading.Thread):
    def __init__(self, scenarios: list[str], results: dict, running: dict) -> None:
        super().__init__(daemon=True)
        self.scenarios = scenarios
        self.results = results
        self.running = running

    def run(self) -> None:
        for scenario in self.scenarios:
            start = time.monotonic()
            self.running[scenario] = start
            print(f"==> {title(scenario)}: started", flush=True)
            with log_path(scenario).open("w") as log:
                try:
                    code = subprocess.call(command(scenario), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
                except OSError as error:  # the command itself is missing (no venv on PATH): a failure, said
                    log.write(f"could not start {' '.join(command(scenario))}: {error}\n")
                    code = 127
            del self.running[scenario]
            self.results[scenario] = (code, time.monotonic() - start)
            verdict = "passed" if code == 0 else f"FAILED (exit {code})"
            print(f"==> {title(scenario)}: {verdict} in {minutes(time.monotonic() - start)}", flush=True)
            if code != 0:
                return


def command(item: str) -> list[str]:
    """A lane item: `make:TARGET` is `make TARGET`, anything else a molecule scenario."""
    if item.startswith("make:"):
        return ["make", "--no-print-directory", item.removeprefix("make:")]
    return ["molecule", "test", "-s", item]


def title(item: str) -> str:
    return f"make {item.removeprefix('make:')}" if item.startswith("make:") else f"molecule test -s {item}"


def log_path(item: str) -> Path:
    return LOGS / (f"make-{item.removeprefix('make:')}.log" if item.startswith("make:") else f"molecule-{item}.log")


def why_failed(log: str) -> list[str]:
    """The lines that say why a scenario failed: pytest's short summary whole, then failed tasks and errors."""
    lines = ANSI.sub("", log).splitlines()
    summary: list[str] = []
    for number, line in enumerate(lines):
        if "short test summary info" in line:
            for rest in lines[number + 1 :]:
                if rest.startswith("=") and rest.endswith("="):
                    break
                summary.append(rest)
    why = summary + [line for line in lines if WHY.match(line) and line not in summary]
    if len(why) > WHY_LINES:
        half = WHY_LINES // 2
        why = [*why[:half], f"... ({len(why) - 2 * half} lines left out)", *why[-half:]]
    return why or ["(no failed test or task found in the log: read it above)"]


def main(lanes: list[str]) -> int:
    if not lanes or any(not part for lane in lanes for part in lane.split("+")):
        sys.exit(__doc__)
    LOGS.mkdir(parents=True, exist_ok=True)
    for old in SCORES.glob("*.txt"):
        old.unlink()
    order = [scenario for lane in lanes for scenario in lane.split("+")]
    results: dict[str, tuple[int, float]] = {}
    running: dict[str, float] = {}
    threads = [Lane(lane.split("+"), results, running) for lane in lanes]
    # The CPU, sampled at every heartbeat: where the suite's time goes on a 2-core machine.
    began, sample = time.monotonic(), cpu_times()
    first = sample
    # Every lane starts at once: molecule's prerun (an install of this tree into a collections
    # path, which made two starting together collide) is off (.config/molecule/config.yml).
    for thread in threads:
        thread.start()
    with (LOGS / "cpu.log").open("w") as cpu_log:
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=HEARTBEAT / len(threads))
            now, last, sample = time.monotonic(), sample, cpu_times()
            load = Path("/proc/loadavg").read_text().split()[0]
            busy = ", ".join(f"{s} ({minutes(now - t)})" for s, t in sorted(running.items()))
            line = f"{minutes(now - began)} cpu {busy_percent(last, sample)}% busy, load {load}: {busy or '-'}"
            cpu_log.write(line + "\n")
            cpu_log.flush()
            if running:
                print(f"... still running: {busy} (cpu {busy_percent(last, sample)}% busy, load {load})", flush=True)
    cpu_summary = f"cpu {busy_percent(first, cpu_times())}% busy over {minutes(time.monotonic() - began)}"
    for scenario in order:
        log = log_path(scenario)
        if log.exists() and scenario in results:
            print(f"\n==> log of {title(scenario)}\n", flush=True)
            sys.stdout.write(log.read_text(errors="replace"))
    print("\n==> lanes")
    for scenario in order:
        code, took = results.get(scenario, (None, 0.0))
        state = "not run (its lane stopped)" if code is None else ("passed" if code == 0 else f"FAILED (exit {code})")
        print(f"  {scenario:10} {state:28} {minutes(took) if code is not None else ''}")
    print(f"  ({cpu_summary}; at every heartbeat: .cache/logs/cpu.log)")
    for scenario in order:
        code, _ = results.get(scenario, (0, 0.0))
        if code:
            print(f"\n==> why {scenario} failed (from its log above)")
            for line in why_failed(log_path(scenario).read_text(errors="replace")):
                print(f"  {line}")
    scores = sorted(SCORES.glob("*.txt"))
    if scores:
        print("\n==> scores")
        for score in scores:
            print(f"  {score.read_text().strip()}")
    return 0 if len(results) == len(order) and all(code == 0 for code, _ in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
