#!/usr/bin/env bash
# Install the portal into ./.venv (Python 3.11): the app, its `portal` command and the test
# tools (pytest, playwright, ruff). Idempotent: re-running only updates the install.
# Then: `.venv/bin/portal demo` starts the demo; `.venv/bin/python -m pytest` runs the tests.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=.venv

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 /usr/bin/python3.11; do
        [ -n "$candidate" ] || continue
        command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c 'import sys, pip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null
}

if ! venv_ok; then
    PY=$(find_python) || {
        echo "install.sh: Python 3.11 not found (Debian: apt-get install python3.11 python3.11-venv)" >&2
        exit 1
    }
    if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "install.sh: installing python3.11-venv (ensurepip is missing)"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3.11-venv </dev/null
        else
            echo "install.sh: $PY has no venv/ensurepip (Debian: apt-get install python3.11-venv)" >&2
            exit 1
        fi
    fi
    echo "install.sh: creating $VENV with $PY"
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

"$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q -e '.[test]'
echo "install.sh: done — $("$VENV/bin/python" --version), portal at $VENV/bin/portal"
