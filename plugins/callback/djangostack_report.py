"""Callback plugin: a machine-readable report of what a run changed, per host and role.

Enabled with ANSIBLE_CALLBACKS_ENABLED=djangostack_report. When DJANGOSTACK_REPORT_DIR
is set, each playbook run writes `<dir>/check.json` (run in check mode) or
`<dir>/apply.json` (a real run), replacing the previous report of that kind:

    {"check_mode": true, "finished": 1732460000.0,
     "hosts": {"web1": {"changed": [{"role": "ssh", "task": "...", "diff": true}],
                        "failed": [], "unreachable": false, "ok": 12}}}

The molecule suite reads check.json to prove that a converged host reports zero
changes under --check; drift detection reads it to say what drifted.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: djangostack_report
    type: aggregate
    short_description: JSON report of changed and failed tasks per host and role
    description:
      - Writes check.json or apply.json into the directory named by DJANGOSTACK_REPORT_DIR.
    requirements:
      - enable in the configuration (callbacks_enabled)
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "djangostack_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self._hosts: dict[str, dict] = {}
        self._check_mode = False

    def _host(self, name: str) -> dict:
        return self._hosts.setdefault(name, {"changed": [], "failed": [], "unreachable": False, "ok": 0})

    @staticmethod
    def _entry(result) -> dict:
        task = result._task
        role = task._role.get_name() if task._role else None
        return {
            "role": role,
            "task": task.get_name(),
            "action": task.action,
            "diff": bool(result._result.get("diff")),
        }

    def v2_playbook_on_start(self, playbook) -> None:
        from ansible import context

        self._check_mode = bool(context.CLIARGS.get("check", False))

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
        report = {"check_mode": self._check_mode, "finished": time.time(), "hosts": self._hosts}
        target = path / ("check.json" if self._check_mode else "apply.json")
        tmp = target.with_suffix(".tmp")
        tmp.write_text(json.dumps(report, indent=2, sort_keys=True))
        tmp.replace(target)
