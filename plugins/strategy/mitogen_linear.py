"""Strategy plugin: Ansible's `linear` strategy run through Mitogen (PyPI `mitogen`).

Selected with `strategy = djangostack.stack.mitogen_linear` (ansible.cfg) or
ANSIBLE_STRATEGY=djangostack.stack.mitogen_linear. Same task order, same results and
same check/diff behaviour as `linear`; what changes is the transport: one persistent
Python interpreter per host (over SSH, docker exec, sudo ...) instead of a new
connection, a module upload and an interpreter start for every task. A no-op
re-converge of the all-in-one host takes about half the time (docs/benchmarks.md).

Plain `linear` stays supported: set `strategy = linear` (or ANSIBLE_STRATEGY=linear)
where Mitogen is not installed or not wanted.
"""

from __future__ import annotations

DOCUMENTATION = """
    name: mitogen_linear
    short_description: The linear strategy over Mitogen's persistent connections
    description:
      - Runs each task on every host before the next one, as C(ansible.builtin.linear) does.
      - Connections (ssh, docker, local) and privilege escalation (sudo, su) go through Mitogen,
        which keeps one Python interpreter per host for the whole run.
      - Needs the C(mitogen) Python package on the controller (requirements-dev.txt pins it).
        Set the strategy to C(linear) to run without it.
    author: djangostack maintainers (!UNKNOWN)
"""

from ansible.errors import AnsibleError

# Without mitogen the plugin still loads (ansible-doc, ansible-test's import check): the run
# that selects it stops at its start and says what to install (StrategyModule below).
try:
    import ansible_mitogen.loaders
    import ansible_mitogen.mixins
    import ansible_mitogen.strategy
except ImportError as error:
    MITOGEN_IMPORT_ERROR: ImportError | None = error
else:
    MITOGEN_IMPORT_ERROR = None

# Mitogen redirects connections by their short names (ssh, docker) only. An inventory written
# in FQCN style (ansible.builtin.ssh; community.docker.docker, as molecule's docker driver
# writes) would silently fall back to a connection per task: those names are mapped too.
FQCN_CONNECTIONS = {
    "ansible.builtin.ssh": "ssh",
    "ansible.legacy.ssh": "ssh",
    "community.docker.docker": "docker",
}
# Tasks on the controller itself keep Ansible's own local connection: they have no round
# trip to save, and Mitogen's async jobs on the controller never finish (molecule's docker
# driver creates its containers with async tasks on localhost).
LOCAL_CONNECTIONS = ("local", "ansible.builtin.local", "ansible.legacy.local")


def _get_connection(name, *args, **kwargs):
    if name in LOCAL_CONNECTIONS:
        return _ansible_get_connection(name, *args, **kwargs)
    return _mitogen_get_connection(FQCN_CONNECTIONS.get(name, name), *args, **kwargs)


# A host's interpreter lives for the whole run, and it does not see a Python library that a
# package task installed after it started (python3-cryptography, python3-psycopg2: the
# community.crypto and community.postgresql modules then fail to import them). After a
# package task that changed something, the host's next task gets a new interpreter.
PACKAGE_ACTIONS = frozenset(
    f"{prefix}{name}"
    for prefix in ("", "ansible.builtin.", "ansible.legacy.")
    for name in ("apt", "package", "pip", "dpkg_selections")
)


def _run(self, tmp=None, task_vars=None):
    result = _mitogen_run(self, tmp, task_vars)
    if self._task.action in PACKAGE_ACTIONS and result.get("changed") and not self._play_context.check_mode:
        self._connection.reset()
    return result


if MITOGEN_IMPORT_ERROR is None:
    _mitogen_get_connection = ansible_mitogen.strategy.wrap_connection_loader__get_with_context
    _ansible_get_connection = ansible_mitogen.loaders.connection_loader__get_with_context
    if _mitogen_get_connection.__name__ != _get_connection.__name__:
        ansible_mitogen.strategy.REDIRECTED_CONNECTION_PLUGINS += tuple(FQCN_CONNECTIONS)
        ansible_mitogen.strategy.wrap_connection_loader__get_with_context = _get_connection

    _mitogen_run = ansible_mitogen.mixins.ActionModuleMixin.run
    if _mitogen_run.__name__ != _run.__name__:
        ansible_mitogen.mixins.ActionModuleMixin.run = _run

    Base = ansible_mitogen.loaders.strategy_loader.get("linear", class_only=True)

    class StrategyModule(ansible_mitogen.strategy.StrategyMixin, Base):
        """Linear, over Mitogen."""

else:
    from ansible.plugins.strategy.linear import StrategyModule as Base

    class StrategyModule(Base):
        """Stands in for the strategy when mitogen is missing: the run stops at its start."""

        def __init__(self, *args, **kwargs):
            raise AnsibleError(
                "strategy djangostack.stack.mitogen_linear needs the Python package 'mitogen' on the controller "
                f"(pip install -r requirements-dev.txt), or set strategy = linear: {MITOGEN_IMPORT_ERROR}"
            ) from MITOGEN_IMPORT_ERROR
