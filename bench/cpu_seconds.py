#!/usr/bin/env python3
"""CPU seconds (user + system) used so far by processes and their descendants.

    cpu_seconds.py PID...

Prints one number: for each PID and every live descendant of it, utime +
stime from /proc/PID/stat, plus cutime + cstime (children already reaped) of
each. A descendant that exits between two calls moves from its own figure
to its parent's reaped-children figure, so the difference of two calls is
the CPU the process trees used in between (as long as the roots live).
Processes that vanish while being read are skipped.
"""
import os
import sys


def stat_fields(pid):
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
        text = f.read()
    # The command name (field 2) may hold spaces: split after its ")".
    return text[text.rfind(")") + 2:].split()


def main():
    roots = {int(p) for p in sys.argv[1:] if p.isdigit()}
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(stat_fields(entry)[1])
            except (OSError, IndexError, ValueError):
                pass
    members = set(roots)
    for _ in range(64):  # bounded: process trees here are a few levels deep
        added = {pid for pid, parent in parents.items() if parent in members} - members
        if not added:
            break
        members |= added
    ticks = 0
    for pid in members:
        try:
            fields = stat_fields(pid)
        except OSError:
            continue
        # Fields 14-17 of proc(5): utime stime cutime cstime (index 11-14 here).
        ticks += sum(int(v) for v in fields[11:15])
    print(f"{ticks / os.sysconf('SC_CLK_TCK'):.2f}")


if __name__ == "__main__":
    main()
