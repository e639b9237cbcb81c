#!/usr/bin/env python3
"""Runs every test registered in the meson build and sums the results.

Each suite is a doctest executable; its closing "[doctest] test cases:" line
gives the counts. A suite that dies or times out without that line counts as
one failure. Prints "N passed, N failed" last and exits 1 on any failure.
"""
import json
import os
import re
import subprocess
import sys
import time

SUMMARY = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def main() -> int:
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    tests = json.loads(subprocess.run(["meson", "introspect", build, "--tests"],
                                      check=True, capture_output=True, text=True).stdout)
    total_passed = total_failed = 0
    for test in tests:
        name = test["name"]
        timeout = test.get("timeout") or 600
        env = dict(os.environ)
        env.update(test.get("env") or {})
        started = time.monotonic()
        print(f"=== {name}", flush=True)
        try:
            run = subprocess.run(test["cmd"], cwd=test.get("workdir") or None, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 errors="replace", timeout=timeout)
            output, code = run.stdout, run.returncode
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
            output += f"\n{name}: timed out after {timeout} s\n"
            code = -1
        sys.stdout.write(output)
        match = None
        for match in SUMMARY.finditer(output):
            pass
        if match:
            passed, failed = int(match.group(2)), int(match.group(3))
            if code != 0 and failed == 0:
                failed = 1  # crashed after its summary, or a non-test failure
        else:
            passed, failed = (1, 0) if code == 0 else (0, 1)
        total_passed += passed
        total_failed += failed
        print(f"=== {name}: {passed} passed, {failed} failed "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
