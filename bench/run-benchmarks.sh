#!/usr/bin/env bash
# Runs the benchmarks of issue 6 and regenerates BENCHMARKS.md.
#
#   bash bench/run-benchmarks.sh            # quick mode: a few minutes
#   bash bench/run-benchmarks.sh --full     # full mode: more rounds, longer runs, 10M-triplet scale test
#
# Options: --quick | --full, --rounds N, --duration SECONDS (per measurement),
# --no-scale (skip the pre-filled database tests), --no-milter, --no-report.
# A part of the run (then use --no-report and read bench/results/latest.jsonl):
# --policy-servers "LIST" (of gm-crash-safe gm-full postgrey noop-policy, and
# gm-base-crash-safe gm-base-full: --baseline BINARY, an older build, side by
# side; "" for none), --mixes "LIST", --connections "LIST", --no-c1000, --scale-sizes
# "LIST", --cache-size SIZE (given to every start of the built greylist-milter,
# the scale runs' included).
#
# Installs what it needs when missing (needs root then), builds the daemon and
# the bench tools, then for several rounds starts each server on loopback with
# its own temporary database directory, runs the load generators against it at
# 1, 8, 32 and 128 connections, and stops it; servers are interleaved within a
# round so that ratios come from the same minutes of a shared machine. Results
# (one JSON line per measurement) go to bench/results/latest.jsonl, and
# bench/report.py turns them into BENCHMARKS.md (medians over rounds).
#
# Everything it starts is stopped on exit (trap), every loop is bounded in
# count, and every wait is bounded in time. Network: 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

MODE=quick
ROUNDS=""
DURATION=""
SCALE=1
MILTER=1
REPORT=1
C1000=1
unset POLICY_SERVERS_ARG
MIXES_ARG=""
CONNECTIONS_ARG=""
SCALE_SIZES_ARG=""
BASELINE=""
CACHE_ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) MODE=quick ;;
    --full) MODE=full ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --no-scale) SCALE=0 ;;
    --no-milter) MILTER=0 ;;
    --no-report) REPORT=0 ;;
    --no-c1000) C1000=0 ;;
    --policy-servers) POLICY_SERVERS_ARG=$2; shift ;;
    --mixes) MIXES_ARG=$2; shift ;;
    --connections) CONNECTIONS_ARG=$2; shift ;;
    --scale-sizes) SCALE_SIZES_ARG=$2; shift ;;
    --baseline) BASELINE=$2; shift ;;
    --cache-size) CACHE_ARGS=(--cache-size "$2"); shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "run-benchmarks: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$MODE" = quick ]; then
  : "${ROUNDS:=3}" "${DURATION:=1}"
  POOL=300                 # repeat-mix triplets made to pass before measuring
  SCALE_SIZES="10000 1000000"
  REQUESTS=200000          # per measurement; the duration usually ends it first
else
  : "${ROUNDS:=5}" "${DURATION:=4}"
  POOL=1000
  SCALE_SIZES="10000 1000000 10000000"
  REQUESTS=2000000
fi
CONNECTIONS=${CONNECTIONS_ARG:-"1 8 32 128"}
MIXES=${MIXES_ARG:-"new repeat whitelisted"}
SCALE_SIZES=${SCALE_SIZES_ARG:-$SCALE_SIZES}
DELAY=1                    # greylisting delay of every server: repeat pre-warm waits DELAY+1 s
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RESULTS_DIR=$ROOT/bench/results
RESULTS=$RESULTS_DIR/latest.jsonl

# ---- packages -------------------------------------------------------------
mapfile -t build_packages < <(grep -hv '^\s*\(#\|$\)' scripts/build-packages.txt)
bash scripts/ensure-packages.sh "${build_packages[@]}" postgrey procps python3

# shellcheck source=bench/bench-lib.sh
source "$ROOT/bench/bench-lib.sh"
stop_system_postgrey

