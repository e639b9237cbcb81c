#!/usr/bin/env python3
"""Effectiveness of greylist-milter against postgrey on simulated traffic.

    run.py [--seeds N] [--jobs N] [--binary PATH] [--doc FILE] [--out DIR]
    run.py --short --check          # the test: one seed, one simulated day

Builds the seeded traffic of bench/effectiveness/params.py, replays it
through the real daemon (policy socket; one configuration also through the
milter socket) and Debian's postgrey, each clock driven by libfaketime,
and prints per configuration: spam stopped, legitimate mail delayed and
lost, the p50/p95 delay of delayed legitimate mail, and each per traffic
class. The full run writes results/latest.json, two PNG pictures and the
generated part of EFFECTIVENESS.md. --check exits 1 unless greylist-milter's
defaults stop at least as much spam as postgrey, delay less legitimate
mail, lose none more, both front ends decided every message alike,
--compat postgrey is within 0.5 points of postgrey on every figure,
deferred provider-pool mail waits no longer (p95) and is lost no more often
than single-host mail, SPF pooling beside the defaults also defers provider
mail no more often than single-host mail and delays no more legitimate mail
than the defaults, and stops no less spam than the defaults (within 0.3
points; pool_failures()). The model's SPF
records are served to greylist-milter by a private dnsmasq (dns_server.py).
Needs root (postgrey and the daemon drop to their own users).
"""
import argparse
import datetime
import json
import multiprocessing
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import dns_server  # noqa: E402
import metrics  # noqa: E402
import params as P  # noqa: E402
import replay  # noqa: E402
import report  # noqa: E402
import servers  # noqa: E402
import traffic  # noqa: E402

# The configurations compared. "ab": a row of the A/B table (one option
# changed from the defaults); "first_seed": run on the first seed only.
CONFIGS = [
    {"name": "postgrey", "short": "postgrey", "label": "postgrey 1.37, defaults",
     "server": "postgrey", "args": []},
    {"name": "ours", "short": "defaults", "label": "greylist-milter, defaults", "server": "ours",
     "args": []},
    {"name": "ours-milter", "label": "greylist-milter, defaults, milter front end (first seed only)",
     "server": "ours", "args": [], "front_end": "milter", "first_seed": True},
    {"name": "compat", "label": "greylist-milter --compat postgrey", "server": "ours",
     "args": ["--compat", "postgrey"]},
    {"name": "ours-0.1", "label": "greylist-milter, the defaults before issue 13 "
     "(--pool-dynamic-names yes --client-awl-key network --dynamic-delay 0)", "server": "ours",
     "args": ["--pool-dynamic-names", "yes", "--client-awl-key", "network", "--dynamic-delay", "0"],
     "ab": True},
    {"name": "ours-pool-dynamic", "label": "greylist-milter --pool-dynamic-names yes",
     "server": "ours", "args": ["--pool-dynamic-names", "yes"], "ab": True},
    {"name": "ours-awl-network", "label": "greylist-milter --client-awl-key network",
     "server": "ours", "args": ["--client-awl-key", "network"], "ab": True},
    {"name": "ours-awl-host", "label": "greylist-milter --client-awl-key host",
     "server": "ours", "args": ["--client-awl-key", "host"], "ab": True},
    {"name": "ours-no-dynamic-delay", "label": "greylist-milter --dynamic-delay 0",
     "server": "ours", "args": ["--dynamic-delay", "0"], "ab": True},
    {"name": "ours-dynamic-delay-3600", "label": "greylist-milter --dynamic-delay 3600",
     "server": "ours", "args": ["--dynamic-delay", "3600"], "ab": True},
    {"name": "ours-no-pool", "short": "no pooling",
     "label": "greylist-milter --pool-by-domain no --pool-by-spf no (no pool keying)",
     "server": "ours", "args": ["--pool-by-domain", "no", "--pool-by-spf", "no"], "ab": True},
    {"name": "ours-no-domain-awl", "label": "greylist-milter --auto-whitelist-domains 0",
     "server": "ours", "args": ["--auto-whitelist-domains", "0"], "ab": True},
    {"name": "ours-spf", "short": "SPF alone",
     "label": "greylist-milter --pool-by-domain no (SPF pooling alone)",
     "server": "ours", "args": ["--pool-by-domain", "no"], "ab": True},
    {"name": "ours-no-spf", "short": "--pool-by-spf no",
     "label": "greylist-milter --pool-by-spf no (the defaults before issue 18: "
     "the name's domain alone)", "server": "ours", "args": ["--pool-by-spf", "no"], "ab": True},
]

