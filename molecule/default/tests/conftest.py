import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))


def pytest_collection_modifyitems(items):
    """test_ssh.py runs last. Its ssh-audit rate test hammers sshd from the controller's address
    until the firewall's per-source limit and OpenSSH 10's PerSourcePenalties refuse that address
    for a while, so test_ssh_port.py's real SSH logins from the controller, had they come after,
    would be refused. (A stable sort: the other files keep their order.)"""
    items.sort(key=lambda item: item.path.name == "test_ssh.py")
