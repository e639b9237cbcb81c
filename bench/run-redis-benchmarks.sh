#!/usr/bin/env bash
# The Redis store's figures: greylist-milter --store redis against the
# Berkeley DB store and noop-policy, and the "## Redis store" section of
# BENCHMARKS.md.
#
#   bash bench/run-redis-benchmarks.sh               # 3 rounds, 1 s per measurement: about 5 minutes
#   bash bench/run-redis-benchmarks.sh --rounds 5 --duration 4
#
# Options: --rounds N, --duration SECONDS (per measurement), --no-report.
#
# As root on Debian 12: installs what is missing (build packages,
# redis-server, postgrey for its whitelists, python3), builds the daemon and
# the bench tools in $BUILD_DIR (default ./build), then per round starts, in
# turn, greylist-milter --store redis (default 32 threads, and --threads 4),
# greylist-milter on Berkeley DB (crash-safe) and noop-policy, each on a free
# loopback port, and measures with bench/policy-load at 1, 8, 32 and 128
# connections, mixes new, repeat and whitelisted (as bench/run-benchmarks.sh
# does). Each Redis daemon gets its own redis-server (own temporary
# directory and port, appendonly everysec as README recommends), stopped with
# it; the CPU seconds of the daemon and of redis-server and Redis' command
# count are read around each measurement. Then a threads (= connection pool)
# sweep at 128 connections and 1,000 concurrent connections on both stores
# (two bursts per daemon start).
# Results: bench/results/redis-latest.jsonl; bench/redis_report.py writes the
# section (medians over rounds) into BENCHMARKS.md, replacing only it (run it
# alone to put the section back after bench/run-benchmarks.sh rewrote the file).
#
# Everything it starts is stopped on exit (trap); loops are bounded in count,
# waits in time. Network: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=3
DURATION=1
REPORT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --no-report) REPORT=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "run-redis-benchmarks: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

CONNECTIONS="1 8 32 128"
MIXES="new repeat whitelisted"
DELAY=1                    # greylisting delay: the repeat mix's pre-warm waits DELAY+1 s
POOL=300                   # repeat-mix triplets made to pass before measuring
REQUESTS=2000000           # per measurement; the duration ends it first
SWEEP_THREADS="4 8 16 32 64 128"
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RESULTS=$ROOT/bench/results/redis-latest.jsonl

# ---- packages and build -------------------------------------------------------
mapfile -t build_packages < <(grep -hv '^\s*\(#\|$\)' scripts/build-packages.txt)
bash scripts/ensure-packages.sh "${build_packages[@]}" redis-server redis-tools postgrey procps python3
# shellcheck source=bench/bench-lib.sh
source "$ROOT/bench/bench-lib.sh"
stop_system_postgrey

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD_DIR" greylist-milter bench/policy-load bench/noop-policy >/dev/null
DAEMON=$BUILD_DIR/greylist-milter
BENCH=$BUILD_DIR/bench

# ---- processes -----------------------------------------------------------------
start_work_dir redis-bench

write_whitelists "$WORK"

SERVER_PID=""
SERVER_PORT=""
REDIS_PID=""
REDIS_PORT=""

start_redis() {
  local dir=$WORK/redis-$1
  mkdir -p "$dir"
  REDIS_PORT=$(free_port)
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$dir" --save "" \
    --appendonly yes --appendfsync everysec --daemonize no --logfile "$dir/redis.log" &
  REDIS_PID=$!
  STARTED+=("$REDIS_PID")
  if ! wait_port "$REDIS_PORT" 10 >/dev/null; then
    echo "run-redis-benchmarks: redis-server did not start; its log:" >&2
    tail -20 "$dir/redis.log" >&2
    exit 1
  fi
}

# start_server NAME DBDIR [THREADS]: one server on a free port (and its
# redis-server for the Redis ones).
start_server() {
  local name=$1 db=$2 threads=${3:-} log=$WORK/$1.log
  local -a spf
  read -ra spf <<<"$(no_spf_args "$DAEMON")"
  local common=(--milter none --dbdir "$db" --log stderr --delay "$DELAY" --dynamic-delay 0
                --whitelist-clients "$WL_CLIENTS" --whitelist-recipients "$WL_RCPTS" "${spf[@]}")
  SERVER_PORT=$(free_port)
  mkdir -p "$db"
  case "$name" in
    gm-bdb)
      "$DAEMON" --policy "inet:127.0.0.1:$SERVER_PORT" "${common[@]}" 2>>"$log" &
      ;;
    gm-redis|gm-redis-t4)
      start_redis "$name-$(basename "$db")"
      [ "$name" = gm-redis-t4 ] && threads=4
      "$DAEMON" --policy "inet:127.0.0.1:$SERVER_PORT" "${common[@]}" --store redis \
        --redis "redis://127.0.0.1:$REDIS_PORT/0" ${threads:+--threads "$threads"} 2>>"$log" &
      ;;
    noop-policy)
      "$BENCH/noop-policy" --port "$SERVER_PORT" --threads 2 2>>"$log" &
      ;;
    *) echo "unknown server $name" >&2; exit 1 ;;
  esac
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
  if ! wait_port "$SERVER_PORT" 60 >/dev/null; then
    echo "run-redis-benchmarks: $name did not start listening within 60 s; its log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
}

stop_server() {
  stop_pid "$SERVER_PID"
  SERVER_PID=""
  stop_pid "$REDIS_PID"
  REDIS_PID=""
}

