"""Every role's interface: defaults/main.yml and meta/argument_specs.yml agree."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROLES

TYPES = {"str": str, "int": int, "float": (int, float), "bool": bool, "list": list, "dict": dict, "path": str}


def load(path):
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_spec_and_defaults(role):
    assert (role / "meta" / "argument_specs.yml").is_file()
    assert (role / "defaults" / "main.yml").is_file()


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_default_is_specified_and_every_option_has_a_default(role):
    defaults = load(role / "defaults" / "main.yml")
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options), (
        f"only in defaults: {sorted(set(defaults) - set(options))}; "
        f"only in the spec: {sorted(set(options) - set(defaults))}"
    )


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_default_values_match_spec(role):
    defaults = load(role / "defaults" / "main.yml")
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        value = defaults[name]
        if isinstance(value, str) and "{{" in value:
            continue  # derived at run time
        assert isinstance(value, TYPES[spec["type"]]), f"{name}: default {value!r} is not {spec['type']}"
        assert spec.get("default") == value, f"{name}: spec default {spec.get('default')!r} != {value!r}"
        if "choices" in spec:
            assert value in spec["choices"], f"{name}: {value!r} not in {spec['choices']}"
        if spec["type"] == "list" and value:
            elem = TYPES[spec["elements"]]
            assert all(isinstance(v, elem) for v in value), name


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_inputs_are_prefixed_with_the_role_name(role):
    defaults = load(role / "defaults" / "main.yml")
    bad = [k for k in defaults if not k.startswith(f"{role.name}_")]
    assert bad == []


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_internal_vars_are_double_underscore_prefixed(role):
    internal = load(role / "vars" / "main.yml") if (role / "vars" / "main.yml").exists() else {}
    bad = [k for k in internal if not re.match(rf"^__{role.name}_", k)]
    assert bad == []


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_the_preflight_validates_the_main_entry_point_in_one_task(role):
    """One djangostack.stack.preflight task validates entry point main; no second spec to drift from it."""
    specs = load(role / "meta" / "argument_specs.yml")["argument_specs"]
    assert set(specs) == {"main"}
    tasks = load(role / "tasks" / "preflight.yml")
    actions = [next(key for key in task if key not in ("name", "vars")) for task in tasks]
    assert actions == ["djangostack.stack.preflight"]
    assert tasks[0]["djangostack.stack.preflight"].get("spec", "main") == "main"


def spec_gaps(options: dict, prefix: str = "") -> list[str]:
    """Options without a type or description, lists without an element type, lists of dicts
    without the dicts' options (so an unknown or mistyped key fails before any host changes)."""
    gaps = []
    for name, spec in options.items():
        path = prefix + name
        if "type" not in spec or "description" not in spec:
            gaps.append(f"{path}: type and description")
        if spec.get("type") == "list" and "elements" not in spec:
            gaps.append(f"{path}: elements")
        if spec.get("elements") == "dict" and "options" not in spec:
            gaps.append(f"{path}: options of its elements")
        gaps += spec_gaps(spec.get("options", {}), f"{path}.")
    return gaps


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_every_option_is_fully_specified(role):
    options = load(role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert spec_gaps(options) == []


def test_the_completeness_check_finds_a_gap():
    assert spec_gaps({"x": {"type": "list", "elements": "dict", "description": "d"}}) == ["x: options of its elements"]
    assert spec_gaps({"y": {"type": "list", "description": "d"}}) == ["y: elements"]
