#!/usr/bin/env bash
# make run: the whole Leadbridge pipeline on this machine, until Ctrl-C.
#
# Starts (when not already running) Kafka and PostgreSQL, creates the topics, starts
# the five services and the app with the demo configuration (deploy/demo: the intent-led
# company's sales organisation, the agreed rubric and the demo accounts), seeds demo
# collateral, prints the URLs and the demo sign-ins and waits. Ctrl-C stops every process it started, and only those.
#
# SECURE=1 (make run-secure): the secure profile (docs/SECURITY.md). Kafka with SASL/SCRAM
# and ACLs on 127.0.0.1:9094 (its own data), every service its own Kafka principal and
# its own PostgreSQL role in the database leadbridge_secure, owning only its schema; the
# passwords in $LEADBRIDGE_DATA/secure/credentials, made once.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
PY="$ROOT/.venv/bin/python"
export PYTHONPATH="$ROOT"
LOGS="$ROOT/var/log"
mkdir -p "$LOGS"

started_kafka=0
started_postgres=0
started_prometheus=0
started_mailpit=0
stopping=0
pids=()
names=()

cleanup() {
  trap - INT TERM EXIT
  stopping=1
  echo
  echo "[run] stopping services"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_prometheus" = 1 ]; then deploy/prometheus/prometheus.sh stop || true; fi
  if [ "$started_mailpit" = 1 ]; then deploy/mailpit/mailpit.sh stop || true; fi
  if [ "$started_kafka" = 1 ]; then deploy/kafka/kafka.sh stop || true; fi
  # Only what this run started: a broker or database that was already up (for `make test`,
  # another shell, or the system's own PostgreSQL) stays up.
  if [ "$started_postgres" = 1 ]; then deploy/postgres/postgres.sh stop --if-started || true; fi
  echo "[run] stopped"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

SECURE="${SECURE:-0}"
SECURE_ENV="$ROOT/var/secure"  # each service's principal and role, KEY=VALUE (mode 600)
if [ "$SECURE" = 1 ]; then export KAFKA_SECURE=1; fi  # kafka.sh: the secure broker, start and stop

if ! deploy/kafka/kafka.sh status >/dev/null 2>&1; then started_kafka=1; fi
if ! deploy/postgres/postgres.sh status >/dev/null 2>&1; then started_postgres=1; fi
if ! deploy/prometheus/prometheus.sh status >/dev/null 2>&1; then started_prometheus=1; fi
if ! deploy/mailpit/mailpit.sh status >/dev/null 2>&1; then started_mailpit=1; fi
deploy/kafka/kafka.sh start
deploy/postgres/postgres.sh start
deploy/mailpit/mailpit.sh start   # nurture's SMTP server (its default, 127.0.0.1:1025)
MAILPIT_URL="$(deploy/mailpit/mailpit.sh url)"
if [ "$SECURE" = 1 ]; then
  "$PY" -m deploy.secure credentials >/dev/null   # once: a password per principal
  deploy/postgres/postgres.sh secure               # a role per service, owning only its schema
  "$PY" -m deploy.secure kafka                     # SCRAM credentials, topics and ACLs, as admin
  "$PY" -m deploy.secure envfiles "$SECURE_ENV" >/dev/null
else
  "$PY" -m shared.topics create
fi
# what a process of the pipeline runs with: nothing extra, or its own secure-profile credentials
credentials_of() { if [ "$SECURE" = 1 ]; then grep -v '^#' "$SECURE_ENV/$1.env"; fi; }

# Sign-in: one signing key for this machine's demo, made once under the data directory.
# Every service verifies tokens with its public JWKS; the app signs with the private PEM;
# make demo mints its token with it.
AUTH_DIR="${LEADBRIDGE_DATA:-$HOME/.local/share/leadbridge}/auth"
{ read -r pem; read -r jwks; } < <("$PY" -m shared.auth keypair "$AUTH_DIR")
export LEADBRIDGE_AUTH_SIGNING_KEY_FILE="${LEADBRIDGE_AUTH_SIGNING_KEY_FILE:-$pem}"
export LEADBRIDGE_AUTH_JWKS_FILE="${LEADBRIDGE_AUTH_JWKS_FILE:-$jwks}"

# The demo's webinar (make demo) ends a minute after it is defined: its no-shows are marked
# seconds after the end, and its pre-event calls are due seconds before the start.
export LEADBRIDGE_NURTURE_NO_SHOW_GRACE_S="${LEADBRIDGE_NURTURE_NO_SHOW_GRACE_S:-5}"
export LEADBRIDGE_NURTURE_PRE_EVENT_CALL_LEAD_S="${LEADBRIDGE_NURTURE_PRE_EVENT_CALL_LEAD_S:-15}"
export LEADBRIDGE_NURTURE_PRE_EVENT_CALL_SOONEST_S="${LEADBRIDGE_NURTURE_PRE_EVENT_CALL_SOONEST_S:-1}"

# Capture takes leads only with a source's key: make demo's is a bootstrap key for every
# source, made once beside the signing key, unless LEADBRIDGE_SOURCE_KEYS is given.
if [ -z "${LEADBRIDGE_SOURCE_KEYS:-}" ]; then
  if [ ! -s "$AUTH_DIR/demo-source-key" ]; then
    (umask 077 && "$PY" -c 'import secrets; print("lbk_demo" + secrets.token_hex(6) + "." + secrets.token_urlsafe(32))' \
      >"$AUTH_DIR/demo-source-key")
  fi
  LEADBRIDGE_SOURCE_KEYS="[{\"key\": \"$(cat "$AUTH_DIR/demo-source-key")\", \"source\": \"*\", \"label\": \"make run demo\"}]"
  export LEADBRIDGE_SOURCE_KEYS
fi

SERVICES=(capture scoring routing nurture content app)
declare -A PORTS=([capture]=8001 [scoring]=8002 [routing]=8003 [nurture]=8004 [content]=8005 [app]=8006)
LAGWATCH_PORT=9308  # deploy/prometheus/prometheus.sh scrapes it there
for svc in "${SERVICES[@]}"; do
  port="${PORTS[$svc]}"
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "[run] port $port is taken: is another 'make run' still running? (stop it first)" >&2
    exit 1
  fi
  # setsid: Ctrl-C reaches this script only; it then stops the services in order.
  # shellcheck disable=SC2046  # (KEY=VALUE words without spaces)
  setsid env $(credentials_of "$svc") LEADBRIDGE_HTTP_PORT="$port" "$PY" -m "services.$svc" >"$LOGS/$svc.log" 2>&1 &
  pids+=("$!")
  names+=("$svc")
  echo "[run] $svc starting (pid $!, log var/log/$svc.log)"
done

# The consumer-group lag exporter: the lag of a service that is down is read from the broker.
if (exec 3<>"/dev/tcp/127.0.0.1/$LAGWATCH_PORT") 2>/dev/null; then
  echo "[run] port $LAGWATCH_PORT (lagwatch) is taken: is another 'make run' still running?" >&2
  exit 1
fi
# shellcheck disable=SC2046
setsid env $(credentials_of lagwatch) LEADBRIDGE_HTTP_PORT="$LAGWATCH_PORT" "$PY" -m shared.lagwatch \
  >"$LOGS/lagwatch.log" 2>&1 &
pids+=("$!")
names+=("lagwatch")
echo "[run] lagwatch starting (pid $!, log var/log/lagwatch.log)"
deploy/prometheus/prometheus.sh start
PROMETHEUS_URL="$(deploy/prometheus/prometheus.sh url)"

for svc in "${SERVICES[@]}"; do
  port="${PORTS[$svc]}"
  for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then echo "[run] $svc healthy"; break; fi
    if [ "$i" = 120 ]; then echo "[run] $svc did not become healthy; last log lines:" >&2; tail -20 "$LOGS/$svc.log" >&2; exit 1; fi
    sleep 0.5
  done
done

"$PY" deploy/demo/seed.py

cat <<MSG

Leadbridge is running.

  The app:  http://127.0.0.1:8006/   (phone first: try it at 390 px wide)
  Demo sign-ins (user name, password, role; reps sign in with their rep id):
$("$PY" deploy/demo/accounts.py)

  capture   http://127.0.0.1:8001/docs   POST /v1/leads, GET /v1/leads/{id}
  scoring   http://127.0.0.1:8002/docs   rubrics, GET /v1/leads/{id}/score
  routing   http://127.0.0.1:8003/docs   org, rules, follow-ups, GET /v1/reps/{id}/assignments
  nurture   http://127.0.0.1:8004/docs   pool, tracks (PUT /v1/nurture/tracks/{name}), tasks, messages
  mailpit   $MAILPIT_URL   every email nurture sent (web UI; API under /api/v1)
  content   http://127.0.0.1:8005/docs   GET /v1/collateral
  app       http://127.0.0.1:8006/docs   POST /v1/auth/token, GET /.well-known/jwks.json (the pages: /)
  metrics   http://127.0.0.1:800N/metrics on each service; health on /healthz
  lagwatch  http://127.0.0.1:$LAGWATCH_PORT/metrics   committed consumer-group lag, read from the broker
  prometheus $PROMETHEUS_URL   scrapes all of them; rules and alerts: $PROMETHEUS_URL/alerts
            try: $PROMETHEUS_URL/graph?g0.expr=service_topic:leadbridge_consumer_group_lag_records:sum
  dashboards deploy/grafana/dashboards/*.json (import into Grafana, or docker compose up grafana)
  logs      var/log/<service>.log
  tokens    every route but /healthz, /livez and /metrics needs one; for curl:
            TOKEN=\$($PY -m shared.auth token --key $LEADBRIDGE_AUTH_SIGNING_KEY_FILE --subject me --roles operator)
            curl -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8003/v1/org

Try:  make demo     (in another terminal)
Ctrl-C stops everything this command started.
MSG

# Wait until Ctrl-C, or until a service dies (then say which and stop the rest).
while true; do
  for i in "${!pids[@]}"; do
    if [ "$stopping" = 0 ] && ! kill -0 "${pids[$i]}" 2>/dev/null; then
      echo "[run] ${names[$i]} exited; last lines of var/log/${names[$i]}.log:" >&2
      tail -15 "$LOGS/${names[$i]}.log" >&2
      exit 1
    fi
  done
  sleep 2
done
