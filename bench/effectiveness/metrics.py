"""Figures of one replay: what the issue asks per configuration and per
traffic class. Only messages of the measured days count (not the warm-up).

summarize(messages, accepted) -> dict of counts (so seeds can be pooled by
adding them) and the delays of delayed legitimate mail; figures(summary)
-> the percentages and percentiles shown in the tables.
"""
import params as P


def _empty():
    return {"n": 0, "first": 0, "accepted": 0, "delays": []}


# Legitimate classes sent by one host each; their union is the group
# "single_host" that the provider pools are compared with.
SINGLE_HOST = ("mta_postfix", "mta_exim", "mta_exchange", "mta_sendmail", "mta_no_fcrdns")


def summarize(messages, accepted):
    """accepted[i]: index of the accepted attempt of messages[i], or None."""
    out = {"legit": _empty(), "spam": _empty(), "classes": {}, "legit_returning": _empty(),
           "legit_first_contact": _empty(), "providers": {}, "groups": {"single_host": _empty()}}
    for m, k in zip(messages, accepted):
        if not m.measured:
            continue
        buckets = [out[m.kind], out["classes"].setdefault(m.kind + "." + m.cls, _empty())]
        if m.kind == "legit":
            buckets.append(out["legit_returning" if m.returning else "legit_first_contact"])
            if m.cls == "provider":
                buckets.append(out["providers"].setdefault(m.detail, _empty()))
            if m.cls in SINGLE_HOST:
                buckets.append(out["groups"]["single_host"])
        for b in buckets:
            b["n"] += 1
            if k is not None:
                b["accepted"] += 1
                if k == 0:
                    b["first"] += 1
                elif m.kind == "legit":
                    b["delays"].append(m.attempts[k].offset)
    return out


def pool(summaries):
    """Adds the counts of several summaries (seeds) of one configuration."""
    def add(a, b):
        return {"n": a["n"] + b["n"], "first": a["first"] + b["first"],
                "accepted": a["accepted"] + b["accepted"], "delays": a["delays"] + b["delays"]}
    out = None
    for s in summaries:
        if out is None:
            out = {k: (dict(v) if k not in ("classes", "providers", "groups") else
                       {c: dict(x) for c, x in v.items()}) for k, v in s.items()}
            continue
        for key in ("legit", "spam", "legit_returning", "legit_first_contact"):
            out[key] = add(out[key], s[key])
        for group in ("classes", "providers", "groups"):
            for c, v in s[group].items():
                out[group][c] = add(out[group][c], v) if c in out[group] else dict(v)
    return out


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    index = min(len(values) - 1, max(0, int(round(q / 100.0 * (len(values) - 1)))))
    return values[index]


def bucket_figures(b, kind):
    n = b["n"] or 1
    if kind == "spam":
        return {"n": b["n"], "passed": 100.0 * b["accepted"] / n,
                "stopped": 100.0 * (b["n"] - b["accepted"]) / n}
    return {"n": b["n"], "delayed": 100.0 * (b["n"] - b["first"]) / n,
            "lost": b["n"] - b["accepted"], "lost_pct": 100.0 * (b["n"] - b["accepted"]) / n,
            "p50_min": _minutes(percentile(b["delays"], 50)),
            "p95_min": _minutes(percentile(b["delays"], 95))}


def _minutes(seconds):
    return None if seconds is None else seconds / 60.0


def figures(summary):
    out = {"spam": bucket_figures(summary["spam"], "spam"),
           "legit": bucket_figures(summary["legit"], "legit"),
           "legit_returning": bucket_figures(summary["legit_returning"], "legit"),
           "legit_first_contact": bucket_figures(summary["legit_first_contact"], "legit"),
           "classes": {}, "providers": {},
           "groups": {g: bucket_figures(b, "legit") for g, b in summary["groups"].items()}}
    for c, b in summary["classes"].items():
        out["classes"][c] = bucket_figures(b, c.split(".")[0])
    for c, b in summary["providers"].items():
        out["providers"][c] = bucket_figures(b, "legit")
    return out


def delay_ccdf(summary, points):
    """(minutes, % of measured legitimate mail delayed more than that)."""
    legit = summary["legit"]
    n = legit["n"] or 1
    lost = legit["n"] - legit["accepted"]
    delays = sorted(legit["delays"])
    out = []
    j = 0
    for x in points:
        while j < len(delays) and delays[j] <= x * 60:
            j += 1
        out.append((x, 100.0 * (len(delays) - j + lost) / n))
    return out


LEGIT_ORDER = [c for c in P.LEGIT_CLASSES]
SPAM_ORDER = [c for c in P.SPAM_CLASSES]
