#!/usr/bin/env bash
# The suite as two pytest sessions side by side (tests/conftest.py): the pure unit tests, which
# keep a core busy, beside all the others, which start farms of processes and mostly wait on them,
# in two pytest-xdist workers (a module's tests together, in order). Each session's output is
# printed whole, the pure one's first; the run fails when either does, and loudly when either
# collected no tests (pytest's exit code 5). Arguments go to both sessions.
set -uo pipefail
cd "$(dirname "$0")/.."
pytest=.venv/bin/pytest
pure_log=$(mktemp)
rest_log=$(mktemp)
trap 'rm -f "$pure_log" "$rest_log"' EXIT
"$pytest" -m pure "$@" >"$pure_log" 2>&1 &
pure=$!
"$pytest" -m "not pure" -n 2 --dist loadfile "$@" >"$rest_log" 2>&1
rest_rc=$?
wait "$pure"
pure_rc=$?
echo "=== the pure unit tests (pytest -m pure) ==="
cat "$pure_log"
echo "=== every other test (pytest -m 'not pure' -n 2) ==="
cat "$rest_log"
for rc in "$pure_rc" "$rest_rc"; do
    if [ "$rc" -eq 5 ]; then
        echo 'make test: a pytest session collected no tests' >&2
        exit 1
    fi
done
if [ "$pure_rc" -ne 0 ]; then exit "$pure_rc"; fi
exit "$rest_rc"
