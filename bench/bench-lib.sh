# shellcheck shell=bash
# Shell functions shared by bench/run-benchmarks.sh,
# bench/run-redis-benchmarks.sh and bench/run-rules-benchmarks.sh (sourced, not run). Loopback only; every
# wait is bounded in time.

# apt may have started the system's postgrey (port 10023) when it installed
# it: the benchmarks start their own, or want only its whitelist files.
stop_system_postgrey() {
  local pid
  [ -f /run/postgrey.pid ] || return 0
  pid=$(cat /run/postgrey.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "stopping the system postgrey service (pid $pid)" >&2
    if [ -x /etc/init.d/postgrey ]; then /etc/init.d/postgrey stop >/dev/null 2>&1 || true; fi
    kill "$pid" 2>/dev/null || true
  fi
}

# stop_pid PID: stops one process we started: SIGTERM, again after 3 s,
# SIGKILL after 6 s (said on stderr).
stop_pid() {
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    [ "$i" = 30 ] && kill -TERM "$pid" 2>/dev/null
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "bench: pid $pid ignored SIGTERM for 6 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# no_spf_args BINARY: prints "--pool-by-spf no" when BINARY takes that
# option (an earlier build, a baseline, may not), else nothing. Every
# greylist-milter start of the benchmarks gets it: they measure greylisting,
# not the machine's DNS (with SPF pooling on, each new triplet asks it).
# Use: read -ra spf <<<"$(no_spf_args "$DAEMON")"; "$DAEMON" "${spf[@]}" ...
no_spf_args() {
  case "$("$1" --help 2>/dev/null)" in
    *--pool-by-spf*) echo "--pool-by-spf no" ;;
  esac
}

# wait_port PORT [SECONDS]: waits (at most SECONDS, default 30) until
# 127.0.0.1:PORT accepts a connection; prints the seconds it took. Status 1
# if it never did.
wait_port() {
  python3 - "$1" "${2:-30}" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
start = time.monotonic()
while time.monotonic() - start < limit:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        print("%.3f" % (time.monotonic() - start))
        sys.exit(0)
    except OSError:
        time.sleep(0.01)
sys.exit(1)
EOF
}

# write_whitelists DIR: the whitelists every greylister of the benchmarks
# reads: Debian's postgrey lists (what the reference figures used) plus the
# whitelisted mix's network 192.0.2.0/24. Sets WL_CLIENTS and WL_RCPTS.
write_whitelists() {
  WL_CLIENTS=$1/whitelist_clients
  WL_RCPTS=$1/whitelist_recipients
  { cat /etc/postgrey/whitelist_clients; echo "192.0.2.0/24"; } >"$WL_CLIENTS"
  cp /etc/postgrey/whitelist_recipients "$WL_RCPTS"
  chmod 644 "$WL_CLIENTS" "$WL_RCPTS"
}

# cpu_s PID: CPU seconds (user + system) a process used so far; 0 when there is none.
cpu_s() {
  if [ -z "$1" ] || [ ! -r "/proc/$1/stat" ]; then echo 0; return; fi
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}

minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

# record JSON EXTRA: appends the tool's JSON line to $RESULTS with extra
# "key":value pairs and the machine's 1-minute load average (the machine may
# be shared: a load far above the core count makes absolute figures noisy).
record() {
  local json=$1 extra=$2
  [ -n "$json" ] || return 0
  printf '%s\n' "${json%\}},$extra,\"loadavg\":$(cut -d' ' -f1 /proc/loadavg)}" >>"$RESULTS"
}

# start_work_dir NAME: a fresh world-readable $WORK (/tmp/greylist-NAME.XXXXXX)
# and the array STARTED of process ids; on exit (trap) every process in
# STARTED is stopped and $WORK removed.
start_work_dir() {
  WORK=$(mktemp -d "/tmp/greylist-$1.XXXXXX")
  chmod 755 "$WORK"
  STARTED=()
  trap stop_started_and_clean EXIT
  trap 'exit 130' INT TERM
}
stop_started_and_clean() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  rm -rf "$WORK"
}
