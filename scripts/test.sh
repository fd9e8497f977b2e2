#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need, then
# lint, format check, type check, the import-layer contracts and the full test suite,
# browser tests included.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check -e ".[test]"

# The browser test drives Debian's Chromium (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium for the browser test..."
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-dejavu-core >/dev/null
fi

python3 -m ruff check .
python3 -m ruff format --check .
python3 -m mypy
# Layers point one way and no package has an import circle (contracts in pyproject.toml).
lint-imports
# pytest exits non-zero when a test fails and (code 5) when no test ran. The files run on
# one worker per core (pytest-xdist), each file whole on one worker: the browser tests share
# a JupyterLab per file, and most of their time is spent waiting on the browser and kernel.
python3 -m pytest -n auto --dist loadfile "$@"
