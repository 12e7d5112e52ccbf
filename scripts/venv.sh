#!/usr/bin/env bash
# Builds .venv with bootsvc installed (editable); `scripts/venv.sh test` adds the test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "venv.sh: needs Python 3.11 or newer as $python" >&2
    exit 1
fi
if [ "$(id -u)" = 0 ] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
extra=${1:+"[$1]"}
.venv/bin/pip install -q --disable-pip-version-check -e ".${extra}"
