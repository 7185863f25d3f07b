#!/bin/sh
# Install the Debian 12 packages agv-agent needs to build and test, and the
# npm packages of the MCP tests. Idempotent: installs only what is missing and
# runs `apt-get update` at most once (twice when it adds arm64).
# AGV_ARM64=0: leave out the arm64 cross toolchain.
set -eu

BUILD="cmake gcc make pkg-config libsystemd-dev libssl-dev libcurl4-openssl-dev libjson-c-dev libinih-dev libinotifytools0-dev libcmocka-dev openssl"
TEST="python3-pytest python3-cryptography python3-botocore systemd-container dpkg-dev man-db prometheus prometheus-alertmanager faketime procps iproute2 acl"
DOCS="scdoc"
# the Debian package (debian/, ctest package/*): debhelper, lintian
PKG="debhelper lintian"
# the libFuzzer build (build-fuzz): clang and its fuzzer/sanitizer runtimes
FUZZ="clang libclang-rt-14-dev"

missing=""
for p in $BUILD $TEST $DOCS $FUZZ $PKG; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ "$(id -u)" -ne 0 ]; then
        SUDO=sudo
else
        SUDO=
fi
# Other apt users (unattended upgrades, a concurrent run) hold the locks for
# a while: wait for them instead of failing.
APT="$SUDO apt-get -o DPkg::Lock::Timeout=600"
apt_update() {
        i=0
        while :; do
                if out=$($APT update -qq 2>&1); then
                        [ -z "$out" ] || echo "$out"
                        return 0
                fi
                echo "$out"
                i=$((i + 1))
                case "$out" in
                *"Could not get lock"* | *"Unable to lock"*) [ $i -lt 20 ] && sleep 15 && continue ;;
                esac
                return 1
        done
}

if [ -n "$missing" ]; then
        echo "install-deps: installing:$missing"
        apt_update
        DEBIAN_FRONTEND=noninteractive $APT install -y -qq --no-install-recommends $missing
else
        echo "install-deps: all Debian packages present"
fi

# The arm64 cross build (ctest package/arm64, docs/deployment.md): Debian's
# cross toolchain, the :arm64 -dev packages of debian/control and qemu-user
# to run the unit tests. Needs the arm64 archive; when it cannot be reached,
# say so, undo the architecture (a foreign architecture without its
# archive would make every later `apt-get update` fail) and go on:
# package/arm64 then reports itself skipped.
ARM64_NATIVE="crossbuild-essential-arm64 qemu-user-static"
ARM64_HOST="libsystemd-dev libssl-dev libcurl4-openssl-dev libjson-c-dev libinih-dev libinotifytools0-dev libcmocka-dev pkgconf"
if [ "${AGV_ARM64:-1}" = 0 ]; then
        echo "install-deps: arm64 cross toolchain left out (AGV_ARM64=0)"
        exit 0
fi
missing=""
for p in $ARM64_NATIVE $(for h in $ARM64_HOST; do echo "$h:arm64"; done); do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -n "$missing" ] || { echo "install-deps: arm64 cross toolchain present"; exit 0; }
added=
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        $SUDO dpkg --add-architecture arm64
        added=1
fi
if ! apt_update || ! apt-cache show libc6:arm64 >/dev/null 2>&1; then
        echo "install-deps: the arm64 archive cannot be reached from this machine: NO arm64 cross build" >&2
        echo "install-deps: (ctest package/arm64 will report itself skipped)" >&2
        if [ -n "$added" ]; then
                $SUDO dpkg --remove-architecture arm64 && apt_update || true
        fi
        exit 0
fi
echo "install-deps: installing (arm64 cross build):$missing"
if ! DEBIAN_FRONTEND=noninteractive $APT install -y -qq --no-install-recommends $missing; then
        # Reachable but not installable: a real problem, reported by
        # package/arm64 as a failure; the rest of the suite still runs.
        echo "install-deps: installing the arm64 cross toolchain FAILED" >&2
fi
