#!/usr/bin/env bash
# Local PostgreSQL for Leadbridge, using Debian's postgresql-common clusters.
#
#   deploy/postgres/postgres.sh start               # install if missing, start, wait, provision
#   deploy/postgres/postgres.sh stop                # stop the cluster on $PGPORT
#   deploy/postgres/postgres.sh stop --if-started   # ...only if `start` started it (marker file)
#   deploy/postgres/postgres.sh status              # prints running/stopped (exit 0 / 3)
#   deploy/postgres/postgres.sh wait                # until pg_isready on 127.0.0.1:$PGPORT
#   deploy/postgres/postgres.sh secure [DB [CREDS]] # the secure profile (docs/SECURITY.md): a role
#                                                   # per service owning only its schema in DB
#   deploy/postgres/postgres.sh secure-drop DB [CREDS]  # drop DB and those roles (tests)
#
# `start` provisions, idempotently: role leadbridge (password leadbridge, LOGIN
# CREATEDB) and databases leadbridge and leadbridge_test owned by it, then checks
#   psql postgresql://leadbridge:leadbridge@127.0.0.1:$PGPORT/leadbridge
#
# When `start` had to start (or install) the cluster it creates the marker file
# $LEADBRIDGE_DATA/postgres.started-by-leadbridge and says "started"; when the
# cluster was already running it says "already running" and leaves the marker
# alone. `stop` removes the marker. Callers (make run) can use
# `stop --if-started` to stop only a cluster they started.
#
# Environment:
#   PGPORT            port of the cluster to use/create (default: 5432)
#   LEADBRIDGE_DATA   where the marker file lives (default: $HOME/.local/share/leadbridge)
#   PG_WAIT_TIMEOUT   seconds for `wait` (default: 30)
#   LEADBRIDGE_SECURE_CREDENTIALS  `secure`'s credentials file, postgres.<service>=<password>
#                     lines (default: $LEADBRIDGE_DATA/secure/credentials, made by
#                     `python -m deploy.secure credentials`)
#   LEADBRIDGE_ROLE_PREFIX  `secure`'s role names: <prefix><service> (default: leadbridge_)
set -euo pipefail

PGPORT="${PGPORT:-5432}"
DATA_ROOT="${LEADBRIDGE_DATA:-$HOME/.local/share/leadbridge}"
MARKER="$DATA_ROOT/postgres.started-by-leadbridge"
PG_WAIT_TIMEOUT="${PG_WAIT_TIMEOUT:-30}"
LB_ROLE=leadbridge
LB_PASSWORD=leadbridge
LB_DATABASES=(leadbridge leadbridge_test)

log() { echo "[postgres] $*"; }
err() { echo "[postgres] $*" >&2; }
die() { err "error: $*"; exit 1; }

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# psql as the postgres superuser over the Unix socket (peer auth). Client
# variables from the caller's environment must not redirect it elsewhere.
as_postgres_psql() {
  local run=(runuser -u postgres --)
  [[ $EUID -eq 0 ]] || run=(sudo -u postgres)
  (cd / && "${run[@]}" env -u PGHOST -u PGHOSTADDR -u PGUSER -u PGDATABASE -u PGPASSWORD \
      -u PGSERVICE -u PGPASSFILE -u PGOPTIONS \
      psql -X -q -v ON_ERROR_STOP=1 -p "$PGPORT" -d postgres "$@")
}

pg_installed() {
  command -v pg_lsclusters >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 \
    && command -v pg_isready >/dev/null 2>&1 && command -v psql >/dev/null 2>&1 \
    && compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null
}

INSTALLED_NOW=0
ensure_installed() {
  pg_installed && return 0
  log "PostgreSQL not installed; installing the Debian package 'postgresql'"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_installed || die "postgresql installed but pg_lsclusters/pg_ctlcluster/postgres still missing"
  INSTALLED_NOW=1
  log "installed PostgreSQL $(newest_version)"
}