# ---- build ------------------------------------------------------------------
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" --buildtype=debugoptimized >/dev/null
fi
# Only what the benchmark runs: a test that does not build must not stop it.
ninja -C "$BUILD_DIR" greylist-milter bench/policy-load bench/milter-load bench/noop-policy \
  bench/noop-milter bench/bulk-load >/dev/null
DAEMON=$BUILD_DIR/greylist-milter
BENCH=$BUILD_DIR/bench

# ---- processes ----------------------------------------------------------------
WORK=$(mktemp -d /tmp/greylist-bench.XXXXXX)
chmod 755 "$WORK"
declare -a STARTED=()

cleanup() {
  local pid
  for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
  stop_system_postgrey
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_whitelists "$WORK"

SERVER_PID=""
SERVER_PORT=""
STARTUP_S=""

# start_server NAME DBDIR: starts one server on a free port; sets SERVER_PID,
# SERVER_PORT and STARTUP_S (seconds until the port answered).
start_server() {
  local name=$1 db=$2 log=$WORK/$1.log
  SERVER_PORT=$(free_port)
  mkdir -p "$db"
  case "$name" in
    gm-crash-safe|gm-full|gm-base-crash-safe|gm-base-full)
      local sync=crash-safe daemon=$DAEMON
      case "$name" in *-full) sync=full ;; esac
      case "$name" in gm-base-*) daemon=$BASELINE ;; esac
      [ -n "$daemon" ] || { echo "run-benchmarks: $name needs --baseline BINARY" >&2; exit 2; }
      local -a cache=() spf
      [ "$daemon" = "$DAEMON" ] && cache=("${CACHE_ARGS[@]}")
      read -ra spf <<<"$(no_spf_args "$daemon")"
      "$daemon" "${cache[@]}" "${spf[@]}" --policy "inet:127.0.0.1:$SERVER_PORT" --milter none --dbdir "$db" --log stderr \
        --delay $DELAY --dynamic-delay 0 --sync $sync --whitelist-clients "$WL_CLIENTS" --whitelist-recipients "$WL_RCPTS" \
        2>>"$log" &
      ;;
    postgrey)
      # Debian's postgrey, started directly (not the service), dropping to
      # its own user: it needs a database directory that user owns.
      chown postgrey:postgrey "$db"
      /usr/sbin/postgrey --inet="127.0.0.1:$SERVER_PORT" --dbdir="$db" --delay=$DELAY \
        --user=postgrey --group=postgrey --pidfile="$db/postgrey.pid" \
        --whitelist-clients="$WL_CLIENTS" --whitelist-recipients="$WL_RCPTS" 2>>"$log" &
      ;;
    noop-policy)
      "$BENCH/noop-policy" --port "$SERVER_PORT" --threads 2 2>>"$log" &
      ;;
    gm-milter-crash-safe|gm-milter-full)
      local msync=crash-safe
      [ "$name" = gm-milter-full ] && msync=full
      local -a spf
      read -ra spf <<<"$(no_spf_args "$DAEMON")"
      "$DAEMON" "${spf[@]}" --policy none --milter "inet:127.0.0.1:$SERVER_PORT" --dbdir "$db" --log stderr \
        --delay $DELAY --dynamic-delay 0 --sync $msync --whitelist-clients "$WL_CLIENTS" --whitelist-recipients "$WL_RCPTS" \
        2>>"$log" &
      ;;
    noop-milter)
      "$BENCH/noop-milter" --port "$SERVER_PORT" 2>>"$log" &
      ;;
    *) echo "unknown server $name" >&2; exit 1 ;;
  esac
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
  if ! STARTUP_S=$(wait_port "$SERVER_PORT" 60); then
    echo "run-benchmarks: $name did not start listening within 60 s; its log:" >&2
    tail -20 "$log" >&2
    exit 1
  fi
}

