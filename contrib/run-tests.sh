#!/bin/sh
# The whole test suite, as CI runs it: install what is missing, then
# configure, build and run ctest in the normal build, in the
# AddressSanitizer + UndefinedBehaviorSanitizer build, and the libFuzzer
# harnesses (clang, build-fuzz: only the `fuzz` label, each fuzzed for
# AGV_FUZZ_SECONDS, default 20; see docs/fuzzing.md).
#
#   contrib/run-tests.sh            all three builds
#   AGV_BUILDS=normal contrib/run-tests.sh   only one of them (normal, sanitize, fuzz)
set -eu

cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
BUILDS=${AGV_BUILDS:-"normal sanitize fuzz"}

contrib/install-deps.sh
contrib/npm-deps.sh

status=0
for b in $BUILDS; do
        only=
        target=
        case "$b" in
        normal)
                dir=build
                opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGV_SANITIZE=OFF"
                ;;
        sanitize)
                dir=build-asan
                opts="-DCMAKE_BUILD_TYPE=Debug -DAGV_SANITIZE=ON"
                ;;
        fuzz)
                # a separate compiler needs its own build dir (CC is read once)
                dir=build-fuzz
                opts="-DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DAGV_FUZZ=ON -DAGV_FUZZ_SECONDS=${AGV_FUZZ_SECONDS:-20}"
                only="-L fuzz"
                target="--target fuzz"
                ;;
        *)
                echo "run-tests: unknown build '$b' (normal, sanitize, fuzz)" >&2
                exit 64
                ;;
        esac
        echo "==== $b build ($dir) ===="
        cmake -S . -B "$dir" $opts
        # shellcheck disable=SC2086
        cmake --build "$dir" -j "$JOBS" $target
        # shellcheck disable=SC2086
        if ! ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 900 ${only:-}; then
                status=1
        fi
done
exit $status
