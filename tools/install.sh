#!/usr/bin/env bash
# Installs the checkers `make test` runs, once per machine, and prints where they are.
#
#   tools/install.sh npm    -> the .bin folder of tools/package-lock.json's packages
#                              (@asyncapi/cli; dclint, which ships the Compose Specification schema)
#   tools/install.sh helm   -> the helm binary (tools/helm.sh: built once from the Go module)
#   tools/install.sh kcat   -> kcat, the librdkafka client the outside-producer tests use (tools/kcat.sh)
#   tools/install.sh browser -> the browser tests' Chromium (Debian's, tools/chromium.sh) and the
#                              node_modules of tools/browser/package-lock.json (axe-core, htmx.org)
#   tools/install.sh        -> all four
#
# npm packages go to a cache folder named after the lock file's hash
# (LEADBRIDGE_TOOLS_CACHE, default ~/.cache/leadbridge/tools), so every checkout and CI
# clone on the machine shares one `npm ci`, redone only when package-lock.json changes.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${LEADBRIDGE_TOOLS_CACHE:-$HOME/.cache/leadbridge/tools}"

npm_tools() {
    # $1: the folder holding package.json and package-lock.json (default: tools/)
    local src="${1:-$HERE}" hash dir
    hash="$(sha256sum "$src/package-lock.json" | cut -c1-16)"
    dir="$CACHE/npm-$hash"
    if [[ ! -f "$dir/.installed" ]]; then
        # One install at a time per machine (two test runs may start together).
        mkdir -p "$CACHE" && exec 9>"$CACHE/.npm.lock" && flock 9
    fi
    if [[ ! -f "$dir/.installed" ]]; then
        command -v npm >/dev/null || { echo "[tools] needs Node.js and npm" >&2; exit 1; }
        echo "[tools] npm ci into $dir (once per lock file; takes a few minutes)" >&2
        rm -rf "$dir" && mkdir -p "$dir"
        cp "$src/package.json" "$src/package-lock.json" "$dir/"
        # --ignore-scripts: no install hook may touch the machine (the AsyncAPI CLI's would
        # edit shell start-up files to add completion).
        (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error) >&2
        touch "$dir/.installed"
    fi
    echo "$dir/node_modules/.bin"
}

browser_tools() {
    local chromium modules
    chromium="$("$HERE/chromium.sh")"
    modules="$(dirname "$(npm_tools "$HERE/browser")")"
    echo "$chromium"
    echo "$modules"
}

case "${1:-all}" in
    npm) npm_tools ;;
    helm) "$HERE/helm.sh" ;;
    kcat) "$HERE/kcat.sh" ;;
    browser) browser_tools ;;
    all) npm_tools && "$HERE/helm.sh" && "$HERE/kcat.sh" && browser_tools ;;
    *) echo "usage: tools/install.sh [npm|helm|kcat|browser]" >&2; exit 2 ;;
esac