stop_server() {
  stop_pid "$SERVER_PID"
  SERVER_PID=""
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# io_calls PID: "READS WRITES", the read-like and write-like system calls the
# process made so far (/proc/PID/io syscr, syscw: read/pread/readv and
# write/pwrite/writev; socket recvmsg/sendmsg are not counted). In the scale
# runs they show the Berkeley DB pages read from and written to the OS.
io_calls() { awk '/^syscr:/ {r = $2} /^syscw:/ {w = $2} END {print r + 0, w + 0}' "/proc/$1/io" 2>/dev/null || echo "0 0"; }

# The repeat mix's pool is made to pass once per server and round (first
# connection count), then reused by the later ones: same nonce, no pre-warm.
REPEAT_NONCE=0
REPEAT_ARGS=""
repeat_args() {  # C: sets REPEAT_ARGS
  if [ "$1" = "${CONNECTIONS%% *}" ]; then
    REPEAT_NONCE=$(( $(date +%s) * 100 + RANDOM % 100 ))
    REPEAT_ARGS="--nonce $REPEAT_NONCE --prewarm yes"
  else
    REPEAT_ARGS="--nonce $REPEAT_NONCE --prewarm no"
  fi
}

run_policy() {  # SERVER ROUND MIX C
  local out extra=""
  if [ "$3" = repeat ]; then repeat_args "$4"; extra=$REPEAT_ARGS; fi
  # shellcheck disable=SC2086
  out=$("$BENCH/policy-load" --port "$SERVER_PORT" --mix "$3" --connections "$4" $extra \
    --client-threads "$([ "$4" -ge 2 ] && echo 2 || echo 1)" --requests "$REQUESTS" --duration "$DURATION" \
    --pool "$POOL" --prewarm-wait $((DELAY + 1)) --timeout 10 --label "$1" || true)
  echo "$out" | tail -1 >&2
  record "$(echo "$out" | grep '^{' || true)" "\"server\":\"$1\",\"round\":$2,\"kind\":\"policy\""
}

run_milter() {  # SERVER ROUND MIX C
  local out extra=""
  if [ "$3" = repeat ]; then repeat_args "$4"; extra=$REPEAT_ARGS; fi
  # shellcheck disable=SC2086
  out=$("$BENCH/milter-load" --port "$SERVER_PORT" --mix "$3" --connections "$4" --rcpts 2 $extra \
    --messages "$REQUESTS" --duration "$DURATION" --pool "$POOL" --prewarm-wait $((DELAY + 1)) --timeout 10 \
    --label "$1" || true)
  echo "$out" | tail -1 >&2
  record "$(echo "$out" | grep '^{' || true)" "\"server\":\"$1\",\"round\":$2,\"kind\":\"milter\""
}

mkdir -p "$RESULTS_DIR"
: >"$RESULTS"
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
BEGIN_S=$SECONDS
echo "run-benchmarks: $MODE mode, $ROUNDS rounds, ${DURATION}s per measurement; results in $RESULTS" >&2

# ---- policy: four servers, interleaved, rotated each round -------------------
read -r -a POLICY_SERVERS <<<"${POLICY_SERVERS_ARG-gm-crash-safe gm-full postgrey noop-policy}"
for round in $(seq 1 "$ROUNDS"); do
  n=${#POLICY_SERVERS[@]}
  for k in $(seq 0 $((n - 1))); do
    server=${POLICY_SERVERS[$(( (k + round - 1) % n ))]}
    start_server "$server" "$WORK/db-$server-$round"
    for mix in $MIXES; do
      for c in $CONNECTIONS; do run_policy "$server" "$round" "$mix" "$c"; done
    done
    stop_server
    rm -rf "$WORK/db-$server-$round"
  done
done

# ---- milter: greylist-milter against the no-op libmilter filter ---------------
if [ "$MILTER" = 1 ]; then
  MILTER_SERVERS=(gm-milter-crash-safe gm-milter-full noop-milter)
  for round in $(seq 1 "$ROUNDS"); do
    n=${#MILTER_SERVERS[@]}
    for k in $(seq 0 $((n - 1))); do
      server=${MILTER_SERVERS[$(( (k + round - 1) % n ))]}
      start_server "$server" "$WORK/db-$server-$round"
      for mix in $MIXES; do
        for c in $CONNECTIONS; do run_milter "$server" "$round" "$mix" "$c"; done
      done
      stop_server
      rm -rf "$WORK/db-$server-$round"
    done
  done
fi

# ---- 1,000 policy connections held open at once ----------------------------------
if [ "$C1000" = 1 ]; then
start_server gm-crash-safe "$WORK/db-c1000"
out=$("$BENCH/policy-load" --port "$SERVER_PORT" --mix new --connections 1000 --client-threads 2 \
  --requests 50000 --duration 10 --timeout 10 --label gm-crash-safe || true)
echo "$out" | tail -1 >&2
record "$(echo "$out" | grep '^{' || true)" "\"server\":\"gm-crash-safe\",\"round\":1,\"kind\":\"c1000\""
stop_server
rm -rf "$WORK/db-c1000"
fi

# ---- scale: pre-filled databases -------------------------------------------------
if [ "$SCALE" = 1 ]; then
  for size in $SCALE_SIZES; do
    db=$WORK/db-scale-$size
    # A tenth more entries already expired: the background sweep erases them
    # while the measurements run (it starts at start-up, 500 entries / 100 ms).
    load=$("$BENCH/bulk-load" --dbdir "$db" --count "$size" --expired $((size / 10)))
    echo "$load" >&2
    record "$load" "\"kind\":\"bulk\",\"size\":$size,\"dir_kb\":$(du -sk "$db" | cut -f1)"
    # The daemon started as root drops to its service user and wants to own
    # its database directory.
    if id greylist-milter >/dev/null 2>&1; then chown -R greylist-milter: "$db"; fi
    : >"$WORK/gm-crash-safe.log"
    start_server gm-crash-safe "$db"
    printf '{"tool":"startup","server":"gm-crash-safe","kind":"startup","size":%s,"seconds":%s,"rss_kb":%s}\n' \
      "$size" "$STARTUP_S" "$(rss_kb "$SERVER_PID")" >>"$RESULTS"
    for round in $(seq 1 "$ROUNDS"); do
      for mix in prefilled new; do
        read -r io_r0 io_w0 < <(io_calls "$SERVER_PID")
        out=$("$BENCH/policy-load" --port "$SERVER_PORT" --mix $mix --prefilled "$size" --connections 32 \
          --client-threads 2 --requests "$REQUESTS" --duration "$DURATION" --timeout 10 \
          --label "scale-$size" || true)
        read -r io_r1 io_w1 < <(io_calls "$SERVER_PID")
        echo "$out" | tail -1 >&2
        record "$(echo "$out" | grep '^{' || true)" \
          "\"server\":\"gm-crash-safe\",\"round\":$round,\"kind\":\"scale\",\"size\":$size,\"rss_kb\":$(rss_kb "$SERVER_PID"),\"io_reads\":$((io_r1 - io_r0)),\"io_writes\":$((io_w1 - io_w0))"
      done
    done
    sweep=$(grep -c "expiry sweep finished" "$WORK/gm-crash-safe.log" || true)
    printf '{"tool":"sweep","kind":"sweep","size":%s,"passes_finished_so_far":%s}\n' "$size" "${sweep:-0}" >>"$RESULTS"
    stop_server
    : >"$WORK/gm-crash-safe.log"
    rm -rf "$db"
  done
fi

ELAPSED=$((SECONDS - BEGIN_S))
echo "run-benchmarks: measurements took ${ELAPSED}s" >&2

if [ "$REPORT" = 1 ]; then
  python3 bench/report.py --results "$RESULTS" --out BENCHMARKS.md --mode "$MODE" --rounds "$ROUNDS" \
    --duration "$DURATION" --started "$STARTED_AT" --elapsed "$ELAPSED" --commit "$COMMIT" \
    --command "bash bench/run-benchmarks.sh$([ "$MODE" = full ] && echo ' --full')"
  echo "run-benchmarks: wrote BENCHMARKS.md" >&2
fi
