"""The DNS records of a run's model: the SPF records of every sender domain
(params.py, "SPF") and the A and MX records their `a` and `mx` mechanisms
need.

build(model, seed) -> Zone. Which record a domain publishes is drawn from a
generator seeded by (seed, domain), not from the model's generator, so the
messages of a seed are the same with and without this step, and a domain
publishes the same record wherever it appears.

Addresses that must match no sender of the model (a spammer's record
listing "its own" network, the forged-only domains' pools, the address of
a spam domain that exists without a record) are in the documentation
ranges of RFC 5737, which names.py never hands out.
"""
import random
from dataclasses import dataclass, field

import params as P

_NOWHERE_NET = "203.0.113.0/24"      # RFC 5737 TEST-NET-3: no sender of the model
_NOWHERE_HOST = "192.0.2.1"          # TEST-NET-1: the A record of a domain without SPF
_FORGED_ONLY_FIRST = (198, 51, 100)  # TEST-NET-2, split into /28s for the forged-only pools

# How Zone.policies names the records (EFFECTIVENESS.md's table).
_POOL_LABEL = "v=spf1 redirect=_spf.DOMAIN: includes listing the pool's networks, %s"
_NO_RECORD = "(no record)"
# "wildcard": +all in disguise, an exists: whose names all have an A record
# (a wildcard under _w.DOMAIN), so every address passes.
_WILDCARD_RECORD = "v=spf1 exists:%{i}._w.DOMAIN -all"
_WILDCARD_ADDRESS = "127.0.0.2"
_SPAM_LABELS = {"nxdomain": "(the domain does not exist)", "none": _NO_RECORD,
                "+all": "v=spf1 +all", "?all": "v=spf1 ?all",
                "own": "v=spf1 ip4:" + _NOWHERE_NET + " -all",
                "wildcard": _WILDCARD_RECORD + " (a wildcard A record under _w.DOMAIN)"}
_SNOWSHOE_LABELS = {"range": "v=spf1 ip4:ITS-/24 -all", "+all": "v=spf1 +all", "none": _NO_RECORD,
                    "wildcard": _SPAM_LABELS["wildcard"]}


@dataclass
class Zone:
    txt: dict = field(default_factory=dict)     # name -> record text
    hosts: dict = field(default_factory=dict)   # name -> IPv4 address (A record)
    mx: dict = field(default_factory=dict)      # domain -> exchange name
    wildcards: dict = field(default_factory=dict)  # name -> IPv4 address of it and every name under it
    policies: dict = field(default_factory=dict)  # "class: policy" -> domains, for the page

    def count(self, group, policy):
        key = "%s: %s" % (group, policy)
        self.policies[key] = self.policies.get(key, 0) + 1


def _draw(seed, label, shares):
    rng = random.Random("%d/%s" % (seed, label))
    keys = list(shares)
    return rng.choices(keys, weights=[shares[k] for k in keys])[0]


def _net24(ip):
    return ip.rsplit(".", 1)[0] + ".0/24"


