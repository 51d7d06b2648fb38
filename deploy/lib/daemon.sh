# Sourced by the local stack's scripts (deploy/kafka/kafka.sh, deploy/prometheus/prometheus.sh):
# a background process known by its pid file. The sourcing script defines log, err and die.

# Serialise start/stop between concurrent invocations on fd 9 (close it, 9>&-, for the
# process started, so the lock is not held while it runs).
take_lock_file() {
  local file="$1" wait_s="${2:-300}"
  mkdir -p "$(dirname "$file")"
  exec 9>"$file"
  flock -w "$wait_s" 9 || die "could not lock $file"
}

pid_alive() {
  local pid="$1" state
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)"
  [[ "$state" != "Z" ]]
}

# Prints the pid in PIDFILE if it names a live process whose command line matches PATTERN.
pidfile_pid() {
  local pidfile="$1" pattern="$2" pid
  [[ -s "$pidfile" ]] || return 1
  pid="$(tr -dc '0-9' <"$pidfile")"
  pid_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$pattern" || return 1
  echo "$pid"
}

port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# SIGTERM, up to 30 s, then SIGKILL; removes PIDFILE.
stop_pid() {
  local pid="$1" pidfile="$2" what="$3" i
  log "stopping $what (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 30); do
    if ! pid_alive "$pid"; then
      rm -f "$pidfile"
      log "stopped after ${i}s"
      return 0
    fi
    sleep 1
  done
  err "$what did not stop within 30s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 10); do
    pid_alive "$pid" || break
    sleep 0.5
  done
  rm -f "$pidfile"
  log "killed"
}