newest_version() {
  local d v best=""
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [[ -x "$d" ]] || continue
    v="${d#/usr/lib/postgresql/}"; v="${v%%/*}"
    best="$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n1)"
  done
  [[ -n "$best" ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
  echo "$best"
}

# Sets CL_VER CL_NAME CL_STATUS for the cluster listening on $PGPORT; returns 1 if none.
find_cluster() {
  local ver name port status _rest
  while read -r ver name port status _rest; do
    [[ -n "${ver:-}" ]] || continue
    if [[ "$port" == "$PGPORT" ]]; then
      CL_VER="$ver"; CL_NAME="$name"; CL_STATUS="$status"
      return 0
    fi
  done < <(pg_lsclusters -h 2>/dev/null || true)
  return 1
}

cluster_online() { [[ "${CL_STATUS:-}" == online* ]]; }

ensure_cluster() {
  if find_cluster; then return 0; fi
  local ver name=main out
  ver="$(newest_version)"
  if [[ -n "$(pg_lsclusters -h 2>/dev/null || true)" ]]; then
    # Clusters exist, but none on $PGPORT: make a dedicated one.
    name=leadbridge
    if [[ -d "/etc/postgresql/$ver/$name" ]]; then
      die "cluster $ver/$name exists but not on port $PGPORT; see pg_lsclusters"
    fi
  fi
  log "creating cluster $ver/$name on port $PGPORT"
  if ! out="$(as_root pg_createcluster "$ver" "$name" --port "$PGPORT" 2>&1)"; then
    echo "$out" >&2
    die "pg_createcluster failed"
  fi
  find_cluster || die "created cluster $ver/$name but pg_lsclusters does not show it on port $PGPORT"
}

mark_started() {
  mkdir -p "$DATA_ROOT"
  echo "$CL_VER $CL_NAME $PGPORT" >"$MARKER"
}

do_wait() {
  local start=$SECONDS last=0 elapsed
  while ! pg_isready -q -h 127.0.0.1 -p "$PGPORT" -t 2; do
    elapsed=$((SECONDS - start))
    if ((elapsed >= PG_WAIT_TIMEOUT)); then
      if find_cluster; then
        local logf="/var/log/postgresql/postgresql-$CL_VER-$CL_NAME.log"
        if [[ -r "$logf" ]]; then
          err "last lines of $logf:"
          tail -n 20 "$logf" | sed 's/^/    /' >&2
        fi
      fi
      die "PostgreSQL not ready on 127.0.0.1:$PGPORT after ${PG_WAIT_TIMEOUT}s"
    fi
    if ((elapsed - last >= 5)); then
      log "  ...waiting for 127.0.0.1:$PGPORT (${elapsed}s)"
      last=$elapsed
    fi
    sleep 1
  done
  log "ready on 127.0.0.1:$PGPORT"
}

check_login() {
  local db="$1"
  PGCONNECT_TIMEOUT=5 env -u PGSERVICE -u PGPASSFILE -u PGOPTIONS \
    psql -X -q -At "postgresql://$LB_ROLE:$LB_PASSWORD@127.0.0.1:$PGPORT/$db" \
    -c 'select 1' >/dev/null 2>&1
}

# Put a password rule for the leadbridge role first in pg_hba.conf (only
# needed where the default 127.0.0.1 scram rule has been changed).
ensure_hba() {
  local hba line='host    all    leadbridge    127.0.0.1/32    scram-sha-256    # added by deploy/postgres/postgres.sh'
  hba="$(as_postgres_psql -At -c 'show hba_file')"
  if grep -qF 'added by deploy/postgres/postgres.sh' "$hba"; then return 0; fi
  log "adding a scram-sha-256 rule for $LB_ROLE@127.0.0.1 to $hba"
  local tmp
  tmp="$(mktemp)"
  { echo "$line"; cat "$hba"; } >"$tmp"
  cat "$tmp" >"$hba"   # keeps the file's owner and mode
  rm -f "$tmp"
  as_postgres_psql -At -c 'select pg_reload_conf()' >/dev/null
  sleep 1
}

provision() {
  local have_role dbs_csv db existing
  have_role="$(as_postgres_psql -At -v r="$LB_ROLE" <<<"select 1 from pg_roles where rolname = :'r';")"
  if [[ -z "$have_role" ]]; then
    log "creating role $LB_ROLE"
  fi
  dbs_csv="$(IFS=,; echo "${LB_DATABASES[*]}")"
  existing="$(as_postgres_psql -At -v dbs="$dbs_csv" \
    <<<"select datname from pg_database where datname = any(string_to_array(:'dbs', ','));")"
  for db in "${LB_DATABASES[@]}"; do
    grep -qx "$db" <<<"$existing" || log "creating database $db"
  done
  as_postgres_psql -v r="$LB_ROLE" -v pw="$LB_PASSWORD" -v dbs="$dbs_csv" <<'SQL'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'r', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'r') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB', :'r') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', d, :'r')
  FROM unnest(string_to_array(:'dbs', ',')) AS d
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = d) \gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', datname, :'r')
  FROM pg_database
 WHERE datname = ANY (string_to_array(:'dbs', ','))
   AND pg_get_userbyid(datdba) <> :'r' \gexec
