"""Build the wheelhouse of one release for one target: runs on the controller.

The pinned requirements as binary wheels for the target's CPython version,
architecture and glibc (never an sdist: servers do not compile), the project's
own wheel, and the requirements file, in one tarball written atomically. The
servers install from it with `pip --no-index`: no PyPI during a deploy.

The requirements file is a lock file (every package, exact versions). Its
environment markers are evaluated here for the target, not for the controller
(pip's --python-version does not apply to markers such as python_full_version),
and pip downloads exactly those pins with --no-deps.

    build_wheelhouse.py --project DIR --requirements FILE --python 3.11.2 \
        --arch x86_64 --glibc 2.36 --output release/cp311-....tar
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

try:
    from packaging.requirements import InvalidRequirement, Requirement
except ImportError:  # pip's copy
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement


def platforms(arch: str, glibc: str) -> list[str]:
    """Every manylinux tag a host with this glibc runs, newest first."""
    major, minor = (int(part) for part in glibc.split("."))
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 16, -1)]
    return [*tags, f"manylinux2014_{arch}"]


def target_pins(requirements: str, python: str, arch: str) -> list[str]:
    """The lock file's requirements that apply to the target, without their markers."""
    environment = {
        "python_version": ".".join(python.split(".")[:2]),
        "python_full_version": python,
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "platform_machine": arch,
        "platform_system": "Linux",
        "sys_platform": "linux",
        "os_name": "posix",
    }
    pins = []
    for number, raw in enumerate(Path(requirements).read_text().splitlines(), 1):
        line = raw.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            sys.exit(f"{requirements}:{number}: not a pinned requirement: {error}")
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            sys.exit(f"{requirements}:{number}: {requirement.name} is not pinned with == (a lock file is required)")
        if requirement.marker is None or requirement.marker.evaluate(environment):
            extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
            pins.append(f"{requirement.name}{extras}{requirement.specifier}")
    return pins


def build(args: argparse.Namespace) -> Path:
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    tag = "".join(args.python.split(".")[:2])
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:
        wheels = Path(tmp) / "wheels"
        download = [*pip, "download", "--quiet", "--only-binary=:all:", "--dest", str(wheels)]
        download += ["--python-version", args.python, "--implementation", "cp", "--abi", f"cp{tag}", "--abi", "abi3"]
        download += ["--abi", "none"]
        for platform in platforms(args.arch, args.glibc):
            download += ["--platform", platform]
        download += ["--platform", "any", "--no-deps"]
        subprocess.run(download + target_pins(args.requirements, args.python, args.arch), check=True)
        subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), args.project], check=True)
        shutil.copyfile(args.requirements, wheels / "requirements.txt")
        partial = output.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            for path in sorted(wheels.iterdir()):
                tar.add(path, arcname=path.name, filter=normalise)
        os.replace(partial, output)
    return output


def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o644
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True, help="project directory (pip builds its wheel)")
    parser.add_argument("--requirements", required=True, help="pinned requirements file")
    parser.add_argument("--python", required=True, help="target CPython version, e.g. 3.11.2")
    parser.add_argument("--arch", required=True, help="target architecture, e.g. x86_64")
    parser.add_argument("--glibc", required=True, help="target glibc version, e.g. 2.36")
    parser.add_argument("--output", required=True, help="tarball to write")
    print(build(parser.parse_args()))


if __name__ == "__main__":
    main()
