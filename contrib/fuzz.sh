#!/bin/sh
# A long libFuzzer run of one harness (tests/fuzz, docs/fuzzing.md):
# configures and builds build-fuzz with clang if needed, then fuzzes TARGET
# for SECONDS. The corpus grows in build-fuzz/fuzz-long/TARGET/corpus and
# persists between runs; crashes land in build-fuzz/fuzz-long/TARGET/artifacts.
# A finding becomes a regression seed: fix it, then copy the crash file into
# tests/fuzz/TARGET/.
#
#   contrib/fuzz.sh TARGET [SECONDS]     e.g. contrib/fuzz.sh config 3600
#   contrib/fuzz.sh list
#   JOBS=2 contrib/fuzz.sh ...           parallel workers (-fork)
set -eu

cd "$(dirname "$0")/.."
targets="protocol config pki_assess mcp_router child_stderr alert_store"
target=${1:-}
seconds=${2:-600}

if [ -z "$target" ] || [ "$target" = "-h" ] || [ "$target" = "--help" ]; then
        echo "usage: contrib/fuzz.sh TARGET [SECONDS]   (TARGET: $targets, or 'list')" >&2
        exit 64
fi
if [ "$target" = list ]; then
        echo "$targets" | tr ' ' '\n'
        exit 0
fi
case " $targets " in
*" $target "*) ;;
*)
        echo "fuzz.sh: unknown target '$target'; one of: $targets" >&2
        exit 64
        ;;
esac
case "$seconds" in
'' | *[!0-9]*)
        echo "fuzz.sh: SECONDS must be a number, not '$seconds'" >&2
        exit 64
        ;;
esac

dir=${AGV_FUZZ_BUILD:-build-fuzz}
if [ ! -f "$dir/CMakeCache.txt" ]; then
        CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DAGV_FUZZ=ON
fi
cmake --build "$dir" -j "${BUILD_JOBS:-2}" --target "fuzz_$target"

seeds="tests/fuzz/$target"
[ "$target" = pki_assess ] && seeds="$seeds $dir/tests/fuzz/seeds/pki_assess"
work="$dir/fuzz-long/$target"
if [ -n "${JOBS:-}" ]; then
        AGV_FUZZ_FLAGS="-fork=$JOBS"
        export AGV_FUZZ_FLAGS
fi
# shellcheck disable=SC2086
exec tests/fuzz/run-fuzzer.sh "$dir/tests/fuzz/fuzz_$target" "$seconds" "$work" $seeds
