"""Helpers shared by the molecule scenarios' testinfra tests (the lab's own plumbing)."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import testinfra
import yaml

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))
SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "default")
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[2]))
INVENTORY = os.environ.get("MOLECULE_INVENTORY_FILE", str(EPHEMERAL / "inventory" / "ansible_inventory.yml"))
PROBE_KEY = "/root/lab_admin_ed25519"
SSH_OPTS = (
    "-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5 -o LogLevel=ERROR"
)


def lab_hosts() -> list[str]:
    """The names of the scenario's instances (molecule's inventory)."""
    inventory = yaml.safe_load(Path(INVENTORY).read_text())
    return sorted(inventory["all"]["hosts"])


def group(name: str) -> list[str]:
    """The hosts of an inventory group of the scenario, in inventory order."""
    inventory = yaml.safe_load(Path(INVENTORY).read_text())
    return list((inventory.get(name) or {}).get("hosts") or {})


def groups() -> dict[str, list[str]]:
    inventory = yaml.safe_load(Path(INVENTORY).read_text())
    return {name: list((body or {}).get("hosts") or {}) for name, body in inventory.items() if name != "all"}


def instance(name: str):
    return testinfra.get_host(f"docker://{name}")


def probe():
    """The stock container on the lab network that tests the hosts from outside."""
    return testinfra.get_host(f"docker://{SCENARIO}-probe")


def address(host) -> str:
    """The host's IPv4 address on the lab network."""
    return host.check_output("hostname -I").split()[0]


def release(host) -> str:
    return host.system_info.release.split(".")[0]


def probe_ssh(target: str, user: str, command: str = "true", extra: str = "", port: int = 22):
    """Run `ssh` from the probe with the lab admin key; returns the testinfra CommandResult."""
    return probe().run(f"ssh {SSH_OPTS} -i {PROBE_KEY} -p {port} {extra} {user}@{target} {command}")


def ansible_env(env: dict | None = None) -> dict[str, str]:
    """The environment of a test's own ansible-playbook run: the collection of this working tree
    (collections/ links to it) before any other path, so the copy molecule installs into
    ~/.ansible/collections is never the one converged; no report of the molecule steps."""
    env = dict(env or os.environ, ANSIBLE_NOCOLOR="1")
    own = str(PROJECT / "collections")
    others = env.get("ANSIBLE_COLLECTIONS_PATH", "~/.ansible/collections:/usr/share/ansible/collections")
    env["ANSIBLE_COLLECTIONS_PATH"] = ":".join([own, *(p for p in others.split(":") if p and p != own)])
    env.pop("DJANGOSTACK_REPORT_DIR", None)
    return env


