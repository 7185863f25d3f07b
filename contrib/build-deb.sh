#!/bin/sh
# Build the Debian package out of tree: the same `dpkg-buildpackage -us -uc
# -b` as README says, run on a clean copy of the source (the files git
# knows, or the whole tree minus build output when there is no git), so the
# source tree and its parent directory stay untouched. The tests and CI use
# it; the results land in OUTDIR.
#
#   contrib/build-deb.sh [-a ARCH] [-o OUTDIR] [-P PROFILES] [-n]
#     -a ARCH      cross build for ARCH (dpkg-buildpackage -a; e.g. arm64)
#     -o OUTDIR    where the .deb, .changes and .buildinfo go (default: .)
#     -P PROFILES  build profiles (e.g. pkg.agv-agent.sanitize)
#     -n           nocheck: skip the unit tests
set -eu

src=$(cd "$(dirname "$0")/.." && pwd)
arch= out=. profiles= nocheck=
while getopts a:o:P:n opt; do
        case $opt in
        a) arch=$OPTARG ;;
        o) out=$OPTARG ;;
        P) profiles=$OPTARG ;;
        n) nocheck=1 ;;
        *) echo "usage: $0 [-a ARCH] [-o OUTDIR] [-P PROFILES] [-n]" >&2; exit 64 ;;
        esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

work=$(mktemp -d "${TMPDIR:-/tmp}/agv-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
mkdir "$work/agv-agent"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        # Tracked plus new, not ignored files (minus deleted ones): what
        # the next commit would hold.
        (cd "$src" && git ls-files -z -co --exclude-standard |
                xargs -0 -r sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done; exit 0' sh |
                xargs -0 -r cp -a --parents -t "$work/agv-agent")
else
        tar -C "$src" --exclude='./build*' --exclude='./obj-*' --exclude=node_modules \
                --exclude='./debian/.debhelper' --exclude='./debian/agv-agent' -cf - . |
                tar -C "$work/agv-agent" -xf -
fi

opts="-us -uc -b -j${JOBS:-$(nproc)}"
[ -n "$arch" ] && opts="$opts -a $arch"
[ -n "$profiles" ] && opts="$opts -P$profiles"
if [ -n "$nocheck" ]; then
        DEB_BUILD_OPTIONS="nocheck ${DEB_BUILD_OPTIONS:-}"
        export DEB_BUILD_OPTIONS
fi
echo "build-deb: dpkg-buildpackage $opts (in $work/agv-agent)"
(cd "$work/agv-agent" && dpkg-buildpackage $opts)
for f in "$work"/*.deb "$work"/*.changes "$work"/*.buildinfo; do
        [ -e "$f" ] && mv -f "$f" "$out/"
done
echo "build-deb: results in $out:"
(cd "$out" && ls -1 *.deb *.changes)
