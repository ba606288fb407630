#!/usr/bin/env python3
"""Drift report for djangostack: what differs between an inventory's hosts and the desired state.

Runs the whole stack (playbooks/drift.yml: site.yml behind a guard) with --check --diff, so
nothing is changed, and reports per host and per role which tasks would change
something. Ansible's own output, diffs included, streams through unchanged; a short
summary follows it, and the report is written as JSON (by default to
.cache/drift/<inventory directory name>.json in the repository, replaced atomically).

    drift.py -i inventories/production
    drift.py -i inventories/production --limit web1 --json /srv/reports/drift.json
    drift.py -i inventories/staging -- --vault-password-file ~/.vault-staging
    drift.py -i inventories/production --playbook djangostack.stack.drift   (the installed collection's)
    drift.py -i inventories/production --navigator   (in the execution environment, ansible-navigator.yml)

Arguments after `--` go to ansible-playbook unchanged. `make drift
INVENTORY=inventories/production [LIMIT=web1]` runs this.

With --navigator the run happens in the execution environment of ansible-navigator.yml
(`ansible-navigator run djangostack.stack.drift --mode stdout --ee true -i ... --check --diff`,
the image's installed collection): no ansible.cfg of this tree and no environment of this
process reach it, the settings file enables the report callback by its collection name and
points DJANGOSTACK_REPORT_DIR into this repository (mounted at its own path, the run's working
directory), where this reads check.json (.cache/reports/navigator; one such run at a time).
Arguments after `--` go to ansible-navigator, which passes what it does not know to
ansible-playbook.

Exit status:
    0  in sync: every host checked, nothing would change
    1  drifted: at least one task would change something, and nothing failed
    2  error: ansible-playbook exited non-zero, a task failed, a host was
       unreachable, no host was checked, or the run left no report
       (check.json of the djangostack.stack.report callback); also for bad arguments
  130  interrupted (Ctrl-C): no report is written

The JSON report:
    {"inventory": "inventories/production", "limit": null, "generated": "2026-11-25T07:00:00Z",
     "ansible_rc": 0, "status": "in-sync" | "drifted" | "error", "errors": ["why status is error", ...],
     "in_sync": ["db1", "web2"],
     "drifted": {"web1": {"ssh": [{"task": "...", "action": "...", "play": "...", "diff_text": "..."}]}},
     "failed": {"web1": [{"role": "ssh", "task": "...", "msg": "..."}]},
     "unreachable": ["db2"]}
A task of a play itself (no role) is listed under "(play)". Diff texts come from the
djangostack.stack.report callback: without colours, at most 20000 characters, and
"(no_log: hidden)" for no_log tasks. The file may hold configuration excerpts: it is
created readable by its owner only.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOK = ROOT / "playbooks" / "drift.yml"
CALLBACK = "djangostack.stack.report"
COLLECTIONS_PATH = f"{ROOT / 'collections'}:~/.ansible/collections:/usr/share/ansible/collections"
# playbooks/drift.yml's first play (on localhost) only checks --check/--diff: a host that ran
# nothing else is not one of the inventory's hosts, it is left out of the report.
GUARD_PLAY = "Drift report - refuse to run without --check --diff"
# --navigator: the playbook of the image's collection, and where ansible-navigator.yml has the report
# callback write (DJANGOSTACK_REPORT_DIR, relative to the repository: the run's working directory).
NAVIGATOR_PLAYBOOK = "djangostack.stack.drift"
NAVIGATOR_REPORT_DIR = ".cache/reports/navigator"
NO_ROLE = "(play)"
EXIT_IN_SYNC, EXIT_DRIFTED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_report(
    check: dict | None,
    *,
    inventory: str,
    limit: str | None = None,
    ansible_rc: int = 0,
    generated: str | None = None,
    ignore_plays: tuple[str, ...] = (GUARD_PLAY,),
) -> dict:
    """The drift report of a check-mode run, from the callback's check.json (None: there was none)."""
    errors: list[str] = []
    if ansible_rc != 0:
        errors.append(f"ansible-playbook exited {ansible_rc}")
    if check is None:
        errors.append(
            "the run left no check.json (djangostack.stack.report callback not loaded, or ansible stopped early)"
        )
    elif not check.get("check_mode"):
        errors.append("the run was not in check mode")

    hosts = {
        name: data
        for name, data in ((check or {}).get("hosts") or {}).items()
        if not (data.get("plays") and set(data["plays"]) <= set(ignore_plays))
    }
    drifted: dict[str, dict[str, list[dict]]] = {}
    failed: dict[str, list[dict]] = {}
    unreachable: list[str] = []
    in_sync: list[str] = []
    for name in sorted(hosts):
        data = hosts[name]
        for entry in data.get("changed") or []:
            role = entry.get("role") or NO_ROLE
            drifted.setdefault(name, {}).setdefault(role, []).append(
                {
                    "task": entry.get("task"),
                    "action": entry.get("action"),
                    "play": entry.get("play"),
                    "diff_text": entry.get("diff_text", ""),
                }
            )
        for entry in data.get("failed") or []:
            failed.setdefault(name, []).append(
                {"role": entry.get("role") or NO_ROLE, "task": entry.get("task"), "msg": entry.get("msg", "")}
            )
        if data.get("unreachable"):
            unreachable.append(name)
        if name not in drifted and name not in failed and not data.get("unreachable"):
            in_sync.append(name)

    if failed:
        errors.append(f"tasks failed on {len(failed)} host(s)")
    if unreachable:
        errors.append(f"{len(unreachable)} host(s) unreachable")
    if not hosts and check is not None:
        errors.append("no host was checked")
    status = "error" if errors else "drifted" if drifted else "in-sync"
    return {
        "inventory": inventory,
        "limit": limit,
        "generated": generated or utc_now(),
        "ansible_rc": ansible_rc,
        "ansible_core": (check or {}).get("ansible_core"),
        "status": status,
        "errors": errors,
        "in_sync": in_sync,
        "drifted": drifted,
        "failed": failed,
        "unreachable": unreachable,
    }


