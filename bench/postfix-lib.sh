# shellcheck shell=bash
# A private Postfix for the benchmarks (sourced, not run): the layout of
# test/e2e/postfix_instance.cc (own config_directory, queue and maillog under
# one directory; /etc/postfix untouched; 127.0.0.1 only), every message
# discarded after the queue. Every wait is bounded in time.

# postfix_start DIR SERVICE...: writes DIR/etc/{main,master}.cf with one
# master.cf line per SERVICE (e.g. "127.0.0.1:2525 inet n - n - - smtpd -o
# smtpd_milters=..."), starts Postfix, exits the script on failure.
postfix_start() {
  local dir=$1 service
  shift
  mkdir -p "$dir/etc" "$dir/spool" "$dir/data"
  chmod 755 "$dir"
  chown postfix:postfix "$dir/data"
  cat >"$dir/etc/main.cf" <<MAIN
# Private instance of greylist-milter's Postfix benchmark.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.bench.test
mydomain = bench.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_peername_lookup = no
default_transport = discard:benchmark
relay_transport = discard:benchmark
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
biff = no
smtputf8_enable = no
milter_default_action = tempfail
milter_protocol = 6
MAIN
  {
    for service in "$@"; do echo "$service"; done
    cat <<'MASTER'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
  } >"$dir/etc/master.cf"
  if ! /usr/sbin/postfix -c "$dir/etc" start >"$dir/start.out" 2>&1; then
    echo "postfix start failed:" >&2
    cat "$dir/start.out" >&2
    tail -20 "$dir/maillog" >&2 2>/dev/null || true
    exit 1
  fi
}

# postfix_stop DIR: stops the instance in DIR if it runs (SIGKILL after 10 s).
postfix_stop() {
  local dir=$1 pid i
  [ -f "$dir/etc/main.cf" ] || return 0
  /usr/sbin/postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
  pid=$(cat "$dir/spool/pid/master.pid" 2>/dev/null | tr -d ' ' || true)
  [ -n "$pid" ] || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# postfix_wait_queue_empty DIR SECONDS: waits until the active and incoming
# queues are empty (all mail discarded).
postfix_wait_queue_empty() {
  local dir=$1 limit=$2 i
  for i in $(seq 1 $((limit * 10))); do
    if [ -z "$(find "$dir/spool/incoming" "$dir/spool/active" -type f -print -quit 2>/dev/null)" ]; then
      return 0
    fi
    sleep 0.1
  done
  echo "postfix queue in $dir not empty after $limit s" >&2
}

# postfix_rejects DIR: how many SMTP commands Postfix has refused so far
# (smtpd's "reject:" and milter "milter-reject:" log lines).
postfix_rejects() {
  local n
  n=$(grep -c 'reject:' "$1/maillog" 2>/dev/null || true)
  echo "${n:-0}"
}

# wait_file_socket PATH SECONDS: waits until the unix socket PATH exists.
wait_file_socket() {
  local path=$1 limit=$2 i
  for i in $(seq 1 $((limit * 10))); do
    [ -S "$path" ] && return 0
    sleep 0.1
  done
  echo "no socket $path after $limit s" >&2
  exit 1
}

# loopback_routes: the local table's routes of 127.0.0.0/8 and of 127.0.0.1,
# one a line, as `ip route` shows them (e.g. "local 127.0.0.1 dev lo proto
# kernel scope host src 127.0.0.1"). Connections to 127.0.0.1 take the /32
# route, not the /8 one.
loopback_routes() {
  ip route show table local 127.0.0.0/8
  ip route show table local 127.0.0.1/32
}

# set_loopback_quickack ROUTES: each of ROUTES (from loopback_routes) with
# "quickack 1": the kernel acknowledges at once on loopback TCP connections.
set_loopback_quickack() {
  local route
  while read -r route; do
    [ -n "$route" ] || continue
    # shellcheck disable=SC2086  # the route's words are separate arguments
    ip route change table local $route quickack 1
  done <<<"$1"
  echo "loopback routes: $(loopback_routes | tr '\n' ';')" >&2
}

# restore_loopback_routes ROUTES: puts ROUTES back as they were.
restore_loopback_routes() {
  local route
  while read -r route; do
    [ -n "$route" ] || continue
    # shellcheck disable=SC2086
    ip route replace table local $route
  done <<<"$1"
  echo "loopback routes restored: $(loopback_routes | tr '\n' ';')" >&2
}
