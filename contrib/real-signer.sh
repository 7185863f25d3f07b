#!/bin/sh
# Install the real signer (@agenticvault/agentic-vault, which provides
# agentic-vault-mcp) for the tests into PREFIX (default build/real-signer):
# from the npm registry when it has the package, else from
# ../shared/signer/*.tgz beside the source tree (or $AGV_SIGNER_TGZ). Its
# dependencies come from npm. When neither is available it writes
# PREFIX/UNAVAILABLE with the reason and exits 0: the tests that need the
# signer then skip, saying why. An existing install is kept unless the
# tarball is newer.
set -eu
src="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-$src/build/real-signer}"
pkg=@agenticvault/agentic-vault
bin="$prefix/bin/agentic-vault-mcp"
stamp="$prefix/.installed-from"

tgz="${AGV_SIGNER_TGZ:-}"
if [ -z "$tgz" ]; then
        # beside the clone; for a git worktree also beside the main checkout
        common="$(git -C "$src" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
        for d in "$src/../shared/signer" ${common:+"$(dirname "$common")/../shared/signer"}; do
                for f in "$d"/*.tgz; do
                        [ -z "$tgz" ] && [ -f "$f" ] && tgz="$f"
                done
        done
fi

if [ -x "$bin" ] && [ -f "$stamp" ] && { [ -z "$tgz" ] || [ ! "$tgz" -nt "$stamp" ]; }; then
        echo "real-signer: already installed in $prefix ($(cat "$stamp"))"
        exit 0
fi
mkdir -p "$prefix"
rm -f "$prefix/UNAVAILABLE"

if ! command -v npm >/dev/null 2>&1; then
        echo "npm is not installed" > "$prefix/UNAVAILABLE"
        echo "real-signer: npm not found; tests with the real signer will skip"
        exit 0
fi

from=""
if npm view "$pkg" version >/dev/null 2>&1; then
        from="$pkg"
elif [ -n "$tgz" ]; then
        from="$tgz"
fi
if [ -z "$from" ]; then
        echo "$pkg is not on the npm registry and no ../shared/signer/*.tgz (or AGV_SIGNER_TGZ) was found" > "$prefix/UNAVAILABLE"
        echo "real-signer: $(cat "$prefix/UNAVAILABLE"); tests with the real signer will skip"
        exit 0
fi
echo "real-signer: npm install -g --prefix $prefix $from"
if ! npm install -g --prefix "$prefix" --no-audit --no-fund --loglevel=error "$from"; then
        echo "npm install of $from failed (see the fixture's output)" > "$prefix/UNAVAILABLE"
        exit 1
fi
[ -x "$bin" ] || { echo "real-signer: $bin missing after the install" >&2; exit 1; }
echo "$from" > "$stamp"
