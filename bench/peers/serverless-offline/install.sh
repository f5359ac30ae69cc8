#!/usr/bin/env bash
# Installs the serverless-offline peer (npm `serverless@3` + `serverless-offline@13`)
# into a cache directory, so `gust bench --peer serverless-offline` can start it.
# Needs no AWS account. Idempotent: does nothing when the pinned versions are there.
#
# usage: install.sh [CACHE_DIR]   (default: ${XDG_CACHE_HOME:-$HOME/.cache}/gust-bench/serverless-offline)
set -euo pipefail

dir="${1:-${XDG_CACHE_HOME:-$HOME/.cache}/gust-bench/serverless-offline}"
serverless_version="3"
offline_version="13"

if ! command -v npm >/dev/null 2>&1; then
    echo "install.sh: npm is not installed; install Node.js 18+ with npm (Debian: apt-get install nodejs npm)" >&2
    exit 2
fi

marker="$dir/.installed-serverless${serverless_version}-offline${offline_version}"
if [ -f "$marker" ] && [ -x "$dir/node_modules/.bin/serverless" ]; then
    echo "serverless-offline already installed in $dir"
    exit 0
fi

mkdir -p "$dir"
cd "$dir"
[ -f package.json ] || echo '{"name":"gust-bench-peer","private":true}' > package.json
# No telemetry, no update checks: the machine may have no route to anything but the registry.
export SLS_TELEMETRY_DISABLED=1 SLS_NOTIFICATIONS_MODE=off NPM_CONFIG_UPDATE_NOTIFIER=false
npm install --no-audit --no-fund --loglevel=error \
    "serverless@${serverless_version}" "serverless-offline@${offline_version}"
touch "$marker"
echo "serverless-offline installed in $dir"