# The configurations of the pool table (report.pool_table): how each keying
# treats the provider pools and the single-host MTAs.
POOL_CONFIGS = ["postgrey", "ours-no-pool", "ours-no-spf", "ours-spf", "ours"]

# Model variants for the sensitivity rows: parameter overrides of params.py.
SCENARIOS = {
    "base": {"label": "the model as in params.py", "set": {}},
    "more-retrying-bots": {
        "label": "twice the queue-like bots (bot_queue 0.14, bot_ff_dynamic 0.23)",
        "set": {"SPAM_CLASSES": dict(P.SPAM_CLASSES, bot_queue=0.14, bot_ff_dynamic=0.23)}},
    "queue-bots-retry-longer": {
        "label": "queue-like bots retry 4-10 times, 10-30 minutes apart (instead of 2-5, 5-20)",
        "set": {"QUEUE_BOT_RETRIES": (4, 10), "QUEUE_BOT_GAP": (10 * P.MINUTE, 30 * P.MINUTE)}},
    "providers-one-address": {
        "label": "every provider retries from the address of its first attempt",
        "set": {"PROVIDERS": {d: dict(s, addresses=1) for d, s in P.PROVIDERS.items()}}},
    "provider-pools-unnamed": {
        "label": "half of the providers' outbound hosts have no forward-confirmed name "
                 "(PROVIDER_UNNAMED 0.5)",
        "set": {"PROVIDER_UNNAMED": 0.5}, "configs": ["ours", "ours-spf", "ours-no-spf"]},
    "no-spammer-plus-all": {
        "label": "no spammer publishes v=spf1 +all (its share of SPAM_SPF goes to nxdomain; "
                 "snowshoe +all to none)",
        "set": {"SPAM_SPF": dict(P.SPAM_SPF, nxdomain=P.SPAM_SPF["nxdomain"] + P.SPAM_SPF["+all"],
                                 **{"+all": 0.0}),
                "SNOWSHOE_SPF": dict(P.SNOWSHOE_SPF, none=P.SNOWSHOE_SPF["none"] +
                                     P.SNOWSHOE_SPF["+all"], **{"+all": 0.0})},
        "configs": ["ours", "ours-spf", "ours-no-spf"]},
    "spammer-wildcard-exists": {
        "label": "the spammers of +all publish v=spf1 exists:%{i}._w.DOMAIN -all with a wildcard "
                 "A record instead (every address passes, through exists:)",
        "set": {"SPAM_SPF": {("wildcard" if k == "+all" else k): v for k, v in P.SPAM_SPF.items()},
                "SNOWSHOE_SPF": {("wildcard" if k == "+all" else k): v
                                 for k, v in P.SNOWSHOE_SPF.items()}},
        "configs": ["ours", "ours-spf", "ours-no-spf"]},
}
SENSITIVITY_CONFIGS = ["postgrey", "ours"]


def scenario_configs(scenario):
    """The configurations a sensitivity scenario runs."""
    return SCENARIOS[scenario].get("configs", SENSITIVITY_CONFIGS)

BEGIN = "<!-- generated by bench/effectiveness/run.py: begin -->"
END = "<!-- generated by bench/effectiveness/run.py: end -->"

_TRAFFIC = {}


