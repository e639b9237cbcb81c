"""Every parameter of the effectiveness model, in one place.

Each value is either a documented default or measurement (the source is
named beside it and in EFFECTIVENESS.md) or an assumption of the model
(marked ASSUMPTION; EFFECTIVENESS.md lists them and the sensitivity rows
show what moving the important ones does). Times are in seconds.
"""

MINUTE = 60
HOUR = 3600
DAY = 86400

# The simulated clock starts here (UTC); libfaketime reads this format.
START = "2026-12-01 00:00:00"

# Length of a run. Messages of the warm-up days are replayed (they fill the
# databases, as a greylister that has run for a while has them) but not
# counted. ASSUMPTION: one warm-up day stands for "a greylister in service".
FULL_RUN = {"warmup_days": 1, "days": 3, "scale": 1.0}
SHORT_RUN = {"warmup_days": 0, "days": 1, "scale": 0.5}

# ---------------------------------------------------------------- volumes
# Messages (one recipient each) arriving per simulated day at a site of
# RECIPIENTS mailboxes. ASSUMPTION: 4 spam messages per legitimate one at
# the SMTP stage, arrivals uniform over the day.
RECIPIENTS = 400
LEGIT_PER_DAY = 900
SPAM_PER_DAY = 3600

# ------------------------------------------------------- legitimate mail
# Share of legitimate messages per class. ASSUMPTION (no public mix fits a
# "typical" site; the sensitivity rows move the provider share).
LEGIT_CLASSES = {
    "mta_postfix": 0.14,    # single host, Postfix queue (postconf(5) defaults)
    "mta_exim": 0.07,       # single host, Exim's default retry rule
    "mta_exchange": 0.08,   # single host, Exchange transport defaults
    "mta_sendmail": 0.03,   # single host, sendmail queue runs
    "mta_no_fcrdns": 0.06,  # single host (Postfix) without a forward-confirmed name
    "provider": 0.38,       # webmail provider pools (Pagani et al. 2016)
    "list_verp": 0.16,      # mailing lists with VERP senders (own list server)
    "esp_verp": 0.08,       # bulk senders (ESP pools) with per-message VERP senders
}

# Share of person-to-person messages whose (sender, recipient) pair has
# mailed before in the run ("returning correspondents"); the others are
# first contacts. ASSUMPTION.
P_RETURNING = 0.65

# Organisations running single-host MTAs, and how many distinct senders
# each has; an organisation's share of the traffic follows a Zipf law of
# exponent ORG_ZIPF (ASSUMPTION: a few correspondents write often).
ORGANISATIONS = 500
SENDERS_PER_ORG = 30
ORG_ZIPF = 1.1

# Share of single-host MTAs whose name contains digits (mail2., mx01., ...).
# ASSUMPTION.
MTA_NAME_WITH_DIGITS = 0.35

# Postfix defaults (postconf -d, Postfix 3.7 in Debian 12; postconf(5)).
POSTFIX = {
    "queue_run_delay": 300,
    "minimal_backoff_time": 300,
    "maximal_backoff_time": 4000,
    "maximal_queue_lifetime": 5 * DAY,
}

# Exim's default retry rule "F,2h,15m; G,16h,1h,1.5; F,4d,6h" (Exim
# specification, "Retry configuration"), tried at queue runs; Debian starts
# the daemon with -q30m (/etc/default/exim4 QUEUEINTERVAL='30m').
EXIM = {
    "rules": [("F", 2 * HOUR, 15 * MINUTE, 1.0),
              ("G", 16 * HOUR, 1 * HOUR, 1.5),
              ("F", 4 * DAY, 6 * HOUR, 1.0)],
    "queue_interval": 30 * MINUTE,
}

# Exchange transport defaults (Microsoft Learn: TransientFailureRetryCount
# 6, TransientFailureRetryInterval 5 min, OutboundConnectionFailureRetry-
# Interval 10 min on a Mailbox/Hub server, MessageExpirationTimeout 2 days).
EXCHANGE = {
    "transient_retries": 6,
    "transient_interval": 5 * MINUTE,
    "outbound_interval": 10 * MINUTE,
    "expiration": 2 * DAY,
}

