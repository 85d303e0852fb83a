#!/usr/bin/env bash
# Runs the whole test suite (no network, no GPU needed). Extra arguments go to pytest.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/ensure_env.sh || exit 1
# One torch thread per process unless asked otherwise: tests start many training processes on few
# cores, and oversubscribed threads make CPU training many times slower.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# One test worker per core (pytest-xdist); the tests of a file stay together, so a file's shared
# fixtures (a trained run, a catalog) are made once, and the longest go first (tests/conftest.py).
python -m pytest -n auto --dist loadfile --no-loadscope-reorder "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$status"
