"""Retry schedules: when a sender tries again after a deferral.

Each function returns the offsets (seconds after the first attempt, which
is at offset 0) of every attempt the sender would make if it were deferred
every time; the replay stops at the first acceptance, so a sender retries
only while deferred and gives up when its schedule ends.
"""
import params as P


def _next_tick(t, phase, interval):
    """The first queue run at or after t, queue runs being phase + k*interval."""
    k = -(-(t - phase) // interval)
    return phase + k * interval


def postfix(rng):
    """qmgr: a deferred message waits its age, clamped to
    [minimal_backoff_time, maximal_backoff_time] (the doubling back-off of
    qmgr(8)), and is picked up by the next deferred-queue scan, every
    queue_run_delay."""
    c = P.POSTFIX
    phase = rng.uniform(0, c["queue_run_delay"])
    out, t = [0], 0.0
    while True:
        wait = min(max(t, c["minimal_backoff_time"]), c["maximal_backoff_time"])
        t = _next_tick(t + wait, phase, c["queue_run_delay"])
        if t > c["maximal_queue_lifetime"]:
            return out
        out.append(int(t))


def exim(rng):
    """The retry rule's times after the first failure, each tried at the
    next queue run."""
    c = P.EXIM
    phase = rng.uniform(0, c["queue_interval"])
    out, due = [0], 0.0
    last_run = 0.0
    for kind, cutoff, first, factor in c["rules"]:
        interval = first
        while True:
            due = due + interval
            if due > cutoff:
                due -= interval
                break
            run = _next_tick(max(due, last_run + 1), phase, c["queue_interval"])
            if run > c["rules"][-1][1]:
                return out
            if int(run) != out[-1]:
                out.append(int(run))
            last_run = run
            if kind == "G":
                interval *= factor
    return out


def exchange(rng):
    c = P.EXCHANGE
    out = [0]
    for i in range(1, c["transient_retries"] + 1):
        out.append(i * c["transient_interval"])
    t = out[-1]
    while t + c["outbound_interval"] <= c["expiration"]:
        t += c["outbound_interval"]
        out.append(t)
    return out


def sendmail(rng):
    c = P.SENDMAIL
    interval = rng.choice(c["queue_intervals"])
    phase = rng.uniform(0, interval)
    out = [0]
    t = _next_tick(1, phase, interval)
    while t <= c["queuereturn"]:
        out.append(int(t))
        t += interval
    return out


def provider(spec):
    """Pagani et al.'s measured times, continued (when the provider
    delivered) at the last interval until PROVIDER_GIVE_UP."""
    out = [0] + list(spec["retries"])
    if not spec["delivered"]:
        return out
    step = spec["every"] or (out[-1] - out[-2])
    t = out[-1]
    while t + step <= P.PROVIDER_GIVE_UP:
        t += step
        out.append(t)
    return out


def fire_and_forget(rng):
    return [0]


def _bot_retries(rng, count, gap):
    out, t = [0], 0
    for _ in range(rng.randint(*count)):
        t += rng.randint(*gap)
        out.append(t)
    return out


def early_bot(rng):
    return _bot_retries(rng, P.EARLY_RETRIES, P.EARLY_GAP)


def queue_bot(rng):
    return _bot_retries(rng, P.QUEUE_BOT_RETRIES, P.QUEUE_BOT_GAP)


MTA = {"mta_postfix": postfix, "mta_exim": exim, "mta_exchange": exchange,
       "mta_sendmail": sendmail, "mta_no_fcrdns": postfix}
