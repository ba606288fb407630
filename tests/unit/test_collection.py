"""The repository builds as a Galaxy collection (djangostack.stack)."""

from __future__ import annotations

import subprocess
import tarfile

from conftest import ROOT


def test_collection_builds_with_roles_and_playbooks(tmp_path):
    result = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    (archive,) = tmp_path.glob("djangostack-stack-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    for role in ("common", "ssh", "firewall"):
        assert f"roles/{role}/tasks/main.yml" in names
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert "playbooks/base.yml" in names
    assert "plugins/callback/report.py" in names
    assert not any(n.startswith((".venv", "molecule/", "inventories/")) for n in names)