def _traffic(scenario, seed, spec):
    key = (scenario, seed)
    if key not in _TRAFFIC:
        defaults = {k: getattr(P, k) for k in SCENARIOS[scenario]["set"]}
        for k, v in SCENARIOS[scenario]["set"].items():
            setattr(P, k, v)
        try:
            _TRAFFIC.clear()
            _TRAFFIC[key] = traffic.build_with_zone(seed, spec["warmup_days"], spec["days"],
                                                    spec["scale"])
        finally:
            for k, v in defaults.items():
                setattr(P, k, v)
    return _TRAFFIC[key]


def _job(args):
    scenario, seed, spec, config, binary = args
    messages, zone = _traffic(scenario, seed, spec)
    result = replay.run(config, messages, binary, zone)
    return {"scenario": scenario, "seed": seed, "config": config["name"],
            "summary": metrics.summarize(messages, result["accepted"]),
            "accepted": result["accepted"], "requests": result["requests"],
            "seconds": result["seconds"], "dns_queries": result["dns_queries"]}


def plan(args, spec):
    jobs = []
    configs = [c for c in CONFIGS if not args.configs or c["name"] in args.configs]
    for scenario in args.scenarios:
        for seed in args.seeds:
            for c in configs:
                if scenario != "base" and c["name"] not in scenario_configs(scenario):
                    continue
                if c.get("first_seed") and seed != args.seeds[0]:
                    continue
                jobs.append((scenario, seed, spec, c, args.binary))
    # the slow ones (postgrey) first, so two workers finish together
    jobs.sort(key=lambda j: j[3]["server"] != "postgrey")
    return jobs


def equivalence(done):
    """Messages decided alike through the policy and the milter socket."""
    out = []
    by_key = {(d["scenario"], d["seed"], d["config"]): d for d in done}
    for (scenario, seed, config), d in by_key.items():
        if config != "ours-milter":
            continue
        policy = by_key.get((scenario, seed, "ours"))
        if policy is None:
            continue
        same = sum(a == b for a, b in zip(policy["accepted"], d["accepted"]))
        out.append({"scenario": scenario, "seed": seed, "messages": len(d["accepted"]),
                    "same": same})
    return out


def collect(done):
    pooled, per_seed, summaries = {}, {}, {}
    groups = {}
    for d in done:
        groups.setdefault((d["scenario"], d["config"]), []).append(d["summary"])
        per_seed.setdefault(d["scenario"], {}).setdefault(d["seed"], {})[d["config"]] = \
            metrics.figures(d["summary"])
    for (scenario, config), sums in groups.items():
        summaries.setdefault(scenario, {})[config] = metrics.pool(sums)
        pooled.setdefault(scenario, {})[config] = metrics.figures(summaries[scenario][config])
    return pooled, per_seed, summaries


def print_summary(pooled):
    for scenario, configs in pooled.items():
        print("scenario %s:" % scenario)
        for name, f in configs.items():
            lg = f["legit"]
            print("  %-20s spam stopped %5.1f%%  legit delayed %5.1f%%  lost %d  p50 %s min  "
                  "p95 %s min" % (name, f["spam"]["stopped"], lg["delayed"], lg["lost"],
                                  report._min(lg["p50_min"]), report._min(lg["p95_min"])))


def print_classes(pooled):
    for scenario, configs in pooled.items():
        names = list(configs)
        print("scenario %s, per class: %s" % (scenario, " | ".join(names)))
        classes = sorted(next(iter(configs.values()))["classes"])
        for cls in classes:
            cells = []
            for n in names:
                f = configs[n]["classes"][cls]
                cells.append("%5.1f" % (f["passed"] if cls.startswith("spam") else f["delayed"]))
            print("  %-26s %s" % (cls, " ".join(cells)))


COMPAT_TOLERANCE = 0.5   # points: --compat postgrey against postgrey, every figure


