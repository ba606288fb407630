# Copyright: djangostack maintainers
# MIT License (see LICENSE)
"""The documentation of djangostack.stack.preflight: the task runs entirely on the controller, as the
action plugin plugins/action/preflight.py (no module is sent to a host; this file only documents it)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: preflight
short_description: Check a role's inputs against its argument spec and its cross-field rules, all at once
description:
  - Validates the host's variables against an entry point of the calling role's C(meta/argument_specs.yml),
    then evaluates the role's cross-field rules, and reports every broken one in a single failure instead of
    stopping at the first.
  - Optionally reports the variables of the stack's wiring file that the inventory sets for the host (they
    would be silently overridden by the playbook-adjacent C(group_vars)), with the inputs to set instead.
  - Runs entirely on the controller; nothing on the host is read or changed and no connection is used.
options:
  spec:
    description:
      - The entry point of the role's C(meta/argument_specs.yml) to validate, or V(false) for none.
      - Inside a role entered by its main entry point, ansible-core has validated C(main) already and only the
        rules are evaluated.
    type: raw
    default: main
  rules:
    description:
      - The rules, evaluated in order after the argument spec passed.
      - A rule whose expression fails to evaluate is reported as broken, with the error.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: What the rule checks.
        type: str
      that:
        description: A conditional or a list of conditionals, all of which must hold.
        type: raw
        required: true
      msg:
        description: The message when the rule breaks (templated only then); it names the variable.
        type: str
        required: true
      when:
        description: The rule applies only when this conditional holds.
        type: raw
      loop:
        description: A list, or a template giving one; O(rules[].that) and O(rules[].msg) see each element as C(item).
        type: raw
  wiring:
    description:
      - The path of the stack's wiring file (C(group_vars/all/wiring.yml) next to the playbooks).
      - Every top-level variable of that file that the inventory sets for this host is reported.
    type: path
attributes:
  check_mode:
    support: full
    description: Nothing is changed; the checks run the same in check mode.
  diff_mode:
    support: none
    description: Nothing is changed, there is no diff.
  platform:
    support: full
    platforms: all
    description: The task runs on the controller.
author:
  - djangostack maintainers (!UNKNOWN)
"""

EXAMPLES = r"""
- name: Validate the nginx role's inputs and rules
  djangostack.stack.preflight:
    rules:
      - that: nginx_server_names | length > 0
        msg: "nginx_server_names: host names only (got {{ nginx_server_names }})"
      - loop: "{{ [nginx_static_url, nginx_media_url] }}"
        that: item is match('^/.*/$')
        msg: "nginx: {{ item }} must start and end with '/'"

- name: The inventory sets no variable of the stack's wiring
  djangostack.stack.preflight:
    spec: false
    wiring: "{{ playbook_dir }}/group_vars/all/wiring.yml"
"""

RETURN = r"""
rules_checked:
  description: How many rule checks ran (a rule with a loop counts once per element).
  returned: always
  type: int
  sample: 12
wiring_checked:
  description: How many variables of the wiring file were checked.
  returned: when O(wiring) is set
  type: int
  sample: 40
broken:
  description: Every broken rule's message, when more than one broke.
  returned: when more than one check failed
  type: list
  elements: str
  sample: ["nginx: static must start and end with '/'"]
msg:
  description: What passed, or the broken checks' messages one per line.
  returned: always
  type: str
  sample: argument spec and 12 rule checks passed
"""
