"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip into its venvs.

ansible-test (`sanity --venv --requirements`) creates its virtual environments without pip and
fetches https://ci-files.testing.ansible.com/ansible-test/get-pip-<version>.py to put pip into
them; where that host cannot be reached, tools/sanity.sh puts this file in its cache instead
(~/.ansible/test/cache/get_pip_<version>.py, and removes it afterwards). Like get-pip.py it is
run with the options and packages of a `pip install` (`pip==<version>`): it installs the pip
bundled with Python (ensurepip), then lets that pip install what was asked from the configured
index.
"""

import ensurepip
import importlib
import sys

# get-pip.py's own options: this bootstrap never installs setuptools or wheel anyway.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}


def main() -> int:
    ensurepip.bootstrap(upgrade=True)
    importlib.invalidate_caches()
    from pip._internal.cli.main import main as pip_main

    # get-pip.py's own command line: `pip install --upgrade --force-reinstall` with the arguments.
    args = [arg for arg in sys.argv[1:] if arg not in OWN_OPTIONS]
    return pip_main(["install", "--upgrade", "--force-reinstall", *args])


if __name__ == "__main__":
    sys.exit(main())