SQL

  if ! check_login "${LB_DATABASES[0]}"; then
    log "password login failed; resetting the password of role $LB_ROLE"
    as_postgres_psql -v r="$LB_ROLE" -v pw="$LB_PASSWORD" <<'SQL'
SET password_encryption = 'scram-sha-256';
SELECT format('ALTER ROLE %I PASSWORD %L', :'r', :'pw') \gexec
SQL
    if ! check_login "${LB_DATABASES[0]}"; then
      ensure_hba
    fi
  fi
  for db in "${LB_DATABASES[@]}"; do
    check_login "$db" || die "cannot log in: psql postgresql://$LB_ROLE:***@127.0.0.1:$PGPORT/$db"
  done
  log "ok: postgresql://$LB_ROLE:$LB_PASSWORD@127.0.0.1:$PGPORT/{$(IFS=,; echo "${LB_DATABASES[*]}")}"
}

# Each service holds a pool of up to 10 connections; a test run has its own stack of
# five beside private stacks (replicas, restarts), so Debian's default of 100 runs out.
PG_MAX_CONNECTIONS="${PG_MAX_CONNECTIONS:-500}"

configure_cluster() {
  local conf="/etc/postgresql/$CL_VER/$CL_NAME/conf.d/leadbridge.conf"
  local want="max_connections = $PG_MAX_CONNECTIONS"
  if [[ -d "$(dirname "$conf")" ]] && ! grep -qx "$want" "$conf" 2>/dev/null; then
    echo "$want" | as_root tee "$conf" >/dev/null
    log "set $want in $conf"
    CONFIG_CHANGED=1
  fi
}

do_start() {
  ensure_installed
  ensure_cluster
  CONFIG_CHANGED=0
  configure_cluster
  if cluster_online && [[ $CONFIG_CHANGED -eq 1 ]]; then
    if [[ $INSTALLED_NOW -eq 1 || -f "$MARKER" ]]; then
      log "restarting cluster $CL_VER/$CL_NAME for the new settings (this script started it)"
      as_root pg_ctlcluster "$CL_VER" "$CL_NAME" restart
    else
      log "cluster $CL_VER/$CL_NAME was not started by this script: restart it yourself for the new settings"
    fi
  fi
  if cluster_online; then
    if [[ $INSTALLED_NOW -eq 1 ]]; then
      mark_started
      log "cluster $CL_VER/$CL_NAME started by the package install (port $PGPORT)"
    elif [[ -f "$MARKER" ]]; then
      log "cluster $CL_VER/$CL_NAME already running on port $PGPORT (started earlier by this script)"
    else
      log "cluster $CL_VER/$CL_NAME already running on port $PGPORT (not started by this script)"
    fi
  else
    log "starting cluster $CL_VER/$CL_NAME on port $PGPORT"
    as_root pg_ctlcluster "$CL_VER" "$CL_NAME" start
    mark_started
    log "started (marker $MARKER)"
  fi
  do_wait
  provision
}

do_stop() {
  if [[ "${1:-}" == "--if-started" && ! -f "$MARKER" ]]; then
    log "not started by this script; leaving it running"
    return 0
  fi
  if ! pg_installed || ! find_cluster; then
    rm -f "$MARKER"
    log "no cluster on port $PGPORT"
    return 0
  fi
  if cluster_online; then
    log "stopping cluster $CL_VER/$CL_NAME"
    as_root pg_ctlcluster "$CL_VER" "$CL_NAME" stop -m fast
    log "stopped"
  else
    log "cluster $CL_VER/$CL_NAME not running"
  fi
  rm -f "$MARKER"
}

