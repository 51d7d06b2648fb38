#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, broker+controller) without Docker.
#
#   deploy/kafka/kafka.sh fetch    # download the broker jars with Maven (once)
#   deploy/kafka/kafka.sh start    # fetch, format once, start in background, wait
#   deploy/kafka/kafka.sh stop     # SIGTERM, up to 30 s, then SIGKILL
#   deploy/kafka/kafka.sh status   # prints running/stopped (exit 0 / 3)
#   deploy/kafka/kafka.sh wait     # until the broker answers metadata requests
#
#   KAFKA_SECURE=1 deploy/kafka/kafka.sh start   # the secure profile (docs/SECURITY.md):
#       SASL/SCRAM-SHA-512 and ACLs, its own data (LEADBRIDGE_DATA/kafka-secure) and port
#       (9094); the admin's password from the credentials file (deploy/secure.py makes it).
#       Then `python -m deploy.secure kafka` gives every service its principal and ACLs.
#
# Environment:
#   LEADBRIDGE_CACHE       jar cache root      (default: $HOME/.cache/leadbridge)
#   LEADBRIDGE_DATA        data root           (default: $HOME/.local/share/leadbridge)
#   KAFKA_PORT             client listener     (default: 9092)
#   KAFKA_CONTROLLER_PORT  controller listener (default: 9093)
#   KAFKA_HEAP_OPTS        JVM heap options    (default: -Xmx1g -Xms256m)
#   KAFKA_WAIT_TIMEOUT     seconds for `wait`  (default: 300: a broker holding thousands of
#                          partitions takes minutes to load them)
#   KAFKA_SECURE           1: the secure profile (default 0)
#   LEADBRIDGE_SECURE_CREDENTIALS  the secure profile's credentials file
#                          (default: $LEADBRIDGE_DATA/secure/credentials)
#   LEADBRIDGE_PYTHON      python with kafka-python for the metadata check
#                          (default: <repo>/.venv/bin/python, else TCP check only)
#
# A second broker runs beside the first with its own LEADBRIDGE_DATA, KAFKA_PORT and
# KAFKA_CONTROLLER_PORT: pid file, lock, log and storage all live under
# LEADBRIDGE_DATA/kafka, and `stop` stops only the broker its own pid file names.
# The jar cache is shared; fetching holds the cache's own lock.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
POM="$HERE/pom.xml"
TEMPLATE="$HERE/server.properties.template"
SECURE_TEMPLATE="$HERE/server-secure.properties.template"
SECURE="${KAFKA_SECURE:-0}"
LOG4J="$HERE/log4j2.properties"

KAFKA_VERSION="$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM" | head -n1)"
KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"

CACHE_ROOT="${LEADBRIDGE_CACHE:-$HOME/.cache/leadbridge}"
KAFKA_HOME="$CACHE_ROOT/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
FETCH_STAMP="$KAFKA_HOME/libs.complete"

DATA_ROOT="${LEADBRIDGE_DATA:-$HOME/.local/share/leadbridge}"
if [[ "$SECURE" == 1 ]]; then KDATA="$DATA_ROOT/kafka-secure"; else KDATA="$DATA_ROOT/kafka"; fi
CREDENTIALS="${LEADBRIDGE_SECURE_CREDENTIALS:-$DATA_ROOT/secure/credentials}"
LOG_DIRS="$KDATA/data"
PROPS="$KDATA/server.properties"
CLUSTER_ID_FILE="$KDATA/cluster.id"
PIDFILE="$KDATA/kafka.pid"
LOGFILE="$KDATA/kafka.log"
LOCKFILE="$KDATA/kafka.sh.lock"

if [[ "$SECURE" == 1 ]]; then
  KAFKA_PORT="${KAFKA_PORT:-9094}"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9095}"
else
  KAFKA_PORT="${KAFKA_PORT:-9092}"
  KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
fi
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx1g -Xms256m}"
KAFKA_WAIT_TIMEOUT="${KAFKA_WAIT_TIMEOUT:-300}"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

log() { echo "[kafka] $*"; }
err() { echo "[kafka] $*" >&2; }
die() { err "error: $*"; exit 1; }
# shellcheck source=../lib/daemon.sh
source "$HERE/../lib/daemon.sh"

need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH${2:+ ($2)}"; }

check_java() {
  need java "Kafka $KAFKA_VERSION needs Java 17+"
  local spec
  spec="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p' | head -n1)"
  spec="${spec%%.*}"
  if [[ -n "$spec" && "$spec" =~ ^[0-9]+$ && "$spec" -lt 17 ]]; then
    die "Java $spec found, Kafka $KAFKA_VERSION needs Java 17+"
  fi
}

# Serialise start/stop/fetch between concurrent invocations. The lock fd is
# closed for the broker process so the lock is not held while it runs.
take_lock() { take_lock_file "$LOCKFILE" 300; }

