#!/usr/bin/env bash
# Short fuzzing run of every target, for CI.
#
# Each target runs for FUZZ_SECONDS (default 30) over a temporary copy of its committed seed
# corpus (fuzz/corpus/<target>/) and regression inputs (fuzz/regressions/<target>/), so the
# run never writes into the repository (apart from cargo's build directory fuzz/target/,
# which is ignored by git). Exits non-zero when a target crashes, leaks, times out or fails
# to build; the crashing input is printed and kept.
#
# Environment:
#   FUZZ_SECONDS    seconds per target (default 30)
#   FUZZ_TARGETS    space-separated targets (default: greeting frame command connection plain curve curve_message curve_box subscriptions socket_paths rpc_request pickle endpoint proxy_control cli_json udp_datagram)
#   FUZZ_TOOLCHAIN  rustup toolchain for cargo-fuzz (default nightly)
#   FUZZ_KEEP_DIR   keep the temporary directory even on success when set to 1
#
# Needs: a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
seconds="${FUZZ_SECONDS:-30}"
toolchain="${FUZZ_TOOLCHAIN:-nightly}"
read -r -a targets <<<"${FUZZ_TARGETS:-greeting frame command connection plain curve curve_message curve_box subscriptions socket_paths rpc_request pickle endpoint proxy_control cli_json udp_datagram}"

if ! cargo "+${toolchain}" fuzz --version >/dev/null 2>&1; then
    echo "smoke.sh: cargo-fuzz or the ${toolchain} toolchain is missing" >&2
    echo "  install: rustup toolchain install ${toolchain} && cargo install cargo-fuzz --locked" >&2
    exit 2
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/aiozmq-fuzz.XXXXXX")"
failed=()
finish() {
    if [ "${#failed[@]}" -eq 0 ] && [ "${FUZZ_KEEP_DIR:-0}" != 1 ]; then
        rm -rf "$work"
    else
        echo "smoke.sh: inputs and logs kept in $work" >&2
    fi
}
trap finish EXIT

cd "$here"
echo "smoke.sh: building fuzz targets"
cargo "+${toolchain}" fuzz build

for t in "${targets[@]}"; do
    if [ ! -d "corpus/$t" ]; then
        echo "smoke.sh: no corpus directory fuzz/corpus/$t" >&2
        failed+=("$t")
        continue
    fi
    mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
    cp -R "corpus/$t/." "$work/$t/corpus/"
    if [ -d "regressions/$t" ]; then
        cp -R "regressions/$t/." "$work/$t/corpus/"
    fi
    echo "smoke.sh: fuzzing $t for ${seconds}s"
    set +e
    cargo "+${toolchain}" fuzz run "$t" "$work/$t/corpus" -- \
        -max_total_time="$seconds" \
        -timeout=10 \
        -rss_limit_mb=2048 \
        -print_final_stats=1 \
        -artifact_prefix="$work/$t/artifacts/" 2>&1 | tee "$work/$t/log"
    rc=${PIPESTATUS[0]}
    set -e
    if [ "$rc" -ne 0 ]; then
        echo "smoke.sh: target $t FAILED (exit $rc)" >&2
        for a in "$work/$t/artifacts/"*; do
            [ -f "$a" ] || continue
            echo "--- $a ($(wc -c <"$a") bytes), hex:" >&2
            od -An -tx1 -v "$a" | head -n 256 >&2
        done
        echo "  reproduce: cargo +${toolchain} fuzz run $t <artifact>" >&2
        echo "  then minimize (cargo +${toolchain} fuzz tmin $t <artifact>) and add it to fuzz/regressions/$t/" >&2
        failed+=("$t")
    else
        grep -E '^stat::number_of_executed_units' "$work/$t/log" |
            sed "s/^/smoke.sh: $t /" || true
    fi
done

if [ "${#failed[@]}" -ne 0 ]; then
    echo "smoke.sh: failing targets: ${failed[*]}" >&2
    exit 1
fi
echo "smoke.sh: all targets ran ${seconds}s without a crash"
