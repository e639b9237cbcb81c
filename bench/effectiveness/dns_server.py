"""A private dnsmasq on a loopback port serving one run's Zone (dns_zone.py)
to the greylist-milter under test, and nothing else: no upstream servers,
no /etc/hosts, and every name outside the zone answers NXDOMAIN
(local=/#/) but a Zone's wildcards, which answer A for every name under
them (address=/NAME/IP). Every answer, negative ones included, has the TTL
params.SPF_TTL.

dnsmasq runs on the real clock (no libfaketime): it keeps no state that
time changes. stop() asks it for its statistics first (SIGUSR1) and
returns the number of queries it answered.
"""
import os
import re
import signal
import socket
import struct
import subprocess
import time

import params as P
import servers

DNSMASQ = "/usr/sbin/dnsmasq"


def query(port, name, qtype=16, timeout=2.0):
    """One UDP query of `name` (type 16: TXT); the reply's rcode and answer
    count. Raises OSError when nothing answers within `timeout`."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split("."))
    message = struct.pack(">HHHHHH", 0x5eed, 0x0100, 1, 0, 0, 0) + question + b"\0" + \
        struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(message, ("127.0.0.1", port))
        reply = s.recv(4096)
    flags, _, answers = struct.unpack(">HHH", reply[2:8])
    return flags & 0xF, answers


def _conf_lines(zone):
    lines = ["local=/#/"]
    for name, ip in sorted(zone.hosts.items()):
        lines.append("host-record=%s,%s" % (name, ip))
    for name, ip in sorted(zone.wildcards.items()):
        lines.append("address=/%s/%s" % (name, ip))
    for domain, exchange in sorted(zone.mx.items()):
        lines.append("mx-host=%s,%s,10" % (domain, exchange))
    for name, text in sorted(zone.txt.items()):
        if "," in text or len(text) > 255:
            raise ValueError("TXT of %s does not fit one string: %r" % (name, text))
        lines.append("txt-record=%s,\"%s\"" % (name, text))
    return lines


class DnsServer:
    def __init__(self, zone, workdir):
        self.zone, self.workdir = zone, workdir
        self.port = servers.free_port()
        self.proc = None
        self.log = os.path.join(workdir, "dnsmasq.log")

    def address(self):
        """As --dns-server takes it."""
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        conf = os.path.join(self.workdir, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write("\n".join(_conf_lines(self.zone)) + "\n")
        command = [DNSMASQ, "--keep-in-foreground", "--conf-file=" + conf, "--no-resolv",
                   "--no-hosts", "--no-poll", "--bind-interfaces", "--listen-address=127.0.0.1",
                   "--port=%d" % self.port, "--pid-file=", "--user=root", "--log-facility=-",
                   "--local-ttl=%d" % P.SPF_TTL, "--neg-ttl=%d" % P.SPF_TTL]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        problem = self._await_answer(timeout)
        if problem:
            servers.stop_process(self.proc)
            raise RuntimeError(problem)

    def _await_answer(self, timeout):
        """None once dnsmasq answers a TXT record of the zone; else why not."""
        deadline = time.monotonic() + timeout
        probe = next(iter(self.zone.txt))
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return "dnsmasq exited with %s; see %s" % (self.proc.returncode, self.log)
            try:
                rcode, answers = query(self.port, probe, timeout=0.2)
            except OSError:
                time.sleep(0.05)
                continue
            if rcode == 0 and answers == 1:
                return None
            return "dnsmasq answered %s with rcode %d, %d answers; see %s" % (
                probe, rcode, answers, self.log)
        return "dnsmasq did not answer on port %d within %d s" % (self.port, timeout)

    def stop(self):
        """The number of queries answered (None if unknown); SIGTERM, then
        SIGKILL after 10 s; only the process we started."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGUSR1)
        answered = None
        deadline = time.monotonic() + 5
        while answered is None and time.monotonic() < deadline:
            time.sleep(0.05)
            with open(self.log) as f:
                found = re.findall(r"queries answered locally (\d+)", f.read())
            answered = int(found[-1]) - 1 if found else None  # less the start-up probe
        servers.stop_process(self.proc)
        return answered
