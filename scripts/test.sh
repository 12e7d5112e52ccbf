#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: as root it installs the
# Debian packages the tests use, starts PostgreSQL, then builds a virtualenv
# and the images the tests boot, runs ruff and mypy, and runs pytest. Extra
# arguments go to pytest. Each step prints its wall time.
set -euo pipefail
cd "$(dirname "$0")/.."

step_started=$SECONDS
step_done() {
    echo "test.sh: $1 took $((SECONDS - step_started)) s"
    step_started=$SECONDS
}

packages() { grep -v '^\s*#' scripts/test-packages.txt | grep -v '^\s*$'; }

if [ "$(id -u)" = 0 ]; then
    # busybox-test-arm64 and the arm64 shim and GRUB are unpacked from
    # Debian's arm64 packages, which apt fetches only for a known architecture.
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        dpkg --add-architecture arm64
        apt-get update -qq
    fi
    missing=()
    for package in $(packages); do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "test.sh: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
    # PostgreSQL: start Debian's cluster and give the tests a role and a database.
    if ! pg_lsclusters -h 2>/dev/null | grep -q online; then
        cluster=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
        pg_ctlcluster $cluster start
    fi
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='bootsvc'\"" | grep -q 1 \
        || su postgres -c "psql -qc \"CREATE ROLE bootsvc LOGIN PASSWORD 'bootsvc' CREATEDB\""
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='bootsvc_test'\"" | grep -q 1 \
        || su postgres -c "createdb -O bootsvc bootsvc_test"
    # Servers in a test's network namespace reach PostgreSQL only through its
    # Unix socket: let the test role log in there with its password.
    hba=$(su postgres -c "psql -qtAc 'SHOW hba_file'")
    if ! grep -qE '^local\s+all\s+bootsvc\s' "$hba"; then
        sed -i '0,/^local\s\+all\s\+all\s/s//local all bootsvc scram-sha-256\n&/' "$hba"
        su postgres -c "psql -qc 'SELECT pg_reload_conf()'" >/dev/null
    fi
fi
export BOOTSVC_TEST_PG_URL=${BOOTSVC_TEST_PG_URL:-postgresql+psycopg://bootsvc:bootsvc@127.0.0.1/bootsvc_test}

step_done "Debian packages and PostgreSQL"

bash scripts/venv.sh test
step_done "the virtualenv"

# Built once per machine and cached in ~/.cache/bootsvc; the fixtures find them there.
.venv/bin/python -m tests.support.images
step_done "the images the tests boot"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
step_done "ruff and mypy"

# Two workers take a test file each at a time (a module's lab starts once),
# so one's waits and single-core VMs overlap the other's work. Then, one at a
# time, the tests that race the firmware's timers and the three-node cluster,
# whose six vCPUs need both cores.
status=0
.venv/bin/pytest -n 2 --dist loadfile -m "not cluster and not alone" --durations=25 "$@" \
    || status=$?
step_done "pytest, two workers"
.venv/bin/pytest -m "cluster or alone" --durations=10 "$@" || {
    code=$?
    # 5: none of them among the tests asked for.
    [ $code = 5 ] || status=$code
}
step_done "pytest, one at a time"
exit $status