# Prints the broker pid if the pid file names a live kafka.Kafka process.
running_pid() { pidfile_pid "$PIDFILE" 'kafka\.Kafka'; }

tail_log() {
  if [[ -f "$LOGFILE" ]]; then
    err "last lines of $LOGFILE:"
    tail -n 40 "$LOGFILE" | sed 's/^/    /' >&2
  fi
}

# ---------------------------------------------------------------- fetch
take_cache_lock() {
  mkdir -p "$CACHE_ROOT"
  exec 8>"$CACHE_ROOT/kafka-$KAFKA_VERSION.lock"
  flock -w 600 8 || die "could not lock the jar cache $CACHE_ROOT"
}

do_fetch() {
  take_cache_lock
  fetch_jars
  exec 8>&-  # (released at once: another instance's start need not wait for this one's)
}

fetch_jars() {
  local want
  want="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -d "$LIBS" && -f "$FETCH_STAMP" && "$(cat "$FETCH_STAMP")" == "$want" ]]; then
    log "jars present in $LIBS"
    return 0
  fi
  if running_pid >/dev/null; then
    die "broker is running from $LIBS; stop it before re-fetching jars"
  fi
  need mvn "install Maven: apt-get install -y maven"
  log "fetching Kafka $KAFKA_VERSION jars with Maven into $LIBS"
  mkdir -p "$KAFKA_HOME"
  rm -rf "$LIBS" "$LIBS.partial" "$FETCH_STAMP"
  # (the sed strips the colour codes Maven 3.8 prints even in batch mode)
  mvn -q -B -f "$POM" dependency:copy-dependencies \
    -DoutputDirectory="$LIBS.partial" -DincludeScope=runtime 2>&1 \
    | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' \
    || die "mvn dependency:copy-dependencies failed"
  mv "$LIBS.partial" "$LIBS"
  echo "$want" >"$FETCH_STAMP"
  log "fetched $(find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l) jars"
}

# ---------------------------------------------------------------- config
sed_escape() { printf '%s' "$1" | sed -e 's/[\\|&]/\\&/g'; }

# The secure profile's admin password (made with the other principals' by deploy/secure.py).
admin_password() {
  if [[ ! -s "$CREDENTIALS" ]] || ! grep -q '^kafka\.admin=' "$CREDENTIALS"; then
    local py
    py="$(pick_python)"
    [[ -n "$py" ]] || die "no credentials file $CREDENTIALS, and no .venv python to make one (make venv)"
    (cd "$REPO" && LEADBRIDGE_SECURE_CREDENTIALS="$CREDENTIALS" PYTHONPATH="$REPO" "$py" -m deploy.secure credentials >/dev/null) \
      || die "could not make the credentials file $CREDENTIALS"
  fi
  sed -n 's/^kafka\.admin=//p' "$CREDENTIALS" | head -n1
}

render_props() {
  mkdir -p "$KDATA" "$LOG_DIRS"
  local templates=("$TEMPLATE") password=""
  if [[ "$SECURE" == 1 ]]; then
    templates+=("$SECURE_TEMPLATE")
    password="$(admin_password)"
  fi
  (umask 077; cat "${templates[@]}" | sed -e "s|@KAFKA_PORT@|$(sed_escape "$KAFKA_PORT")|g" \
      -e "s|@KAFKA_CONTROLLER_PORT@|$(sed_escape "$KAFKA_CONTROLLER_PORT")|g" \
      -e "s|@KAFKA_LOG_DIRS@|$(sed_escape "$LOG_DIRS")|g" \
      -e "s|@ADMIN_PASSWORD@|$(sed_escape "$password")|g" >"$PROPS.tmp")
  mv "$PROPS.tmp" "$PROPS"
}

java_tool() {
  java -cp "$LIBS/*" -Dlog4j2.configurationFile="$LOG4J" "$@"
}

format_once() {
  if [[ -f "$LOG_DIRS/meta.properties" ]]; then
    local cid
    cid="$(sed -n 's/^cluster\.id=//p' "$LOG_DIRS/meta.properties")"
    log "storage already formatted (cluster id ${cid:-?})"
    return 0
  fi
  if [[ ! -s "$CLUSTER_ID_FILE" ]]; then
    java_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1 | tr -d '[:space:]' >"$CLUSTER_ID_FILE.tmp"
    [[ -s "$CLUSTER_ID_FILE.tmp" ]] || die "StorageTool random-uuid produced no id"
    mv "$CLUSTER_ID_FILE.tmp" "$CLUSTER_ID_FILE"
  fi
  local cid
  cid="$(cat "$CLUSTER_ID_FILE")"
  log "formatting $LOG_DIRS (cluster id $cid)"
  local scram=()
  # SCRAM credentials live in the metadata log: the admin's is written at format time.
  if [[ "$SECURE" == 1 ]]; then scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(admin_password)]"); fi
  if ! java_tool kafka.tools.StorageTool format -t "$cid" -c "$PROPS" --standalone "${scram[@]}" >>"$LOGFILE" 2>&1; then
    tail_log
    die "StorageTool format failed"
  fi
}

