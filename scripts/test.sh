#!/usr/bin/env bash
# Runs every test project and ends with "N passed, N failed[, N skipped]" summed from the TRX
# results (dotnet test's own summary is per project and not a form CI reads). Exits non-zero on any
# failure, on a build failure, or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."

configuration="${CONFIGURATION:-Release}"
results="artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

echo "== build ($configuration)"
if ! dotnet build A1Fleet.sln -c "$configuration" -nologo -clp:ErrorsOnly; then
  echo "build failed"
  echo "0 passed, 0 failed"
  exit 1
fi

echo "== test"
dotnet test A1Fleet.sln -c "$configuration" --no-build -nologo \
  --logger "trx" --logger "console;verbosity=normal" --results-directory "$results" "$@"
test_rc=$?

passed=0; failed=0; skipped=0; total=0
shopt -s nullglob
for trx in "$results"/*.trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  value() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$((total + $(value total)))
  passed=$((passed + $(value passed)))
  failed=$((failed + $(value failed) + $(value error) + $(value timeout) + $(value aborted)))
  skipped=$((skipped + $(value notExecuted)))
done

rc=0
if [ "$test_rc" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$total" -eq 0 ]; then
  rc=1
fi
[ "$total" -eq 0 ] && echo "no test ran"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
exit "$rc"
