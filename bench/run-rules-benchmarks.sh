#!/usr/bin/env bash
# The rules' cost in the daemon (issue 14); a benchmark, not a test.
#
#   bash bench/run-rules-benchmarks.sh [--rounds N] [--duration S] [--connections "C ..."]
#                                      [--mixes "MIX ..."] [--no-report]
#
# Defaults: 5 rounds, 3 s per measurement, C = 32, mixes new and repeat.
#
# 1. The policy rate of greylist-milter with a rules file of 1,000 rules
#    against the same daemon without rules (`--rules ''`). The file is
#    generated deterministically by `rules-bench --write-rules`
#    (bench/rules_bench.cc: mixed clauses, a fifth of them regexes, lists,
#    continue rules, a DNS list behind an rcpt clause); none of its rules
#    matches policy-load's requests, so every request is checked against
#    all of them. Both daemons take turns within each round (order rotated
#    between rounds), each with a fresh database, so the ratio comes from
#    the same minutes of a shared machine; medians over rounds. Their DNS
#    server is a dnsmasq on loopback that answers the generated DNS list's
#    zone NXDOMAIN and logs every query (counted: none is expected).
# 2. The DNS cache's resident memory at 100,000 cached answers:
#    bench/dns_cache_rss.cc fills the daemon's AresResolver from the same
#    dnsmasq (a quarter of the names listed, the rest NXDOMAIN).
#
# Results: bench/results/rules-latest.jsonl; bench/rules_report.py writes
# them into the "## Rules and DNS lists" section of BENCHMARKS.md.
# Everything started is stopped on exit; every wait is bounded; loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

ROUNDS=5
DURATION=3
CONNECTIONS="32"
MIXES="new repeat"
REPORT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift ;;
    --duration) DURATION=$2; shift ;;
    --connections) CONNECTIONS=$2; shift ;;
    --mixes) MIXES=$2; shift ;;
    --no-report) REPORT=0 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run-rules-benchmarks: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 50 ] || { echo "run-rules-benchmarks: --rounds 1..50" >&2; exit 2; }

DELAY=1
POOL=300
REQUESTS=2000000   # per measurement; the duration ends it first
CACHE_NAMES=100000
RULES=1000
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
RESULTS=$ROOT/bench/results/rules-latest.jsonl

# shellcheck source=bench/bench-lib.sh
source "$ROOT/bench/bench-lib.sh"

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  meson setup "$BUILD_DIR" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD_DIR" greylist-milter bench/policy-load bench/rules-bench bench/dns-cache-rss >/dev/null
DAEMON=$BUILD_DIR/greylist-milter
BENCH=$BUILD_DIR/bench

start_work_dir rules-bench

write_whitelists "$WORK"
RULES_FILE=$WORK/rules-$RULES
"$BENCH/rules-bench" --rules "$RULES" --write-rules "$RULES_FILE"
chmod 644 "$RULES_FILE"

# ---- dnsmasq: the generated DNS list's zone and the cache benchmark's ------
DNS_PORT=$(free_port)
DNS_LOG=$WORK/dnsmasq.log
/usr/sbin/dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --no-poll \
  --bind-interfaces --listen-address=127.0.0.1 --port="$DNS_PORT" --pid-file= --user=root \
  --log-queries --log-facility="$DNS_LOG" --local-ttl=3600 --neg-ttl=3600 \
  --local=/bl.example/ --address=/bl.spamhaus.test/127.0.0.2 --local=/zen.spamhaus.test/ &
STARTED+=("$!")
for _ in $(seq 1 50); do grep -q "started, version" "$DNS_LOG" 2>/dev/null && break; sleep 0.1; done
grep -q "started, version" "$DNS_LOG" || { echo "run-rules-benchmarks: dnsmasq did not start" >&2; exit 1; }