# sendmail retries at each queue run (-qN on the daemon's command line:
# typically 15 minutes to 1 hour (Oracle's Mail Administration Guide; 30
# minutes on AIX, -q15m / -q1h in "sendmail", O'Reilly); ASSUMPTION: one of
# these per host); Timeout.queuereturn 5 days.
SENDMAIL = {
    "queue_intervals": [15 * MINUTE, 30 * MINUTE, 60 * MINUTE],
    "queuereturn": 5 * DAY,
}

# Webmail providers: Pagani et al., "Measuring the Role of Greylisting and
# Nolisting in Fighting Spam", DSN 2016, table "Webmail delivery attempts
# with a 360-minute (6h) greylisting threshold". addresses: how many
# addresses one message's attempts came from (1 = always the same);
# retries: minutes after the first attempt ("every" continues with that
# interval); delivered = False: the provider gave up after the last retry.
# share: the provider's part of provider mail (ASSUMPTION). After the
# measured schedule a provider that delivered keeps its last interval until
# PROVIDER_GIVE_UP (ASSUMPTION; the paper stopped at its 6 h threshold).
# nets / hosts: the /24 networks and hosts of its outbound pool
# (ASSUMPTION); name: the shape of its outbound names.
PROVIDER_GIVE_UP = 1 * DAY


def _mmss(*values):
    out = []
    for v in values:
        minutes, seconds = v.split(":")
        out.append(int(minutes) * 60 + int(seconds))
    return out


PROVIDERS = {
    "gmail.com": {"share": 0.40, "addresses": 7, "delivered": True, "nets": 24, "hosts": 16,
                  "retries": _mmss("6:02", "29:02", "56:36", "98:44", "162:03", "229:44",
                                   "309:05", "434:46"),
                  "every": None, "name": "google"},
    "yahoo.co.uk": {"share": 0.08, "addresses": 1, "delivered": True, "nets": 12, "hosts": 16,
                    "retries": _mmss("2:07", "5:39", "12:58", "27:16", "55:13", "109:35",
                                     "216:47", "430:36"),
                    "every": None, "name": "yahoo"},
    "hotmail.com": {"share": 0.22, "addresses": 1, "delivered": True, "nets": 20, "hosts": 16,
                    "retries": _mmss("1:01", "2:03", "3:04", "5:06", "8:07", "12:08", "16:10"),
                    "every": 4 * MINUTE, "name": "outlook"},
    "qq.com": {"share": 0.03, "addresses": 2, "delivered": False, "nets": 6, "hosts": 16,
               "retries": _mmss("5:05", "5:11", "5:17", "6:19", "8:22", "12:25", "20:29",
                                "52:31", "84:35", "144:42", "204:56"),
               "every": None, "name": "qq"},
    "mail.ru": {"share": 0.04, "addresses": 7, "delivered": True, "nets": 8, "hosts": 16,
                "retries": _mmss("1:18", "19:15", "49:14", "79:49", "113:20", "154:18",
                                 "187:53", "235:20", "271:03", "305:50", "340:38", "373:45"),
                "every": None, "name": "mailru"},
    "yandex.com": {"share": 0.04, "addresses": 1, "delivered": True, "nets": 6, "hosts": 16,
                   "retries": _mmss("1:05", "2:58", "6:53", "14:55", "30:28", "45:41", "61:01"),
                   "every": 15 * MINUTE + 30, "name": "yandex"},
    "mail.com": {"share": 0.03, "addresses": 2, "delivered": True, "nets": 4, "hosts": 8,
                 "retries": _mmss("5:02", "12:37", "23:59", "41:03", "66:38", "105:01",
                                  "162:35", "248:56", "378:28"),
                 "every": None, "name": "mailcom"},
    "gmx.com": {"share": 0.08, "addresses": 3, "delivered": True, "nets": 4, "hosts": 8,
                "retries": _mmss("5:01", "12:33", "23:50", "40:46", "66:09", "104:14",
                                 "161:22", "247:04", "375:36"),
                "every": None, "name": "gmx"},
    "aol.com": {"share": 0.05, "addresses": 1, "delivered": False, "nets": 6, "hosts": 16,
                "retries": _mmss("5:32", "11:32", "21:32", "31:32"),
                "every": None, "name": "aol"},
    "india.com": {"share": 0.03, "addresses": 1, "delivered": True, "nets": 2, "hosts": 8,
                  "retries": _mmss("6:21", "16:21", "36:21", "76:21", "146:22", "216:21",
                                   "286:21", "356:21", "426:21"),
                  "every": None, "name": "indiacom"},
}
# Share of a provider's outbound hosts without a forward-confirmed name
# (client_name "unknown"): 0, every provider's outbound names resolve back
# to their addresses, as the names of names.py do (ASSUMPTION; the
# sensitivity row provider-pools-unnamed sets 0.5). Such hosts are keyed
# by network under --pool-by-domain, and by the sender's domain under
# --pool-by-spf when SPF passes.
PROVIDER_UNNAMED = 0.0
# Senders (users) per provider that write to the site: ASSUMPTION.
PROVIDER_SENDERS = 3000

