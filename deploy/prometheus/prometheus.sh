#!/usr/bin/env bash
# Local Prometheus for Leadbridge, from Debian's `prometheus` package, without Docker.
#
#   deploy/prometheus/prometheus.sh install   # apt-get install prometheus (promtool too) if missing
#   deploy/prometheus/prometheus.sh start     # install, render the config, start in background, wait
#   deploy/prometheus/prometheus.sh stop      # SIGTERM, up to 30 s, then SIGKILL
#   deploy/prometheus/prometheus.sh status    # prints running/stopped (exit 0 / 3)
#   deploy/prometheus/prometheus.sh wait      # until /-/ready answers
#   deploy/prometheus/prometheus.sh url       # prints the URL
#
# The project runs its OWN instance: its own port, config and data directory. Debian's
# package also installs a system service (port 9090, /etc/prometheus); it is never used
# here, which is why the default port is not 9090.
#
# The config is deploy/prometheus/prometheus.yml (the one docker-compose.yml mounts) with
# its rules (deploy/prometheus/rules); what differs between setups is only the list of
# targets, a file_sd file: `start` writes one for the local services on 127.0.0.1.
#
# Environment:
#   LEADBRIDGE_DATA              data root                  (default: $HOME/.local/share/leadbridge)
#   PROMETHEUS_DATA              this instance's directory  (default: $LEADBRIDGE_DATA/prometheus)
#   PROMETHEUS_PORT              HTTP port                  (default: 9091)
#   PROMETHEUS_TARGETS           a file_sd JSON file to scrape instead of the local services
#   PROMETHEUS_SCRAPE_INTERVAL   scrape and rule evaluation interval (default: the config's, 5s)
#   PROMETHEUS_RETENTION         TSDB retention             (default: 2d)
#   PROMETHEUS_WAIT_TIMEOUT      seconds for `wait`         (default: 30)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CONFIG_SRC="$HERE/prometheus.yml"
RULES_SRC="$HERE/rules"

DATA_ROOT="${LEADBRIDGE_DATA:-$HOME/.local/share/leadbridge}"
PDATA="${PROMETHEUS_DATA:-$DATA_ROOT/prometheus}"
PORT="${PROMETHEUS_PORT:-9091}"
RETENTION="${PROMETHEUS_RETENTION:-2d}"
WAIT_TIMEOUT="${PROMETHEUS_WAIT_TIMEOUT:-30}"
CONF_DIR="$PDATA/config"
TSDB="$PDATA/tsdb"
PIDFILE="$PDATA/prometheus.pid"
LOGFILE="$PDATA/prometheus.log"
LOCKFILE="$PDATA/prometheus.sh.lock"
URL="http://127.0.0.1:$PORT"

# The local services (deploy/run.sh starts them on these ports) and the lag watcher.
LOCAL_TARGETS=(capture:8001 scoring:8002 routing:8003 nurture:8004 content:8005 app:8006 lagwatch:9308)

log() { echo "[prometheus] $*"; }
err() { echo "[prometheus] $*" >&2; }
die() { err "error: $*"; exit 1; }
# shellcheck source=../lib/daemon.sh
source "$HERE/../lib/daemon.sh"

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

installed() { command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; }

do_install() {
  installed && return 0
  log "Prometheus not installed; installing the Debian package 'prometheus'"
  as_root apt-get update -qq
  # No recommends: the node exporter is not needed. The package's own system service
  # (if the init system lets it start) listens on 9090 with /etc/prometheus: not ours.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  installed || die "prometheus installed but 'prometheus'/'promtool' still not on PATH"
  log "installed $(prometheus --version 2>&1 | head -n1)"
}

take_lock() { take_lock_file "$LOCKFILE" 60; }

# Prints the pid if the pid file names a live prometheus process of this instance.
running_pid() { pidfile_pid "$PIDFILE" "prometheus.*--storage.tsdb.path=$TSDB"; }

ready() { curl -fsS --max-time 2 "$URL/-/ready" >/dev/null 2>&1; }

tail_log() {
  if [[ -f "$LOGFILE" ]]; then
    err "last lines of $LOGFILE:"
    tail -n 30 "$LOGFILE" | sed 's/^/    /' >&2
  fi
}

