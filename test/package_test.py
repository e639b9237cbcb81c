#!/usr/bin/env python3
"""Tests of what ships: the documentation against the program, and the Debian package.

  package_test.py docs --binary BUILT_DAEMON --source-root DIR
      Fast. Every option named in greylist-milter(8) (as \\-\\-name) and in the
      sample config must be one the program accepts (its --help); every option
      it accepts must be documented in greylist-milter.conf(5); the unit and
      /etc/default/greylist-milter give only accepted options; debian/control
      build-depends on every package in scripts/build-packages.txt.

  package_test.py package --source-root DIR
      Slow, needs root on Debian. Builds the package from a copy of the tree
      (packaging/debian as debian/), runs lintian (no error allowed), installs
      it with dpkg -i, checks the user, the database directory and the unit
      (systemd-analyze verify), starts the installed daemon as root against a
      temporary database on free loopback ports and asks it one policy
      question, starts it again the way the unit does (its command line, its
      capability bounding set, no new privileges), then purges the package
      and checks it is gone. The machine is left as it was found: the package
      is purged and a user the package created is removed, even on failure.
      --deb FILE tests that package instead of building one.

Prints one line per check and a summary; exit status 1 if any check failed.
"""
import argparse
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

PACKAGE = "greylist-milter"
SERVICE_USER = "greylist-milter"
DBDIR = "/var/lib/greylist-milter"
UNIT = "/lib/systemd/system/greylist-milter.service"
CONFIG = "/etc/greylist-milter/greylist-milter.conf"
DEFAULTS = "/etc/default/greylist-milter"
BINARY = "/usr/sbin/greylist-milter"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok - {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {what}" + (f"\n    {detail}" if detail else ""), flush=True)
        return ok

    def summary(self):
        print(f"{self.passed} checks passed, {self.failed} failed", flush=True)
        return 1 if self.failed else 0


def run(cmd, timeout, **kwargs):
    """Runs cmd (bounded); returns (exit status, stdout+stderr). A timeout is status -1."""
    try:
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace", timeout=timeout, **kwargs)
        return done.returncode, done.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -1, out + f"\n(timed out after {timeout} s: {' '.join(map(str, cmd))})"


def tail(text, lines=40):
    return "\n    ".join(text.rstrip().splitlines()[-lines:])


def build_failure(text):
    """The error lines of a failed build (compiler lines are long) and its last lines."""
    all_lines = text.rstrip().splitlines()
    errors = [l for l in all_lines if re.search(r"error|FAILED|Unmet", l)][:30]
    return "\n    ".join(errors + ["..."] + all_lines[-8:])


# ---------------------------------------------------------------- docs

def accepted_options(binary):
    code, out = run([binary, "--help"], timeout=30)
    if code != 0:
        raise SystemExit(f"{binary} --help failed ({code}):\n{out}")
    return set(re.findall(r"^\s+(?:-\w \[ )?--([a-z0-9][a-z0-9-]*)", out, re.M))


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def package_list(path):
    return [line.strip() for line in read(path).splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def control_build_depends(control):
    field = re.search(r"^Build-Depends:(.*?)(?=^\S|\Z)", control, re.M | re.S).group(1)
    names = set()
    for item in field.replace("\n", " ").split(","):
        for alternative in item.split("|"):
            name = re.match(r"\s*([a-z0-9][a-z0-9+.-]*)", alternative)
            if name:
                names.add(name.group(1))
    return names


def docs(args):
    checks = Checks()
    root = args.source_root
    options = accepted_options(args.binary)
    checks.check(len(options) > 20, f"--help lists the options ({len(options)})", sorted(options))

    man8 = read(os.path.join(root, "man/greylist-milter.8"))
    in_man8 = set(re.findall(r"\\-\\-([a-z0-9][a-z0-9-]*)", man8))
    checks.check(in_man8 and in_man8 <= options,
                 f"every \\-\\-option in greylist-milter(8) is accepted ({len(in_man8)} named)",
                 f"not accepted: {sorted(in_man8 - options)}")

    conf = read(os.path.join(root, "conf/greylist-milter.conf"))
    in_conf = set(re.findall(r"^#?\s*([a-z][a-z0-9-]*)\s*=", conf, re.M))
    checks.check(in_conf and in_conf <= options,
                 f"every setting in conf/greylist-milter.conf is accepted ({len(in_conf)} named)",
                 f"not accepted: {sorted(in_conf - options)}")

    man5 = read(os.path.join(root, "man/greylist-milter.conf.5"))
    bold = set(re.findall(r'(?:^\.B[IR]?\s+"?|\\fB)([a-z][a-z0-9-]*)', man5, re.M))
    checks.check(options <= bold, "every accepted option is in greylist-milter.conf(5)",
                 f"missing: {sorted(options - bold)}")
    settings5 = set(re.findall(r'^\.B[IR]?\s+"([a-z][a-z0-9-]*) = ', man5, re.M))
    checks.check(settings5 and settings5 <= options,
                 f"every setting described in greylist-milter.conf(5) is accepted ({len(settings5)})",
                 f"not accepted: {sorted(settings5 - options)}")

    unit = read(os.path.join(root, "packaging/systemd/greylist-milter.service"))
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
    in_unit = set(re.findall(r"--([a-z0-9][a-z0-9-]*)", exec_start))
    checks.check(in_unit <= options, "the unit's ExecStart gives accepted options only",
                 f"not accepted: {sorted(in_unit - options)}")
    # Issue 15: restarted after any exit it was not asked for, and never given
    # up on (a start limit would leave the daemon dead after a passing fault).
    restart = re.findall(r"^Restart=(.*)$", unit, re.M)
    checks.check(restart == ["always"], "the unit restarts after any unrequested exit",
                 f"Restart= {restart}")
    unit_section = unit.split("[Service]")[0]
    checks.check(re.search(r"^StartLimitIntervalSec=0\s*$", unit_section, re.M),
                 "the unit's [Unit] section disables the start limit (StartLimitIntervalSec=0)",
                 "systemd's default start limit gives up after 5 starts in 10 s")
    defaults = read(os.path.join(root, "packaging/default/greylist-milter"))
    in_defaults = set(re.findall(r"--([a-z0-9][a-z0-9-]*)", defaults))
    checks.check(in_defaults <= options,
                 "/etc/default/greylist-milter names accepted options only",
                 f"not accepted: {sorted(in_defaults - options)}")

    needed = set(package_list(os.path.join(root, "scripts/build-packages.txt")))
    declared = control_build_depends(read(os.path.join(root, "packaging/debian/control")))
    checks.check(needed <= declared,
                 "debian/control build-depends on every package of scripts/build-packages.txt",
                 f"missing: {sorted(needed - declared)}")
    return checks.summary()


# ---------------------------------------------------------------- package

def package_status():
    code, out = run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], timeout=30)
    return out.strip() if code == 0 else ""