# Mailing lists: each list runs its own server (Postfix schedule) and sends
# each post to its subscribers at the site. VERP styles (ASSUMPTION on the
# mix): Mailman's "list-bounces+user=dom@host", ezmlm's
# "list-return-NUMBER-user=dom@host" (a number per post).
LISTS = 10
LIST_SUBSCRIBERS = (3, 40)      # subscribers at the site, uniform range
LIST_VERP_STYLES = {"mailman": 0.5, "ezmlm": 0.5}

# Bulk senders (ESPs) send from pools with a token per message in the
# sender (hex, changes every message: no greylister can recognise a retry of
# a different message). Retry like Postfix from one address per message.
ESPS = {
    "amazonses.com": {"share": 0.5, "nets": 16, "hosts": 32, "name": "ses"},
    "mcdlv.net": {"share": 0.5, "nets": 8, "hosts": 32, "name": "mailchimp"},
}
ESP_CUSTOMERS = 60             # sender domains sending through ESPs

# ------------------------------------------------------------------ spam
# Share of spam messages per class. ASSUMPTION (the shares of retrying
# bots are what greylisting's success depends on; see the sensitivity rows).
SPAM_CLASSES = {
    "bot_ff_dynamic": 0.30,   # fire-and-forget bot, residential, ISP-style FCrDNS name
    "bot_ff_nordns": 0.20,    # fire-and-forget bot without reverse DNS
    "bot_early": 0.08,        # retries, but only within the greylisting delay
    "bot_queue": 0.07,        # retries like a queue (minutes apart)
    "snowshoe": 0.10,         # real MTAs (Postfix) on hosting ranges, own domains
    "forged_provider": 0.10,  # bots with sender addresses at big providers
    "campaign": 0.15,         # one sender, the same recipients from many bots
}

# Bot hosts: residential addresses in ISP networks. A share of them has an
# ISP-style forward-confirmed name (BOT_NAMED, ASSUMPTION); the rest none.
BOTS = 6000
BOT_NETS_PER_ISP = 60          # /24 networks with bots per ISP (ASSUMPTION)
BOT_NAMED = 0.6
BOT_ZIPF = 0.8                 # a few bots send much of the spam (ASSUMPTION)
# What a bot's malware does after a deferral: the same for all its messages
# (ASSUMPTION on the mix). The classes bot_ff_*, bot_early and bot_queue
# draw their bots from the matching kind; forged_provider and campaign
# messages come from any bot and retry as that bot does.
BOT_BEHAVIOUR = {"ff": 0.80, "early": 0.10, "queue": 0.10}

# Too-early retriers: 1-3 retries, 10-90 s apart (all within 300 s).
EARLY_RETRIES = (1, 3)
EARLY_GAP = (10, 90)
# Queue-like bots: 2-5 retries, 5-20 minutes apart.
QUEUE_BOT_RETRIES = (2, 5)
QUEUE_BOT_GAP = (5 * MINUTE, 20 * MINUTE)

FORGED_DOMAINS = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com"]

# Campaigns: one sender address, a list of recipients, several bots per
# recipient hours apart; each bot retries as its kind does (ASSUMPTION).
CAMPAIGNS_PER_DAY = 6
CAMPAIGN_TARGETS = (40, 150)   # recipients per campaign
CAMPAIGN_DURATION = (2 * HOUR, 12 * HOUR)
CAMPAIGN_BOTS_FROM_ONE_ISP = 0.5  # share of a campaign's bots in its main ISP

# Snowshoe operations: each rents a /24 on a hosting range, uses many
# addresses of it, one domain per address, real MTAs (Postfix).
SNOWSHOE_OPERATIONS = 8
SNOWSHOE_HOSTS = (10, 60)
SNOWSHOE_VIA_HOSTER_NAME = 0.5  # names under the hoster's domain (static.a.b.c.d.clients...)

