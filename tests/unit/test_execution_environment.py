"""execution-environment.yml: the image ansible-navigator.yml runs the playbooks in.

`ansible-builder create` turns it into a build context (no image is built here: that needs a
registry). The context must install what this tree is tested with: ansible-core and Mitogen at the
pins of requirements-dev.txt, the collections of requirements.yml, the controller's system
packages, and the collection itself from the archive `make ee` builds.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT

EE_FILE = ROOT / "execution-environment.yml"


def pins(path) -> dict[str, str]:
    """name -> version of the `name==version` lines of a pip requirements file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s#;]+)", line.strip())
        if match:
            found[match[1].split("[")[0].lower()] = match[2]
    return found


DEV_PINS = pins(ROOT / "requirements-dev.txt")


def definition() -> dict:
    return yaml.safe_load(EE_FILE.read_text())


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The build context of execution-environment.yml, made by ansible-builder from a copy of the files it
    reads (the collection's archive is a stand-in: builder only copies it)."""
    assert shutil.which("ansible-builder"), "ansible-builder is not on PATH (requirements-dev.txt pins it)"
    project = tmp_path_factory.mktemp("ee-project")
    shutil.copy(EE_FILE, project / EE_FILE.name)
    shutil.copy(ROOT / "requirements.yml", project / "requirements.yml")
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    archives = project / ".cache" / "ee" / "collection"
    archives.mkdir(parents=True)
    (archives / f"djangostack-stack-{version}.tar.gz").write_bytes(b"stand-in")
    out = project / "context"
    result = subprocess.run(
        [
            "ansible-builder",
            "create",
            "--file",
            str(project / EE_FILE.name),
            "--context",
            str(out),
            "--output-filename",
            "Containerfile",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


def test_the_definition_is_schema_version_3_on_an_rpm_base():
    ee = definition()
    assert ee["version"] == 3
    # ansible-builder installs the system packages with dnf/microdnf.
    assert ee["images"]["base_image"]["name"].startswith("quay.io/centos/centos:stream")


def test_the_python_pins_are_requirements_dev_txts():
    dependencies = definition()["dependencies"]
    assert dependencies["ansible_core"]["package_pip"] == f"ansible-core=={DEV_PINS['ansible-core']}"
    assert dependencies["python"] == [f"mitogen=={DEV_PINS['mitogen']}"]
    # The collections are requirements.yml's, the file itself.
    assert dependencies["galaxy"] == "requirements.yml"


def test_the_containerfile_installs_ansible_core_and_runner_at_their_pins(context):
    containerfile = (context / "Containerfile").read_text()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"$', containerfile, re.M)
    assert refs, containerfile
    installed = dict(ref.split("==") for ref in refs[1].split())
    assert installed["ansible-core"] == DEV_PINS["ansible-core"]
    assert "ansible-runner" in installed  # what ansible-navigator runs the playbooks with


def test_the_context_holds_mitogen_the_runtime_collections_and_the_system_packages(context):
    assert f"mitogen=={DEV_PINS['mitogen']}" in (context / "_build" / "requirements.txt").read_text().split()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert galaxy == yaml.safe_load((ROOT / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} == {"ansible.posix", "community.crypto", "community.postgresql"}
    bindep = (context / "_build" / "bindep.txt").read_text()
    assert "openssh-clients [platform:rpm]" in bindep  # ssh to every host
    assert "python3-pip [platform:rpm]" in bindep  # the django role's wheelhouse, built on the controller


def test_the_image_installs_this_collection_from_its_archive(context):
    containerfile = (context / "Containerfile").read_text()
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    assert (context / "_build" / "collection" / f"djangostack-stack-{version}.tar.gz").is_file()
    galaxy_stage = containerfile.split("FROM base AS galaxy")[1].split("FROM base AS builder")[0]
    assert "ansible-galaxy collection install --no-deps --offline -p /usr/share/ansible/collections" in galaxy_stage
    assert "/build/collection/djangostack-stack-*.tar.gz" in galaxy_stage


def test_the_archive_leaves_the_execution_environment_files_out():
    build_ignore = set(yaml.safe_load((ROOT / "galaxy.yml").read_text())["build_ignore"])
    assert {"execution-environment.yml", "ansible-navigator.yml"} <= build_ignore
