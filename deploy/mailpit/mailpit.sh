#!/usr/bin/env bash
# Local Mailpit: the SMTP server nurture sends to, with a web UI and an HTTP API to read
# what was sent. Built once from its Go module (github.com/axllent/mailpit).
#
#   deploy/mailpit/mailpit.sh install  # go install into the cache, once (skipped when present)
#   deploy/mailpit/mailpit.sh start    # install, start in background on 127.0.0.1, wait
#   deploy/mailpit/mailpit.sh stop     # SIGTERM, up to 30 s, then SIGKILL
#   deploy/mailpit/mailpit.sh status   # prints running/stopped (exit 0 / 3)
#   deploy/mailpit/mailpit.sh wait     # until the API answers
#   deploy/mailpit/mailpit.sh url      # the web UI / API base URL
#
# Environment:
#   LEADBRIDGE_CACHE     binary cache root  (default: $HOME/.cache/leadbridge)
#   LEADBRIDGE_DATA      data root          (default: $HOME/.local/share/leadbridge)
#   MAILPIT_DATA         this instance's directory (default: $LEADBRIDGE_DATA/mailpit);
#                        a test gives its own, with its own ports, for a private instance
#   MAILPIT_SMTP_PORT    SMTP on 127.0.0.1  (default: 1025; nurture's default)
#   MAILPIT_HTTP_PORT    UI and API         (default: 8025)
#   MAILPIT_MAX          messages kept      (default: 100000)
#   MAILPIT_WAIT_TIMEOUT seconds for `wait` (default: 30)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MAILPIT_VERSION="1.33.1"
CACHE_ROOT="${LEADBRIDGE_CACHE:-$HOME/.cache/leadbridge}"
MAILPIT_HOME="$CACHE_ROOT/mailpit-$MAILPIT_VERSION"
BIN="$MAILPIT_HOME/bin/mailpit"
DATA_ROOT="${LEADBRIDGE_DATA:-$HOME/.local/share/leadbridge}"
MDATA="${MAILPIT_DATA:-$DATA_ROOT/mailpit}"
PIDFILE="$MDATA/mailpit.pid"
LOGFILE="$MDATA/mailpit.log"
LOCKFILE="$MDATA/mailpit.sh.lock"
SMTP_PORT="${MAILPIT_SMTP_PORT:-1025}"
HTTP_PORT="${MAILPIT_HTTP_PORT:-8025}"
MAX="${MAILPIT_MAX:-100000}"
WAIT_TIMEOUT="${MAILPIT_WAIT_TIMEOUT:-30}"
URL="http://127.0.0.1:$HTTP_PORT"

log() { echo "[mailpit] $*"; }
err() { echo "[mailpit] $*" >&2; }
die() { err "error: $*"; exit 1; }
# shellcheck source=../lib/daemon.sh
source "$HERE/../lib/daemon.sh"

running_pid() { pidfile_pid "$PIDFILE" 'mailpit'; }

do_install() {
  if [[ -x "$BIN" ]]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "'go' not found on PATH (Mailpit is built from its Go module)"
  log "building Mailpit $MAILPIT_VERSION with go install into $MAILPIT_HOME (once; takes a few minutes)"
  mkdir -p "$MAILPIT_HOME"
  # A private GOPATH and module cache under the cache root: nothing lands in the user's ~/go.
  GOBIN="$MAILPIT_HOME/bin" GOPATH="$CACHE_ROOT/go" GOMODCACHE="$CACHE_ROOT/go/mod" GOFLAGS=-mod=mod \
    go install "github.com/axllent/mailpit@v$MAILPIT_VERSION" || die "go install failed"
  log "installed $BIN"
}

api_ok() { curl -fsS -m 2 "$URL/api/v1/info" >/dev/null 2>&1; }

do_wait() {
  local start=$SECONDS
  while ! api_ok; do
    if [[ -s "$PIDFILE" ]] && ! running_pid >/dev/null; then
      tail -n 20 "$LOGFILE" >&2 || true
      die "mailpit exited"
    fi
    ((SECONDS - start < WAIT_TIMEOUT)) || { tail -n 20 "$LOGFILE" >&2 || true; die "no answer on $URL after ${WAIT_TIMEOUT}s"; }
    sleep 0.3
  done
  log "ready: SMTP 127.0.0.1:$SMTP_PORT, UI and API $URL"
}

do_start() {
  do_install
  take_lock_file "$LOCKFILE" 60
  local pid
  if pid="$(running_pid)"; then
    log "already running (pid $pid)"
    do_wait
    return 0
  fi
  rm -f "$PIDFILE"
  port_open "$SMTP_PORT" && die "port $SMTP_PORT is in use by another process; set MAILPIT_SMTP_PORT"
  port_open "$HTTP_PORT" && die "port $HTTP_PORT is in use by another process; set MAILPIT_HTTP_PORT"
  mkdir -p "$MDATA"
  log "starting Mailpit (data $MDATA, log $LOGFILE)"
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    "$BIN" --smtp "127.0.0.1:$SMTP_PORT" --listen "127.0.0.1:$HTTP_PORT" --database "$MDATA/mailpit.db" \
      --max "$MAX" --smtp-auth-accept-any --smtp-auth-allow-insecure --disable-version-check --quiet \
    >>"$LOGFILE" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 1 50); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
  [[ -s "$PIDFILE" ]] || die "mailpit did not start (no pid file)"
  do_wait
}

do_stop() {
  take_lock_file "$LOCKFILE" 60
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  stop_pid "$pid" "$PIDFILE" mailpit
}

do_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "[mailpit] running (pid $pid, SMTP 127.0.0.1:$SMTP_PORT, $URL)"
    return 0
  fi
  echo "[mailpit] stopped"
  return 3
}

case "${1:-}" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  wait) do_wait ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 {install|start|stop|status|wait|url}" >&2; exit 2 ;;
esac
