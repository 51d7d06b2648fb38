#!/usr/bin/env bash
# kcat, a librdkafka (non-Java) Kafka client, from Debian's packages when missing: the
# end-to-end tests produce raw CloudEvents records with it, as a scanner would
# (docs/PRODUCERS.md). Prints where it is; fast when it is installed already.
set -euo pipefail

if ! command -v kcat >/dev/null 2>&1; then
    as_root() { if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
    echo "[tools] installing kcat (Debian package)" >&2
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat >/dev/null
    command -v kcat >/dev/null 2>&1 || { echo "[tools] kcat still missing after install" >&2; exit 1; }
fi
command -v kcat