do_status() {
  if ! pg_installed; then
    echo "[postgres] stopped (PostgreSQL not installed)"
    return 3
  fi
  if ! find_cluster; then
    echo "[postgres] stopped (no cluster on port $PGPORT)"
    return 3
  fi
  if cluster_online; then
    echo "[postgres] running ($CL_VER/$CL_NAME, port $PGPORT)"
    return 0
  fi
  echo "[postgres] stopped ($CL_VER/$CL_NAME, port $PGPORT)"
  return 3
}

# ---------------------------------------------------------------- secure profile
CREDENTIALS="${LEADBRIDGE_SECURE_CREDENTIALS:-$DATA_ROOT/secure/credentials}"
ROLE_PREFIX="${LEADBRIDGE_ROLE_PREFIX:-leadbridge_}"

# service=password per line, from the credentials file's postgres.<service> lines
secure_services() {
  local creds="$1"
  [[ -s "$creds" ]] || die "no credentials file $creds (python -m deploy.secure credentials makes it)"
  sed -n 's/^postgres\.\([a-z0-9_-]*\)=\(.*\)$/\1=\2/p' "$creds"
}

# Each service's role may log in to DB and owns its schema there, nothing else: no
# CREATE on the database, no USAGE on another service's schema, no superuser.
do_secure() {
  local db="${1:-${LEADBRIDGE_SECURE_DATABASE:-leadbridge_secure}}" creds="${2:-$CREDENTIALS}" line svc pw n=0
  local lines
  lines="$(secure_services "$creds")"
  [[ -n "$lines" ]] || die "no postgres.<service>= lines in $creds"
  as_postgres_psql -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
  while IFS= read -r line; do
    svc="${line%%=*}"; pw="${line#*=}"
    as_postgres_psql -v db="$db" -v role="$ROLE_PREFIX${svc//-/_}" -v schema="${svc//-/_}" -v pw="$pw" <<'SQL'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', :'role', :'pw')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD %L', :'role', :'pw') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', :'role') \gexec
\connect :"db"
SELECT format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', :'schema', :'role') \gexec
SELECT format('ALTER SCHEMA %I OWNER TO %I', :'schema', :'role') \gexec
SELECT format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', :'schema') \gexec
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
    n=$((n + 1))
  done <<<"$lines"
  # The persons' data keys (shared/pii.py, docs/PRIVACY.md): the one table every service
  # reads (and mints keys into); only capture, which erases people, may change a key.
  local repo py ddl
  repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  py="${LEADBRIDGE_PYTHON:-$repo/.venv/bin/python}"
  ddl="$(PYTHONPATH="$repo" "$py" -c 'from shared.pii import DDL; print(DDL)')" || die "cannot read shared/pii.py's DDL"
  as_postgres_psql -v db="$db" <<<"\connect :\"db\"
$ddl"
  while IFS= read -r line; do
    svc="${line%%=*}"
    as_postgres_psql -v db="$db" -v role="$ROLE_PREFIX${svc//-/_}" -v svc="$svc" <<'SQL'
\connect :"db"
SELECT format('GRANT USAGE ON SCHEMA pii TO %I', :'role') \gexec
SELECT format('GRANT SELECT, INSERT ON pii.subject_keys TO %I', :'role') \gexec
SELECT format('GRANT UPDATE ON pii.subject_keys TO %I', :'role') WHERE :'svc' = 'capture' \gexec
SQL
  done <<<"$lines"
  log "secure profile: $n roles ${ROLE_PREFIX}<service> in database $db, each owning only its schema"
}

do_secure_drop() {
  local db="${1:?secure-drop needs the database}" creds="${2:-$CREDENTIALS}" line svc
  as_postgres_psql -v db="$db" <<<"SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db') \gexec"
  while IFS= read -r line; do
    svc="${line%%=*}"
    as_postgres_psql -v role="$ROLE_PREFIX${svc//-/_}" <<<"SELECT format('DROP ROLE IF EXISTS %I', :'role') \gexec"
  done < <(secure_services "$creds")
}

case "${1:-}" in
  start) do_start ;;
  secure) do_secure "${2:-}" "${3:-}" ;;
  secure-drop) do_secure_drop "${2:-}" "${3:-}" ;;
  stop) do_stop "${2:-}" ;;
  status) do_status ;;
  wait) do_wait ;;
  *) echo "usage: $0 {start|stop [--if-started]|status|wait|secure [DB [CREDS]]|secure-drop DB [CREDS]}" >&2; exit 2 ;;
esac
