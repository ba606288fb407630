"""The shared molecule config: molecule hands verifier options to a shell command line as they
are, so a value that is not a string or a boolean crashes the verify step (shlex.join)."""

from __future__ import annotations

import pytest
import yaml
from conftest import ROOT

SHARED = ROOT / ".config" / "molecule" / "config.yml"
SCENARIOS = sorted(ROOT.glob("molecule/*/molecule.yml"))


@pytest.mark.parametrize("path", [SHARED, *SCENARIOS], ids=lambda p: str(p.relative_to(ROOT)))
def test_verifier_options_are_strings_or_flags(path):
    options = (yaml.safe_load(path.read_text()).get("verifier") or {}).get("options") or {}
    bad = {key: value for key, value in options.items() if not isinstance(value, (str, bool))}
    assert not bad, f"{path}: verifier options must be strings or booleans: {bad}"