def dpkg(args, timeout):
    """dpkg, waiting (bounded) while another dpkg or apt holds the lock."""
    for _ in range(30):
        code, out = run(["dpkg"] + args, timeout=timeout)
        if code == 0 or not re.search(r"\block\b|locked", out):
            return code, out
        time.sleep(10)
    return code, out


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def copy_tree(source_root, destination):
    """The working tree, without .git and build directories, packaging/debian as debian/."""
    def ignore(directory, names):
        skipped = set()
        for name in names:
            path = os.path.join(directory, name)
            if name == ".git" or (os.path.isdir(path) and (
                    os.path.exists(os.path.join(path, "meson-private")) or
                    os.path.exists(os.path.join(path, "build.ninja")))):
                skipped.add(name)
            elif not (os.path.isfile(path) or os.path.isdir(path)):
                skipped.add(name)  # sockets, dangling links
        if os.path.samefile(directory, source_root):
            skipped |= {"debian"} & set(names)
            skipped |= {"build"} & set(names)
        if os.path.relpath(directory, source_root) == "bench":
            skipped |= {"results"} & set(names)
        return skipped

    shutil.copytree(source_root, destination, symlinks=True, ignore=ignore)
    shutil.copytree(os.path.join(source_root, "packaging/debian"),
                    os.path.join(destination, "debian"), symlinks=True)


def upstream_version(source_root):
    changelog = read(os.path.join(source_root, "packaging/debian/changelog"))
    version = re.match(r"\S+ \(([^)]+)\)", changelog).group(1)
    return version, version.rsplit("-", 1)[0]


