#!/usr/bin/env bash
# Runs every test project and ends with "N passed, N failed[, N skipped]" summed from the TRX
# results (dotnet test's own summary is per project and not a form CI reads). Exits non-zero on any
# failure, on a build failure, or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."

configuration="${CONFIGURATION:-Release}"

# Services the tests run for real (each test starts its own instance on a free loopback port):
# redis-server for the multi-process cluster tests, prometheus for the dashboard test,
# docker-compose to validate the compose file offline, ffmpeg for video datasets, ss (iproute2) for the
# cluster tests' check that silos listen on loopback only, and for training/ (Debian's /usr/bin/python3):
# python3-torch and python3-onnx, with libopenblas0-pthread (without it torch falls back to the
# reference BLAS, measured 21x slower a training step). Installed from Debian when missing.
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
# The compatible-protocol tests' independent robot clients (openpi over WebSocket + msgpack, A1 over HTTP) run on
# Debian's python3 with these modules.
for module in msgpack:python3-msgpack numpy:python3-numpy websockets:python3-websockets requests:python3-requests; do
  /usr/bin/python3 -c "import ${module%%:*}" >/dev/null 2>&1 || missing+=("${module##*:}")
done
/usr/bin/python3 -c "import torch, onnx, numpy" >/dev/null 2>&1 || missing+=(python3-torch python3-onnx python3-numpy)
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || missing+=(libopenblas0-pthread)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || echo "warning: could not install ${missing[*]}; the tests that need them will fail"
fi
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
  # xUnit reports skipped tests as NotExecuted results but leaves the notExecuted counter at 0.
  skipped=$((skipped + $(grep -o '<UnitTestResult [^>]*outcome="NotExecuted"' "$trx" | wc -l)))
done

# The CI log keeps only its tail, so name each failed test and its message again just above the summary.
if [ "$failed" -ne 0 ]; then
  echo "== failed tests"
  /usr/bin/python3 - "$results"/*.trx <<'PY' || grep -ho '<UnitTestResult [^>]*outcome="Failed"' "$results"/*.trx | sed -n 's/.*testName="\([^"]*\)".*/  \1/p'
import sys
import xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for path in sys.argv[1:]:
    for result in ET.parse(path).getroot().iterfind(".//t:UnitTestResult", ns):
        if result.get("outcome") != "Failed":
            continue
        message = (result.findtext(".//t:Message", default="", namespaces=ns) or "").strip()
        stack = (result.findtext(".//t:StackTrace", default="", namespaces=ns) or "").strip().splitlines()
        print(f"  {result.get('testName')}")
        print("    " + message[:2000].replace("\n", "\n    "))
        for line in stack[:6]:
            print("    " + line.strip())
PY
fi

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
