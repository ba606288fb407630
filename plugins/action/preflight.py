# Copyright: djangostack maintainers
# MIT License (see LICENSE)
"""A role's preflight in one task: its argument spec and its cross-field rules, every broken one reported.

One task per role instead of one `assert` per rule (and a validation task per role): the
preflight runs before every converge and deploy, and each task costs a round of the
strategy on every host. Nothing on the host is read or changed (no connection is used).

    - name: Validate the nginx role's inputs and rules
      djangostack.stack.preflight:
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

`wiring` (optional) names the stack's wiring file (group_vars/all/wiring.yml): playbook-adjacent
group_vars outrank the inventory's, so a variable the wiring sets cannot be changed from an
inventory and setting it there silently does nothing. Every top-level key of that file that the
inventory sets for this host (its inline host and group vars, and the group_vars/host_vars next
to its sources) is reported, with the inputs the wiring derives it from (what to set instead).
Extra vars (-e) are not the inventory and are not reported.

    - name: The inventory sets no variable of the stack's wiring
      djangostack.stack.preflight:
        spec: false
        wiring: "{{ playbook_dir }}/group_vars/all/wiring.yml"
"""

from __future__ import annotations

from collections import ChainMap
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.nodes
import yaml
from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase
from ansible.vars.plugins import get_vars_from_inventory_sources

RULE_KEYS = {"name", "that", "msg", "when", "loop"}
OPTIONS = {"spec", "rules", "wiring"}

# Names in a wiring expression that no inventory sets as an input: Ansible's magic variables
# (and every ansible_* name), Jinja's and Ansible's global functions.
MAGIC_NAMES = frozenset(
    {
        "hostvars",
        "groups",
        "group_names",
        "inventory_hostname",
        "inventory_hostname_short",
        "inventory_dir",
        "inventory_file",
        "play_hosts",
        "playbook_dir",
        "role_name",
        "role_names",
        "role_path",
        "omit",
        "item",
        "environment",
        "vars",
        "lookup",
        "query",
        "q",
        "now",
        "undef",
        "finalize",
        "range",
        "dict",
        "lipsum",
        "cycler",
        "joiner",
        "namespace",
    }
)
ROLE_INPUT_LOOKUP = ("djangostack.stack.role_input",)


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [value]


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


class _AnyName(dict):
    """Filters or tests of a parse-only environment: Ansible's and the collection's are not
    loaded, and jinja2.meta compiles the template (which looks each one up)."""

    def get(self, key: Any, default: Any = None) -> Any:
        return super().get(key, _any)


def _any(*args: Any, **kwargs: Any) -> None:
    return None


def _parser() -> jinja2.Environment:
    env = jinja2.Environment()  # noqa: S701 - parses only, renders nothing
    env.filters = _AnyName(env.filters)
    env.tests = _AnyName(env.tests)
    return env


def _const(node: Any, default: Any = None) -> Any:
    return node.value if isinstance(node, jinja2.nodes.Const) else default


def _names(value: Any) -> set[str]:
    """The variables a wiring value reads, and the role inputs it reads via djangostack.stack.role_input.

    `lookup('djangostack.stack.role_input', 'postgresql_port', host=...)` reads postgresql_port (unless
    `inventory=false`: the role's own default only); with `contribution='firewall_rules'` it reads
    each of the host's roles' `<role>_firewall_rules` (which roles: the inventory's groups).
    """
    env = _parser()
    names: set[str] = set()
    for text in _strings(value):
        if "{{" not in text and "{%" not in text:
            continue
        try:
            ast = env.parse(text)
        except jinja2.TemplateSyntaxError:
            continue
        for call in ast.find_all(jinja2.nodes.Call):
            if not (
                isinstance(call.node, jinja2.nodes.Name)
                and call.node.name in ("lookup", "query", "q")
                and call.args
                and _const(call.args[0]) in ROLE_INPUT_LOOKUP
            ):
                continue
            kwargs = {keyword.key: keyword.value for keyword in call.kwargs}
            contribution = _const(kwargs.get("contribution"), "")
            if contribution:
                names.add(f"<role>_{contribution}")
                call.args, call.dyn_args = call.args[:1], None  # the roles: the host's groups decide
            elif _const(kwargs.get("inventory"), True) is not False:
                names.update(term for term in map(_const, call.args[1:]) if isinstance(term, str))
        names |= jinja2.meta.find_undeclared_variables(ast)
    return names


def wiring_inputs(wiring: dict) -> dict[str, list[str]]:
    """For each key of the wiring, the inventory-settable inputs it is derived from, sorted.

    A name the wiring sets itself (its `stack_*` helpers, and the role inputs it wires) is no
    input: it is expanded, recursively, to the inputs it is derived from. Ansible's magic names
    (hostvars, groups, ansible_*, ...) are dropped.
    """
    direct = {key: _names(value) for key, value in wiring.items()}

    def expand(key: str, seen: frozenset) -> set[str]:
        found: set[str] = set()
        for name in direct[key]:
            if name in MAGIC_NAMES or name.startswith("ansible_") or name in seen:
                continue
            found |= expand(name, seen | {name}) if name in wiring else {name}
        return found

    return {key: sorted(expand(key, frozenset({key}))) for key in wiring}


