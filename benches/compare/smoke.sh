#!/usr/bin/env bash
# Smoke run of the comparison runner (benches/compare): builds the peers and runs the quick
# matrix (1 repetition, small counts) under a time limit. It fails only when a peer binary
# crashes, hangs, or prints malformed output; slow numbers never fail it.
#
#   bash benches/compare/smoke.sh
#
# SMOKE_FULL=1 also builds and runs libzmq (compiled from source by build.rs through the
# zeromq-src crate, with libsodium from libsodium-sys-stable for its CURVE, which takes minutes
# on two cores) and omq-tokio; the default covers aiozmq, raw tokio TCP and zeromq.
# SMOKE_BUILD_TIMEOUT and SMOKE_RUN_TIMEOUT (seconds) bound the two steps.
set -euo pipefail
cd "$(dirname "$0")"

build_timeout="${SMOKE_BUILD_TIMEOUT:-1800}"
run_timeout="${SMOKE_RUN_TIMEOUT:-300}"
if [ "${SMOKE_FULL:-0}" = 1 ]; then
  features=()
  impls="aiozmq,libzmq,zeromq,omq-tokio,raw-tcp"
else
  features=(--no-default-features)
  impls="aiozmq,zeromq,raw-tcp"
fi

start=$(date +%s)
echo "smoke: building the peers (${impls})"
timeout "$build_timeout" cargo build --release --bins "${features[@]}"
built=$(date +%s)
echo "smoke: built in $((built - start)) s; running the quick matrix"

target_dir="${CARGO_TARGET_DIR:-target}"
out="$target_dir/smoke.md"
json="$target_dir/smoke.json"
status=0
timeout "$run_timeout" "$target_dir/release/compare" --quick --no-build --impls "$impls" \
  --json "$json" >"$out" || status=$?
cat "$out"
if [ "$status" = 124 ]; then
  echo "smoke: the quick run did not finish within ${run_timeout} s" >&2
  exit 1
elif [ "$status" != 0 ]; then
  echo "smoke: a peer crashed, hung or printed malformed output (see above)" >&2
  exit 1
fi
# The report must have its tables, and the JSON must record no error.
grep -q '^### Throughput, msg/s' "$out"
grep -q '^### Round trip' "$out"
grep -q '^### CURVE over tcp' "$out"
grep -q '^### PUB → 10 SUB lossless' "$out"
grep -q '^### XPUB/XSUB proxy' "$out"
grep -q '^### ROUTER ← ' "$out"
grep -q '"errors": \[\]' "$json"
echo "smoke: ok in $(($(date +%s) - start)) s"