def compat_failures(compat, pg):
    """--compat postgrey's figures further than COMPAT_TOLERANCE from postgrey's."""
    pairs = [("spam stopped", compat["spam"]["stopped"], pg["spam"]["stopped"]),
             ("legit delayed", compat["legit"]["delayed"], pg["legit"]["delayed"]),
             ("legit lost", compat["legit"]["lost_pct"], pg["legit"]["lost_pct"])]
    for cls, f in pg["classes"].items():
        key = "passed" if cls.startswith("spam.") else "delayed"
        pairs.append((cls, compat["classes"][cls][key], f[key]))
    return ["--compat postgrey: %s %.2f%% against postgrey's %.2f%%" % (name, a, b)
            for name, a, b in pairs if abs(a - b) > COMPAT_TOLERANCE]


NO_SPF_CONFIG = "ours-no-spf"    # the defaults without SPF pooling (before issue 18)
SPF_LEGIT_TOLERANCE = 0.5         # points
SPF_SPAM_TOLERANCE = 0.3          # points


def pool_failures(base):
    """The pool keying's directions (issue 18). With the defaults (SPF
    pooling, then the name's domain), provider-pool mail is deferred no
    more often than single-host mail and, once deferred, waits no longer
    (p95 of the delays: a pool retrying from other addresses would wait for
    a triplet of each network) and is lost no more often. Against the same
    defaults without SPF pooling (--pool-by-spf no), no more legitimate
    mail is delayed (within SPF_LEGIT_TOLERANCE points) and no less spam is
    stopped (within SPF_SPAM_TOLERANCE points): a pass through +all or a
    range wider than /8 (/24 for IPv6) is no sender pool (spf_pooling.h),
    so bots passing SPF for a +all domain are not pooled."""
    ours = base["ours"]
    failures = _provider_failures("the defaults", ours, delays_only=False)
    no_spf = base.get(NO_SPF_CONFIG)
    if no_spf is None:
        return failures
    if ours["legit"]["delayed"] > no_spf["legit"]["delayed"] + SPF_LEGIT_TOLERANCE:
        failures.append("SPF pooling delayed more legitimate mail (%.2f%%) than --pool-by-spf no "
                        "(%.2f%%)" % (ours["legit"]["delayed"], no_spf["legit"]["delayed"]))
    if ours["spam"]["stopped"] < no_spf["spam"]["stopped"] - SPF_SPAM_TOLERANCE:
        failures.append("SPF pooling stopped less spam (%.2f%%) than --pool-by-spf no (%.2f%%)" %
                        (ours["spam"]["stopped"], no_spf["spam"]["stopped"]))
    return failures


def _provider_failures(name, f, delays_only):
    provider, single = f["classes"]["legit.provider"], f["groups"]["single_host"]
    out = []
    if (provider["p95_min"] or 0) > (single["p95_min"] or 0):
        out.append("%s: deferred provider-pool mail waited longer (p95 %.1f min) than "
                   "single-host mail (p95 %.1f min)" % (name, provider["p95_min"] or 0,
                                                        single["p95_min"] or 0))
    if provider["lost_pct"] > single["lost_pct"]:
        out.append("%s: provider-pool mail lost more often (%.2f%%) than single-host mail "
                   "(%.2f%%)" % (name, provider["lost_pct"], single["lost_pct"]))
    if not delays_only and provider["delayed"] > single["delayed"]:
        out.append("%s: provider-pool mail deferred more often (%.2f%%) than single-host mail "
                   "(%.2f%%)" % (name, provider["delayed"], single["delayed"]))
    return out