def _shown(path: str) -> str:
    """The wiring file as the repository names it: from its group_vars directory on."""
    parts = Path(path).parts
    return str(Path(*parts[parts.index("group_vars") :])) if "group_vars" in parts else path


def wiring_message(name: str, inputs: list[str], path: str) -> str:
    """Why an inventory's value of a wired variable is refused, and what to set instead."""
    head = f"{name} is set by the stack's wiring ({_shown(path)}) and the inventory's value is ignored"
    if not inputs:
        return f"{head}: remove it from the inventory (it follows from the inventory's hosts and groups)"
    what = inputs[0] if len(inputs) == 1 else ", ".join(inputs[:-1]) + " or " + inputs[-1]
    return f"{head}: remove it from the inventory and set {what} instead"


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
        unknown = set(args) - OPTIONS
        if unknown:
            raise AnsibleError(f"djangostack.stack.preflight: unknown options {sorted(unknown)}")
        rules = args.get("rules", [])
        if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
            raise AnsibleError("djangostack.stack.preflight: rules must be a list of mappings")
        for rule in rules:
            if "that" not in rule or "msg" not in rule or set(rule) - RULE_KEYS:
                raise AnsibleError(
                    f"djangostack.stack.preflight: a rule has that, msg, and optionally name, when, loop: {dict(rule)}"
                )

        errors, wired = [], 0
        if args.get("wiring"):
            wired, errors = self._wiring_errors(str(args["wiring"]), task_vars)
            result["wiring_checked"] = wired
        spec_errors = self._spec_errors(args.get("spec", "main"), task_vars)
        errors.extend(spec_errors)
        checked = 0
        if not spec_errors:
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
            if "wiring_checked" in result:
                result["msg"] += f"; the inventory sets none of the {wired} variables of the wiring"
        return result

    def _wiring_errors(self, path: str, task_vars: dict) -> tuple[int, list[str]]:
        """(number of wired variables, one message per wired variable the inventory sets for this host)."""
        path = self._loader.path_dwim(path)
        try:
            with open(path, encoding="utf-8") as stream:
                wiring = yaml.safe_load(stream) or {}
        except (OSError, yaml.YAMLError) as error:
            raise AnsibleError(f"djangostack.stack.preflight: cannot read the wiring {path}: {error}") from error
        if not isinstance(wiring, dict):
            raise AnsibleError(f"djangostack.stack.preflight: the wiring {path} is not a mapping")
        sources = self._inventory_vars(task_vars)
        # A value equal to the wiring's own expression is the wiring itself (an inventory kept next
        # to this very group_vars directory) or a copy of it: nothing the inventory changes.
        offending = [name for name in wiring if any(name in vars_ and vars_[name] != wiring[name] for vars_ in sources)]
        if not offending:
            return len(wiring), []
        inputs = wiring_inputs(wiring)
        return len(wiring), [wiring_message(name, inputs[name], path) for name in offending]

    def _inventory_vars(self, task_vars: dict) -> list[dict]:
        """The variables the inventory sets for this host, by where it sets them: the inline vars of
        the host and of its groups, and the group_vars/host_vars next to the inventory sources (vars
        plugins, as the variable manager runs them for a task). Play, role and extra vars are not
        the inventory's."""
        manager = self._task.get_variable_manager()
        inventory = getattr(manager, "_inventory", None)
        host = inventory.get_host(task_vars.get("inventory_hostname", "")) if inventory is not None else None
        if host is None:
            raise AnsibleError("djangostack.stack.preflight: wiring needs the play's inventory and host")
        groups = list(host.get_groups())
        all_group = inventory.groups.get("all")
        if all_group is not None and all_group not in groups:
            groups.append(all_group)
        # With run_vars_plugins = start the inventory manager has already merged the vars plugins'
        # into the host's and groups' own vars; on demand (the default) they are read here, at
        # stage 'task', as the variable manager reads them for every task.
        loader = getattr(manager, "_loader", None) or self._loader
        entities = [*groups, host]
        return [
            *(entity.get_vars() for entity in entities),
            *(get_vars_from_inventory_sources(loader, inventory._sources, [entity], "task") for entity in entities),
        ]

    def _spec_errors(self, entry_point: Any, task_vars: dict) -> list[str]:
        """Errors of the role's argument spec, the role's variables as the role will see them."""
        if entry_point in (False, None, ""):
            return []
        role = getattr(self._task, "_role", None)
        if role is None:
            raise AnsibleError("djangostack.stack.preflight: spec needs the task to run inside a role (or spec: false)")
        if entry_point == "main" and role._from_files.get("tasks", "main") == "main":
            # Entered by its main entry point: ansible validated that spec itself, one task earlier.
            return []
        specs = role._get_role_argspecs()
        if entry_point not in specs:
            raise AnsibleError(
                f"djangostack.stack.preflight: role {role.get_name()} has no argument spec entry point {entry_point!r}"
            )
        options = specs[entry_point].get("options", {})
        provided = self._templar.template({name: task_vars[name] for name in options if name in task_vars})
        validated = ArgumentSpecValidator(options).validate(provided, validate_role_argument_spec=True)
        # The role's own name, as its inputs are prefixed ("nginx: argument 'nginx_server_names' ..."), not its FQCN.
        return [f"{role.get_name(include_role_fqcn=False)}: {message}" for message in validated.error_messages]

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