def proc_ids(pid):
    """(real, effective, saved, fs uid), (same for gid) of a running process."""
    status = read(f"/proc/{pid}/status")
    uids = tuple(int(x) for x in re.search(r"^Uid:\s+(.*)$", status, re.M).group(1).split())
    gids = tuple(int(x) for x in re.search(r"^Gid:\s+(.*)$", status, re.M).group(1).split())
    return uids, gids


class Daemon:
    """The installed daemon in the foreground, its log in a file; stopped by pid."""

    def __init__(self, cmd, log_path):
        self.cmd = cmd
        self.log_path = log_path
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def output(self):
        if not self.log.closed:
            self.log.flush()
        return read(self.log_path)

    def wait_listening(self, port, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return True
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self, timeout=5):
        """SIGTERM; returns (exit status or None if it had to be killed, seconds taken)."""
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            code = None
        self.log.close()
        return code, time.monotonic() - started


def policy_exchange(port, requests, timeout=10):
    """Sends each request on one connection; returns the replies (each up to its empty line)."""
    replies = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        buffered = b""
        for attributes in requests:
            s.sendall("".join(f"{k}={v}\n" for k, v in attributes.items()).encode() + b"\n")
            while b"\n\n" not in buffered:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buffered += chunk
            reply, _, buffered = buffered.partition(b"\n\n")
            replies.append(reply.decode(errors="replace"))
    return replies


def request(recipient):
    return {"request": "smtpd_access_policy", "protocol_state": "RCPT",
            "protocol_name": "ESMTP", "client_address": "192.0.2.7",
            "client_name": "mail.example.org", "helo_name": "mail.example.org",
            "sender": "alice@example.org", "recipient": recipient,
            "queue_id": "", "instance": "1.2.3"}


def unit_setting(unit, name):
    found = re.findall(rf"^{name}=(.*)$", unit, re.M)
    return found[-1].strip() if found else None


def setpriv_prefix(unit):
    """setpriv arguments that give a root process the unit's capability bounding set and NNP."""
    caps = unit_setting(unit, "CapabilityBoundingSet") or ""
    names = [c.lower().removeprefix("cap_") for c in caps.split()]
    prefix = ["setpriv", "--bounding-set=-all" + "".join(",+" + n for n in names)]
    if (unit_setting(unit, "NoNewPrivileges") or "").lower() in ("yes", "true", "1", "on"):
        prefix.insert(1, "--no-new-privs")
    return prefix


def unit_command(unit, extra_options):
    """The unit's ExecStart with $GREYLIST_MILTER_OPTS from /etc/default/greylist-milter
    (and extra_options appended to it)."""
    code, out = run(["sh", "-c", f". {DEFAULTS} && printf %s \"$GREYLIST_MILTER_OPTS\""],
                    timeout=10)
    opts = shlex.split(out) if code == 0 else []
    words = []
    for word in shlex.split(unit_setting(unit, "ExecStart")):
        if word in ("$GREYLIST_MILTER_OPTS", "${GREYLIST_MILTER_OPTS}"):
            words += opts + extra_options
        else:
            words.append(word)
    return words


