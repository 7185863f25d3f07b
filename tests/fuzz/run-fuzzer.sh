#!/bin/sh
# Fuzz one harness for a bounded time. libFuzzer first runs every seed (a
# committed finding fails at once), then mutates. New inputs go to WORKDIR/corpus,
# crashes to WORKDIR/artifacts (kept for inspection); the seed dirs are
# only read. A dictionary next to the first seed dir (tests/fuzz/TARGET.dict)
# is used. AGV_FUZZ_FLAGS: more libFuzzer flags.
#
#   run-fuzzer.sh FUZZER SECONDS WORKDIR SEEDDIR...
set -eu

fuzzer=$1 seconds=$2 work=$3
shift 3
mkdir -p "$work/corpus" "$work/artifacts"
# the config and alert-state harnesses write files per input: keep them in RAM
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
        TMPDIR=/dev/shm
        export TMPDIR
fi
dict=
[ -f "$1.dict" ] && dict="-dict=$1.dict"
# shellcheck disable=SC2086
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" $dict ${AGV_FUZZ_FLAGS:-} "$work/corpus" "$@"
