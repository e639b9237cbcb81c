#!/usr/bin/env python3
"""Checks which parts of src/ may include which (DESIGN.md, Layout).

    check_includes.py [--source-root DIR]

Each rule names a directory of src/, the headers its files must not
include and why. Prints every #include that breaks a rule, as
"path:line: ..." and exits 1 when there is one.
"""
import argparse
import os
import re
import sys

# (directory under src/, forbidden include prefix, why).
RULES = (
    ("tools", "daemon/",
     "greylistctl is not the daemon: shared code lives in src/config/ or src/util/"),
    ("config", "daemon/", "the options are shared by the daemon and greylistctl"),
    ("config", "tools/", "the options are shared by the daemon and greylistctl"),
    ("util", "daemon/", "src/util/ is used by every part"),
    ("util", "tools/", "src/util/ is used by every part"),
    ("util", "config/", "src/util/ is used by every part"),
)

INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def violations(root):
    """(path, line number, included, why) of every include a rule forbids."""
    found = []
    for directory, forbidden, why in RULES:
        top = os.path.join(root, "src", directory)
        for parent, subdirs, files in os.walk(top):
            subdirs.sort()
            for name in sorted(files):
                if not name.endswith((".cc", ".h")):
                    continue
                path = os.path.join(parent, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        match = INCLUDE.match(line)
                        if match and match.group(1).startswith(forbidden):
                            found.append((os.path.relpath(path, root), number, match.group(1), why))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-root", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.source_root, "src", "tools")):
        print(f"no src/tools in {args.source_root}")
        return 1
    found = violations(args.source_root)
    for path, number, included, why in found:
        print(f"{path}:{number}: includes {included}: {why}")
    print(f"{len(found)} forbidden include(s)" if found else
          f"no forbidden include ({len(RULES)} rules)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
