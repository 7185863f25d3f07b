#!/bin/sh
# Install the npm packages of the demo signer, the MCP tests and the AWS SDK
# consumer of the credentials tests from their lockfiles, only where
# node_modules is missing or older than the lockfile, so a run that already
# has them never deletes a tree another test uses.
set -eu
cd "$(dirname "$0")/.."
# Arguments name the directories; default: all three.
[ $# -gt 0 ] || set -- contrib/demo-signer tests/mcp tests/aws-sdk-js
for d in "$@"; do
        if [ ! -f "$d/node_modules/.package-lock.json" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
                echo "npm-deps: npm ci in $d"
                (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
        fi
done
