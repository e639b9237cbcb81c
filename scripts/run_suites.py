#!/usr/bin/env python3
"""Runs the test suites of one or more build directories and sums the results.

    run_suites.py [BUILD] [--asan DIR] [--tsan DIR] [--fuzz DIR [--fuzz-seconds N]]

BUILD (default "build" when no other stage is named): every test registered
in its meson build. --asan DIR: the in-process suites of a build made with
-Db_sanitize=address,undefined (scripts/run-sanitizers.sh). --tsan DIR: the
concurrent test cases of a -Db_sanitize=thread build. --fuzz DIR: each
libFuzzer target of a -Dfuzz=true build for N seconds (default 20) on its
seed corpus, one test each (scripts/run-fuzz.sh). --build-failed STAGE
counts a stage that could not be built as one failure.

Each suite is a doctest executable; its closing "[doctest] test cases:" line
gives the counts. A suite that dies or times out without that line counts as
one failure, as does a sanitizer report. Prints "N passed, N failed" last
and exits 1 on any failure; the lines before it name every suite that
failed and the test cases that failed in it, so the tail of a CI log says
what broke.

A doctest suite whose test cases failed without a crash or a sanitizer
report is run once more with only those cases: the process suites
measure time on a shared 2-core machine. A case that passes the second time
counts as passed and is listed under "passed on retry" in the closing lines,
so a flaky case stays visible; a case that fails twice counts as failed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
SANITIZER_REPORT = re.compile(r"^(==\d+==ERROR: \w+Sanitizer|WARNING: ThreadSanitizer|"
                              r"SUMMARY: \w+Sanitizer|.*: runtime error: )", re.MULTILINE)
FAILURE_BLOCK_SEPARATOR = re.compile(r"^={60,}$", re.MULTILINE)
FAILED_CASE = re.compile(r"^TEST CASE:\s+(.*)$", re.MULTILINE)
FAILURE_MARK = re.compile(r"^[^\n]*(ERROR|FATAL ERROR): ", re.MULTILINE)
FUZZ_STAT = re.compile(r"^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|"
                       r"peak_rss_mb):\s*(\d+)", re.MULTILINE)

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANITIZER_DIR = os.path.join(SOURCE, "test", "sanitizer")

# In-process suites run under ASan+UBSan. The process suites (daemon_process,
# e2e, ...) start the daemon, which drops privileges: LeakSanitizer cannot
# stop the world in a process that is no longer dumpable.
ASAN_SUITES = ("unit", "milter", "milter_hostile")
ASAN_EXCLUDE_SUITES = {"milter_hostile": ["--test-suite-exclude=log_injection_policy"]}

# The test cases with threads of their own, run under TSan: every case named
# "concurrent..." (store contract, greylister, bdb store) and the suites
# built around threads (the policy server, its DNS step and the resolver
# whose thread answers it).
TSAN_RUNS = (
    ("tsan/unit concurrent", ["--test-case=*concurren*"]),
    ("tsan/unit threaded suites", ["--test-suite=policy_server,expiry_thread,policy_dns_step,"
                                   "lazy_resolver",
                                   "--test-case-exclude=*concurren*"]),
)

FUZZ_TARGETS = ("address_fuzzer", "config_fuzzer", "dump_fuzzer", "policy_request_fuzzer",
                "record_fuzzer", "rules_fuzzer", "spf_fuzzer", "whitelist_client_fuzzer",
                "whitelist_recipient_fuzzer")


def sanitizer_env():
    """Sanitizer settings: every report fatal, suppressions only from test/sanitizer/."""
    def supp(name):
        path = os.path.join(SANITIZER_DIR, name)
        return ":suppressions=" + path if os.path.exists(path) else ""
    return {
        "ASAN_OPTIONS": "halt_on_error=1:detect_leaks=1:check_initialization_order=1",
        "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1",
        "LSAN_OPTIONS": "print_suppressions=0" + supp("lsan.supp"),
        "TSAN_OPTIONS": "halt_on_error=0:second_deadlock_stack=1:history_size=4" + supp("tsan.supp"),
    }


def failed_cases(output):
    """The names of the doctest cases with an ERROR or FATAL ERROR in `output`."""
    names = []
    for block in FAILURE_BLOCK_SEPARATOR.split(output):
        case = FAILED_CASE.search(block)
        if case and FAILURE_MARK.search(block) and case.group(1).strip() not in names:
            names.append(case.group(1).strip())
    return names


def case_filter(names):
    """A doctest --test-case value matching exactly `names` (commas escaped)."""
    return "--test-case=" + ",".join(name.replace("\\", "\\\\").replace(",", "\\,")
                                     for name in names)


class Totals:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.failures = []  # (suite, [failed test cases] or why)
        self.retried = []   # (suite, [cases that passed on retry])

    def fail(self, name, why):
        print(f"=== {name}: 0 passed, 1 failed ({why})", flush=True)
        self.failed += 1
        self.failures.append((name, why))

    def report(self):
        """The closing lines: what failed, what passed only on retry."""
        for name, cases in self.retried:
            print(f"=== passed on retry: {name}: {'; '.join(cases)}")
        for name, what in self.failures:
            detail = "; ".join(what) if isinstance(what, list) else what
            print(f"=== FAILED: {name}: {detail}")

    def run(self, name, cmd, env=None, cwd=None, timeout=600, single=False, counts=None,
            sanitized=False, retry=False):
        """Runs one suite; adds its doctest counts (or 1 pass/fail when `single`).
        With `sanitized`, a sanitizer report in the output is a failure too.
        With `retry`, failed doctest cases are run once more (module docstring)."""
        full_env = dict(os.environ)
        full_env.update(env or {})
        started = time.monotonic()
        print(f"=== {name}", flush=True)
        try:
            run = subprocess.run(cmd, cwd=cwd or None, env=full_env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, errors="replace",
                                 timeout=timeout)
            output, code = run.stdout, run.returncode
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            output += f"\n{name}: timed out after {timeout} s\n"
            code = -1
        except OSError as e:  # not built
            output, code = f"{name}: cannot run {cmd[0]}: {e}\n", -1
        sys.stdout.write(output if counts is None else counts(output))
        match = None
        for match in SUMMARY.finditer(output):
            pass
        sanitized = sanitized and SANITIZER_REPORT.search(output) is not None
        cases = []
        if match and not single:
            passed, failed = int(match.group(2)), int(match.group(3))
            cases = failed_cases(output)
            retried = failed and retry and not sanitized and len(cases) == failed
            if retried:
                again = self.retry(name, cmd, full_env, cwd, timeout, cases)
                passed, failed = passed + len(cases) - len(again), len(again)
                cases = again
            elif (code != 0 or sanitized) and failed == 0:
                failed = 1  # crashed after its summary, a sanitizer report, or a non-test failure
                cases = [f"exit status {code}" + (", sanitizer report" if sanitized else "")]
        else:
            passed, failed = (1, 0) if code == 0 and not sanitized else (0, 1)
            if failed:
                cases = [f"exit status {code}" + (", sanitizer report" if sanitized else "")]
        if failed:
            self.failures.append((name, cases or [f"exit status {code}"]))
        self.passed += passed
        self.failed += failed
        print(f"=== {name}: {passed} passed, {failed} failed "
              f"({time.monotonic() - started:.1f} s)", flush=True)
        return output

    def retry(self, name, cmd, env, cwd, timeout, cases):
        """Runs `cases` of suite `name` once more; returns those that failed again."""
        print(f"=== {name}: retrying {len(cases)} failed case(s): {'; '.join(cases)}", flush=True)
        try:
            run = subprocess.run(cmd + [case_filter(cases)], cwd=cwd or None, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 errors="replace", timeout=timeout)
            output, code = run.stdout, run.returncode
        except subprocess.TimeoutExpired:
            output, code = f"{name}: the retry timed out after {timeout} s\n", -1
        sys.stdout.write(output)
        match = None
        for match in SUMMARY.finditer(output):
            pass
        if (code != 0 or match is None or int(match.group(2)) != len(cases)
                or SANITIZER_REPORT.search(output)):
            return failed_cases(output) or cases
        self.retried.append((name, cases))
        return []


def meson_tests(build):
    return json.loads(subprocess.run(["meson", "introspect", build, "--tests"], check=True,
                                     capture_output=True, text=True).stdout)


def run_build(totals, build, prefix="", only=None, extra_args=None, env=None):
    for test in meson_tests(build):
        name = test["name"]
        if only is not None and name not in only:
            continue
        test_env = dict(test.get("env") or {})
        test_env.update(env or {})
        totals.run(prefix + name, test["cmd"] + (extra_args or {}).get(name, []), env=test_env,
                   cwd=test.get("workdir"), timeout=test.get("timeout") or 600,
                   sanitized=env is not None, retry=True)


def run_tsan(totals, build):
    unit = [t for t in meson_tests(build) if t["name"] == "unit"]
    if not unit:
        totals.fail("tsan", "no unit suite in " + build)
        return
    for name, args in TSAN_RUNS:
        totals.run(name, unit[0]["cmd"] + args, env=sanitizer_env(), timeout=900, sanitized=True,
                   retry=True)


def fuzz_summary(output):
    """A fuzz run's output without its progress lines (kept when it failed)."""
    lines = output.splitlines(keepends=True)
    if SANITIZER_REPORT.search(output) or "ERROR: libFuzzer" in output or "invariant broken" in output:
        return output
    return "".join(line for line in lines if line.startswith(("stat::", "Done ", "INFO: Seed")))


