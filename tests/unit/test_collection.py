"""The collection works installed (djangostack.stack), not only in this checkout.

The tree is built with ``ansible-galaxy collection build`` and installed (``--no-deps``) into a
temporary directory; everything after that runs there, outside the checkout: the repository's
ansible.cfg is not read (a configuration file with no setting of its own in the temporary
directory, ANSIBLE_CONFIG and every other ANSIBLE_* variable of the environment left out), and the
collections found are only the installed one and those of the ``ansible`` package (ansible.posix,
community.*: ANSIBLE_COLLECTIONS_PATH, no sys.path scan, so never a copy in ~/.ansible/collections).
A short name (``djangostack_address``, ``role: nginx``) resolves nowhere there.

What is checked, and why these:

- the archive holds the collection and nothing of the checkout's own (the collections/ link back
  to the tree, .venv, .cache, tests, the lab);
- every name the content uses for a plugin of the collection is its FQCN (a scan of every Jinja
  expression of the installed roles, playbooks and wiring): the run below does not render the
  role templates or tasks, which need a host to converge;
- ``ansible-doc`` lists every role and documents every filter and test the plugins define
  (taken from their FilterModule/TestModule, not from a list here);
- every playbook of playbooks/ passes ``--syntax-check`` as ``djangostack.stack.<name>`` (roles by
  their collection names, imports relative to the installed playbooks);
- each filter and the test are rendered once, by their FQCNs, in a play on localhost;
- ``djangostack.stack.preflight`` runs against a copy of inventories/staging whose one host is
  this machine (connection local): the play every run starts with, through the installed
  collection - the wiring (its playbooks' group_vars, the link playbooks/group_vars) with the role
  map, the topology filters and the role_input lookup reading the installed roles' defaults, the
  preflight action with each role's argument spec. It gathers facts and evaluates rules; it changes
  nothing on this machine. A converge (site.yml) needs real hosts: that is the molecule lab's.

The whole module takes about 15 s (13 s measured on two busy cores: the build and the install
once, then eight ansible commands). It has 60 s (BUDGET) from the build on: a command still running
then is stopped and fails its test, so neither a hang nor a slow-down passes unnoticed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import warnings
from pathlib import Path

import jinja2
import jinja2.nodes
import pytest
import yaml
from conftest import ROOT, load_source

NAMESPACE = "djangostack.stack"
ROLES = sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())
PLAYBOOKS = sorted(path.stem for path in (ROOT / "playbooks").glob("*.yml"))
FILTERS = sorted(
    name
    for path in sorted((ROOT / "plugins" / "filter").glob("*.py"))
    for name in load_source(f"plugins/filter/{path.name}", f"collection_filter_{path.stem}").FilterModule().filters()
)
TESTS = sorted(
    name
    for path in sorted((ROOT / "plugins" / "test").glob("*.py"))
    for name in load_source(f"plugins/test/{path.name}", f"collection_test_{path.stem}").TestModule().tests()
)
LOOKUPS = sorted(path.stem for path in (ROOT / "plugins" / "lookup").glob("*.py"))
ACTIONS = sorted(path.stem for path in (ROOT / "plugins" / "action").glob("*.py"))
BUDGET = 60  # seconds for every command of the module together, from the build on (it takes about 15)


def _collections_of_the_ansible_package() -> Path:
    """Where the `ansible` package installed ansible.posix and community.* (this interpreter's site-packages)."""
    for entry in map(Path, sys.path):
        if (entry / "ansible_collections" / "ansible" / "posix").is_dir():
            return entry / "ansible_collections"
    pytest.fail("no ansible_collections with ansible.posix on sys.path (pip install -r requirements-dev.txt)")


class Installed:
    """The collection built from this tree and installed under a temporary directory."""

    def __init__(self, base: Path):
        self.base = base
        self.collections = base / "collections"
        self.path = self.collections / "ansible_collections" / "djangostack" / "stack"
        self.archive: Path | None = None
        self.deadline = time.monotonic() + BUDGET
        (base / "ansible.cfg").write_text("[defaults]\n")  # none of ~/.ansible.cfg or /etc/ansible/ansible.cfg
        env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
        env.update(
            ANSIBLE_COLLECTIONS_PATH=f"{self.collections}:{_collections_of_the_ansible_package()}",
            ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
            ANSIBLE_HOME=str(base / "ansible-home"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        )
        self.env = env

    def run(self, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        left = self.deadline - time.monotonic()
        try:
            result = subprocess.run(
                list(argv),
                cwd=cwd or self.base,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=max(left, 1),
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"{' '.join(argv)}: stopped, the module's {BUDGET} s are used up")
        assert result.returncode == 0, f"{' '.join(argv)}\n{result.stdout[-6000:]}\n{result.stderr[-6000:]}"
        return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    collection = Installed(tmp_path_factory.mktemp("installed"))
    build = collection.base / "build"
    # Built from the repository (galaxy.yml, build_ignore), installed and used from the temporary directory.
    collection.run("ansible-galaxy", "collection", "build", "--output-path", str(build), str(ROOT), cwd=ROOT)
    (collection.archive,) = build.glob("djangostack-stack-*.tar.gz")
    collection.run(
        "ansible-galaxy",
        "collection",
        "install",
        "--no-deps",
        "-p",
        str(collection.collections),
        str(collection.archive),
    )
    return collection


def test_the_archive_holds_the_collection_and_nothing_of_the_checkout(installed):
    with tarfile.open(installed.archive) as tar:
        members = {member.name: member for member in tar.getmembers()}
    names = set(members)
    for role in ROLES:
        assert f"roles/{role}/tasks/main.yml" in names
        assert f"roles/{role}/meta/argument_specs.yml" in names
    for playbook in PLAYBOOKS:
        assert f"playbooks/{playbook}.yml" in names
    for name in FILTERS:
        assert f"plugins/filter/{name}.yml" in names, f"filter {name} has no documentation"
    for name in TESTS:
        assert f"plugins/test/{name}.yml" in names, f"test {name} has no documentation"
    assert {"LICENSE", "meta/runtime.yml", "group_vars/all/wiring.yml", "plugins/callback/report.py"} <= names
    # the release notes and ansible-test's ignore files (tools/sanity.sh runs it on an installed copy)
    assert {"CHANGELOG.md", "changelogs/changelog.yaml", "tests/sanity/ignore-2.21.txt"} <= names
    assert members["playbooks/group_vars"].issym()
    assert members["playbooks/group_vars"].linkname == "../group_vars"
    leaked = sorted(
        name
        for name in names
        if name.split("/")[0] in {"collections", ".venv", ".cache", ".ansible", ".git", "molecule", "app"}
        or name.split("/")[0] in {"inventories", "tools", "ansible.cfg", "site.yml", "requirements-test.yml"}
        # of tests/, only ansible-test's sanity ignore files ship (tools/sanity.sh runs it on the installed copy)
        or (name.split("/")[0] == "tests" and name.split("/")[1:2] not in ([], ["sanity"]))
        or name.startswith("changelogs/fragments/")
        or name in {"execution-environment.yml", "ansible-navigator.yml"}
        or "__pycache__" in name
    )
    assert leaked == []
    # The installed copy is where the rest of this module reads the collection from.
    assert (installed.path / "playbooks" / "group_vars" / "all" / "wiring.yml").is_file()


# --- every reference to the collection's plugins is its FQCN -----------------------------------------------

CONDITIONALS = {"when", "that", "failed_when", "changed_when", "until"}
OURS = {
    "filter": set(FILTERS),
    "test": set(TESTS),
    "lookup": set(LOOKUPS),
}


class _AnyName(dict):
    def get(self, key, default=None):
        return super().get(key, _any)


def _any(*args, **kwargs):
    return None


def _parser() -> jinja2.Environment:
    env = jinja2.Environment()  # noqa: S701 - parses only, renders nothing
    env.filters, env.tests = _AnyName(env.filters), _AnyName(env.tests)
    return env


def _const(node):
    return node.value if isinstance(node, jinja2.nodes.Const) else None


def plugin_names(template: str) -> set[tuple[str, str]]:
    """(kind, name) of the filters, tests and lookups a template uses: `| f`, `is t`, `select('t')`,
    `map('f')`, `selectattr('a', 't')`, `lookup('l')`, `query('l')`."""
    found: set[tuple[str, str]] = set()
    with warnings.catch_warnings():  # escapes of regular expressions in string literals ('^\\s*$')
        warnings.simplefilter("ignore", DeprecationWarning)
        ast = _parser().parse(template)
    for node in ast.find_all(jinja2.nodes.Filter):
        found.add(("filter", node.name))
        if node.name in ("select", "reject", "map") and node.args and isinstance(_const(node.args[0]), str):
            found.add(("test" if node.name != "map" else "filter", _const(node.args[0])))
        if node.name in ("selectattr", "rejectattr") and len(node.args) > 1 and isinstance(_const(node.args[1]), str):
            found.add(("test", _const(node.args[1])))
    for node in ast.find_all(jinja2.nodes.Test):
        found.add(("test", node.name))
    for node in ast.find_all(jinja2.nodes.Call):
        name = node.node.name if isinstance(node.node, jinja2.nodes.Name) else None
        if name in ("lookup", "query", "q") and node.args and isinstance(_const(node.args[0]), str):
            found.add(("lookup", _const(node.args[0])))
    return found


def _strings(value, key=None):
    """(string, whether it is a bare conditional) of a YAML value, recursively."""
    if isinstance(value, str):
        yield value, key in CONDITIONALS
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield from _strings(item, name)


def _keys(value):
    if isinstance(value, list):
        for item in value:
            yield from _keys(item)
    elif isinstance(value, dict):
        for name, item in value.items():
            yield name
            yield from _keys(item)


def short_name(name: str) -> str:
    """A plugin's name without the collection (or the old djangostack_ prefix)."""
    return name.removeprefix(f"{NAMESPACE}.").removeprefix("djangostack_")


def _templates(path: Path, problems: list[str], where: Path) -> list[str]:
    """The Jinja of a template file, or of a YAML file (its templated strings and bare conditionals);
    a task whose action is the collection's action plugin by a short name is a problem."""
    if path.suffix == ".j2":
        return [path.read_text()]
    data = yaml.safe_load(path.read_text())
    for name in _keys(data):
        if short_name(name) in ACTIONS and name != f"{NAMESPACE}.{short_name(name)}":
            problems.append(f"{where}: task action {name} is not named {NAMESPACE}.{short_name(name)}")
    templates = []
    for text, conditional in _strings(data):
        if "{{" in text or "{%" in text:
            templates.append(text)
        elif conditional:
            templates.append("{{ " + text + " }}")
    return templates


def references(tree: Path) -> tuple[list[str], set[str]]:
    """Where the collection's YAML and templates name one of its plugins other than by its FQCN, and
    the FQCNs of its plugins they use."""
    problems: list[str] = []
    used: set[str] = set()
    files = {*tree.glob("roles/*/*/*.yml"), *tree.glob("playbooks/*.yml"), *tree.glob("group_vars/**/*.yml")}
    for path in sorted(files | set(tree.glob("roles/*/templates/**/*.j2"))):
        where = path.relative_to(tree)
        for template in _templates(path, problems, where):
            try:
                names = plugin_names(template)
            except jinja2.TemplateSyntaxError:
                continue  # not Jinja (a shell line, an nftables rule): nothing of ours either
            for kind, name in sorted(names):
                if name.startswith(f"{NAMESPACE}."):
                    used.add(f"{kind} {name}")
                    if short_name(name) not in OURS[kind]:
                        problems.append(f"{where}: {kind} {name}: the collection has no such {kind}")
                elif short_name(name) in OURS[kind]:
                    problems.append(f"{where}: {kind} {name} is not named {NAMESPACE}.{short_name(name)}")
    return problems, used


def test_the_installed_content_names_every_plugin_by_its_fqcn(installed):
    problems, used = references(installed.path)
    assert problems == []
    # The scan sees the templates, the conditionals and the lookups: each plugin of the collection is used.
    assert used == {f"{kind} {NAMESPACE}.{name}" for kind, names in OURS.items() for name in names}


def test_a_planted_short_name_is_found(tmp_path):
    (tmp_path / "roles" / "r" / "templates").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "templates" / "a.j2").write_text("{{ x | djangostack_address(hostvars) }}\n")
    (tmp_path / "roles" / "r" / "tasks" / "main.yml").write_text(
        "- name: Check\n  preflight:\n    rules: []\n  when: lines | select('moduli_at_least', 3071) | list\n"
        "- name: Use\n  ansible.builtin.debug:\n"
        "    msg: \"{{ lookup('role_input', 'x') | djangostack.stack.nothing }}\"\n"
    )
    assert references(tmp_path)[0] == [
        f"roles/r/tasks/main.yml: task action preflight is not named {NAMESPACE}.preflight",
        f"roles/r/tasks/main.yml: test moduli_at_least is not named {NAMESPACE}.moduli_at_least",
        f"roles/r/tasks/main.yml: filter {NAMESPACE}.nothing: the collection has no such filter",
        f"roles/r/tasks/main.yml: lookup role_input is not named {NAMESPACE}.role_input",
        f"roles/r/templates/a.j2: filter djangostack_address is not named {NAMESPACE}.address",
    ]


# --- ansible-doc --------------------------------------------------------------------------------------------


def test_ansible_doc_lists_every_role(installed):
    listed = json.loads(installed.run("ansible-doc", "-t", "role", "-l", NAMESPACE, "--json").stdout)
    assert sorted(listed) == [f"{NAMESPACE}.{role}" for role in ROLES]


@pytest.mark.parametrize(("kind", "names"), [("filter", FILTERS), ("test", TESTS)])
def test_ansible_doc_documents_every_filter_and_test(installed, kind, names):
    listed = json.loads(installed.run("ansible-doc", "-t", kind, "-l", NAMESPACE, "--json").stdout)
    fqcns = [f"{NAMESPACE}.{name}" for name in names]
    assert sorted(listed) == fqcns
    assert "UNDOCUMENTED" not in json.dumps(listed)
    docs = json.loads(installed.run("ansible-doc", "-t", kind, "--json", *fqcns).stdout)
    for name, fqcn in zip(names, fqcns, strict=True):
        doc = docs[fqcn]
        assert doc["doc"]["name"] == name
        assert doc["doc"]["short_description"]
        assert "_input" in doc["doc"]["options"]
        assert fqcn in doc["examples"], f"{fqcn}: the examples call it by its FQCN"
        assert doc["return"]["_value"]["description"]


# --- playbooks and plugins, run from the installed collection ----------------------------------------------


def test_every_playbook_passes_syntax_check_by_its_fqcn(installed):
    fqcns = [f"{NAMESPACE}.{playbook}" for playbook in PLAYBOOKS]
    assert {
        f"{NAMESPACE}.{name}" for name in ("site", "bootstrap", "deploy", "rollback", "drift", "restore_drill")
    } <= set(fqcns)
    result = installed.run("ansible-playbook", "-i", "localhost,", "--syntax-check", *fqcns)
    for fqcn in fqcns:
        assert f"{installed.path}/playbooks/{fqcn.rsplit('.', 1)[1]}.yml" in result.stdout


KEY = base64.b64encode(b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA comment\n").decode()
GROUPS = {"db": ["db1"], "cache": ["db1"], "web": ["web1", "web2"], "worker": ["web2"]}
HOSTVARS = {
    "db1": {"private_address": "10.0.0.1"},
    "web1": {"private_address": "10.0.0.11", "ssh_port": 2222},
    "web2": {"ansible_facts": {"default_ipv4": {}, "default_ipv6": {"address": "fd00::12"}}},
}
MODULI = ["# comment", "20230101000000 2 6 100 2047 5 C0FFEE", "20230101000000 2 6 100 3071 5 C0FFEE"]
# Each filter and test of the collection once, by its FQCN: (expression, what it renders to).
CASES = {
    "server": ("'web1' | djangostack.stack.server('db', g)", "db1"),
    "clients": ("'db1' | djangostack.stack.clients('db', ['web', 'worker'], g)", ["web1", "web2"]),
    "peers": ("'web2' | djangostack.stack.peers('cache', ['worker'], g)", ["web2"]),
    "address": ("'web2' | djangostack.stack.address(hv)", "fd00::12"),
    "addresses": ("['db1', 'web1'] | djangostack.stack.addresses(hv)", ["10.0.0.1", "10.0.0.11"]),
    "firewall_sources": (
        "['web', '192.0.2.0/24'] | djangostack.stack.firewall_sources(g, hv)",
        {"ipv4": ["10.0.0.11/32", "192.0.2.0/24"], "ipv6": ["fd00::12/128"]},
    ),
    "pg_hba_lines": (
        "[{'database': 'app', 'user': 'app', 'sources': ['web']}] | djangostack.stack.pg_hba_lines(g, hv, 'db1')",
        [
            "local app app scram-sha-256",
            "hostssl app app 10.0.0.11/32 scram-sha-256",
            "hostssl app app fd00::12/128 scram-sha-256",
        ],
    ),
    "backup_plan": (
        "('db1' | djangostack.stack.backup_plan(['app'], ['web1'])).sources | map(attribute='name') | list",
        ["app-db", "globals", "web1-media"],
    ),
    "backup_ports": (
        "[{'host': 'web1'}, {'host': 'db1'}] | djangostack.stack.backup_ports(hv, 22) | map(attribute='port') | list",
        [2222, 22],
    ),
    "backup_config": (
        "[{'name': 'm', 'kind': 'media', 'host': 'web1', 'port': 2222, 'key': 'k', 'manifest_key': 'mk'}]"
        " | djangostack.stack.backup_config(hv, 'pull', '/keys', {'storage': '/s'})",
        {
            "storage": "/s",
            "sources": [
                {
                    "name": "m",
                    "kind": "media",
                    "host": "10.0.0.11",
                    "port": 2222,
                    "user": "pull",
                    "key": "/keys/k",
                    "manifest_key": "/keys/mk",
                }
            ],
        },
    ),
    "backup_known_hosts": (
        "[{'item': 'web1', 'content': key}]"
        " | djangostack.stack.backup_known_hosts([{'host': 'web1', 'port': 2222}], hv)",
        ["[10.0.0.11]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"],
    ),
    "roles": (
        "{'common': ['all'], 'nginx': ['web'], 'postgresql': ['db']}"
        " | djangostack.stack.roles(['web'], {'nginx': true})",
        ["common", "nginx"],
    ),
    "invalid_networks": ("['10.0.0.0/8', '10.0.0.300'] | djangostack.stack.invalid_networks", ["10.0.0.300"]),
    "moduli_at_least": (
        "moduli | select('djangostack.stack.moduli_at_least', 3071) | list",
        ["# comment", "20230101000000 2 6 100 3071 5 C0FFEE"],
    ),
}


def test_every_filter_and_test_renders_by_its_fqcn(installed):
    assert sorted(CASES) == sorted([*FILTERS, *TESTS]), "a filter or test of the plugins without a case here"
    out = installed.base / "rendered.json"
    play = [
        {
            "name": "Every filter and test of djangostack.stack, by its FQCN",
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {"g": GROUPS, "hv": HOSTVARS, "key": KEY, "moduli": MODULI},
            "tasks": [
                {
                    "name": "Render them",
                    "ansible.builtin.copy": {
                        "content": "{{ rendered | to_json }}",
                        "dest": str(out),
                        "mode": "0600",
                    },
                    "vars": {"rendered": {name: "{{ " + expression + " }}" for name, (expression, _) in CASES.items()}},
                }
            ],
        }
    ]
    (installed.base / "render.yml").write_text(yaml.safe_dump(play, sort_keys=False))
    python = f"ansible_python_interpreter={sys.executable}"
    installed.run("ansible-playbook", "-i", "localhost,", "-c", "local", "-e", python, "render.yml")
    assert json.loads(out.read_text()) == {name: expected for name, (_, expected) in CASES.items()}


def test_the_preflight_runs_from_the_installed_collection(installed):
    inventory = installed.base / "inventory"
    shutil.copytree(ROOT / "inventories" / "staging", inventory)
    [host] = yaml.safe_load((inventory / "hosts.yml").read_text())["all"]["children"]["web"]["hosts"]
    # The staging host is this machine: facts are gathered here, nothing is changed.
    (inventory / "host_vars" / host / "local.yml").write_text(
        yaml.safe_dump({"ansible_connection": "local", "ansible_python_interpreter": sys.executable})
    )
    result = installed.run(
        "ansible-playbook",
        "-i",
        str(inventory),
        "--vault-password-file",
        str(inventory / "vault-password.txt"),
        "-v",
        f"{NAMESPACE}.preflight",
    )
    output = result.stdout
    assert f"{host}" in output
    assert "changed=0" in output
    assert "failed=0" in output
    # The wiring was read from the installed playbooks' group_vars, and every role of the host was validated.
    assert "the inventory sets none of the" in output
    for role in ("common", "firewall", "ssh", "postgresql", "redis", "nginx", "django", "celery"):
        assert f"TASK [{NAMESPACE}.{role} : " in output
