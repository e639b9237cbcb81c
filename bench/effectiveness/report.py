"""Tables (Markdown) and pictures (PNG, gnuplot) of a run's results.

render(results, run_info, out_dir) -> Markdown text for EFFECTIVENESS.md;
writes legit-delay.png and spam-passed.png into out_dir.
"""
import os
import subprocess
import tempfile

import metrics

BASELINE = "postgrey"


def _pct(v):
    return "-" if v is None else "%.1f" % v


def _min(v):
    return "-" if v is None else ("%.1f" % v if v < 100 else "%.0f" % v)


def main_table(results, scenario, configs):
    lines = ["| configuration | spam stopped % | legit delayed % | legit lost | "
             "p50 delay (min) | p95 delay (min) | delayed, returning % | delayed, first contact % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for c in configs:
        f = results[scenario].get(c["name"])
        if f is None:
            continue
        lg = f["legit"]
        lines.append("| %s | %s | %s | %d | %s | %s | %s | %s |" % (
            c["label"], _pct(f["spam"]["stopped"]), _pct(lg["delayed"]), lg["lost"],
            _min(lg["p50_min"]), _min(lg["p95_min"]), _pct(f["legit_returning"]["delayed"]),
            _pct(f["legit_first_contact"]["delayed"])))
    return "\n".join(lines)


def class_tables(results, scenario, names):
    """Per class, the configurations `names` side by side."""
    cols = [n for n in names if n in results[scenario]]
    head = "| legitimate class | n | " + " | ".join(
        "%s delayed %% / p50 / p95 / lost" % n for n in cols) + " |"
    lines = [head, "|---|---:|" + "---:|" * len(cols)]
    first = results[scenario][cols[0]]
    for cls in metrics.LEGIT_ORDER:
        key = "legit." + cls
        if key not in first["classes"]:
            continue
        cells = []
        for n in cols:
            f = results[scenario][n]["classes"][key]
            cells.append("%s / %s / %s / %d" % (_pct(f["delayed"]), _min(f["p50_min"]),
                                                _min(f["p95_min"]), f["lost"]))
        lines.append("| %s | %d | %s |" % (cls, first["classes"][key]["n"], " | ".join(cells)))
    lines += ["", "| provider | n | " + " | ".join("%s delayed %% / p50 / p95" % n for n in cols) + " |",
              "|---|---:|" + "---:|" * len(cols)]
    for prov in sorted(first["providers"]):
        cells = []
        for n in cols:
            f = results[scenario][n]["providers"].get(prov)
            cells.append("-" if f is None else "%s / %s / %s" % (
                _pct(f["delayed"]), _min(f["p50_min"]), _min(f["p95_min"])))
        lines.append("| %s | %d | %s |" % (prov, first["providers"][prov]["n"], " | ".join(cells)))
    lines += ["", "| spam class | n | " + " | ".join("%s passed %%" % n for n in cols) + " |",
              "|---|---:|" + "---:|" * len(cols)]
    for cls in metrics.SPAM_ORDER:
        key = "spam." + cls
        if key not in first["classes"]:
            continue
        cells = [_pct(results[scenario][n]["classes"][key]["passed"]) for n in cols]
        lines.append("| %s | %d | %s |" % (cls, first["classes"][key]["n"], " | ".join(cells)))
    return "\n".join(lines)


CCDF_POINTS = [0.5, 1, 2, 3, 5, 6, 8, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480,
               720, 1080, 1440]


def plots(summaries, scenario, names, out_dir):
    """Two PNGs from the pooled summaries of `names` (configuration names)."""
    names = [n for n in names if n in summaries[scenario]]
    with tempfile.TemporaryDirectory(prefix="effectiveness-plots-") as data:
        return _plots(summaries, scenario, names, out_dir, data)


def _plots(summaries, scenario, names, out_dir, data):
    for n in names:
        with open(os.path.join(data, "ccdf-%s.dat" % n), "w") as f:
            for x, y in metrics.delay_ccdf(summaries[scenario][n], CCDF_POINTS):
                f.write("%g %.3f\n" % (x, y))
    with open(os.path.join(data, "spam.dat"), "w") as f:
        f.write("# class " + " ".join(names) + "\n")
        for cls in metrics.SPAM_ORDER:
            row = []
            for n in names:
                b = summaries[scenario][n]["classes"].get("spam." + cls)
                row.append("%.2f" % (100.0 * b["accepted"] / b["n"]) if b and b["n"] else "0")
            f.write(cls.replace("_", "-") + " " + " ".join(row) + "\n")
    delay_png = os.path.join(out_dir, "legit-delay.png")
    spam_png = os.path.join(out_dir, "spam-passed.png")
    ccdf_lines = ", ".join("'%s' using 1:2 with linespoints title '%s'" %
                           (os.path.join(data, "ccdf-%s.dat" % n), n) for n in names)
    spam_cols = ", ".join("'%s' using %d:xtic(1) title '%s'" %
                          (os.path.join(data, "spam.dat"), i + 2, n) for i, n in enumerate(names))
    script = "\n".join([
        "set terminal pngcairo size 900,520 font 'sans,10'",
        "set output '%s'" % delay_png,
        "set title 'Legitimate mail delayed longer than x (measured days, all seeds)'",
        "set logscale x", "set xlabel 'delay (minutes, log scale)'",
        "set ylabel '% of legitimate messages'", "set grid", "set key top right",
        "set xrange [0.5:1440]", "set yrange [0:*]",
        "plot " + ccdf_lines,
        "unset logscale x", "set xrange [*:*]",
        "set output '%s'" % spam_png,
        "set title 'Spam accepted per class (measured days, all seeds)'",
        "set style data histograms", "set style histogram clustered gap 1",
        "set style fill solid 0.8 border -1", "set boxwidth 0.9",
        "set xtics rotate by -25", "set ylabel '% of the class accepted'",
        "set xlabel ''", "set key top left", "set yrange [0:*]",
        "plot " + spam_cols, ""])
    script_path = os.path.join(data, "plots.gp")
    with open(script_path, "w") as f:
        f.write(script)
    subprocess.run(["gnuplot", script_path], check=True, timeout=60)
    return delay_png, spam_png


def seeds_table(per_seed, scenario, names):
    """Each seed's headline figures, to show the spread."""
    lines = ["| seed | " + " | ".join("%s spam stopped / legit delayed %%" % n for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for seed in sorted(per_seed[scenario]):
        cells = []
        for n in names:
            f = per_seed[scenario][seed].get(n)
            cells.append("-" if f is None else "%s / %s" % (_pct(f["spam"]["stopped"]),
                                                            _pct(f["legit"]["delayed"])))
        lines.append("| %d | %s |" % (seed, " | ".join(cells)))
    return "\n".join(lines)


def pool_table(results, scenario, configs):
    """Provider pools against single-host MTAs, one column per configuration
    (configs: CONFIGS entries): delayed % / p95 minutes / lost per row."""
    cols = [c for c in configs if c["name"] in results[scenario]]
    lines = ["| sender | " + " | ".join(c["short"] for c in cols) + " |",
             "|---|" + "---:|" * len(cols)]

    def row(label, pick):
        cells = []
        for c in cols:
            f = pick(results[scenario][c["name"]])
            cells.append("-" if f is None else "%s / %s / %d" % (
                _pct(f["delayed"]), _min(f["p95_min"]), f["lost"]))
        lines.append("| %s | %s |" % (label, " | ".join(cells)))

    row("**single-host MTAs** (all five classes)", lambda f: f["groups"]["single_host"])
    for cls in metrics.SINGLE_HOST:
        row("&nbsp; " + cls, lambda f, k="legit." + cls: f["classes"].get(k))
    row("**provider pools** (all)", lambda f: f["classes"].get("legit.provider"))
    first = results[scenario][cols[0]["name"]]
    for prov in sorted(first["providers"]):
        row("&nbsp; " + prov, lambda f, p=prov: f["providers"].get(p))
    return "\n".join(lines)


def zone_table(policies):
    """policies: {"group: record": domains} (dns_zone.Zone.policies)."""
    lines = ["| domains of | SPF record | domains |", "|---|---|---:|"]
    groups = {}
    for key, count in policies.items():
        group, record = key.split(": ", 1)
        groups.setdefault(group, []).append((count, record))
    for group, records in groups.items():
        for count, record in sorted(records, reverse=True):
            lines.append("| %s | `%s` | %d |" % (group, record, count))
    return "\n".join(lines)