def check(pooled, equal):
    """The directions the short test asserts; returns the failures."""
    base = pooled["base"]
    ours, pg = base["ours"], base["postgrey"]
    failures = pool_failures(base)
    for name in ("ours", NO_SPF_CONFIG):
        if name in base:
            f = base[name]
            print("pool keying, %s: provider pools delayed %.1f%% (p95 %s min), single-host "
                  "MTAs %.1f%% (p95 %s min)" % (
                      name, f["classes"]["legit.provider"]["delayed"],
                      report._min(f["classes"]["legit.provider"]["p95_min"]),
                      f["groups"]["single_host"]["delayed"],
                      report._min(f["groups"]["single_host"]["p95_min"])))
    if ours["spam"]["stopped"] < pg["spam"]["stopped"]:
        failures.append("greylist-milter stopped less spam (%.2f%%) than postgrey (%.2f%%)" %
                        (ours["spam"]["stopped"], pg["spam"]["stopped"]))
    if ours["legit"]["delayed"] >= pg["legit"]["delayed"]:
        failures.append("greylist-milter delayed as much or more legitimate mail (%.2f%%) than "
                        "postgrey (%.2f%%)" % (ours["legit"]["delayed"], pg["legit"]["delayed"]))
    if ours["legit"]["lost"] > pg["legit"]["lost"]:
        failures.append("greylist-milter lost more legitimate mail (%d) than postgrey (%d)" %
                        (ours["legit"]["lost"], pg["legit"]["lost"]))
    if "compat" in base:
        failures += compat_failures(base["compat"], pg)
    for e in equal:
        if e["same"] != e["messages"]:
            failures.append("policy and milter front ends decided %d of %d messages differently" %
                            (e["messages"] - e["same"], e["messages"]))
    return failures


def zone_summary(seed, spec):
    """The SPF records of the base model's first seed: {"group: record": domains}."""
    _, zone = _traffic("base", seed, spec)
    return dict(zone.policies)


def dns_summary(done):
    counts = sorted(d["dns_queries"] for d in done
                    if d["scenario"] == "base" and d["config"] in ("ours", "ours-spf")
                    and d["dns_queries"] is not None)
    if not counts:
        return "none measured"
    return "%d to %d" % (counts[0], counts[-1])


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_doc(path, text):
    with open(path) as f:
        doc = f.read()
    if BEGIN not in doc or END not in doc:
        raise SystemExit("%s has no generated section (%s ... %s)" % (path, BEGIN, END))
    head, rest = doc.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, "w") as f:
        f.write(head + BEGIN + "\n" + text.rstrip() + "\n" + END + tail)


