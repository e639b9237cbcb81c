"""Addresses and host names of the model's senders.

Networks are /24s drawn from public-looking ranges, never twice. Names
follow the shapes the operators publish (ISP customer ranges, provider and
bulk-sender outbound pools, hosting ranges); the domains are the real
operators' registered domains, since a greylister keys on those. The
whitelists of both greylisters are empty in the model, so no address or
name is whitelisted by accident.
"""
import random

_FIRST_OCTETS = [24, 31, 37, 46, 62, 66, 67, 68, 71, 73, 76, 77, 78, 79, 80, 81, 82, 83, 84,
                 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 108, 109, 151, 176,
                 177, 178, 185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 200, 201, 212,
                 213, 217]


class Networks:
    """Hands out distinct /24 networks ("a.b.c")."""

    def __init__(self, rng: random.Random):
        self._rng = rng
        self._used = set()

    def new(self, first=None):
        for _ in range(10000):
            a = first if first is not None else self._rng.choice(_FIRST_OCTETS)
            net = (a, self._rng.randrange(0, 256), self._rng.randrange(0, 256))
            if net not in self._used:
                self._used.add(net)
                return net
        raise RuntimeError("no free /24 left")


def address(net, host):
    return "%d.%d.%d.%d" % (net[0], net[1], net[2], host)


def _octets(ip):
    return [int(x) for x in ip.split(".")]


# ------------------------------------------------------------------ ISPs
# Residential and dynamic customer names, in the shapes the ISPs use: the
# address's octets in decimal (dashes or dots, zero-padded or not) or hex,
# words such as pool, cpe, res, dyn, dsl, cable, cust, broadband, and names
# that encode nothing of the address.
def _comcast(o, r):
    return "c-%d-%d-%d-%d.hsd1.%s.comcast.net" % (*o, r.choice(["ca", "fl", "il", "pa", "ma"]))


def _verizon(o, r):
    return "pool-%d-%d-%d-%d.%s.fios.verizon.net" % (*o, r.choice(["nycmny", "bltmmd", "washdc"]))


def _spectrum(o, r):
    return "cpe-%d-%d-%d-%d.%s.res.rr.com" % (*o, r.choice(["nycap", "socal", "carolina"]))


def _att(o, r):
    return "%d-%d-%d-%d.lightspeed.%s.sbcglobal.net" % (*o, r.choice(["sntcca", "dllstx", "irvnca"]))


def _cox(o, r):
    return "ip%d-%d-%d-%d.%s.%s.cox.net" % (*o, r.choice(["ph", "oc", "dc"]), r.choice(["ph", "oc", "dc"]))


def _bt(o, r):
    return "host%d-%d-%d-%d.range%d-%d.btcentralplus.com" % (*o, o[0], o[1])


def _telekom(o, r):
    return "p%02x%02x%02x%02x.dip0.t-ipconnect.de" % tuple(o)


def _orange(o, r):
    return "lfbn-%s-1-%d-%d.w%d-%d.abo.wanadoo.fr" % (r.choice(["lyo", "idf2", "mar", "nan"]),
                                                     o[2] * 4 + r.randrange(4), o[3], o[0], o[1])


def _telefonica(o, r):
    return "%d.red-%d-%d-%d.dynamicip.rima-tde.net" % (o[3], o[0], o[1], o[2])


def _vodafone(o, r):
    return "ip-%03d-%03d-%03d-%03d.um%02d.pools.vodafone-ip.de" % (*o, r.randrange(1, 50))


def _virgin(o, r):
    # encodes nothing of the address
    return "cpc%d-%s%d-2-0-cust%d.%d-%d.cable.virginm.net" % (
        r.randrange(1000, 160000), r.choice(["lond", "brnt", "mant", "glfd"]), r.randrange(1, 20),
        r.randrange(1, 1000), r.randrange(1, 20), r.randrange(1, 4))


def _telesp(o, r):
    return "%d-%d-%d-%d.dsl.telesp.net.br" % tuple(o)


def _optimum(o, r):
    return "ool-%02x%02x%02x%02x.dyn.optonline.net" % tuple(o)


def _rostelecom(o, r):
    return "broadband-%d-%d-%d-%d.ip.moscow.rt.ru" % tuple(o)


def _etisalat(o, r):
    # encodes nothing, no keyword either
    return "bba%06d.alshamil.net.ae" % r.randrange(0, 1000000)


def _claro(o, r):
    return "%d.%d.%d.%d.static.host.claro.net.br" % tuple(reversed(o)) if r.random() < 0.3 else \
        "b%d%d%d%d.dynamic.claro.net.br" % tuple(o)


def _jio(o, r):
    return "dhcp-%d-%d-%d-%d.res.jio.in" % tuple(o)