SERVER_PID=""
SERVER_PORT=""
start_server() {  # NAME DBDIR
  local name=$1 db=$2 rules=""
  [ "$name" = gm-rules ] && rules=$RULES_FILE
  SERVER_PORT=$(free_port)
  mkdir -p "$db"
  local -a spf
  read -ra spf <<<"$(no_spf_args "$DAEMON")"
  "$DAEMON" "${spf[@]}" --policy "inet:127.0.0.1:$SERVER_PORT" --milter none --dbdir "$db" --log stderr \
    --delay $DELAY --dynamic-delay 0 --sync crash-safe --whitelist-clients "$WL_CLIENTS" \
    --whitelist-recipients "$WL_RCPTS" --rules "$rules" --dns-server "127.0.0.1:$DNS_PORT" \
    2>>"$WORK/$name.log" &
  SERVER_PID=$!
  STARTED+=("$SERVER_PID")
  if ! wait_port "$SERVER_PORT" 60 >/dev/null; then
    echo "run-rules-benchmarks: $name did not start; its log:" >&2
    tail -20 "$WORK/$name.log" >&2
    exit 1
  fi
}

measure() {  # SERVER ROUND MIX C
  local server=$1 round=$2 mix=$3 c=$4 extra="" out cpu0 cpu1
  if [ "$mix" = repeat ]; then
    extra="--nonce $((round * 1000 + RANDOM % 1000)) --prewarm yes --pool $POOL --prewarm-wait $((DELAY + 1))"
  fi
  cpu0=$(cpu_s "$SERVER_PID")
  # shellcheck disable=SC2086
  out=$("$BENCH/policy-load" --port "$SERVER_PORT" --mix "$mix" --connections "$c" $extra \
    --client-threads 2 --requests "$REQUESTS" --duration "$DURATION" --timeout 10 \
    --label "$server" || true)
  cpu1=$(cpu_s "$SERVER_PID")
  echo "round $round: $(echo "$out" | tail -1)" >&2
  record "$(echo "$out" | grep '^{' || true)" \
    "\"server\":\"$server\",\"round\":$round,\"kind\":\"policy\",\"server_cpu_s\":$(minus "$cpu1" "$cpu0")"
}

mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
STARTED_AT=$(date -u '+%Y-%m-%d %H:%M UTC')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
BEGIN_S=$SECONDS

SERVERS=(gm gm-rules)
for round in $(seq 1 "$ROUNDS"); do
  for k in 0 1; do
    server=${SERVERS[$(( (k + round - 1) % 2 ))]}
    for mix in $MIXES; do
      for c in $CONNECTIONS; do
        start_server "$server" "$WORK/db-$server-$round-$mix-$c"
        measure "$server" "$round" "$mix" "$c"
        stop_pid "$SERVER_PID"
        rm -rf "$WORK/db-$server-$round-$mix-$c"
      done
    done
  done
done
DNS_QUERIES=$(grep -c "query\[A\] .*bl\.example" "$DNS_LOG" || true)

out=$("$BENCH/dns-cache-rss" --server "127.0.0.1:$DNS_PORT" --names "$CACHE_NAMES")
echo "$out" >&2
record "$out" "\"tool\":\"dns-cache-rss\""

ELAPSED=$((SECONDS - BEGIN_S))
printf '{"tool":"run","rounds":%s,"duration":%s,"started":"%s","elapsed":%s,"commit":"%s","command":"%s","nproc":%s,"cpu":"%s","rules":%s,"rules_dns_queries":%s}\n' \
  "$ROUNDS" "$DURATION" "$STARTED_AT" "$ELAPSED" "$COMMIT" \
  "bash bench/run-rules-benchmarks.sh --rounds $ROUNDS --duration $DURATION" "$(nproc)" \
  "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)" "$RULES" "$DNS_QUERIES" >>"$RESULTS"
if [ "$REPORT" = 1 ]; then
  python3 bench/rules_report.py --results "$RESULTS" --benchmarks BENCHMARKS.md
  echo "run-rules-benchmarks: wrote the rules section of BENCHMARKS.md" >&2
fi