# The repository's config and rules, with this instance's targets beside them.
render_config() {
  mkdir -p "$CONF_DIR" "$TSDB"
  rm -rf "$CONF_DIR/rules"
  cp -r "$RULES_SRC" "$CONF_DIR/rules"
  if [[ -n "${PROMETHEUS_SCRAPE_INTERVAL:-}" ]]; then
    sed -e "s/^\(  scrape_interval:\).*/\1 $PROMETHEUS_SCRAPE_INTERVAL/" \
        -e "s/^\(  evaluation_interval:\).*/\1 $PROMETHEUS_SCRAPE_INTERVAL/" \
        -e "s/^\(  scrape_timeout:\).*/\1 $PROMETHEUS_SCRAPE_INTERVAL/" "$CONFIG_SRC" >"$CONF_DIR/prometheus.yml"
  else
    cp "$CONFIG_SRC" "$CONF_DIR/prometheus.yml"
  fi
  if [[ -n "${PROMETHEUS_TARGETS:-}" ]]; then
    cp "$PROMETHEUS_TARGETS" "$CONF_DIR/targets.json.tmp"
  else
    local t
    {
      echo "["
      echo "  {\"targets\": [\"127.0.0.1:$PORT\"], \"labels\": {\"__service\": \"prometheus\"}}"
      for t in "${LOCAL_TARGETS[@]}"; do
        echo "  ,{\"targets\": [\"127.0.0.1:${t#*:}\"], \"labels\": {\"__service\": \"${t%%:*}\"}}"
      done
      echo "]"
    } >"$CONF_DIR/targets.json.tmp"
  fi
  mv "$CONF_DIR/targets.json.tmp" "$CONF_DIR/targets.json"
  promtool check config "$CONF_DIR/prometheus.yml" >/dev/null || die "promtool rejects $CONF_DIR/prometheus.yml"
}

do_wait() {
  local start=$SECONDS elapsed
  while ! ready; do
    elapsed=$((SECONDS - start))
    if [[ -s "$PIDFILE" ]] && ! running_pid >/dev/null; then
      tail_log
      die "prometheus process $(tr -dc '0-9' <"$PIDFILE") is not running"
    fi
    if ((elapsed >= WAIT_TIMEOUT)); then
      tail_log
      die "not ready on $URL after ${WAIT_TIMEOUT}s"
    fi
    sleep 0.5
  done
  log "ready on $URL"
}

do_start() {
  do_install
  take_lock
  local pid
  if pid="$(running_pid)"; then
    render_config
    kill -HUP "$pid"  # the config or rules may have changed since it started
    log "already running (pid $pid) on $URL; config reloaded"
    do_wait
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$PORT"; then
    die "port $PORT is in use by another process (not started by this script); set PROMETHEUS_PORT"
  fi
  render_config
  if [[ -s "$LOGFILE" ]]; then mv -f "$LOGFILE" "$LOGFILE.1"; fi
  log "starting $(prometheus --version 2>&1 | head -n1 | cut -d' ' -f1-3) (data $PDATA, log $LOGFILE)"
  # setsid: out of the caller's process group, so Ctrl-C in `make run` does not reach it.
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    prometheus --config.file="$CONF_DIR/prometheus.yml" --storage.tsdb.path="$TSDB" \
      --storage.tsdb.retention.time="$RETENTION" --web.listen-address="127.0.0.1:$PORT" \
      --web.enable-lifecycle \
    >>"$LOGFILE" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 1 50); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
  [[ -s "$PIDFILE" ]] || die "prometheus did not start (no pid file)"
  do_wait
}

do_stop() {
  take_lock
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  stop_pid "$pid" "$PIDFILE" prometheus
}

do_status() {
  local pid
  if pid="$(running_pid)"; then
    echo "[prometheus] running (pid $pid, $URL)"
    return 0
  fi
  if port_open "$PORT"; then
    echo "[prometheus] stopped (but port $PORT is answering: another process owns it)"
  else
    echo "[prometheus] stopped"
  fi
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
