"""The seeded traffic model: every message a run replays, with the attempts
its sender would make if it were deferred every time.

build(seed, warmup_days, days, scale) -> list of Message, sorted by first
attempt. The same seed gives the same messages, so every configuration of a
run answers the same traffic.
"""
import bisect
import itertools
import random
from dataclasses import dataclass, field

import dns_zone
import names
import params as P
import schedules

_SPAM_WORDS = ["deal", "promo", "offer", "win", "news", "info", "lucky", "prime", "best", "mega",
               "crypto", "pharma", "loan", "rx", "bonus", "club", "zone", "hub", "direct", "now"]
_SPAM_TLDS = ["com", "net", "xyz", "top", "info", "biz", "ru", "cn", "online", "site"]


@dataclass
class Attempt:
    offset: int            # seconds after the first attempt
    address: str
    name: str              # forward-confirmed name, or "unknown"


@dataclass
class Message:
    id: int
    kind: str              # "legit" or "spam"
    cls: str
    t0: int                # first attempt, seconds after the run's start
    sender: str
    recipient: str
    attempts: list = field(default_factory=list)
    measured: bool = True
    returning: bool = False
    detail: str = ""       # provider / ISP / list style, for the detail tables


def _zipf_weights(n, s):
    return list(itertools.accumulate(1.0 / (i + 1) ** s for i in range(n)))


def _pick(rng, items, cum):
    return items[bisect.bisect_left(cum, rng.random() * cum[-1])]


def _pick_share(rng, shares):
    keys = list(shares)
    return rng.choices(keys, weights=[shares[k] if not isinstance(shares[k], dict)
                                      else shares[k]["share"] for k in keys])[0]


class _Host:
    def __init__(self, address, name):
        self.address, self.name = address, name


class _Bot:
    def __init__(self, isp, host, behaviour):
        self.isp, self.host, self.behaviour = isp, host, behaviour


class _Pool:
    """An outbound pool: `nets` /24 networks with `hosts` hosts each; a
    share `unnamed` of the hosts has no forward-confirmed name."""

    def __init__(self, rng, networks, nets, style, hosts, unnamed=0.0):
        self.hosts = []
        for _ in range(nets):
            net = networks.new()
            for h in rng.sample(range(1, 255), hosts):
                ip = names.address(net, h)
                name = names.provider_name(style, ip, len(self.hosts), rng)
                # drawn only when asked for, so the base model's stream is unchanged
                if unnamed and rng.random() < unnamed:
                    name = "unknown"
                self.hosts.append(_Host(ip, name))