def run_fuzz(totals, build, seconds, targets):
    corpus_root = os.path.join(build, "corpus")
    artifacts = os.path.join(build, "artifacts")
    os.makedirs(artifacts, exist_ok=True)
    figures = []
    for target in targets:
        binary = os.path.join(build, "test", "fuzz", target)
        work = os.path.join(corpus_root, target)  # what this run discovers; the seeds stay as they are
        os.makedirs(work, exist_ok=True)
        seeds = os.path.join(SOURCE, "test", "fuzz", "corpus", target)
        if not os.path.exists(binary):
            totals.fail("fuzz/" + target, "not built: " + binary)
            continue
        cmd = [binary, work, seeds, f"-max_total_time={seconds}", "-timeout=25",
               "-rss_limit_mb=2048", "-max_len=4096", "-print_final_stats=1",
               f"-artifact_prefix={os.path.join(artifacts, target)}-"]
        env = sanitizer_env()
        output = totals.run("fuzz/" + target, cmd, env=env, timeout=seconds + 120, single=True,
                            counts=fuzz_summary, sanitized=True)
        stats = {key: int(value) for key, value in FUZZ_STAT.findall(output)}
        figures.append((target, stats))
    print("=== fuzz figures: target, executions, executions/s, new corpus units, peak RSS MB")
    for target, stats in figures:
        print(f"    {target}: {stats.get('number_of_executed_units', 0)} execs, "
              f"{stats.get('average_exec_per_sec', 0)}/s, {stats.get('new_units_added', 0)} new, "
              f"{stats.get('peak_rss_mb', 0)} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", nargs="?", help="meson build directory: all its tests")
    parser.add_argument("--asan", metavar="DIR", help="ASan+UBSan build: its in-process suites")
    parser.add_argument("--tsan", metavar="DIR", help="TSan build: its concurrent test cases")
    parser.add_argument("--fuzz", metavar="DIR", help="-Dfuzz=true build: each fuzz target")
    parser.add_argument("--fuzz-seconds", type=int, default=20, metavar="N")
    parser.add_argument("--fuzz-targets", default=",".join(FUZZ_TARGETS), metavar="A,B")
    parser.add_argument("--build-failed", action="append", default=[], metavar="STAGE",
                        help="a stage whose build failed: counted as one failure")
    args = parser.parse_args()
    if args.build is None and not (args.asan or args.tsan or args.fuzz):
        args.build = "build"

    totals = Totals()
    for stage in args.build_failed:
        totals.fail(stage, "its build failed, see above")
    if args.build:
        run_build(totals, args.build)
    if args.asan:
        run_build(totals, args.asan, prefix="asan/", only=ASAN_SUITES,
                  extra_args=ASAN_EXCLUDE_SUITES, env=sanitizer_env())
    if args.tsan:
        run_tsan(totals, args.tsan)
    if args.fuzz:
        run_fuzz(totals, args.fuzz, args.fuzz_seconds,
                 [t for t in args.fuzz_targets.split(",") if t])
    totals.report()
    print(f"{totals.passed} passed, {totals.failed} failed")
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())
