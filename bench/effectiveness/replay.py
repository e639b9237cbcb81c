"""Replays a run's messages through one greylister and records, for each
message, the attempt that was accepted (or None: the sender gave up).

Attempts are answered in time order across all senders; before each one
the servers' clock is set to its time. A sender's next attempt is
scheduled only when the current one was deferred.
"""
import calendar
import heapq
import os
import shutil
import tempfile
import time

import clients
import dns_server
import params as P
import servers


def start_epoch():
    return calendar.timegm(time.strptime(P.START, "%Y-%m-%d %H:%M:%S"))


def run(config, messages, binary, zone=None, keep_dir=False, progress=None):
    """config: {"name", "server": "ours"|"postgrey", "args": [...],
    "front_end": "policy"|"milter"}. zone (dns_zone.Zone): served by a
    private dnsmasq to greylist-milter, given it as its only --dns-server
    (postgrey does no DNS). Returns {"accepted": [attempt index or None per
    message], "requests": N, "seconds": wall time, "dns_queries": N or
    None}."""
    # tmpfs when there is one: postgrey syncs every request to disk, and the
    # replay measures decisions, not disks.
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    workdir = tempfile.mkdtemp(prefix="effectiveness-%s-" % config["name"], dir=base)
    os.chmod(workdir, 0o711)   # the servers drop privileges, then read the clock file
    clock = servers.Clock(os.path.join(workdir, "faketime.rc"), start_epoch())
    clock.set(0)
    os.chmod(clock.path, 0o644)
    args = list(config.get("args", ()))
    dns = None
    if zone is not None and config["server"] == "ours":
        dns = dns_server.DnsServer(zone, workdir)
        dns.start()
        args = ["--dns-server", dns.address(), "--dns-timeout", str(P.SPF_DNS_TIMEOUT_MS)] + args
    server = servers.Server(config["server"], workdir, clock, binary, args,
                            config.get("front_end", "policy"), config.get("env"))
    started = time.monotonic()
    accepted = [None] * len(messages)
    requests = 0
    dns_queries = None
    client = None
    try:
        server.start()
        client = (clients.MilterClient if config.get("front_end") == "milter"
                  else clients.PolicyClient)(server.port)
        queue = [(m.t0, m.id, i, 0) for i, m in enumerate(messages)]
        heapq.heapify(queue)
        while queue:
            t, _, i, k = heapq.heappop(queue)
            m = messages[i]
            attempt = m.attempts[k]
            clock.set(t)
            requests += 1
            if client.ask(attempt.address, attempt.name, m.sender, m.recipient):
                accepted[i] = k
            elif k + 1 < len(m.attempts):
                heapq.heappush(queue, (m.t0 + m.attempts[k + 1].offset, m.id, i, k + 1))
            if progress and requests % 20000 == 0:
                progress("%s: %d requests, simulated day %.1f" % (config["name"], requests,
                                                                  t / P.DAY))
    finally:
        if client is not None:
            client.close()
        server.stop()
        if dns is not None:
            dns_queries = dns.stop()
        if not keep_dir:
            shutil.rmtree(workdir, ignore_errors=True)
    return {"accepted": accepted, "requests": requests,
            "seconds": round(time.monotonic() - started, 1), "dns_queries": dns_queries}
