"""The value a role input has for a host, where that role is not loaded.

The wiring (group_vars/all/wiring.yml) reads some inputs of roles that do not run in
the current play, or on the current host: the database's port on an app host, the
app's account names on the db host. Restating the role's default there would let
the two disagree the day the default changes. This lookup answers with the
inventory's value when there is one, else with the role's own default from its
``defaults/main.yml`` (rendered as the role would render it: with the host's
variables and the role's other defaults), so the role stays the one source.
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: role_input
short_description: A role input's value for a host, from the inventory or the role's own default
description:
  - Returns, for each term (a role input such as C(postgresql_port)), the value the inventory
    gives it (on O(host) if set, else on the current host), or the default in the owning role's
    C(defaults/main.yml), rendered with the current host's variables.
  - The owning role is the longest role name that prefixes the input (C(backup_source_) before C(backup_)).
options:
  _terms:
    description: Role input names.
    required: true
  host:
    description: Inventory host whose value is wanted (its inventory variables); empty for the current host.
    type: str
    default: ""
  inventory:
    description: Whether the inventory's value counts; false returns the role's own default only.
    type: bool
    default: true
  contribution:
    description:
      - Read the terms as role names and return, for each role that declares it, the value of
        C(<role>_<contribution>) (for example C(firewall_rules)), what the role contributes to another
        role. Roles that declare none are left out.
    type: str
    default: ""
"""

from collections import ChainMap
from functools import cache
from pathlib import Path

import yaml
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:  # ansible-core >= 2.19: strings read from a file are not templates until trusted
    from ansible.template import trust_as_template
except ImportError:  # pragma: no cover - older ansible-core trusts every string

    def trust_as_template(value):
        return value


ROLES = Path(__file__).resolve().parents[2] / "roles"


@cache
def role_defaults(role: str) -> dict:
    path = ROLES / role / "defaults" / "main.yml"
    return yaml.safe_load(path.read_text()) or {}


@cache
def role_vars(role: str) -> dict:
    path = ROLES / role / "vars" / "main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


@cache
def role_context(role: str) -> dict:
    """The role's defaults and internal vars, as templates (what fills in for the inventory)."""
    return {key: _trusted(value) for key, value in {**role_defaults(role), **role_vars(role)}.items()}


@cache
def _roles(roles_dir: Path) -> list[str]:
    return sorted(
        (p.name for p in roles_dir.iterdir() if (p / "defaults" / "main.yml").is_file()), key=len, reverse=True
    )


def owner(name: str, roles_dir: Path = ROLES) -> str:
    """The role whose input ``name`` is: the longest role name followed by ``_`` that prefixes it."""
    for role in _roles(roles_dir):
        if name.startswith(role + "_"):
            return role
    raise AnsibleLookupError(
        f"djangostack.stack.role_input: no role owns '{name}' (inputs are prefixed with their role's name)"
    )


def _trusted(value):
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    return value


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        host = self.get_option("host")
        variables = variables or {}
        source = variables
        if host:
            hostvars = variables.get("hostvars") or {}
            if host not in hostvars:
                raise AnsibleLookupError(f"djangostack.stack.role_input: no inventory host '{host}'")
            source = hostvars[host]
        contribution = self.get_option("contribution")
        if contribution:
            terms = [f"{role}_{contribution}" for role in terms if f"{role}_{contribution}" in role_defaults(role)]
        values = []
        for name in terms:
            if self.get_option("inventory") and name in source:
                # A variable of the play (a loaded role's default) may still be a template.
                values.append(self._templar.template(source[name]))
                continue
            defaults = role_defaults(owner(name))
            if name not in defaults:
                raise AnsibleLookupError(
                    f"djangostack.stack.role_input: '{name}' is not an input of role {owner(name)}"
                )
            # The role's other defaults and its internal vars fill what the inventory does not
            # set, as when the role runs.
            role = owner(name)
            # Layered, not copied: copying the host's variables would render every one of them.
            context = ChainMap(variables, role_context(role))
            values.append(
                self._templar.copy_with_new_env(available_variables=context).template(_trusted(defaults[name]))
            )
        return values
