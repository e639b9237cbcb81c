"""The greylisters under test, each a real process on a loopback port with
its own database directory and its clock read from a timestamp file.

libfaketime (Debian package libfaketime) is preloaded with
FAKETIME_TIMESTAMP_FILE and FAKETIME_NO_CACHE=1: every time() or
clock_gettime(CLOCK_REALTIME) of the server reads the file, which holds an
absolute date ("YYYY-MM-DD hh:mm:ss", a stopped clock). The replay writes
the date of each attempt there before it sends the attempt, so simulated
days pass in seconds and no answer depends on how fast the machine is.
The monotonic clock is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1): the
servers' time-outs keep working.
"""
import os
import pwd
import socket
import subprocess
import time

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
POSTGREY = "/usr/sbin/postgrey"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_system_postgrey():
    """apt may have started Debian's postgrey service; it would hold the
    default port and, worse, is not ours to measure. Stopped by its pid file."""
    try:
        with open("/run/postgrey.pid") as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return
    print("stopping the system postgrey (pid %d)" % pid, flush=True)
    if os.path.exists("/etc/init.d/postgrey"):
        subprocess.run(["/etc/init.d/postgrey", "stop"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=30, check=False)
    try:
        os.kill(pid, 15)
    except OSError:
        pass


class Clock:
    """The timestamp file a server's libfaketime reads."""

    def __init__(self, path, start_epoch):
        self.path, self.start, self.now = path, start_epoch, None

    def set(self, offset):
        """Sets the servers' clock to start + offset seconds (whole seconds)."""
        offset = int(offset)
        if offset == self.now:
            return
        text = time.strftime("%Y-%m-%d %H:%M:%S\n", time.gmtime(self.start + offset))
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.path)
        self.now = offset


class Server:
    """One greylister process. kind: "ours" (policy or milter front end) or
    "postgrey"; args: extra command-line options; env: extra environment."""

    def __init__(self, kind, workdir, clock, binary=None, args=(), front_end="policy", env=None):
        self.kind, self.workdir, self.clock = kind, workdir, clock
        self.extra_env = dict(env or {})
        self.binary, self.args, self.front_end = binary, list(args), front_end
        self.port = free_port()
        self.proc = None
        self.log = os.path.join(workdir, kind + ".log")

    def _env(self):
        env = dict(os.environ)
        env.update({"LD_PRELOAD": FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE": self.clock.path,
                    "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "TZ": "UTC"})
        env.update(self.extra_env)
        return env

    def _command(self):
        db = os.path.join(self.workdir, "db")
        os.makedirs(db, exist_ok=True)
        wl_clients = os.path.join(self.workdir, "whitelist_clients")
        wl_rcpts = os.path.join(self.workdir, "whitelist_recipients")
        for path in (wl_clients, wl_rcpts):   # empty whitelists: the algorithm alone
            open(path, "w").close()
            os.chmod(path, 0o644)
        if self.kind == "postgrey":
            user = pwd.getpwnam("postgrey")
            os.chown(db, user.pw_uid, user.pw_gid)
            return [POSTGREY, "--inet=127.0.0.1:%d" % self.port, "--dbdir=" + db,
                    "--user=postgrey", "--group=postgrey", "--whitelist-clients=" + wl_clients,
                    "--whitelist-recipients=" + wl_rcpts] + self.args
        sockets = ["--policy", "inet:127.0.0.1:%d" % self.port, "--milter", "none"]
        if self.front_end == "milter":
            sockets = ["--policy", "none", "--milter", "inet:127.0.0.1:%d" % self.port]
        return [self.binary] + sockets + ["--dbdir", db, "--log", "stderr",
                                          "--whitelist-clients", wl_clients,
                                          "--whitelist-recipients", wl_rcpts] + self.args

    def start(self, timeout=60):
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(self._command(), env=self._env(), stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s at start; see %s" %
                                   (self.kind, self.proc.returncode, self.log))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("%s did not listen on port %d within %d s" % (self.kind, self.port, timeout))

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; only the process we started."""
        stop_process(self.proc)


def stop_process(proc):
    """SIGTERM to `proc` (a Popen we started; None or exited: nothing), then
    SIGKILL after 10 s."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