def render(info, pooled, per_seed, summaries, equal, out_dir):
    rel = os.path.relpath(out_dir, ROOT)
    configs = [c for c in CONFIGS if c["name"] in pooled["base"]]
    main = [c for c in configs if not c.get("ab")]
    ab = [c for c in configs if c.get("ab") or c["name"] in ("postgrey", "ours")]
    report.plots(summaries, "base", ["postgrey", "ours"], out_dir)
    parts = [
        "Run of %s on commit %s: %d seed(s) (%s), %s warm-up day(s) then %s measured day(s) "
        "at scale %s; %d requests answered in %.0f s of replay on %d worker(s). "
        "Whitelists: empty for both greylisters (the algorithms alone)." % (
            info["date"], info["commit"], len(info["seeds"]), ", ".join(map(str, info["seeds"])),
            info["spec"]["warmup_days"], info["spec"]["days"], info["spec"]["scale"],
            info["requests"], info["replay_seconds"], info["jobs"]),
        "", "### Result (seeds pooled)", "", report.main_table(pooled, "base", main), "",
        "Each seed on its own:", "", report.seeds_table(per_seed, "base", ["postgrey", "ours"]), ""]
    for e in equal:
        parts.append("Front ends: on seed %d, %d of %d messages were decided alike through the "
                     "policy socket and the milter socket (the same attempt accepted, or none)." %
                     (e["seed"], e["same"], e["messages"]))
    parts += ["", "![legitimate mail delayed](%s/legit-delay.png)" % rel, "",
              "![spam accepted per class](%s/spam-passed.png)" % rel, "",
              "### Per traffic class", "",
              report.class_tables(pooled, "base", ["postgrey", "ours"]), "",
              "### A/B: one option changed from the defaults", "",
              report.main_table(pooled, "base", ab), "",
              "### Provider pools against single-host MTAs", "",
              "Legitimate mail per sender, delayed % / p95 delay (minutes) / lost, seeds "
              "pooled.", "",
              report.pool_table(pooled, "base", [c for c in CONFIGS
                                                 if c["name"] in POOL_CONFIGS]), "",
              "The SPF records of the model (seed %d), by the domains that publish them; the "
              "model's dnsmasq answered %s DNS queries per run of a configuration with SPF "
              "pooling (each (domain, address) once: the TTL outlasts the replay)." % (
                  info["seeds"][0], info["dns_queries"]), "",
              report.zone_table(info["zone"]), ""]
    others = [s for s in pooled if s != "base"]
    if others:
        parts += ["### Sensitivity: the same comparison on a changed model", ""]
        for s in others:
            parts += ["**%s** (%s):" % (s, SCENARIOS[s]["label"]), "",
                      report.main_table(pooled, s, [c for c in CONFIGS
                                                    if c["name"] in scenario_configs(s)]), ""]
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--short", action="store_true", help="one seed, one simulated day, base model")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the directions hold")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "greylist-milter"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--doc", default=os.path.join(ROOT, "EFFECTIVENESS.md"))
    ap.add_argument("--configs", nargs="*", help="only these configurations")
    ap.add_argument("--scenarios", nargs="*", help="model variants (default: all; --short: base)")
    ap.add_argument("--no-write", action="store_true", help="print only; write no file")
    ap.add_argument("--classes", action="store_true", help="also print the per-class figures")
    args = ap.parse_args()
    spec = P.SHORT_RUN if args.short else P.FULL_RUN
    args.seeds = [1] if args.short else list(range(1, args.seeds + 1))
    if args.scenarios is None:
        args.scenarios = ["base"] if args.short else list(SCENARIOS)
    if args.short and not args.configs:
        args.configs = ["postgrey", "ours", "ours-milter", "compat", NO_SPF_CONFIG]
    for path in (args.binary, servers.POSTGREY, servers.FAKETIME_LIB, dns_server.DNSMASQ):
        if not os.path.exists(path):
            raise SystemExit("missing %s (build the daemon; apt-get install postgrey libfaketime "
                             "dnsmasq-base)" % path)
    servers.stop_system_postgrey()
    jobs = plan(args, spec)
    started = time.monotonic()
    done = []
    with multiprocessing.Pool(args.jobs) as pool:
        for d in pool.imap_unordered(_job, jobs):
            print("done: %-12s seed %d %-20s %6d requests in %5.1f s" % (
                d["scenario"], d["seed"], d["config"], d["requests"], d["seconds"]), flush=True)
            done.append(d)
    pooled, per_seed, summaries = collect(done)
    equal = equivalence(done)
    print_summary(pooled)
    for e in equal:
        print("front ends alike (seed %d): %d of %d messages" % (e["seed"], e["same"], e["messages"]))
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": git_commit(), "seeds": args.seeds, "spec": spec, "jobs": args.jobs,
            "requests": sum(d["requests"] for d in done),
            "replay_seconds": time.monotonic() - started,
            "zone": zone_summary(args.seeds[0], spec),
            "dns_queries": dns_summary(done)}
    if args.classes:
        print_classes(pooled)
    if not args.short and not args.no_write:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "latest.json"), "w") as f:
            json.dump({"info": info, "pooled": pooled, "per_seed": per_seed, "equivalence": equal},
                      f, indent=1, sort_keys=True)
        write_doc(args.doc, render(info, pooled, per_seed, summaries, equal, args.out))
        print("wrote %s and %s" % (os.path.join(args.out, "latest.json"), args.doc))
    if args.check:
        failures = check(pooled, equal)
        for f in failures:
            print("FAILED: " + f)
        print("effectiveness check: %s" % ("ok" if not failures else "failed"))
        return 1 if failures else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