# ---------------------------------------------------------------- wait
pick_python() {
  local py="${LEADBRIDGE_PYTHON:-$REPO/.venv/bin/python}"
  if [[ -x "$py" ]] && "$py" -c 'import kafka' >/dev/null 2>&1; then
    echo "$py"
  fi
}

metadata_ok() {
  local py="$1" password=""
  if [[ "$SECURE" == 1 ]]; then password="$(admin_password)"; fi
  LB_ADMIN_PASSWORD="$password" timeout 20 "$py" - "$BOOTSTRAP" >/dev/null 2>&1 <<'PY'
import os, sys
from kafka import KafkaAdminClient
password = os.environ["LB_ADMIN_PASSWORD"]
sasl = dict(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512", sasl_plain_username="admin",
            sasl_plain_password=password) if password else {}
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], client_id="leadbridge-kafka-sh",
                         request_timeout_ms=5000, **sasl)
try:
    admin.list_topics()
finally:
    admin.close()
PY
}

do_wait() {
  local py start=$SECONDS last=0 elapsed how
  py="$(pick_python)"
  if [[ -n "$py" ]]; then how="metadata request via kafka-python"; else how="TCP check only, kafka-python not found"; fi
  log "waiting for broker on $BOOTSTRAP ($how, up to ${KAFKA_WAIT_TIMEOUT}s)"
  while :; do
    elapsed=$((SECONDS - start))
    if [[ -s "$PIDFILE" ]] && ! running_pid >/dev/null; then
      tail_log
      die "broker process $(tr -dc '0-9' <"$PIDFILE") is not running"
    fi
    if port_open "$KAFKA_PORT"; then
      if [[ -z "$py" ]] || metadata_ok "$py"; then
        log "broker ready on $BOOTSTRAP after ${elapsed}s"
        return 0
      fi
    fi
    if ((elapsed >= KAFKA_WAIT_TIMEOUT)); then
      tail_log
      die "broker not ready on $BOOTSTRAP after ${KAFKA_WAIT_TIMEOUT}s"
    fi
    if ((elapsed - last >= 5)); then
      log "  ...still waiting (${elapsed}s)"
      last=$elapsed
    fi
    sleep 1
  done
}

# ---------------------------------------------------------------- start
do_start() {
  check_java
  take_lock
  do_fetch
  local pid
  if pid="$(running_pid)"; then
    if port_open "$KAFKA_PORT"; then
      log "already running (pid $pid) on $BOOTSTRAP"
      return 0
    fi
    log "broker process $pid exists but $BOOTSTRAP does not answer yet"
    do_wait
    return 0
  fi
  rm -f "$PIDFILE"
  if port_open "$KAFKA_PORT"; then
    die "port $KAFKA_PORT is in use by another process (not started by this script); set KAFKA_PORT"
  fi
  if port_open "$KAFKA_CONTROLLER_PORT"; then
    die "controller port $KAFKA_CONTROLLER_PORT is in use by another process; set KAFKA_CONTROLLER_PORT"
  fi
  render_props
  # Keep the previous run's log (useful after a crash), start a fresh one.
  if [[ -s "$LOGFILE" ]]; then mv -f "$LOGFILE" "$LOGFILE.1"; fi
  format_once
  log "starting Kafka $KAFKA_VERSION (data $KDATA, log $LOGFILE)"
  # setsid: not in the caller's process group, so Ctrl-C in `make run` does not
  # hit the broker; the inner bash writes its own pid, then execs java.
  # shellcheck disable=SC2086
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
    java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$KDATA" \
      -cp "$LIBS/*" kafka.Kafka "$PROPS" \
    >>"$LOGFILE" 2>&1 </dev/null 9>&- &
  local i
  for i in $(seq 1 50); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
  [[ -s "$PIDFILE" ]] || die "broker did not start (no pid file)"
  log "pid $(cat "$PIDFILE")"
  do_wait
}

# ---------------------------------------------------------------- stop
do_stop() {
  take_lock
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  stop_pid "$pid" "$PIDFILE" broker
}

# ---------------------------------------------------------------- status
do_status() {
  local pid
  if pid="$(running_pid)"; then
    if port_open "$KAFKA_PORT"; then
      echo "[kafka] running (pid $pid, $BOOTSTRAP)"
    else
      echo "[kafka] starting (pid $pid, $BOOTSTRAP not answering yet)"
    fi
    return 0
  fi
  if port_open "$KAFKA_PORT"; then
    echo "[kafka] stopped (but $BOOTSTRAP is answering: another process owns the port)"
  else
    echo "[kafka] stopped"
  fi
  return 3
}

usage() {
  echo "usage: $0 {fetch|start|stop|status|wait}" >&2
  exit 2
}

case "${1:-}" in
  fetch) take_lock; do_fetch ;;
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  wait) do_wait ;;
  *) usage ;;
esac
