#!/usr/bin/env bash
# Debian's Chromium, for the browser tests (tests/browser: Playwright drives it through
# executable_path; Playwright's own browser download cannot work here). Installed from
# Debian's packages when missing; prints its path; fast when it is installed already.
set -euo pipefail

find_chromium() { command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || true; }
if [[ -z "$(find_chromium)" ]]; then
    as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
    echo "[tools] installing chromium (Debian package; once per machine)" >&2
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    [[ -n "$(find_chromium)" ]] || { echo "[tools] chromium still missing after install" >&2; exit 1; }
fi
find_chromium
