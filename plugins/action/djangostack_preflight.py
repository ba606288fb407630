# Copyright: djangostack maintainers
# MIT License (see LICENSE)
"""A role's preflight in one task: its argument spec and its cross-field rules, every broken one reported.

One task per role instead of one `assert` per rule (and a validation task per role): the
preflight runs before every converge and deploy, and each task costs a round of the
strategy on every host. Nothing on the host is read or changed (no connection is used).

    - name: Validate the nginx role's inputs and rules
      djangostack_preflight:
        rules:
          - that: nginx_server_names | length > 0
            msg: "nginx_server_names: host names only (got {{ nginx_server_names }})"
          - when: nginx_tls_source == 'acme'
            that: [nginx_acme_email is match('^[^@]+@[^@]+$')]
            msg: "nginx_acme_email: ..."
          - loop: "{{ [nginx_static_url, nginx_media_url] }}"
            that: item is match('^/.*/$')
            msg: "nginx: {{ item }} must start and end with '/'"

`spec` names the entry point of the role's meta/argument_specs.yml to validate (`main` unless
said; `false` for none); the rules are evaluated after it passes (they assume its types). Inside
a role entered by its main entry point (tasks/main.yml imports its preflight), ansible has just
validated `main` itself, so only the rules run.

A rule holds `name` (what it checks), `that` (a conditional or a list, all must hold) and `msg`
(templated only when the rule breaks; it names the variable), and optionally `when` (the rule
applies only then) and `loop` (a list, or a template giving one: `that` and `msg` see each
element as `item`). A rule whose expression fails to evaluate is reported as broken, with the
error.
"""

from __future__ import annotations

from collections import ChainMap
from typing import Any

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

RULE_KEYS = {"name", "that", "msg", "when", "loop"}


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True
    _supports_async = False

    @classmethod
    def finalize_task_arg(cls, name: str, value: Any, templar: Any, context: Any) -> Any:
        # The rules are templated here, one at a time and lazily (a message only when its rule
        # breaks, with `item` bound for a loop), not all up front by the executor.
        if name == "rules":
            return value
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        args = self._task.args
        unknown = set(args) - {"spec", "rules"}
        if unknown:
            raise AnsibleError(f"djangostack_preflight: unknown options {sorted(unknown)}")
        rules = args.get("rules", [])
        if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
            raise AnsibleError("djangostack_preflight: rules must be a list of mappings")
        for rule in rules:
            if "that" not in rule or "msg" not in rule or set(rule) - RULE_KEYS:
                raise AnsibleError(
                    f"djangostack_preflight: a rule has that, msg, and optionally name, when, loop: {dict(rule)}"
                )

        errors = self._spec_errors(args.get("spec", "main"), task_vars)
        checked = 0
        if not errors:
            for rule in rules:
                broken, count = self._broken(rule)
                errors.extend(broken)
                checked += count
        result["changed"] = False
        result["rules_checked"] = checked
        if errors:
            result["failed"] = True
            result["msg"] = "\n".join(errors)
            if len(errors) > 1:
                result["broken"] = errors
        else:
            result["msg"] = f"argument spec and {checked} rule checks passed"
        return result

    def _spec_errors(self, entry_point: Any, task_vars: dict) -> list[str]:
        """Errors of the role's argument spec, the role's variables as the role will see them."""
        if entry_point in (False, None, ""):
            return []
        role = getattr(self._task, "_role", None)
        if role is None:
            raise AnsibleError("djangostack_preflight: spec needs the task to run inside a role (or spec: false)")
        if entry_point == "main" and role._from_files.get("tasks", "main") == "main":
            # Entered by its main entry point: ansible validated that spec itself, one task earlier.
            return []
        specs = role._get_role_argspecs()
        if entry_point not in specs:
            raise AnsibleError(
                f"djangostack_preflight: role {role.get_name()} has no argument spec entry point {entry_point!r}"
            )
        options = specs[entry_point].get("options", {})
        provided = self._templar.template({name: task_vars[name] for name in options if name in task_vars})
        validated = ArgumentSpecValidator(options).validate(provided, validate_role_argument_spec=True)
        return [f"{role.get_name()}: {message}" for message in validated.error_messages]

    def _holds(self, templar: Any, conditions: Any) -> bool:
        return all(templar.evaluate_conditional(condition) for condition in _as_list(conditions))

    def _broken(self, rule: dict) -> tuple[list[str], int]:
        """(messages of the broken checks, number of checks) of one rule."""
        templar = self._templar
        try:
            if "when" in rule and not self._holds(templar, rule["when"]):
                return [], 0
            items = [None]
            if "loop" in rule:
                items = templar.template(rule["loop"])
                if not isinstance(items, list):
                    return [f"{self._message(templar, rule)} (its loop is not a list: {items!r})"], 1
        except Exception as error:  # a rule that cannot be evaluated is a broken rule
            return [f"{self._message(templar, rule)} (could not evaluate: {error})"], 1
        broken = []
        for item in items:
            local = templar
            if "loop" in rule:
                local = templar.copy_with_new_env(
                    available_variables=ChainMap({"item": item}, templar.available_variables)
                )
            try:
                holds = self._holds(local, rule["that"])
                error = ""
            except Exception as exc:  # reported as broken, with the reason
                holds, error = False, f" (could not evaluate: {exc})"
            if not holds:
                broken.append(self._message(local, rule) + error)
        return broken, len(items)

    @staticmethod
    def _message(templar: Any, rule: dict) -> str:
        try:
            return str(templar.template(rule["msg"]))
        except Exception:  # the raw message still names the variable
            return str(rule["msg"])
