#!/usr/bin/env python3
"""Lists the functions in src/ longer than a limit (STYLE.md: about 60 lines).

    check_function_length.py [--source-root DIR] [--max N] [--self-test]

A function's length runs from the first line of its declarator to its
closing brace. Declarative tables (an option table, a command table) may be
longer: they are named in ALLOWED below, each with its reason; an entry
that no longer matches a long function is reported too, so the list stays
true. Exits 1 when anything is reported.

The parser is a heuristic over braces, right for this code base's style
(clang-format, Google based): it skips comments, string and character
literals (raw strings too) and preprocessor lines, and classifies each '{'
by the text before it in its scope: namespace, class, table or initializer,
function body. Lambdas and blocks count towards the function around them;
a function defined inside a class body counts as a function.
"""
import argparse
import os
import re
import sys

DEFAULT_MAX = 60

# (path under the source root, function name): why it may be longer.
ALLOWED = {
    ("src/config/option_table.cc", "describe_options"):
        "declarative table: every option's name, type, default and help text, one entry each "
        "(STYLE.md: each setting in one place)",
    ("src/daemon/config_reload.cc", "rows"):
        "declarative table: one row per setting, reloadable on SIGHUP or restart-only "
        "(greylist-milter(8) RELOADING lists the same)",
}

SOURCE_SUFFIXES = (".cc", ".h")
IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")
# ") : member_(x)" or ") noexcept : Base(x)": a constructor's initializer list.
CTOR_INIT = re.compile(r"\)[^(){};]*?(?<!:):(?!:)")
ACCESS = re.compile(r"^(public|private|protected)\s*:(?!:)\s*")
CLASS_HEAD = re.compile(r"^(template\s*<.*>\s*)?(class|struct|union)\b[^()]*$", re.S)
NAME_BEFORE_PAREN = re.compile(r"((?:[A-Za-z_~][A-Za-z0-9_]*\s*(?:<[^()]*>)?\s*::\s*)*"
                               r"(?:operator\s*[^\s(]+|~?[A-Za-z_][A-Za-z0-9_]*))\s*$")