def package(args):
    checks = Checks()
    root = os.path.abspath(args.source_root)
    if os.geteuid() != 0:
        print("SKIPPED: the package test needs root (dpkg -i, the service user)")
        return 0
    if not shutil.which("dpkg"):
        print("SKIPPED: not a Debian system (no dpkg)")
        return 0
    if package_status():
        print(f"SKIPPED: the package {PACKAGE} is already on this machine "
              f"({package_status()}); the test installs and purges it, so it leaves it alone")
        return 0
    if os.path.isdir(DBDIR) and os.listdir(DBDIR):
        print(f"SKIPPED: {DBDIR} holds a database that a purge would delete")
        return 0

    user_existed = _user_exists(SERVICE_USER)
    group_existed = _group_exists(SERVICE_USER)
    dbdir_before = os.stat(DBDIR) if os.path.isdir(DBDIR) else None
    work = tempfile.mkdtemp(prefix="greylist-package-test.")
    installed = False
    daemon = None
    try:
        # Tools and build dependencies.
        lists = [os.path.join(root, "scripts/build-packages.txt")]
        needed = [p for path in lists for p in package_list(path)]
        needed += ["build-essential", "debhelper", "dpkg-dev", "lintian", "systemd"]
        code, out = run(["bash", os.path.join(root, "scripts/ensure-packages.sh")] + needed,
                        timeout=1800)
        if not checks.check(code == 0, "build dependencies installed", tail(out)):
            return checks.summary()

        # Build.
        full, upstream = upstream_version(root)
        if args.deb:
            deb = os.path.abspath(args.deb)
            print(f"using the package {deb} (not built by this run)")
        else:
            source = os.path.join(work, f"{PACKAGE}-{upstream}")
            copy_tree(root, source)
            env = dict(os.environ, DEB_BUILD_OPTIONS=f"nocheck parallel={os.cpu_count() or 1}")
            started = time.monotonic()
            code, out = run(["dpkg-buildpackage", "-us", "-uc", "-b"], timeout=2400, cwd=source,
                            env=env)
            deb = os.path.join(work, f"{PACKAGE}_{full}_{_arch()}.deb")
            if not checks.check(code == 0 and os.path.exists(deb),
                                f"dpkg-buildpackage -us -uc -b builds {os.path.basename(deb)} "
                                f"({time.monotonic() - started:.0f} s)", build_failure(out)):
                return checks.summary()

        # What the package holds.
        code, listing = run(["dpkg-deb", "-c", deb], timeout=60)
        paths = {line.split()[-1].lstrip(".") for line in listing.splitlines() if line.strip()}
        expected = {BINARY, UNIT, CONFIG, DEFAULTS,
                    "/etc/greylist-milter/whitelist_clients",
                    "/etc/greylist-milter/whitelist_recipients",
                    "/usr/lib/sysusers.d/greylist-milter.conf",
                    "/usr/lib/tmpfiles.d/greylist-milter.conf",
                    "/usr/share/man/man8/greylist-milter.8.gz",
                    "/usr/share/man/man5/greylist-milter.conf.5.gz",
                    "/usr/share/doc/greylist-milter/copyright"}
        if _has_greylistctl_target(root):
            expected.add("/usr/share/man/man8/greylistctl.8.gz")
            ctl = {p for p in paths if p.endswith("/greylistctl")}
            checks.check(ctl, "the package holds greylistctl", "no greylistctl in the package")
        checks.check(expected <= paths, "the package holds the daemon, unit, sysusers and "
                     "tmpfiles entries, config, whitelists and man pages",
                     f"missing: {sorted(expected - paths)}")
        code, conffiles = run(["sh", "-c", f"dpkg-deb --ctrl-tarfile {shlex.quote(deb)} | "
                               "tar -xOf - ./conffiles"], timeout=60)
        wanted = {CONFIG, DEFAULTS, "/etc/greylist-milter/whitelist_clients",
                  "/etc/greylist-milter/whitelist_recipients"}
        checks.check(wanted <= set(conffiles.split()), "config and whitelist files are conffiles",
                     conffiles)

        # lintian: no error.
        if shutil.which("lintian"):
            code, out = run(["lintian", "--no-tag-display-limit", deb], timeout=900)
            errors = [l for l in out.splitlines() if l.startswith("E:")]
            warnings = [l for l in out.splitlines() if l.startswith("W:")]
            checks.check(code == 0 and not errors,
                         f"lintian: no error ({len(warnings)} warnings)", tail(out))
            for line in warnings:
                print(f"    {line}")
        else:
            print("SKIPPED: lintian check (lintian not installed)")

        # Install.
        installed = True
        code, out = dpkg(["-i", deb], timeout=600)
        if code != 0:
            print(f"dpkg -i: dependencies to resolve:\n    {tail(out, 10)}")
            code, out = run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-f", "-y",
                             "-q"], timeout=1800,
                            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if not checks.check(package_status() == "install ok installed",
                            "dpkg -i installs the package", tail(out)):
            return checks.summary()
        code, out = run([BINARY, "--version"], timeout=30)
        checks.check(code == 0 and out.strip() == f"greylist-milter {upstream}",
                     f"{BINARY} --version prints 'greylist-milter {upstream}'", out)

        # The user and the database directory.
        try:
            user = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            user = None
        checks.check(user is not None and user.pw_uid != 0,
                     f"the user {SERVICE_USER} exists" +
                     (" (it did before)" if user_existed else " (created by the package)"))
        if user is None:
            return checks.summary()
        st = os.stat(DBDIR) if os.path.isdir(DBDIR) else None
        checks.check(st is not None and stat.S_IMODE(st.st_mode) == 0o700 and
                     st.st_uid == user.pw_uid and st.st_gid == user.pw_gid,
                     f"{DBDIR} exists, mode 0700, owned by {SERVICE_USER}:{SERVICE_USER}",
                     f"stat: {st}")
        _check_sysusers_on_fresh_root(checks, work)

        # The unit.
        with open(UNIT, encoding="utf-8") as f:
            unit = f.read()
        if shutil.which("systemd-analyze"):
            man = [] if shutil.which("man") else ["--man=no"]
            code, out = run(["systemd-analyze", "verify"] + man + [UNIT], timeout=120)
            ours = [l for l in out.splitlines() if "greylist-milter" in l]
            checks.check(code == 0 and not ours, "systemd-analyze verify accepts the unit",
                         tail(out))
            code, out = run(["systemd-analyze", "security", "--offline=yes", UNIT], timeout=120)
            overall = [l for l in out.splitlines() if "Overall exposure" in l]
            print("    systemd-analyze security: " + (overall[0].strip() if overall
                                                       else tail(out, 3)))
        else:
            print("SKIPPED: systemd-analyze verify (systemd-analyze not installed)")
        for needed in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=always",
                       "NoNewPrivileges=yes", "ProtectSystem=strict",
                       f"ReadWritePaths={DBDIR}", "PrivateTmp=yes"):
            checks.check(re.search(rf"^{re.escape(needed)}\s*$", unit, re.M),
                         f"the unit has {needed}")

        # The installed daemon, started as root with its defaults (it must drop
        # to the service user), against a temporary database directory.
        first_asked = time.monotonic()
        tmp_db = os.path.join(work, "db")
        os.mkdir(tmp_db, 0o700)  # empty and root's: the daemon takes it over
        # The daemon opens its directory as the service user (as /var/lib is
        # to it): the path must be traversable, not readable.
        os.chmod(work, 0o711)
        port = free_port()
        # --pool-by-spf no: the replies below must not wait for the machine's DNS.
        test_options = ["--dbdir", tmp_db, "--policy", f"inet:127.0.0.1:{port}",
                        "--milter", "none", "--log", "stderr", "--pool-by-spf", "no"]
        daemon = Daemon([BINARY, "--config", CONFIG] + test_options,
                        os.path.join(work, "daemon1.log"))
        if checks.check(daemon.wait_listening(port), f"the installed daemon serves 127.0.0.1:{port}",
                        tail(daemon.output())):
            uids, gids = proc_ids(daemon.process.pid)
            checks.check(set(uids) == {user.pw_uid} and set(gids) == {user.pw_gid},
                         f"started as root, it runs as {SERVICE_USER} "
                         f"(uid {user.pw_uid}, gid {user.pw_gid})", f"uids {uids}, gids {gids}")
            st = os.stat(tmp_db)
            checks.check(st.st_uid == user.pw_uid and st.st_gid == user.pw_gid,
                         "it took over the empty database directory (now the user's)",
                         f"stat: {st}")
            first_asked = time.monotonic()
            try:
                replies = policy_exchange(port, [request("bob@example.net"),
                                                 request("postmaster@example.net")])
            except OSError as e:
                replies = [f"error: {e}"]
            checks.check(replies[:1] == ["action=DEFER_IF_PERMIT Greylisted, see "
                                         "http://postgrey.schweikert.ch/help/example.net.html"],
                         "a new triplet is greylisted with postgrey's reply", replies)
            checks.check(replies[1:] == ["action=DUNNO"],
                         "postmaster@ passes (the installed whitelist_recipients is read)", replies)
        code, took = daemon.stop()
        daemon = None
        checks.check(code == 0, f"SIGTERM stops it, exit status 0 ({took:.1f} s)",
                     f"status {code}")

        # Again the way the unit starts it: its ExecStart with /etc/default's
        # options, its capability bounding set and no new privileges, on the
        # existing database (now 0700 and the service user's).
        if shutil.which("setpriv"):
            port = free_port()
            test_options[3] = f"inet:127.0.0.1:{port}"
            cmd = setpriv_prefix(unit) + ["--"] + unit_command(unit, test_options)
            daemon = Daemon(cmd, os.path.join(work, "daemon2.log"))
            if checks.check(daemon.wait_listening(port),
                            "started with the unit's command line, capability bounding set and "
                            "NoNewPrivileges, it serves", " ".join(cmd) + "\n    " +
                            tail(daemon.output())):
                uids, _ = proc_ids(daemon.process.pid)
                checks.check(set(uids) == {user.pw_uid}, f"it runs as {SERVICE_USER}", uids)
                # A retry in the second of the first request is logged as new.
                time.sleep(max(0.0, first_asked + 1.5 - time.monotonic()))
                try:
                    replies = policy_exchange(port, [request("bob@example.net")])
                except OSError as e:
                    replies = [f"error: {e}"]
                checks.check(replies[0].startswith("action=DEFER_IF_PERMIT "),
                             "the same triplet, asked again, is still greylisted", replies)
            code, took = daemon.stop()
            output = daemon.output()
            daemon = None
            checks.check("reason=early-retry" in output,
                         "it found the triplet of the first run (the database was reopened)",
                         tail(output))
            checks.check(code == 0, f"SIGTERM stops it, exit status 0 ({took:.1f} s)",
                         f"status {code}")
        else:
            print("SKIPPED: the start with the unit's capabilities (setpriv not installed)")

        # Purge.
        code, out = dpkg(["--purge", PACKAGE], timeout=600)
        installed = package_status() not in ("", "unknown ok not-installed",
                                             "deinstall ok not-installed")
        checks.check(code == 0 and not installed, "dpkg --purge removes the package", tail(out))
        left = [p for p in (BINARY, UNIT, DEFAULTS, "/etc/greylist-milter", DBDIR)
                if os.path.lexists(p)]
        checks.check(not left, "the binary, unit, configuration and database are gone",
                     f"left behind: {left}")
        return checks.summary()
    finally:
        if daemon is not None:
            daemon.stop()
        if installed or package_status():
            dpkg(["--purge", PACKAGE], timeout=600)
        if not user_existed and _user_exists(SERVICE_USER):
            run(["userdel", SERVICE_USER], timeout=60)
        if not group_existed and _group_exists(SERVICE_USER):
            run(["groupdel", SERVICE_USER], timeout=60)
        if dbdir_before is not None and not os.path.exists(DBDIR):
            os.mkdir(DBDIR, stat.S_IMODE(dbdir_before.st_mode))
            os.chown(DBDIR, dbdir_before.st_uid, dbdir_before.st_gid)
        shutil.rmtree(work, ignore_errors=True)


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


