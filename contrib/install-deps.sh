#!/bin/sh
# Install the Debian 12 packages agv-agent needs to build and test, and the
# npm packages of the MCP tests. Idempotent: installs only what is missing and
# runs `apt-get update` at most once.
set -eu

BUILD="cmake gcc make pkg-config libsystemd-dev libssl-dev libcurl4-openssl-dev libjson-c-dev libinih-dev libinotifytools0-dev libcmocka-dev openssl"
TEST="python3-pytest python3-cryptography python3-botocore systemd-container dpkg-dev man-db prometheus prometheus-alertmanager faketime procps iproute2 acl"
DOCS="scdoc"
# the libFuzzer build (build-fuzz): clang and its fuzzer/sanitizer runtimes
FUZZ="clang libclang-rt-14-dev"

missing=""
for p in $BUILD $TEST $DOCS $FUZZ; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done

if [ -n "$missing" ]; then
        if [ "$(id -u)" -ne 0 ]; then
                SUDO=sudo
        else
                SUDO=
        fi
        echo "install-deps: installing:$missing"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
else
        echo "install-deps: all Debian packages present"
fi