def strip_code(text):
    """The text with comments, literals and preprocessor lines blanked out
    (newlines kept, so line numbers stay right). Literals become "" or ''."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#":
            while i < n and text[i] != "\n":  # a directive, with its continuations
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append("\n")
                    i += 2
                    continue
                i += 1
            continue
        if c == "\n":
            out.append(c)
            line_start = True
            i += 1
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("\n" * text.count("\n", i, end))
            i = end
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not IDENT_CHAR.match(text[i - 1])):
            open_paren = text.find("(", i + 2)
            delimiter = ")" + text[i + 2:open_paren] + '"'
            end = text.find(delimiter, open_paren)
            end = n if end < 0 else end + len(delimiter)
            out.append('""' + "\n" * text.count("\n", i, end))
            i = end
        elif c in "\"'":
            # A digit separator (1'000) is not a character literal.
            if c == "'" and i > 0 and text[i - 1].isalnum() and i + 1 < n and text[i + 1].isalnum():
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def classify(header, parent):
    """What the '{' after `header` opens, in a scope of kind `parent`."""
    if parent in ("function", "block"):
        return "block"
    if parent == "data":
        return "data"
    h = ACCESS.sub("", " ".join(header.split()))
    if re.search(r"\bnamespace\b", h) or h.startswith('extern ""'):
        return "namespace"
    if h == "" or h.endswith("=") or re.search(r"\benum\b", h):
        return "data"
    if CLASS_HEAD.match(h):
        return "class"
    if CTOR_INIT.search(h) and IDENT_CHAR.match(h[-1]) and not h.endswith(("const", "noexcept", "override", "final")):
        return "member-init"  # member_{value} in a constructor's initializer list
    if "(" in h:
        return "function"
    return "data"  # brace initialization: Type name{...}


def function_name(header):
    h = ACCESS.sub("", " ".join(header.split()))
    h = re.sub(r"^template\s*<.*?>\s*", "", h)
    depth = 0
    for i, c in enumerate(h):  # the first '(' outside template arguments
        if c == "<":
            depth += 1
        elif c == ">" and depth > 0:
            depth -= 1
        elif c == "(" and depth == 0:
            match = NAME_BEFORE_PAREN.search(h[:i])
            if match:
                return re.sub(r"\s+", "", match.group(1))
            break
    return "(lambda or unnamed)"


def functions(text):
    """(name, first line, last line) of every function defined in `text`."""
    code = strip_code(text)
    found = []
    # Each scope: [kind, header text, line where the header began].
    stack = [["namespace", "", None]]
    line = 1
    for c in code:
        scope = stack[-1]
        if c == "\n":
            line += 1
            if scope[1].strip():
                scope[1] += " "
            continue
        if c == "{":
            kind = classify(scope[1], scope[0])
            stack.append([kind, "", None, scope[2] if scope[2] is not None else line])
            continue
        if c == "}":
            if len(stack) == 1:
                continue  # unbalanced: ignore
            closed = stack.pop()
            parent = stack[-1]
            if closed[0] == "member-init":
                parent[1] += "{}"
                continue
            if closed[0] == "function":
                found.append((function_name(parent[1]), closed[3], line))
            parent[1], parent[2] = "", None
            continue
        if c == ";":
            scope[1], scope[2] = "", None
            continue
        if not c.isspace() and scope[2] is None:
            scope[2] = line
        scope[1] += c
    return found


def long_functions(root, limit):
    """(path, name, first line, length) of every function over `limit` lines."""
    result = []
    for directory, subdirs, files in os.walk(os.path.join(root, "src")):
        subdirs.sort()
        for file_name in sorted(files):
            if not file_name.endswith(SOURCE_SUFFIXES):
                continue
            path = os.path.join(directory, file_name)
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            relative = os.path.relpath(path, root)
            for name, first, last in functions(text):
                length = last - first + 1
                if length > limit:
                    result.append((relative, name, first, length))
    return result


def report(root, limit, out):
    """Prints the long functions not allowed and the allowances that match
    nothing; returns how many problems it printed."""
    problems = 0
    matched = set()
    for path, name, first, length in long_functions(root, limit):
        short_name = name.split("::")[-1]
        key = next((k for k in ((path, name), (path, short_name)) if k in ALLOWED), None)
        if key:
            matched.add(key)
            print(f"{path}:{first}: {name}: {length} lines, allowed: {ALLOWED[key]}", file=out)
            continue
        print(f"{path}:{first}: {name}: {length} lines (limit {limit})", file=out)
        problems += 1
    for path, name in sorted(set(ALLOWED) - matched):
        print(f"{path}: {name}: in the allow-list but not a function over {limit} lines "
              "(remove the entry)", file=out)
        problems += 1
    return problems


SELF_TEST = r'''
namespace x {
namespace {
constexpr const char* kNames[] = {"a{", "b}",
                                  "c"};
std::atomic<bool> g_flag{false};
struct Target {
  int a;
  bool ok() const { return a > 0; }
};
}  // namespace

Foo::Foo(int a) : a_(a), b_{a, '}'} {
  const auto f = [&](int y) {
    return y;
  };
  /* } */ // }
  auto s = R"(})";
  int n = 1'000;
}

Result<std::vector<int>> Foo::bar(const std::string& s) const {
#define BRACE {
  if (s.empty()) {
    return {};
  }
  return std::vector<int>{1, 2};
}
template <typename T>
T get(const Map& m, const char* name) {
  return m[name].as<T>();
}
}  // namespace x
'''


def self_test():
    """The parser on a sample of the constructs it must get right."""
    want = [("ok", 9, 9), ("Foo::Foo", 13, 20), ("Foo::bar", 22, 28), ("get", 29, 32)]
    got = functions(SELF_TEST)
    if got != want:
        print(f"self-test failed:\n  want {want}\n  got  {got}")
        return 1
    print(f"self-test: {len(want)} functions found as expected")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-root", default=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    parser.add_argument("--max", type=int, default=DEFAULT_MAX, metavar="N",
                        help=f"longest function allowed, in lines (default {DEFAULT_MAX})")
    parser.add_argument("--self-test", action="store_true",
                        help="check the parser on built-in samples first")
    args = parser.parse_args()
    if args.self_test and self_test() != 0:
        return 1
    problems = report(args.source_root, args.max, sys.stdout)
    print(f"{problems} function(s) over {args.max} lines" if problems
          else f"no function over {args.max} lines outside the allow-list")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