class Model:
    def __init__(self, seed, warmup_days, days, scale):
        self.rng = random.Random(seed)
        self.nets = names.Networks(self.rng)
        self.domains = 0
        self.span = (warmup_days + days) * P.DAY
        self.warmup = warmup_days * P.DAY
        self.scale = scale
        self.recipients = ["user%03d@example.net" % i for i in range(P.RECIPIENTS)]
        self.messages = []
        self.pairs = {}       # class -> list of (sender, recipient, source)
        self._build_legit_sources()
        self._build_spam_sources()

    # ------------------------------------------------------------ sources
    def _build_legit_sources(self):
        rng = self.rng
        self.orgs = {}
        mta_share = sum(v for k, v in P.LEGIT_CLASSES.items() if k.startswith("mta_"))
        for cls in [c for c in P.LEGIT_CLASSES if c.startswith("mta_")]:
            count = max(1, round(P.ORGANISATIONS * P.LEGIT_CLASSES[cls] / mta_share))
            orgs = []
            for i in range(count):
                self.domains += 1
                domain = names.org_domain(self.domains, rng)
                ip = names.address(self.nets.new(), rng.randrange(2, 250))
                name = "unknown" if cls == "mta_no_fcrdns" else \
                    names.mta_name(domain, rng.random() < P.MTA_NAME_WITH_DIGITS, rng)
                orgs.append((domain, _Host(ip, name)))
            self.orgs[cls] = (orgs, _zipf_weights(count, P.ORG_ZIPF))
        self.providers = {d: _Pool(rng, self.nets, s["nets"], s["name"], s["hosts"],
                                   P.PROVIDER_UNNAMED) for d, s in P.PROVIDERS.items()}
        self.esps = {d: _Pool(rng, self.nets, s["nets"], s["name"], s["hosts"]) for d, s in P.ESPS.items()}
        self.esp_customers = [names.org_domain(5000 + i, rng) for i in range(P.ESP_CUSTOMERS)]
        self.lists = []
        for i in range(P.LISTS):
            domain = "lists." + names.org_domain(9000 + i, rng)
            host = _Host(names.address(self.nets.new(), rng.randrange(2, 250)),
                         names.mta_name(domain, rng.random() < P.MTA_NAME_WITH_DIGITS, rng))
            subscribers = rng.sample(self.recipients, rng.randint(*P.LIST_SUBSCRIBERS))
            style = _pick_share(rng, P.LIST_VERP_STYLES)
            self.lists.append({"name": "list%d" % i, "domain": domain, "host": host,
                               "subscribers": subscribers, "style": style, "post": 1000})

    def _build_spam_sources(self):
        rng = self.rng
        isp_cum = list(itertools.accumulate(isp[1] for isp in names.ISPS))
        isp_nets = {}
        self.bots = []
        for _ in range(P.BOTS):
            isp = _pick(rng, names.ISPS, isp_cum)
            nets = isp_nets.setdefault(isp[0], [])
            if len(nets) < P.BOT_NETS_PER_ISP:
                nets.append(self.nets.new(rng.choice(isp[2])))
                net = nets[-1]
            else:
                net = rng.choice(nets)
            ip = names.address(net, rng.randrange(1, 255))
            named = rng.random() < P.BOT_NAMED
            host = _Host(ip, names.isp_name(isp, ip, rng) if named else "unknown")
            self.bots.append(_Bot(isp[0], host, _pick_share(rng, P.BOT_BEHAVIOUR)))
        rng.shuffle(self.bots)
        self.bot_sets = {}
        subsets = {"any": lambda b: True,
                   "ff_named": lambda b: b.behaviour == "ff" and b.host.name != "unknown",
                   "ff_unnamed": lambda b: b.behaviour == "ff" and b.host.name == "unknown",
                   "early": lambda b: b.behaviour == "early",
                   "queue": lambda b: b.behaviour == "queue"}
        for key, keep in subsets.items():
            bots = [b for b in self.bots if keep(b)]
            self.bot_sets[key] = (bots, _zipf_weights(len(bots), P.BOT_ZIPF))
        self.snowshoe = []
        for _ in range(P.SNOWSHOE_OPERATIONS):
            hoster = rng.choice(names.HOSTERS)
            net = self.nets.new()
            hosts = []
            for h in rng.sample(range(2, 254), rng.randint(*P.SNOWSHOE_HOSTS)):
                ip = names.address(net, h)
                domain = self._spam_domain()
                name = names.hoster_name(hoster, ip, rng) if rng.random() < P.SNOWSHOE_VIA_HOSTER_NAME \
                    else "mail." + domain
                hosts.append((domain, _Host(ip, name)))
            self.snowshoe.append(hosts)

    def _spam_domain(self):
        rng = self.rng
        return "%s%s%d.%s" % (rng.choice(_SPAM_WORDS), rng.choice(_SPAM_WORDS),
                              rng.randrange(100), rng.choice(_SPAM_TLDS))

    def _spam_sender(self):
        rng = self.rng
        local = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 9)))
        return "%s@%s" % (local, self._spam_domain())

    # ----------------------------------------------------------- messages
    def _add(self, kind, cls, t0, sender, rcpt, offsets, hosts, returning=False, detail=""):
        """hosts: one _Host for every attempt, or a single one for all."""
        if isinstance(hosts, _Host):
            hosts = [hosts] * len(offsets)
        attempts = [Attempt(o, h.address, h.name) for o, h in zip(offsets, hosts)]
        self.messages.append(Message(len(self.messages), kind, cls, int(t0), sender, rcpt, attempts,
                                     t0 >= self.warmup, returning, detail))

    def _pair(self, cls, new_pair):
        """A returning (sender, recipient, source) of this class, or a new one."""
        known = self.pairs.setdefault(cls, [])
        if known and self.rng.random() < P.P_RETURNING:
            return self.rng.choice(known) + (True,)
        pair = new_pair()
        known.append(pair)
        return pair + (False,)

    def _legit_times(self, count):
        return sorted(self.rng.uniform(0, self.span) for _ in range(count))

    def build(self):
        rng = self.rng
        days = self.span / P.DAY
        legit = round(P.LEGIT_PER_DAY * days * self.scale)
        for cls, share in P.LEGIT_CLASSES.items():
            count = round(legit * share)
            if cls.startswith("mta_"):
                self._build_mta(cls, count)
            elif cls == "provider":
                self._build_provider(count)
            elif cls == "list_verp":
                self._build_lists(count)
            elif cls == "esp_verp":
                self._build_esp(count)
        spam = round(P.SPAM_PER_DAY * days * self.scale)
        for cls, share in P.SPAM_CLASSES.items():
            count = round(spam * share)
            if cls == "campaign":
                self._build_campaigns(count)
            elif cls == "snowshoe":
                self._build_snowshoe(count)
            else:
                self._build_bots(cls, count)
        self.messages.sort(key=lambda m: (m.t0, m.id))
        return self.messages

    def _build_mta(self, cls, count):
        orgs, cum = self.orgs[cls]
        for t0 in self._legit_times(count):
            def new_pair():
                domain, host = _pick(self.rng, orgs, cum)
                sender = "user%d@%s" % (self.rng.randrange(P.SENDERS_PER_ORG), domain)
                return (sender, self.rng.choice(self.recipients), host)
            sender, rcpt, host, returning = self._pair(cls, new_pair)
            self._add("legit", cls, t0, sender, rcpt, schedules.MTA[cls](self.rng), host,
                      returning, cls)

    def _build_provider(self, count):
        rng = self.rng
        for t0 in self._legit_times(count):
            def new_pair():
                domain = _pick_share(rng, P.PROVIDERS)
                sender = "u%d@%s" % (rng.randrange(P.PROVIDER_SENDERS), domain)
                return (sender, rng.choice(self.recipients), domain)
            sender, rcpt, domain, returning = self._pair("provider", new_pair)
            spec = P.PROVIDERS[domain]
            offsets = schedules.provider(spec)
            pool = self.providers[domain].hosts
            used = rng.sample(pool, spec["addresses"])
            hosts = [used[i] if i < len(used) else rng.choice(used) for i in range(len(offsets))]
            self._add("legit", "provider", t0, sender, rcpt, offsets, hosts, returning, domain)

    def _build_lists(self, count):
        rng = self.rng
        made = 0
        while made < count:
            lst = rng.choice(self.lists)
            lst["post"] += 1
            t0 = rng.uniform(0, self.span)
            for rcpt in lst["subscribers"]:
                if made >= count:
                    break
                user, domain = rcpt.split("@")
                if lst["style"] == "mailman":
                    sender = "%s-bounces+%s=%s@%s" % (lst["name"], user, domain, lst["domain"])
                else:
                    sender = "%s-return-%d-%s=%s@%s" % (lst["name"], lst["post"], user, domain,
                                                        lst["domain"])
                self._add("legit", "list_verp", t0, sender, rcpt, schedules.postfix(rng),
                          lst["host"], True, lst["style"])
                made += 1

    def _build_esp(self, count):
        rng = self.rng
        for t0 in self._legit_times(count):
            esp = _pick_share(rng, P.ESPS)
            customer = rng.choice(self.esp_customers)
            if esp == "amazonses.com":
                sender = "%016x-%08x-%04x-%04x-000000@%s" % (
                    rng.getrandbits(64), rng.getrandbits(32), rng.getrandbits(16),
                    rng.getrandbits(16), "amazonses.com")
            else:
                sender = "bounce-mc.us%d_%d.%d-%s=%s@mail%d.%s.mcsv.net" % (
                    rng.randrange(1, 20), rng.randrange(10 ** 7, 10 ** 8), rng.randrange(10 ** 6),
                    "news", customer, rng.randrange(1, 200), "atl11")
            host = rng.choice(self.esps[esp].hosts)
            self._add("legit", "esp_verp", t0, sender, rng.choice(self.recipients),
                      schedules.postfix(rng), host, False, esp)

    def _bot(self, subset):
        bots, cum = self.bot_sets[subset]
        return _pick(self.rng, bots, cum)

    _CLASS_BOTS = {"bot_ff_dynamic": "ff_named", "bot_ff_nordns": "ff_unnamed",
                   "bot_early": "early", "bot_queue": "queue", "forged_provider": "any"}
    _RETRIES = {"ff": schedules.fire_and_forget, "early": schedules.early_bot,
                "queue": schedules.queue_bot}

    def _build_bots(self, cls, count):
        rng = self.rng
        for _ in range(count):
            t0 = rng.uniform(0, self.span)
            sender = self._spam_sender()
            bot = self._bot(self._CLASS_BOTS[cls])
            if cls == "forged_provider":
                sender = sender.split("@")[0] + "@" + rng.choice(P.FORGED_DOMAINS)
            self._add("spam", cls, t0, sender, rng.choice(self.recipients),
                      self._RETRIES[bot.behaviour](rng), bot.host, detail=bot.isp)

    def _build_snowshoe(self, count):
        rng = self.rng
        for _ in range(count):
            domain, host = rng.choice(rng.choice(self.snowshoe))
            sender = "%s@%s" % (rng.choice(["news", "offers", "info", "hello", "deals"]), domain)
            self._add("spam", "snowshoe", rng.uniform(0, self.span), sender,
                      rng.choice(self.recipients), schedules.postfix(rng), host, detail="snowshoe")

    def _build_campaigns(self, count):
        rng = self.rng
        n = max(1, round(P.CAMPAIGNS_PER_DAY * self.span / P.DAY))
        campaigns = []
        for _ in range(n):
            start = rng.uniform(0, self.span)
            main_isp = rng.choice(names.ISPS)[0]
            campaigns.append({"sender": self._spam_sender(), "start": start,
                              "end": start + rng.uniform(*P.CAMPAIGN_DURATION),
                              "targets": rng.sample(self.recipients, rng.randint(*P.CAMPAIGN_TARGETS)),
                              "bots": [b for b in self.bots if b.isp == main_isp]})
        for _ in range(count):
            c = rng.choice(campaigns)
            if c["bots"] and rng.random() < P.CAMPAIGN_BOTS_FROM_ONE_ISP:
                bot = rng.choice(c["bots"])
            else:
                bot = self._bot("any")
            t0 = min(rng.uniform(c["start"], c["end"]), self.span)
            self._add("spam", "campaign", t0, c["sender"], rng.choice(c["targets"]),
                      self._RETRIES[bot.behaviour](rng), bot.host, detail=bot.isp)


def build(seed, warmup_days, days, scale):
    return Model(seed, warmup_days, days, scale).build()


def build_with_zone(seed, warmup_days, days, scale):
    """The messages and the DNS zone of their senders (dns_zone.py)."""
    model = Model(seed, warmup_days, days, scale)
    messages = model.build()
    return messages, dns_zone.build(model, seed)