def _pool_records(zone, apex, nets, qualifier):
    """apex: v=spf1 redirect=_spf.APEX; _spf.APEX: includes of records that
    list SPF_NETS_PER_RECORD networks each, ending in `qualifier`."""
    chain = "_spf." + apex
    zone.txt[apex] = "v=spf1 redirect=" + chain
    parts = []
    for i in range(0, len(nets), P.SPF_NETS_PER_RECORD):
        name = "_nb%d.%s" % (i // P.SPF_NETS_PER_RECORD + 1, chain)
        zone.txt[name] = "v=spf1 " + " ".join(
            "ip4:" + n for n in nets[i:i + P.SPF_NETS_PER_RECORD]) + " " + qualifier
        parts.append("include:" + name)
    zone.txt[chain] = "v=spf1 " + " ".join(parts) + " " + qualifier


def _pool_nets(pool):
    return sorted({_net24(h.address) for h in pool.hosts})


def _providers(zone, model):
    for domain, pool in model.providers.items():
        qualifier = P.PROVIDER_SPF_ALL[domain]
        _pool_records(zone, domain, _pool_nets(pool), qualifier)
        zone.count("provider", _POOL_LABEL % qualifier)
    for i, (domain, qualifier) in enumerate(sorted(P.FORGED_ONLY_SPF_ALL.items())):
        size = 256 // P.FORGED_ONLY_NETS // len(P.FORGED_ONLY_SPF_ALL)
        base = i * size * P.FORGED_ONLY_NETS
        nets = ["%d.%d.%d.%d/28" % (*_FORGED_ONLY_FIRST, base + k * size)
                for k in range(P.FORGED_ONLY_NETS)]
        _pool_records(zone, domain, nets, qualifier)
        zone.count("forged-only domain", _POOL_LABEL % qualifier)


def _esps(zone, model, messages):
    _pool_records(zone, "amazonses.com", _pool_nets(model.esps["amazonses.com"]),
                  P.ESP_SPF_ALL["amazonses.com"])
    # Mailchimp's senders are at mailN.atl11.mcsv.net: each redirects to
    # mcsv.net's chain over the mcdlv.net pool.
    _pool_records(zone, "mcsv.net", _pool_nets(model.esps["mcdlv.net"]), P.ESP_SPF_ALL["mcsv.net"])
    for domain, qualifier in P.ESP_SPF_ALL.items():
        zone.count("ESP", _POOL_LABEL % qualifier)
    for m in messages:
        domain = m.sender.rsplit("@", 1)[1]
        if m.cls == "esp_verp" and domain.endswith(".mcsv.net"):
            zone.txt[domain] = "v=spf1 redirect=mcsv.net"


def _single_host(zone, seed, group, domain, host):
    """An organisation's or a list's domain: MX to its MTA, and MTA_SPF."""
    exchange = host.name if host.name != "unknown" else "mail." + domain
    zone.mx[domain] = exchange
    zone.hosts[exchange] = host.address
    shape = _draw(seed, "mta/" + domain, P.MTA_SPF)
    zone.count(group, _NO_RECORD if shape == "none" else shape.replace("{ip}", "ADDRESS"))
    if shape == "none":
        return
    zone.txt[domain] = shape.format(ip=host.address)
    if " a " in shape:
        zone.hosts[domain] = host.address


def _legit_single_hosts(zone, seed, model):
    for cls, (orgs, _) in model.orgs.items():
        for domain, host in orgs:
            _single_host(zone, seed, "single-host MTA", domain, host)
    for lst in model.lists:
        _single_host(zone, seed, "list server", lst["domain"], lst["host"])


def _spam_domain(zone, seed, group, domain):
    policy = _draw(seed, "spam/" + domain, P.SPAM_SPF)
    zone.count(group, _SPAM_LABELS[policy])
    if policy == "nxdomain":
        return
    zone.hosts[domain] = _NOWHERE_HOST
    if policy in ("+all", "?all"):
        zone.txt[domain] = "v=spf1 " + policy
    elif policy == "own":
        zone.txt[domain] = "v=spf1 ip4:%s -all" % _NOWHERE_NET
    elif policy == "wildcard":
        _wildcard(zone, domain)


def _wildcard(zone, domain):
    zone.txt[domain] = _WILDCARD_RECORD.replace("DOMAIN", domain)
    zone.wildcards["_w." + domain] = _WILDCARD_ADDRESS


_BOT_CLASSES = ("bot_ff_dynamic", "bot_ff_nordns", "bot_early", "bot_queue", "campaign")


def _spam(zone, seed, model, messages):
    seen = set()
    for m in messages:
        domain = m.sender.rsplit("@", 1)[1]
        if m.kind != "spam" or m.cls not in _BOT_CLASSES or domain in seen:
            continue
        seen.add(domain)
        _spam_domain(zone, seed, "bot spam sender", domain)
    for i, hosts in enumerate(model.snowshoe):
        policy = _draw(seed, "snowshoe/%d" % i, P.SNOWSHOE_SPF)
        zone.count("snowshoe operation", _SNOWSHOE_LABELS[policy])
        for domain, host in hosts:
            zone.hosts[domain] = host.address
            if policy == "range":
                zone.txt[domain] = "v=spf1 ip4:%s -all" % _net24(host.address)
            elif policy == "+all":
                zone.txt[domain] = "v=spf1 +all"
            elif policy == "wildcard":
                _wildcard(zone, domain)


def build(model, seed):
    zone = Zone()
    messages = model.messages
    _providers(zone, model)
    _esps(zone, model, messages)
    _legit_single_hosts(zone, seed, model)
    _spam(zone, seed, model, messages)
    return zone
