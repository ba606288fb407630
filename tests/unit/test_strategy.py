"""plugins/strategy/mitogen_linear.py: the strategy of ansible.cfg and the lab.

Mitogen takes over the connections it knows by their short names; the wrapper makes it take
over the FQCN spellings too (molecule's docker driver writes community.docker.docker), and
leaves the controller's own local connection to Ansible."""

from __future__ import annotations

import configparser

import ansible_mitogen.strategy
import pytest
import yaml
from conftest import ROOT, load_source

strategy = load_source("plugins/strategy/mitogen_linear.py", "djangostack_mitogen_linear")


@pytest.fixture
def loaders(monkeypatch):
    """Record which connection plugin name reaches Mitogen's loader and Ansible's own."""
    calls = []
    monkeypatch.setattr(strategy, "_mitogen_get_connection", lambda name, *a, **k: calls.append(("mitogen", name)))
    monkeypatch.setattr(strategy, "_ansible_get_connection", lambda name, *a, **k: calls.append(("ansible", name)))
    return calls


@pytest.mark.parametrize(
    ("name", "short"),
    [("community.docker.docker", "docker"), ("ansible.builtin.ssh", "ssh"), ("ssh", "ssh"), ("docker", "docker")],
)
def test_fqcn_connections_reach_mitogen_by_their_short_name(loaders, name, short):
    strategy._get_connection(name)
    assert loaders == [("mitogen", short)]


@pytest.mark.parametrize("name", ["local", "ansible.builtin.local"])
def test_controller_tasks_keep_ansibles_local_connection(loaders, name):
    strategy._get_connection(name)
    assert loaders == [("ansible", name)]


def test_mitogen_redirects_the_fqcn_names_once_loaded():
    assert ansible_mitogen.strategy.wrap_connection_loader__get_with_context is strategy._get_connection
    assert {"community.docker.docker", "ansible.builtin.ssh"} <= set(
        ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS
    )


def test_it_is_linear_over_mitogen():
    from ansible.plugins.strategy.linear import StrategyModule as Linear

    assert issubclass(strategy.StrategyModule, ansible_mitogen.strategy.StrategyMixin)
    assert issubclass(strategy.StrategyModule, Linear)


def test_production_config_and_lab_use_it_and_the_lab_still_runs_linear():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg["defaults"]["strategy"] == "djangostack.stack.mitogen_linear"
    # Found as the collection's plugin: collections/ links to this tree, first in collections_path.
    assert cfg["defaults"]["collections_path"].split(":")[0] == "./collections"
    assert (ROOT / "collections/ansible_collections/djangostack/stack/plugins/strategy/mitogen_linear.py").is_file()
    assert "strategy_plugins" not in cfg["defaults"]
    shared = yaml.safe_load((ROOT / ".config/molecule/config.yml").read_text())
    assert shared["ansible"]["cfg"]["defaults"]["strategy"] == "djangostack.stack.mitogen_linear"
    # The plain linear strategy stays tested: whole runs of the default scenario use it.
    for test in ("test_interrupted.py", "test_ssh_port.py"):
        assert 'ANSIBLE_STRATEGY="linear"' in (ROOT / "molecule/default/tests" / test).read_text(), test


class FakeAction:
    def __init__(self, action: str, check_mode: bool = False):
        self._task = type("Task", (), {"action": action})()
        self._play_context = type("PlayContext", (), {"check_mode": check_mode})()
        self.resets = 0
        self._connection = type("Connection", (), {"reset": lambda _: setattr(self, "resets", self.resets + 1)})()


@pytest.mark.parametrize(
    ("action", "changed", "check_mode", "resets"),
    [
        ("ansible.builtin.apt", True, False, 1),  # a library it installed needs a new interpreter
        ("apt", True, False, 1),
        ("ansible.builtin.apt", False, False, 0),  # nothing installed: keep the interpreter
        ("ansible.builtin.apt", True, True, 0),  # check mode installs nothing
        ("ansible.builtin.template", True, False, 0),
    ],
)
def test_a_package_task_that_changed_gives_the_host_a_new_interpreter(monkeypatch, action, changed, check_mode, resets):
    monkeypatch.setattr(strategy, "_mitogen_run", lambda self, tmp, task_vars: {"changed": changed})
    fake = FakeAction(action, check_mode)
    assert strategy._run(fake) == {"changed": changed}
    assert fake.resets == resets
