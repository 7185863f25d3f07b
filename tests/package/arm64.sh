#!/bin/sh
# ctest package/arm64: cross-build the Debian package for arm64 with
# Debian's cross toolchain (dpkg-buildpackage -a arm64, i.e. the :arm64 -dev
# packages and crossbuild-essential-arm64), with the cmocka unit suite run
# under qemu-user by debian/rules, then check what came out: an AArch64
# binary that runs (under qemu) and prints its version, and lintian clean.
# Exit 77 (ctest: skipped, with the reason printed) when this machine has no
# arm64 archive; any other problem is a failure.
set -eu

out=${1:?usage: arm64.sh OUTDIR}
src=$(cd "$(dirname "$0")/../.." && pwd)
start=$(date +%s)

skip() {
        echo "package/arm64: SKIPPED: $*" >&2
        exit 77
}
fail() {
        echo "package/arm64: FAILED: $*" >&2
        exit 1
}

[ "${AGV_ARM64:-1}" != 0 ] || skip "AGV_ARM64=0"
dpkg --print-foreign-architectures | grep -qx arm64 ||
        skip "arm64 is not a dpkg architecture on this machine: contrib/install-deps.sh adds it only when the arm64 archive can be reached (see its output)"
apt-cache show libc6:arm64 >/dev/null 2>&1 ||
        skip "the arm64 archive is not in apt's lists (apt-get update could not fetch it)"
if ! missing=$(dpkg-checkbuilddeps -a arm64 "$src/debian/control" 2>&1); then
        fail "$missing (contrib/install-deps.sh installs them)"
fi
qemu=$(command -v qemu-aarch64-static) || fail "qemu-aarch64-static missing (apt-get install qemu-user-static)"

rm -rf "$out"
mkdir -p "$out"
log=$out/build.log
# Bounded: a cross build that hangs (e.g. a unit test stuck in qemu) fails.
if ! timeout 1500 "$src/contrib/build-deb.sh" -a arm64 -o "$out" >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        fail "dpkg-buildpackage -a arm64 failed (log: $log)"
fi
built=$(date +%s)

deb=$(ls "$out"/agv-agent_*_arm64.deb)
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "$deb is not Architecture: arm64"

# The unit suite ran, every test of tests/unit, under qemu.
units=$(ls "$src"/tests/unit/test_*.c | wc -l)
grep -q "CMAKE_CROSSCOMPILING_EMULATOR=$qemu" "$log" || fail "debian/rules did not configure qemu as the test emulator"
grep -Eq "100% tests passed, 0 tests failed out of $units\$" "$log" ||
        fail "the arm64 unit suite did not run all $units tests and pass (log: $log)"

x=$(mktemp -d)
trap 'rm -rf "$x"' EXIT INT TERM
dpkg-deb -x "$deb" "$x"
readelf -h "$x/usr/bin/agv-agent" | grep -Eq 'Machine:[[:space:]]+AArch64' || fail "usr/bin/agv-agent is not an AArch64 ELF"
mod="$x/usr/lib/aarch64-linux-gnu/agv-agent/agv-agent-core.so"
readelf -h "$mod" | grep -Eq 'Machine:[[:space:]]+AArch64' || fail "the arm64 package lacks an AArch64 $mod"
# --version and check-config run in the module, found through the
# executable's RUNPATH ($ORIGIN/../lib/aarch64-linux-gnu/agv-agent)
ver=$(dpkg-deb -f "$deb" Version)
got=$("$qemu" "$x/usr/bin/agv-agent" --version) || fail "the arm64 binary does not run under qemu"
case "$got" in
*"$ver"*) ;;
*) fail "agv-agent --version printed '$got', expected the package version $ver" ;;
esac
# The packaged default config passes the arm64 binary's own validation
# (with groups this build host has: agentic-vault exists only where the
# package is installed).
cp "$x/etc/agv-agent/agent.conf" "$x/check.conf"
printf '\n[agent]\nsocket_group = root\n[pki]\ngroup = root\n' >>"$x/check.conf"
"$qemu" "$x/usr/bin/agv-agent" check-config --config "$x/check.conf" ||
        fail "the arm64 binary rejects the packaged agent.conf"

lint=$(lintian --fail-on none "$out"/agv-agent_*_arm64.changes 2>&1) || true
if echo "$lint" | grep -Eq '^[EW]: '; then
        echo "$lint" >&2
        fail "lintian reports errors or warnings on the arm64 package"
fi

end=$(date +%s)
echo "package/arm64: ok: $deb ($units unit tests passed under $qemu); cross build + tests $((built - start)) s, checks $((end - built)) s"