def ansible_playbook(
    *args: str, timeout: int = 900, inventory: str | None = INVENTORY, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ansible-playbook against the scenario's inventory (or, with inventory=None, the -i in args)."""
    env = ansible_env(env)
    return subprocess.run(
        ["ansible-playbook", *(["-i", inventory] if inventory else []), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


def assert_check_made_no_changes() -> None:
    """The molecule `check` step (converge --check --diff) changed nothing on any host."""
    check = report("check")
    assert check["check_mode"] is True
    assert report("apply")["finished"] < check["finished"], "run the check step after converge"
    assert check["hosts"], "the check run saw no host"
    changed = {h: r["changed"] for h, r in check["hosts"].items() if r["changed"]}
    failed = {h: r["failed"] for h, r in check["hosts"].items() if r["failed"]}
    assert changed == {}
    assert failed == {}


def report(kind: str) -> dict:
    """The djangostack.stack.report callback's last report of a kind ('check' or 'apply')."""
    return json.loads((EPHEMERAL / "reports" / f"{kind}.json").read_text())


PROBE_CA = "/root/lab-ca.pem"


def web_name(name: str) -> str:
    """The server name nginx answers to on a lab web instance."""
    return f"{name}.lab.test"


def probe_knows_web_names() -> None:
    """Let the probe resolve the web instances' server names (its /etc/hosts)."""
    entries = "\n".join(f"{address(instance(name))} {web_name(name)}" for name in lab_hosts())
    # /etc/hosts is a bind mount in a container: rewritten in place, never replaced.
    probe().run_expect(
        [0],
        f"grep -v '[.]lab[.]test$' /etc/hosts > /tmp/hosts; printf '%s\\n' '{entries}' >> /tmp/hosts; "
        "cat /tmp/hosts > /etc/hosts",
    )


def probe_curl(url: str, *args: str):
    """curl from the probe, trusting the lab CA; returns the CommandResult (headers + body on stdout)."""
    quoted = " ".join(f"'{arg}'" for arg in args)
    return probe().run(f"curl -sS --max-time 20 --cacert {PROBE_CA} -D - {quoted} '{url}'")


def status_and_headers(output: str) -> tuple[int, dict[str, str]]:
    """The last response's status and headers (lower-cased names) from `curl -D -` output."""
    head = output.replace("\r\n", "\n").split("\n\n")[0]
    blocks = [block for block in output.replace("\r\n", "\n").split("\n\n") if block.startswith("HTTP/")]
    head = blocks[-1] if blocks else head
    lines = head.split("\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return status, headers


def csrf_session(url: str) -> tuple[str, str]:
    """GET a form page from the probe, keeping its cookies; returns (cookie jar, CSRF token)."""
    jar = f"/root/jar-{uuid.uuid4().hex}"
    page = probe().check_output(f"curl -sS --cacert {PROBE_CA} -c {jar} {url}")
    return jar, re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def post_note(site: str, text: str) -> str:
    """POST a note through the app's form, as a browser would; returns the page it redirects to."""
    jar, token = csrf_session(f"{site}/")
    posted = probe().run(
        f"curl -sS --cacert {PROBE_CA} -b {jar} -e {site}/ -L "
        f"--data-urlencode csrfmiddlewaretoken={token} --data-urlencode 'text={text}' {site}/"
    )
    assert posted.rc == 0, posted.stderr
    return posted.stdout


def upload(site: str, content: str) -> str:
    """Upload a file with this content through the app's form; returns the page it redirects to."""
    jar, token = csrf_session(f"{site}/upload/")
    probe().run_expect([0], f"printf '%s' '{content}' > {jar}.txt")
    posted = probe().run(
        f"curl -sS --cacert {PROBE_CA} -b {jar} -e {site}/upload/ -L "
        f"-F csrfmiddlewaretoken={token} -F file=@{jar}.txt {site}/upload/"
    )
    assert posted.rc == 0, posted.stderr
    return posted.stdout


def save_score(name: str, line: str) -> None:
    """Print a suite's score and keep it for `make test` to print at the end (.cache/scores/)."""
    print(f"\nSCORE {line}")
    scores = PROJECT / ".cache" / "scores"
    scores.mkdir(parents=True, exist_ok=True)
    (scores / f"{name}.txt").write_text(line + "\n")


def fingerprint(name: str) -> str:
    """What a converge could change on an instance, one line each: the digest of every file under /etc,
    /srv and /usr/local changed since the image was made (media excepted), every path's mode and
    owner there, the packages, the running services and the firewall ruleset. Two fingerprints compare
    equal when the state is the same; `changes()` says which lines differ when it is not. Services,
    not every unit: a timer's state moves with the clock (a daily timer that fires between two
    fingerprints is "running" in the second one), not with a converge."""
    return instance(name).check_output(
        "{ find /etc /srv /usr/local -xdev -type f -newer /etc/hostname ! -path '/srv/*/media/*' -print0"
        " | sort -z | xargs -0 sha256sum; find /etc /srv /usr/local -xdev -printf '%p %m %u %g\\n' | sort;"
        " dpkg-query -W; systemctl list-units --type=service --no-legend --state=running --plain | awk '{print $1}';"
        " nft -s -t list ruleset; } 2>&1"
    )


def changes(before: str, after: str, most: int = 40) -> str:
    """The lines of two fingerprints that differ (a unified diff, at most `most` lines)."""
    diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0))
    return "\n".join(diff[:most] + ([f"... {len(diff) - most} more lines"] if len(diff) > most else []))