def _arch():
    code, out = run(["dpkg", "--print-architecture"], timeout=30)
    return out.strip()


def _has_greylistctl_target(root):
    path = os.path.join(root, "src/tools/meson.build")
    return os.path.exists(path) and re.search(r"executable\(\s*'greylistctl'", read(path))


def _check_sysusers_on_fresh_root(checks, work):
    """On this machine the user may have existed before: prove the installed sysusers.d
    entry creates it on a system that has none."""
    if not shutil.which("systemd-sysusers"):
        print("SKIPPED: sysusers entry on a fresh root (systemd-sysusers not installed)")
        return
    fresh = os.path.join(work, "fresh-root")
    os.makedirs(os.path.join(fresh, "etc"))
    code, out = run(["systemd-sysusers", f"--root={fresh}",
                     "/usr/lib/sysusers.d/greylist-milter.conf"], timeout=60)
    passwd = read(os.path.join(fresh, "etc/passwd")) if os.path.exists(
        os.path.join(fresh, "etc/passwd")) else ""
    group = read(os.path.join(fresh, "etc/group")) if os.path.exists(
        os.path.join(fresh, "etc/group")) else ""
    entry = re.search(rf"^{SERVICE_USER}:x:(\d+):(\d+):[^:]*:([^:]*):([^:\n]*)$", passwd, re.M)
    ok = (code == 0 and entry is not None and 0 < int(entry.group(1)) < 1000 and
          entry.group(3) == DBDIR and entry.group(4) == "/usr/sbin/nologin" and
          re.search(rf"^{SERVICE_USER}:x:{entry.group(2)}:", group, re.M))
    checks.check(ok, "the sysusers.d entry creates a system user with its own group, "
                 f"home {DBDIR}, no login shell", out + passwd + group)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    d = sub.add_parser("docs")
    d.add_argument("--binary", required=True)
    d.add_argument("--source-root", required=True)
    p = sub.add_parser("package")
    p.add_argument("--source-root", required=True)
    p.add_argument("--deb", help="test this already built package instead of building one")
    args = parser.parse_args()
    return docs(args) if args.mode == "docs" else package(args)


if __name__ == "__main__":
    sys.exit(main())