# Redis' counters so far: "COMMANDS READS" (total_commands_processed: the
# commands run, those of scripts included; total_reads_processed: reads from
# client sockets, about one per round trip of a store call); "0 0" without Redis.
redis_counters() {
  [ -n "$REDIS_PID" ] || { echo "0 0"; return; }
  redis-cli -p "$REDIS_PORT" info stats |
    awk -F: '/^total_commands_processed:/ { c = $2 + 0 } /^total_reads_processed:/ { r = $2 + 0 }
             END { print c + 0, r + 0 }'
}

REPEAT_NONCE=0
REPEAT_ARGS=""
repeat_args() {  # C: the pool is made to pass once per server and round
  if [ "$1" = "${CONNECTIONS%% *}" ]; then
    REPEAT_NONCE=$(( $(date +%s) * 100 + RANDOM % 100 ))
    REPEAT_ARGS="--nonce $REPEAT_NONCE --prewarm yes"
  else
    REPEAT_ARGS="--nonce $REPEAT_NONCE --prewarm no"
  fi
}

# measure SERVER ROUND KIND MIX C [REQUESTS DURATION]
measure() {
  local server=$1 round=$2 kind=$3 mix=$4 c=$5 requests=${6:-$REQUESTS} duration=${7:-$DURATION}
  local extra="" out cpu0 rcpu0 cmd0 reads0 cpu1 rcpu1 cmd1 reads1
  if [ "$mix" = repeat ]; then repeat_args "$c"; extra=$REPEAT_ARGS; fi
  cpu0=$(cpu_s "$SERVER_PID"); rcpu0=$(cpu_s "$REDIS_PID"); read -r cmd0 reads0 < <(redis_counters)
  # shellcheck disable=SC2086
  out=$("$BENCH/policy-load" --port "$SERVER_PORT" --mix "$mix" --connections "$c" $extra \
    --client-threads "$([ "$c" -ge 2 ] && echo 2 || echo 1)" --requests "$requests" \
    --duration "$duration" --pool "$POOL" --prewarm-wait $((DELAY + 1)) --timeout 10 \
    --label "$server" || true)
  cpu1=$(cpu_s "$SERVER_PID"); rcpu1=$(cpu_s "$REDIS_PID"); read -r cmd1 reads1 < <(redis_counters)
  echo "$out" | tail -1 >&2
  record "$(echo "$out" | grep '^{' || true)" \
    "\"server\":\"$server\",\"round\":$round,\"kind\":\"$kind\",\"threads\":\"${THREADS_LABEL:-}\",\"server_cpu_s\":$(minus "$cpu1" "$cpu0"),\"redis_cpu_s\":$(minus "$rcpu1" "$rcpu0"),\"redis_commands\":$((cmd1 - cmd0)),\"redis_reads\":$((reads1 - reads0))"
}

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
BEGIN_S=$SECONDS
echo "run-redis-benchmarks: $ROUNDS rounds, ${DURATION}s per measurement; results in $RESULTS" >&2

# ---- the table: four servers, interleaved, rotated each round ---------------
SERVERS=(gm-redis gm-redis-t4 gm-bdb noop-policy)
for round in $(seq 1 "$ROUNDS"); do
  n=${#SERVERS[@]}
  for k in $(seq 0 $((n - 1))); do
    server=${SERVERS[$(( (k + round - 1) % n ))]}
    start_server "$server" "$WORK/db-$server-$round"
    for mix in $MIXES; do
      for c in $CONNECTIONS; do measure "$server" "$round" policy "$mix" "$c"; done
    done
    stop_server
    rm -rf "$WORK/db-$server-$round" "$WORK"/redis-*
  done
done

# ---- policy threads (each with threads + 8 Redis connections) at C = 128 ------
for round in $(seq 1 "$ROUNDS"); do
  for threads in $SWEEP_THREADS; do
    start_server gm-redis "$WORK/db-sweep-$threads-$round" "$threads"
    THREADS_LABEL=$threads measure gm-redis "$round" threads new 128
    stop_server
    rm -rf "$WORK/db-sweep-$threads-$round" "$WORK"/redis-*
  done
done

# ---- 1,000 policy connections held open at once --------------------------------
# Twice per daemon: the first burst of 1,000 new connections after a start
# has a tail the second has not (on both stores), so both are reported.
for server in gm-redis gm-bdb; do
  start_server "$server" "$WORK/db-c1000-$server"
  measure "$server" 1 c1000 new 1000 50000 10
  measure "$server" 2 c1000 new 1000 50000 10
  stop_server
  rm -rf "$WORK/db-c1000-$server" "$WORK"/redis-*
done

ELAPSED=$((SECONDS - BEGIN_S))
echo "run-redis-benchmarks: measurements took ${ELAPSED}s" >&2
# The run's facts, for bench/redis_report.py.
printf '{"tool":"run","rounds":%s,"duration":%s,"started":"%s","elapsed":%s,"commit":"%s","command":"%s","nproc":%s,"redis_version":"%s"}\n' \
  "$ROUNDS" "$DURATION" "$STARTED_AT" "$ELAPSED" "$COMMIT" \
  "bash bench/run-redis-benchmarks.sh --rounds $ROUNDS --duration $DURATION" "$(nproc)" \
  "$(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')" >>"$RESULTS"
if [ "$REPORT" = 1 ]; then
  python3 bench/redis_report.py --results "$RESULTS" --benchmarks BENCHMARKS.md
  echo "run-redis-benchmarks: wrote the Redis store section of BENCHMARKS.md" >&2
fi