# (registered domain, share of bots, first octets of its networks, name)
ISPS = [
    ("comcast.net", 0.14, [24, 67, 73, 76, 96, 98], _comcast),
    ("verizon.net", 0.07, [71, 96, 108], _verizon),
    ("rr.com", 0.06, [24, 66, 97], _spectrum),
    ("sbcglobal.net", 0.05, [68, 99, 108], _att),
    ("cox.net", 0.04, [68, 98], _cox),
    ("btcentralplus.com", 0.05, [81, 86], _bt),
    ("t-ipconnect.de", 0.07, [79, 87, 91, 93], _telekom),
    ("wanadoo.fr", 0.06, [77, 86, 90], _orange),
    ("rima-tde.net", 0.05, [79, 83, 88], _telefonica),
    ("vodafone-ip.de", 0.05, [77, 88, 95], _vodafone),
    ("virginm.net", 0.04, [78, 80, 82], _virgin),
    ("telesp.net.br", 0.07, [177, 187, 189, 201], _telesp),
    ("optonline.net", 0.03, [24, 67, 68], _optimum),
    ("rt.ru", 0.06, [46, 95, 178], _rostelecom),
    ("alshamil.net.ae", 0.03, [31, 94], _etisalat),
    ("claro.net.br", 0.04, [177, 186, 191], _claro),
    ("jio.in", 0.03, [49, 157], _jio),
]


def isp_name(isp, ip, rng):
    return isp[3](_octets(ip), rng)


# --------------------------------------------------- provider outbound pools
def provider_name(style, ip, index, rng):
    o = _octets(ip)
    if style == "google":
        return "mail-%s%d-f%d.google.com" % (rng.choice(["wr", "lf", "ej", "yw", "pj"]),
                                           1 + index % 2, 40 + index % 90)
    if style == "yahoo":
        return "sonic%d-%d.consmr.mail.%s.yahoo.com" % (300 + index % 60, 10 + index % 40,
                                                       rng.choice(["ir2", "bf2", "gq1"]))
    if style == "outlook":
        return "mail-%seur%02dolkn2%03d.outbound.protection.outlook.com" % (
            rng.choice(["db8", "am6", "vi1", "he1"]), 1 + index % 6, index % 200)
    if style == "qq":
        return "out%d-%d-%d-%d.mail.qq.com" % tuple(o)     # octets in the name, yet an MTA
    if style == "mailru":
        return "%s%d.i.mail.ru" % (rng.choice(["smtp", "fallback"]), 1 + index % 60)
    if style == "yandex":
        return "forward%d%s.mail.yandex.net" % (100 + index % 60, rng.choice("abc"))
    if style == "mailcom":
        return "mout.mail.com"
    if style == "gmx":
        return "mout.gmx.net"
    if style == "aol":
        return "omr-m%03d.mx.aol.com" % (index % 40)
    if style == "indiacom":
        return "out%d.india.com" % (1 + index % 8)
    if style == "ses":
        return "a%d-%d.smtp-out.amazonses.com" % (o[2] % 64, o[3])
    if style == "mailchimp":
        return "mail%d.%s%d.mcdlv.net" % (o[3], rng.choice(["atl", "sea", "suw"]), 10 + o[2] % 200)
    raise ValueError(style)


# ------------------------------------------------------- single-host MTAs
_ORG_WORDS = ["acme", "nordwind", "bluefin", "kestrel", "polaris", "lindqvist", "tessera",
              "oakridge", "halvorsen", "meridian", "cobalt", "fennel", "granite", "harbor",
              "juniper", "lumen", "marlow", "quarry", "redwood", "saffron", "tamarind", "umber",
              "vantage", "willow", "zephyr", "alder", "birch", "cedar", "dunmore", "elmstead"]
_TLDS = ["com", "de", "fr", "co.uk", "nl", "it", "org", "net", "ch", "se"]


def org_domain(index, rng):
    return "%s%d.%s" % (rng.choice(_ORG_WORDS), index, rng.choice(_TLDS))


def mta_name(domain, with_digits, rng):
    if with_digits:
        return rng.choice(["mail%d", "mx%02d", "smtp-out-%02d", "mta%d", "relay%d"]) % \
            rng.randrange(1, 20) + "." + domain
    return rng.choice(["mail", "mx", "smtp", "mailgw", "exchange", "relay"]) + "." + domain


# ----------------------------------------------------------- hosting ranges
HOSTERS = [
    ("your-server.de", lambda o, r: "static.%d.%d.%d.%d.clients.your-server.de" % tuple(reversed(o))),
    ("ovh.net", lambda o, r: "vps-%08x.vps.ovh.net" % r.randrange(1 << 32)),
    ("contaboserver.net", lambda o, r: "vmi%d.contaboserver.net" % r.randrange(100000, 2000000)),
    ("linodeusercontent.com", lambda o, r: "%d-%d-%d-%d.ip.linodeusercontent.com" % tuple(o)),
]


def hoster_name(hoster, ip, rng):
    return hoster[1](_octets(ip), rng)
