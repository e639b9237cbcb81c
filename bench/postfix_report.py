#!/usr/bin/env python3
"""Summary of bench/run-postfix-benchmarks.sh's JSON lines.

    postfix_report.py RESULTS.jsonl [--require "A/B>=R"]...

Prints a Markdown table: per hook, the median messages/s over the rounds,
every round's figure, and the median's share of the "none" hook's median
(Postfix without a greylister) when that hook was measured. Each --require
"A/B>=R" checks median(A) / median(B) >= R; exit status 1 if one fails (or
names a hook that was not measured).
"""
import argparse
import json
import re
import statistics
import sys


def load(path):
    rates = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                row = json.loads(line)
                rates.setdefault(row["hook"], []).append(row["messages_per_s"])
    return rates


def check(requirement, medians):
    match = re.fullmatch(r"\s*([\w-]+)\s*/\s*([\w-]+)\s*>=\s*([0-9.]+)\s*", requirement)
    if not match:
        print(f"bad --require '{requirement}' (want A/B>=R)", file=sys.stderr)
        return False
    a, b, floor = match.group(1), match.group(2), float(match.group(3))
    if a not in medians or b not in medians:
        print(f"{requirement}: {a if a not in medians else b} was not measured", file=sys.stderr)
        return False
    ratio = medians[a] / medians[b]
    ok = ratio >= floor
    print(f"- {a} / {b} = {ratio:.2f} (target >= {floor:.2f}): {'met' if ok else 'NOT met'}")
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--require", action="append", default=[])
    args = parser.parse_args()
    rates = load(args.results)
    medians = {hook: statistics.median(values) for hook, values in rates.items()}
    base = medians.get("none")
    print("| hook | messages/s (median) | rounds | of no greylister |")
    print("|---|---:|---|---:|")
    for hook, values in rates.items():
        share = f"{100 * medians[hook] / base:.0f} %" if base else "-"
        rounds = ", ".join(f"{v:.0f}" for v in values)
        print(f"| {hook} | {medians[hook]:.0f} | {rounds} | {share} |")
    ok = all([check(r, medians) for r in args.require])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