# ------------------------------------------------------------------- SPF
# The model's SPF records (RFC 7208), served by a private dnsmasq on
# loopback (dns_zone.py builds them, dns_server.py serves them) and
# evaluated by the greylist-milter under test (--dns-server 127.0.0.1:PORT).
# A record covers the addresses the model gives its domain's senders and
# nothing else, so pass means "one of the domain's own hosts".
#
# TTL of every answer, negative ones included (dnsmasq --local-ttl,
# --neg-ttl). The daemon's DNS and SPF caches run on the monotonic clock,
# which the replay leaves real (FAKETIME_DONT_FAKE_MONOTONIC): 3600 s of
# real time outlast the replay of a whole run of one configuration, so each
# (domain, client address) is evaluated through DNS once and then answered
# from the cache, as records that never change within a run would be.
# Caching changes no decision of the model, only the number of queries.
SPF_TTL = 3600
# The daemon's --dns-timeout in the replay, milliseconds: far above a
# loopback answer, so that a busy machine cannot turn an answer into a
# temperror and move a seed's figures.
SPF_DNS_TIMEOUT_MS = 5000
# Networks listed per record of an include chain (a TXT string holds 255
# characters; the providers split their lists the same way, e.g. Google's
# _netblocks.google.com, _netblocks2, _netblocks3).
SPF_NETS_PER_RECORD = 8

# Providers and ESPs: "v=spf1 redirect=_spf.DOMAIN", that record an include
# chain over records listing the pool's /24s, ending in the `all` below --
# the shape the big providers publish (gmail.com redirects to
# _spf.google.com, which includes Google's _netblocks records). Which
# provider ends in -all and which in ~all: ASSUMPTION (Gmail's record ended
# in ?all in 2008, open-spf.org "Frank Ellermann/Google", ~all since; the
# others not checked). A bot forging the domain gets fail or softfail; both
# are "not pass" to the daemon, so the split moves no figure.
PROVIDER_SPF_ALL = {"gmail.com": "~all", "yahoo.co.uk": "~all", "hotmail.com": "~all",
                    "qq.com": "-all", "mail.ru": "~all", "yandex.com": "~all",
                    "mail.com": "~all", "gmx.com": "-all", "aol.com": "~all",
                    "india.com": "-all"}
ESP_SPF_ALL = {"amazonses.com": "-all", "mcsv.net": "~all"}
# Forged domains without a pool in the model (no legitimate mail from them
# reaches the site) publish a record listing FORGED_ONLY_NETS networks of
# their own: ASSUMPTION.
FORGED_ONLY_SPF_ALL = {"yahoo.com": "~all", "outlook.com": "-all"}
FORGED_ONLY_NETS = 8

# Single-host MTAs' domains (organisations and list servers): whether they
# publish a record, and its shape. About half of the top ten million
# domains published an SPF record in 2023-2024 (spamresource.com, "SPF
# adoption rates over time", 2024), many of them not sending mail; of
# 8,362 records of the 2004 SPF adoption roll, 84 % ended in -all, 11 % in
# ?all, 5 % in ~all, and "v=spf1 mx -all" and "v=spf1 a mx -all" were the
# most common (ietf-mxcomp, 2004-05, msg00144). The shares: ASSUMPTION.
# mx / a: the domain's MX and A records name the MTA's address.
MTA_SPF = {
    "none": 0.30,             # no SPF record at all (the domain has an MX, no TXT)
    "v=spf1 mx -all": 0.25,
    "v=spf1 a mx -all": 0.15,
    "v=spf1 ip4:{ip} -all": 0.10,
    "v=spf1 ip4:{ip} ~all": 0.10,
    "v=spf1 a mx ?all": 0.10,
}

# Spam sender domains of bots (every bot class and campaigns; a campaign's
# one domain draws once): ASSUMPTION, no public figure. "nxdomain": the
# domain does not exist; "none": it exists without a record; "+all": the
# spammer authorizes every address (v=spf1 +all), so every bot passes;
# "?all": neutral; "own": a record listing a network of the spammer's own,
# so bots get fail.
SPAM_SPF = {"nxdomain": 0.45, "none": 0.20, "+all": 0.15, "?all": 0.05, "own": 0.15}
# Snowshoe operations publish per operation: a record covering their /24
# ("range": v=spf1 ip4:a.b.c.0/24 -all), +all, or none. ASSUMPTION.
SNOWSHOE_SPF = {"range": 0.60, "+all": 0.20, "none": 0.20}
