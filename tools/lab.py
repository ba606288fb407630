#!/usr/bin/env python3
"""Container lab helper for djangostack: Docker engine, base images, demo lab.

Everything here runs on the controller (a Debian machine, as root) and uses only
Debian packages: docker.io and debootstrap. No container registry is needed: the
base images are built with debootstrap and `docker import`, and reused when present.

    lab.py engine                 install docker.io/debootstrap if missing, start dockerd
    lab.py images [RELEASE ...]   build the systemd base images (bookworm, trixie)
    lab.py image-name RELEASE     print the image tag for a release
    lab.py demo-info              print how to reach the demo lab
"""

from __future__ import annotations

import argparse
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIRROR = os.environ.get("LAB_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Bump when the image recipe below changes: the tag changes and images are rebuilt.
IMAGE_REVISION = "4"
RELEASES = {"bookworm": "12", "trixie": "13"}
# What a freshly installed Debian server has, and what Ansible needs to manage it.
# The lab does not add anything the roles are expected to install themselves.
BASE_PACKAGES = [
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-apt",
    "openssh-server",
    "iproute2",
    "procps",
    "ca-certificates",
    "netbase",
    "less",
]
# First-boot unit, like cloud images have: every container gets its own SSH host keys.
HOSTKEYS_UNIT = """\
[Unit]
Description=Generate SSH host keys on first boot (lab image)
Before=ssh.service
ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


def log(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    res = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return res.returncode == 0


def apt_install(packages: list[str]) -> None:
    log(f"installing {' '.join(packages)} from Debian")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages], env=env)


def ensure_engine() -> None:
    missing = [p for p, b in (("docker.io", "dockerd"), ("debootstrap", "debootstrap")) if not shutil.which(b)]
    if missing:
        apt_install(missing)
    if engine_answers():
        return
    log("starting dockerd (none answers)")
    logfile = open("/var/log/djangostack-dockerd.log", "ab")  # noqa: SIM115 - handed to the daemon
    subprocess.Popen(["dockerd"], stdout=logfile, stderr=logfile, start_new_session=True)
    for _ in range(60):
        if engine_answers():
            log("dockerd is up")
            return
        time.sleep(1)
    sys.exit("dockerd did not answer within 60 s; see /var/log/djangostack-dockerd.log")


def image_name(release: str, tag: str = "") -> str:
    """Image for a release: the recipe revision tag, or the stable `lab` tag the scenarios use."""
    return f"djangostack/debian{RELEASES[release]}-systemd:{tag or 'r' + IMAGE_REVISION}"


def image_exists(tag: str) -> bool:
    res = subprocess.run(
        ["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )
    return res.returncode == 0


def build_image(release: str) -> None:
    tag = image_name(release)
    if image_exists(tag):
        log(f"image {tag} present, reused")
        run(["docker", "tag", tag, image_name(release, "lab")])
        return
    log(f"building {tag} with debootstrap from {MIRROR} (a few minutes)")
    with tempfile.TemporaryDirectory(prefix=f"djangostack-{release}-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                release,
                str(rootfs),
                MIRROR,
            ],
            stdout=subprocess.DEVNULL,
        )
        finish_rootfs(rootfs, release)
        log(f"importing {tag}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        run(
            [
                "docker",
                "import",
                "--change",
                'CMD ["/lib/systemd/systemd"]',
                "--change",
                "ENV container=docker",
                "-",
                tag,
            ],
            stdin=tar.stdout,
        )
        tar.wait()
    run(["docker", "tag", tag, image_name(release, "lab")])
    log(f"image {tag} ready, tagged {image_name(release, 'lab')}")


def finish_rootfs(rootfs: Path, release: str) -> None:
    """Turn a debootstrap tree into a bootable systemd container image."""
    codename = release
    (rootfs / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {codename} main\n"
        f"deb {MIRROR} {codename}-updates main\n"
        f"deb http://deb.debian.org/debian-security {codename}-security main\n"
    )
    # Every container gets its own identity.
    (rootfs / "etc/machine-id").write_text("")
    dbus_id = rootfs / "var/lib/dbus/machine-id"
    if dbus_id.exists() or dbus_id.is_symlink():
        dbus_id.unlink()
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    unit = rootfs / "etc/systemd/system/lab-ssh-hostkeys.service"
    unit.write_text(HOSTKEYS_UNIT)
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "lab-ssh-hostkeys.service").symlink_to("/etc/systemd/system/lab-ssh-hostkeys.service")
    # Units that cannot work in a container and only add noise at boot.
    for masked in ("getty@tty1.service", "console-getty.service", "systemd-remount-fs.service"):
        target = rootfs / "etc/systemd/system" / masked
        if not target.exists():
            target.symlink_to("/dev/null")
    # Keep downloaded .debs: the lab mounts a shared apt archive cache there.
    (rootfs / "etc/apt/apt.conf.d/01keep-debs").write_text('Binary::apt::APT::Keep-Downloaded-Packages "true";\n')
    shutil.rmtree(rootfs / "var/lib/apt/lists", ignore_errors=True)
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    # Package lists are stale, as on a server that has not run apt for a while:
    # the apt module's cache_valid_time must not take the empty lists as fresh.
    for stale in (rootfs / "var/lib/apt/lists/partial", rootfs / "var/lib/apt/lists"):
        os.utime(stale, (0, 0))
    for deb in (rootfs / "var/cache/apt/archives").glob("*.deb"):
        deb.unlink()


def demo_info() -> None:
    keys = sorted(Path.home().glob(".ansible/tmp/molecule.*.demo/lab_admin_ed25519"), key=lambda p: p.stat().st_mtime)
    key = keys[-1] if keys else Path("<molecule ephemeral dir>/lab_admin_ed25519")
    cert = ROOT / ".cache" / "demo" / "site.crt"
    cert.parent.mkdir(parents=True, exist_ok=True)
    pem = subprocess.run(
        ["docker", "exec", "demo-aio", "cat", "/etc/nginx/tls/site.crt"], capture_output=True, check=True
    ).stdout
    cert.write_bytes(pem)
    url = "https://localhost:8443/"
    answer = check_https(url + "health/", cert)
    print(
        "\n"
        "The demo lab is up: one all-in-one Debian 12 host (container demo-aio).\n"
        f"  The sample app:        {url}\n"
        f"  Prove it:              curl --cacert {cert.relative_to(ROOT)} {url}health/\n"
        f"                         -> {answer}\n"
        f"  SSH as the lab admin:  ssh -i {key} -p 2222 ops@127.0.0.1\n"
        "  A shell as root:       docker exec -it demo-aio bash\n"
        "  Re-converge:           make demo        Remove it: make demo-clean\n"
    )


def check_https(url: str, cafile: Path) -> str:
    """GET url trusting only the demo's self-signed certificate; the body, or why it failed."""
    context = ssl.create_default_context(cafile=str(cafile))
    try:
        with urllib.request.urlopen(url, context=context, timeout=30) as response:  # noqa: S310 - fixed https URL
            return response.read().decode().strip()
    except (OSError, ValueError) as error:
        sys.exit(f"the demo does not answer over HTTPS at {url}: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("engine")
    sub.add_parser("demo-info")
    images = sub.add_parser("images")
    images.add_argument("releases", nargs="*", default=list(RELEASES))
    name = sub.add_parser("image-name")
    name.add_argument("release", choices=list(RELEASES))
    args = parser.parse_args()
    if args.cmd == "engine":
        ensure_engine()
    elif args.cmd == "images":
        ensure_engine()
        for release in args.releases:
            build_image(release)
    elif args.cmd == "demo-info":
        demo_info()
    elif args.cmd == "image-name":
        print(image_name(args.release))


if __name__ == "__main__":
    main()
