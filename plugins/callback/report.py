"""Callback plugin: a machine-readable report of what a run changed, per host and role.

Enabled with ANSIBLE_CALLBACKS_ENABLED=djangostack.stack.report. When DJANGOSTACK_REPORT_DIR
is set, each playbook run writes `<dir>/check.json` (run in check mode) or
`<dir>/apply.json` (a real run), replacing the previous report of that kind:

    {"check_mode": true, "finished": 1732460000.0, "ansible_core": "2.21.5",
     "hosts": {"web1": {"changed": [{"role": "ssh", "task": "...", "action": "ansible.builtin.template",
                                     "play": "Base - ...", "diff": true,
                                     "diff_text": "--- before: /etc/ssh/sshd_config\\n+++ after: ..."}],
                        "failed": [], "unreachable": false, "ok": 12, "plays": ["Preflight - ...", ...]}}}

Each changed (and failed) entry names its role by its own name, not its collection's (null for a
task of the play itself),
task, action and play. `diff_text` is the unified diff of the result, as `--diff`
shows it but without colours, cut to 20000 characters; "" when the result carries no
diff (run with --diff to get one), and "(no_log: hidden)" for a result under no_log:
nothing of such a result is written. A loop's diffs live in its item results: the
entry of a loop task also has `items`, one {"item", "diff_text"} per changed item,
and its `diff_text` is theirs joined. `plays` lists the plays in which the host had a
result (tools/drift.py leaves out hosts that only ran its guard play on localhost).

`ansible_core` is the version of ansible-core that ran (the lanes of the oldest and the newest
supported release tell their runs apart by it).

The molecule suite reads check.json to prove that a converged host reports zero
changes under --check; tools/drift.py (`make drift`) reads it to say what drifted.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: report
    type: aggregate
    short_description: JSON report of changed and failed tasks per host and role
    description:
      - Writes check.json or apply.json into the directory named by DJANGOSTACK_REPORT_DIR.
      - Each changed task carries its play, role and the text of its diff (when run with --diff).
    requirements:
      - enable in the configuration (callbacks_enabled)
"""

import copy
import json
import os
import re
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_core_version

DIFF_LIMIT = 20000
TRUNCATED = "\n... (diff truncated at {limit} characters)\n"
NO_LOG = "(no_log: hidden)"
# _get_diff() colours its lines when ansible's output is coloured: the report must not carry that.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _cut(text: str) -> str:
    """At most DIFF_LIMIT characters, saying so when cut."""
    if len(text) <= DIFF_LIMIT:
        return text
    marker = TRUNCATED.format(limit=DIFF_LIMIT)
    return text[: DIFF_LIMIT - len(marker)] + marker


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "djangostack.stack.report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._hosts: dict[str, dict] = {}
        self._check_mode = False
        self._play: str | None = None

    def _host(self, name: str) -> dict:
        host = self._hosts.setdefault(name, {"changed": [], "failed": [], "unreachable": False, "ok": 0, "plays": []})
        if self._play is not None and self._play not in host["plays"]:
            host["plays"].append(self._play)
        return host

    @staticmethod
    def _no_log(result: dict, task=None) -> bool:
        return bool(result.get("_ansible_no_log")) or (task is not None and task.no_log is True)

    def _diff_text(self, result: dict) -> str:
        """The unified diff of one (non-loop) result, without colours, cut to DIFF_LIMIT."""
        diff = result.get("diff")
        if not diff:
            return ""
        # _get_diff() rewrites before/after in place: work on a copy, other callbacks read the same result.
        return _cut(ANSI_ESCAPE.sub("", self._get_diff(copy.deepcopy(diff))))

    def _entry(self, result) -> dict:
        task = result._task
        data = result._result
        # A role of the collection by its own name ("ssh", "ssh : Install sshd_config"), not its FQCN:
        # the report, tools/drift.py and the lab's tests group by role.
        role = task._role.get_name(include_role_fqcn=False) if task._role else None
        entry = {
            "role": role,
            "task": task.get_name(include_role_fqcn=False),
            "action": task.action,
            "play": self._play,
        }
        if self._no_log(data, task):
            entry.update(diff=False, diff_text=NO_LOG)
            if isinstance(data.get("results"), list):
                entry["items"] = [
                    {"item": "(censored due to no_log)", "diff_text": NO_LOG}
                    for item in data["results"]
                    if isinstance(item, dict) and item.get("changed")
                ]
            return entry
        if isinstance(data.get("results"), list):
            # A loop: the final result has no diff of its own, each item result has its own.
            items = []
            for item in data["results"]:
                if not isinstance(item, dict) or not item.get("changed"):
                    continue
                if self._no_log(item):
                    items.append({"item": "(censored due to no_log)", "diff_text": NO_LOG})
                    continue
                label = item.get("_ansible_item_label", item.get(item.get("ansible_loop_var", "item")))
                items.append(
                    {
                        "item": label if isinstance(label, str) else json.dumps(label, default=str),
                        "diff_text": self._diff_text(item),
                    }
                )
            text = _cut("".join(i["diff_text"] for i in items if i["diff_text"] != NO_LOG))
            entry.update(diff=bool(text), diff_text=text, items=items)
            return entry
        entry.update(diff=bool(data.get("diff")), diff_text=self._diff_text(data))
        return entry

    def v2_playbook_on_start(self, playbook) -> None:
        from ansible import context

        self._check_mode = bool(context.CLIARGS.get("check", False))

    def v2_playbook_on_play_start(self, play) -> None:
        self._play = play.get_name().strip()

    def v2_runner_on_ok(self, result) -> None:
        host = self._host(result._host.get_name())
        host["ok"] += 1
        if result._result.get("changed", False):
            host["changed"].append(self._entry(result))

    def v2_runner_on_failed(self, result, ignore_errors=False) -> None:
        if ignore_errors:
            return
        entry = self._entry(result)
        entry["msg"] = str(result._result.get("msg", ""))[:2000]
        self._host(result._host.get_name())["failed"].append(entry)

    def v2_runner_on_unreachable(self, result) -> None:
        self._host(result._host.get_name())["unreachable"] = True

    def v2_playbook_on_stats(self, stats) -> None:
        directory = os.environ.get("DJANGOSTACK_REPORT_DIR")
        if not directory:
            return
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        report = {
            "check_mode": self._check_mode,
            "finished": time.time(),
            "ansible_core": ansible_core_version,
            "hosts": self._hosts,
        }
        target = path / ("check.json" if self._check_mode else "apply.json")
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True, default=str))
        tmp.replace(target)
