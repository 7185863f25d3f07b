#!/bin/sh
# The whole test suite, as CI runs it: install what is missing, then
# configure, build and run ctest in the normal build and in the
# AddressSanitizer + UndefinedBehaviorSanitizer build.
#
#   contrib/run-tests.sh            both builds
#   AGV_BUILDS=normal contrib/run-tests.sh   only one of them
set -eu

cd "$(dirname "$0")/.."
JOBS=${JOBS:-$(nproc)}
BUILDS=${AGV_BUILDS:-"normal sanitize"}

contrib/install-deps.sh
contrib/npm-deps.sh

status=0
for b in $BUILDS; do
        case "$b" in
        normal)
                dir=build
                opts="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DAGV_SANITIZE=OFF"
                ;;
        sanitize)
                dir=build-asan
                opts="-DCMAKE_BUILD_TYPE=Debug -DAGV_SANITIZE=ON"
                ;;
        *)
                echo "run-tests: unknown build '$b' (normal, sanitize)" >&2
                exit 64
                ;;
        esac
        echo "==== $b build ($dir) ===="
        cmake -S . -B "$dir" $opts
        cmake --build "$dir" -j "$JOBS"
        if ! ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 900; then
                status=1
        fi
done
exit $status