def exit_code(report: dict) -> int:
    return {"in-sync": EXIT_IN_SYNC, "drifted": EXIT_DRIFTED}.get(report["status"], EXIT_ERROR)


def _hosts(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def _one_line(text: str, width: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= width else line[: width - 3] + "..."


def render_summary(report: dict, json_path: str | None = None) -> str:
    """The few lines printed after ansible's output."""
    head = f"DRIFT REPORT  inventory: {report['inventory']}"
    if report.get("limit"):
        head += f"   limit: {report['limit']}"
    lines = [f"{head}   {report['generated']}"]
    in_sync = report["in_sync"]
    lines.append(f"in sync: {_hosts(len(in_sync))} ({', '.join(in_sync)})" if in_sync else "in sync: none")
    drifted = report["drifted"]
    lines.append(f"drifted: {_hosts(len(drifted))}" if drifted else "drifted: none")
    for host in sorted(drifted):
        lines.append(f"  {host}")
        for role, entries in drifted[host].items():
            lines.append(f"    {role}")
            # Ansible names a role's task "<role> : <name>": the role is the heading already.
            lines.extend(f"      {str(e['task']).removeprefix(f'{role} : ')}" for e in entries)
    failed = report["failed"]
    unreachable = report["unreachable"]
    unreachable_text = f"{_hosts(len(unreachable))} ({', '.join(unreachable)})" if unreachable else "none"
    if failed:
        lines.append(f"failed: {_hosts(len(failed))}")
        for host in sorted(failed):
            lines.append(f"  {host}")
            for entry in failed[host]:
                lines.append(f"    {entry['role']}: {entry['task']}: {_one_line(entry['msg'])}")
        lines.append(f"unreachable: {unreachable_text}")
    else:
        lines.append(f"failed: none    unreachable: {unreachable_text}")
    status = report["status"]
    if report.get("errors"):
        status += f" ({'; '.join(report['errors'])})"
    lines.append(f"status: {status}")
    if json_path:
        lines.append(f"JSON: {json_path}")
    return "\n".join(lines) + "\n"


def inventory_name(inventory: str) -> str:
    """The name of the default JSON file: the inventory's directory (inventories/production -> production)."""
    path = Path(resolve(inventory))
    if path.is_dir():
        name = path.name
    elif path.is_file():
        name = path.parent.name
    else:
        name = inventory
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_.") or "inventory"


def resolve(path: str) -> str:
    """An existing path made absolute (ansible runs in the repository): relative to the caller's directory
    first, then to the repository. Anything else (a host list such as `web1,web2,`) as it is."""
    for candidate in (Path(path), ROOT / path):
        if candidate.exists():
            return str(candidate.resolve())
    return path


# A playbook of an installed collection, by its name (ansible-playbook finds it on the collections path).
PLAYBOOK_FQCN = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def playbook_arg(playbook: str) -> str:
    """The playbook as ansible-playbook gets it: a collection's playbook name unchanged (the run then
    uses the installed collection, as in an execution environment), else the file's absolute path."""
    if PLAYBOOK_FQCN.match(playbook) and not Path(playbook).exists():
        return playbook
    return str(Path(playbook).resolve())


def ansible_env(report_dir: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if environ is None else environ)
    enabled = [c.strip() for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    if CALLBACK not in enabled:
        enabled.append(CALLBACK)
    env["ANSIBLE_CALLBACKS_ENABLED"] = ",".join(enabled)
    # The collection of this working tree (collections/ links to it) before an installed copy, as in
    # ansible.cfg, also when ANSIBLE_CONFIG names another file. A path that is set is kept (the molecule
    # lab sets one, with this tree first).
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS_PATH)
    env["DJANGOSTACK_REPORT_DIR"] = report_dir
    return env


def write_json(path: Path, report: dict) -> None:
    """Replace `path` atomically: a reader sees the old report or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def display_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(
        prog="drift.py",
        usage="%(prog)s [-h] -i INVENTORY [--limit PATTERN] [--json PATH] [--playbook PATH] [--navigator] "
        "[-- ANSIBLE_ARGS ...]",
        description="Check-mode, diff-mode run of the whole stack against an inventory: changes nothing, "
        "reports per host and role what differs from the desired state.",
        epilog="Arguments after -- are passed to ansible-playbook. Exit status: 0 in sync; 1 drifted (and "
        "nothing failed); 2 error (ansible-playbook exited non-zero, a task failed, a host was unreachable, "
        "no host was checked, or no check.json; also bad arguments); 130 interrupted.",
    )
    parser.add_argument("-i", "--inventory", required=True, help="inventory (directory, file or host list)")
    parser.add_argument("--limit", metavar="PATTERN", help="host pattern, as ansible-playbook --limit")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="where to write the JSON report (default: <repo>/.cache/drift/<inventory name>.json)",
    )
    parser.add_argument(
        "--playbook",
        metavar="PATH|FQCN",
        help="playbook to run: a file, or an installed collection's playbook by name (djangostack.stack.drift; "
        f"default: <repo>/playbooks/drift.yml, with --navigator {NAVIGATOR_PLAYBOOK})",
    )
    parser.add_argument(
        "--navigator",
        action="store_true",
        help="run with ansible-navigator in the execution environment of ansible-navigator.yml",
    )
    args = parser.parse_args(argv)
    if args.playbook is None:
        args.playbook = NAVIGATOR_PLAYBOOK if args.navigator else str(PLAYBOOK)
    return args, extra


def build_command(args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The command line of the check-mode run: ansible-playbook, or ansible-navigator with --navigator."""
    if args.navigator:
        cmd = ["ansible-navigator", "run", playbook_arg(args.playbook), "--mode", "stdout", "--ee", "true"]
        cmd += ["-i", resolve(args.inventory), "--check", "--diff"]
    else:
        cmd = ["ansible-playbook", "-i", resolve(args.inventory), playbook_arg(args.playbook), "--check", "--diff"]
    if args.limit:
        cmd += ["--limit", args.limit]
    return cmd + extra


def report_directory(navigator: bool) -> contextlib.AbstractContextManager[str]:
    """Where the run's report callback writes check.json: a temporary directory, or with --navigator the
    one ansible-navigator.yml names in the repository (emptied of a previous run's check.json first)."""
    if not navigator:
        return tempfile.TemporaryDirectory(prefix="djangostack-drift-")
    directory = ROOT / NAVIGATOR_REPORT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "check.json").unlink(missing_ok=True)
    return contextlib.nullcontext(str(directory))


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(sys.argv[1:] if argv is None else argv)
    json_path = (args.json or ROOT / ".cache" / "drift" / f"{inventory_name(args.inventory)}.json").resolve()
    cmd = build_command(args, extra)

    with report_directory(args.navigator) as report_dir:
        # ansible-navigator's own environment does not reach the execution environment: its settings do.
        env = dict(os.environ) if args.navigator else ansible_env(report_dir)
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
        except FileNotFoundError:
            print(f"drift.py: {cmd[0]} is not on PATH (make venv; put .venv/bin first)", file=sys.stderr)
            return EXIT_ERROR
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            proc.wait()
            print("\ndrift.py: interrupted, no report written", file=sys.stderr)
            return EXIT_INTERRUPTED
        check_file = Path(report_dir) / "check.json"
        try:
            check = json.loads(check_file.read_text())
        except (OSError, ValueError):
            check = None

    report = build_report(check, inventory=args.inventory, limit=args.limit, ansible_rc=rc)
    write_json(json_path, report)
    sys.stdout.flush()
    print("\n" + render_summary(report, display_path(json_path)), end="", flush=True)
    return exit_code(report)


if __name__ == "__main__":
    sys.exit(main())
