#!/usr/bin/env bash
# ansible-test sanity on the collection as people get it: build this tree with ansible-galaxy
# (galaxy.yml's build_ignore applies), install the archive into a temporary directory and run
# every sanity test there, in ansible-test's own virtual environments (--venv --requirements;
# its docker mode is not needed). Exits non-zero on any finding; the ignore files are
# tests/sanity/ignore-<ansible-core major.minor>.txt (each entry says why the finding is false).
#
#   tools/sanity.sh                    # every test, Python 3.13
#   tools/sanity.sh --test pylint      # extra arguments go to ansible-test sanity
#   SANITY_PYTHON=3.12 tools/sanity.sh
#
# ansible-test creates its venvs without pip and downloads get-pip.py from
# ci-files.testing.ansible.com to bootstrap one; where that host cannot be reached, the
# stand-in tools/ansible-test-get-pip.py (pip bundled with Python, then the package index) is
# put in its cache for this run and removed afterwards. The first run installs the tests'
# requirements from the package index (~/.ansible/test/venv caches them).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python_version=${SANITY_PYTHON:-3.13}
work=$(mktemp -d "${TMPDIR:-/tmp}/djangostack-sanity.XXXXXX")
get_pip=""

cleanup() {
    rm -rf "$work"
    if [ -n "$get_pip" ]; then
        rm -f "$get_pip" "$(dirname "$get_pip")"/__pycache__/"$(basename "$get_pip" .py)".*.pyc
        rmdir --ignore-fail-on-non-empty "$(dirname "$get_pip")/__pycache__" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# The pip version ansible-test bootstraps its venvs with, and where it caches get-pip.py.
# (asked of the Python that runs ansible-test: its entry point's shebang)
ansible_test_python=$(head -1 "$(command -v ansible-test)" | sed 's/^#!//')
pip_version=$("$ansible_test_python" -c 'from ansible_test._internal.python_requirements import get_venv_packages
from types import SimpleNamespace
print(get_venv_packages(SimpleNamespace(version="'"$python_version"'"))["pip"])')
cached="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -e "$cached" ] && ! curl -fsS --max-time 10 -o /dev/null \
    "https://ci-files.testing.ansible.com/ansible-test/get-pip-${pip_version}.py" 2>/dev/null; then
    mkdir -p "$(dirname "$cached")"
    cp "$root/tools/ansible-test-get-pip.py" "$cached"
    get_pip=$cached
fi

# Outside the checkout: its ansible.cfg puts collections/ (this tree) first on the collections
# path, and ansible-galaxy would find djangostack.stack installed already.
cd "$work"
ansible-galaxy collection build --output-path "$work/build" "$root" >/dev/null
ANSIBLE_COLLECTIONS_PATH="$work/collections" ansible-galaxy collection install --no-deps \
    -p "$work/collections" "$work"/build/djangostack-stack-*.tar.gz >/dev/null
cd "$work/collections/ansible_collections/djangostack/stack"
echo "==> ansible-test sanity on the built collection ($(ansible --version | head -1), Python $python_version)"
ansible-test sanity --venv --requirements --python "$python_version" --color no "$@"
