"""The MTA side of both front ends: a Postfix policy-delegation client and a
small milter (protocol version 6) client. Each answers one question: was
this (client, sender, recipient) attempt accepted or deferred?

Every read is bounded by a time-out; a reply larger than MAX_REPLY or a
closed connection is an error (raised), never a silent answer.
"""
import socket
import struct

TIMEOUT = 30.0
MAX_REPLY = 1 << 16


class PolicyClient:
    """One connection kept open for many requests, as Postfix does."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""
        self.instance = 0

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        self.buf = b""

    def ask(self, address, name, sender, recipient):
        """True when the greylister let the recipient through."""
        self.instance += 1
        request = ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                   "client_address=%s\nclient_name=%s\nreverse_client_name=%s\nhelo_name=%s\n"
                   "sender=%s\nrecipient=%s\ninstance=sim.%d\n\n" %
                   (address, name, name, name if name != "unknown" else "[%s]" % address,
                    sender, recipient, self.instance)).encode()
        for attempt in range(2):   # one reconnection if the server closed an idle connection
            if self.sock is None:
                self._connect()
            try:
                self.sock.sendall(request)
                reply = self._read_reply()
                break
            except (ConnectionError, EOFError):
                self.close()
                if attempt == 1:
                    raise
        action = reply.split("\n", 1)[0]
        if not action.startswith("action="):
            raise ValueError("unexpected policy reply %r" % reply[:200])
        verb = action[len("action="):].split(" ", 1)[0].upper()
        if verb in ("DUNNO", "PREPEND", "OK"):
            return True
        if verb in ("DEFER_IF_PERMIT", "DEFER") or verb[:1] == "4":
            return False
        raise ValueError("unexpected policy action %r" % action)

    def _read_reply(self):
        while b"\n\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("policy server closed the connection")
            self.buf += chunk
            if len(self.buf) > MAX_REPLY:
                raise ValueError("policy reply too long")
        reply, self.buf = self.buf.split(b"\n\n", 1)
        return reply.decode(errors="replace")

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


# Milter protocol constants (libmilter's mfdef.h values).
SMFIC_OPTNEG, SMFIC_CONNECT, SMFIC_HELO = b"O", b"C", b"H"
SMFIC_MAIL, SMFIC_RCPT, SMFIC_ABORT, SMFIC_QUIT = b"M", b"R", b"A", b"Q"
SMFIP_NOCONNECT, SMFIP_NOHELO, SMFIP_NOMAIL = 0x1, 0x2, 0x4
SMFIP_NR_CONN, SMFIP_NR_HELO, SMFIP_NR_MAIL, SMFIP_NR_RCPT = 0x1000, 0x2000, 0x4000, 0x8000
ALL_ACTIONS, ALL_PROTOCOL = 0x1FF, 0x1FFFFF


class MilterClient:
    """One milter connection per SMTP session (attempt), as Postfix makes."""

    def __init__(self, port):
        self.port = port

    def ask(self, address, name, sender, recipient):
        with socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT) as sock:
            self.sock = sock
            self._send(SMFIC_OPTNEG, struct.pack(">III", 6, ALL_ACTIONS, ALL_PROTOCOL))
            command, data = self._read()
            if command != SMFIC_OPTNEG or len(data) < 12:
                raise ValueError("bad option negotiation reply")
            protocol = struct.unpack(">III", data[:12])[2]
            # Postfix passes "[address]" as the host name of a client without one.
            host = name if name != "unknown" else "[%s]" % address
            steps = [(SMFIC_CONNECT, host.encode() + b"\0" + b"4" + struct.pack(">H", 25) +
                      address.encode() + b"\0", SMFIP_NOCONNECT, SMFIP_NR_CONN),
                     (SMFIC_HELO, host.encode() + b"\0", SMFIP_NOHELO, SMFIP_NR_HELO),
                     (SMFIC_MAIL, b"<" + sender.encode() + b">\0", SMFIP_NOMAIL, SMFIP_NR_MAIL)]
            for command, payload, skip, no_reply in steps:
                if protocol & skip:
                    continue
                self._send(command, payload)
                if not protocol & no_reply:
                    reply, _ = self._read()
                    if reply != b"c":
                        raise ValueError("milter answered %r before RCPT" % reply)
            self._send(SMFIC_RCPT, b"<" + recipient.encode() + b">\0")
            reply, data = self._read()
            self._send(SMFIC_ABORT)
            self._send(SMFIC_QUIT)
        if reply in (b"c", b"a"):
            return True
        if reply == b"t" or (reply == b"y" and data[:1] == b"4"):
            return False
        raise ValueError("unexpected milter RCPT reply %r %r" % (reply, data[:100]))

    def _send(self, command, data=b""):
        self.sock.sendall(struct.pack(">I", len(data) + 1) + command + data)

    def _read(self):
        head = self._exactly(4)
        length = struct.unpack(">I", head)[0]
        if length < 1 or length > MAX_REPLY:
            raise ValueError("bad milter packet length %d" % length)
        body = self._exactly(length)
        return body[:1], body[1:]

    def _exactly(self, count):
        out = b""
        while len(out) < count:
            chunk = self.sock.recv(count - len(out))
            if not chunk:
                raise EOFError("milter closed the connection")
            out += chunk
        return out

    def close(self):
        pass
