#!/usr/bin/env bash
# Prints the path of a Helm binary, building it once from the Go module if the cache
# has none (a few minutes on two cores; every later call returns at once).
#
#   deploy/tools/helm.sh            -> /root/.cache/leadbridge/tools/helm-v3.22.0/helm
#
# The cache lives outside the work tree (LEADBRIDGE_TOOLS_CACHE, default
# ~/.cache/leadbridge/tools) so every checkout and CI run on the machine share it.
set -euo pipefail
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${LEADBRIDGE_TOOLS_CACHE:-$HOME/.cache/leadbridge/tools}"
BIN_DIR="$CACHE/helm-$HELM_VERSION"
HELM="$BIN_DIR/helm"

if [[ ! -x "$HELM" ]]; then
    # One build at a time per machine (two test runs may start together).
    mkdir -p "$CACHE" && exec 9>"$CACHE/.helm.lock" && flock 9
fi
if [[ ! -x "$HELM" ]]; then
    command -v go >/dev/null || { echo "[helm] needs Go (go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION)" >&2; exit 1; }
    echo "[helm] building helm $HELM_VERSION into $BIN_DIR (once; takes a few minutes)" >&2
    mkdir -p "$BIN_DIR"
    tmp="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    # Build into a temporary folder and move it in place, so an interrupted build never
    # leaves a half-written binary that later calls would take for the real one.
    GOBIN="$tmp" GOFLAGS="-buildvcs=false -trimpath" nice go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
    mv "$tmp/helm" "$HELM"
fi
echo "$HELM"
