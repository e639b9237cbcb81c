#include "config/option_table.h"

#include <string>
#include <vector>

#include "greylist/reply_text.h"

namespace po = boost::program_options;

namespace greylist::config {

po::options_description describe_options() {
  po::options_description general("General");
  general.add_options()
      ("help,h", "print this help and exit")
      ("version", "print the version and exit")
      ("config", po::value<std::string>(),
       "read options from FILE ('name = value' lines, same names as here); the command line wins")
      ("verbose,v", po::bool_switch(), "log debugging detail too")
      ("log", po::value<std::string>()->default_value("syslog"),
       "where to log: syslog or stderr")
      ("syslog-facility", po::value<std::string>()->default_value("mail"),
       "syslog facility (mail, daemon, user, local0..local7)")
      ("dbdir", po::value<std::string>()->default_value("/var/lib/greylist-milter"),
       "Berkeley DB environment directory (created if missing)")
      ("sync", po::value<std::string>()->default_value("crash-safe"),
       "commit durability: crash-safe (survives a killed daemon) or full (fsync: survives "
       "power loss)")
      ("cache-size", po::value<std::string>()->default_value("64M"),
       "Berkeley DB cache shared by both tables, bytes or with K, M or G: memory the daemon "
       "takes once it is full (Berkeley DB adds 25% below 500M); the tree's internal pages "
       "should fit (greylist-milter(8), CACHE SIZE)")
      ("on-error", po::value<std::string>()->default_value("accept"),
       "answer when the database fails: accept (let mail through) or tempfail")
      ("on-corruption", po::value<std::string>()->default_value("fail"),
       "a Berkeley DB database damaged beyond recovery at start: fail (exit, saying what to "
       "do) or reset (move its files to DBDIR/corrupt-DATE-TIME/ and start empty)")
      ("store", po::value<std::string>()->default_value("bdb"),
       "where the greylist state lives: bdb (Berkeley DB in --dbdir) or redis (a Redis server "
       "shared by several MX hosts)")
      ("redis", po::value<std::string>()->default_value("redis://127.0.0.1:6379/0"),
       "with --store redis: the server, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
       "unix:PATH[?db=DB] (no rediss://: Debian's hiredis has no TLS)")
      ("redis-sentinel", po::value<std::string>()->default_value(""),
       "with --store redis: Sentinels HOST:PORT,... that name the master (--redis then gives "
       "only the login and the database)")
      ("redis-master", po::value<std::string>()->default_value("mymaster"),
       "with --redis-sentinel: the name of the master")
      ("redis-prefix", po::value<std::string>()->default_value("greylist:"),
       "with --store redis: prefix of every key (sites sharing one server use different ones)")
      ("redis-timeout", po::value<std::string>()->default_value("500"),
       "with --store redis: milliseconds one store operation may take, connecting included; "
       "beyond it --on-error answers")
      ("threads", po::value<unsigned>(),
       "threads serving policy connections (default 4; 32 with --store redis, so that many "
       "requests wait for Redis at once)")
      ("policy-max-connections", po::value<std::string>()->default_value("1000"),
       "policy connections served at once; more are closed at once, with a log line")
      ("policy-idle-timeout", po::value<std::string>()->default_value("300"),
       "seconds a policy connection may stay idle before it is closed")
      ("metrics", po::value<std::string>()->default_value("none"),
       "Prometheus metrics endpoint, inet:HOST:PORT (http://HOST:PORT/metrics), or none")
      ("daemonize,d", po::bool_switch(), "run in the background (not under systemd)")
      ("pidfile", po::value<std::string>(), "write the process id to FILE (locked while running)")
      ("user", po::value<std::string>()->default_value("greylist-milter"),
       "user to run as, when started as root")
      ("group", po::value<std::string>(), "group to run as (default: the user's group)");

  // postgrey 1.37's options not named above, with postgrey's meaning.
  po::options_description postgrey("postgrey's other options");
  postgrey.add_options()
      ("man", "print the manual page (greylist-milter(8)) and exit")
      ("quiet,q", po::bool_switch(), "postgrey's -q: no decision lines in the log")
      ("syslogfacility", po::value<std::string>(), "postgrey alias of --syslog-facility")
      ("facility", po::value<std::string>(), "postgrey alias of --syslog-facility")
      ("exim", po::bool_switch(), "close a policy connection after each reply (for Exim)")
      ("listen-queue-size", po::value<std::string>(),
       "pending connections each socket queues (1 to 999, as postgrey caps it; default: the "
       "system's maximum)")
      ("noaction,n", po::bool_switch(), "postgrey's -n: refused, as postgrey refuses it")
      ("no-action", po::bool_switch(), "the same as --noaction");

  po::options_description sockets("Sockets (Postfix syntax: inet:HOST:PORT, inet:[IPV6]:PORT, "
                                  "unix:PATH, none)");
  sockets.add_options()
      ("policy", po::value<std::vector<std::string>>()->composing(),
       "policy-delegation socket, repeatable (default inet:127.0.0.1:10023)")
      ("milter", po::value<std::string>()->default_value("inet:127.0.0.1:8891"), "milter socket")
      ("inet,i", po::value<std::vector<std::string>>()->composing(),
       "postgrey alias: policy socket [HOST:]PORT")
      ("unix,u", po::value<std::vector<std::string>>()->composing(),
       "postgrey alias: policy socket at PATH")
      ("socketmode", po::value<std::string>()->default_value("0666"),
       "permissions of unix sockets (octal)");

  po::options_description decisions("Greylisting (postgrey's options and defaults)");
  decisions.add_options()
      ("delay", po::value<std::string>()->default_value("300"),
       "seconds a new triplet is deferred (0: record only, never defer)")
      ("max-age", po::value<std::string>()->default_value("35"),
       "days an entry may go unseen before it is forgotten")
      ("retry-window", po::value<std::string>()->default_value("2"),
       "days (or hours with an 'h' suffix) within which a retry must come")
      ("greylist-action", po::value<std::string>()->default_value("DEFER_IF_PERMIT"),
       "policy answer for a greylisted triplet (an access(5) action)")
      ("greylist-text", po::value<std::string>()->default_value(std::string(kDefaultGreylistText)),
       "reply text; %s = seconds left, %r = recipient domain")
      ("x-greylist-header",
       po::value<std::string>()->default_value(std::string(kDefaultHeaderTemplate)),
       "header added on the first pass; %t = delay, %v = version, %h = host name, %d = date")
      ("lookup-by-subnet", po::bool_switch(), "key on the client network (the default)")
      ("lookup-by-host", po::bool_switch(), "key on the full client address")
      ("ipv4cidr", po::value<std::string>()->default_value("24"), "IPv4 prefix length of a client network")
      ("ipv6cidr", po::value<std::string>()->default_value("64"), "IPv6 prefix length of a client network")
      ("privacy", po::bool_switch(), "store keyed hashes (HMAC-SHA256) instead of addresses")
      ("privacy-key-file", po::value<std::string>(),
       "secret for --privacy (default DBDIR/privacy.key, created if missing)")
      ("hostname", po::value<std::string>(), "host name for the header (default: this machine's)")
      ("auto-whitelist-clients", po::value<std::string>()->implicit_value("5")->default_value("5"),
       "whitelist a client network after N successful retries (0: off)")
      ("auto-whitelist-domains", po::value<std::string>()->default_value("2"),
       "whitelist a sender domain from a client network after N distinct senders of it passed "
       "(0: off)")
      ("pool-by-domain", po::value<bool>()->default_value(true, "yes"),
       "key clients with a verified name on its registered domain, so a pool retrying from "
       "another network is the same triplet (yes/no)")
      ("pool-by-spf", po::value<bool>()->default_value(true, "yes"),
       "key the triplet of a client that passes SPF for the sender's domain on that domain, so "
       "a retry from any address the domain authorizes is the same triplet (yes/no)")
      ("pool-dynamic-names", po::value<bool>()->default_value(false, "no"),
       "with --pool-by-domain, also pool names that look like ISP customer ranges (yes/no)")
      ("client-awl-key", po::value<std::string>()->default_value("adaptive"),
       "what the client auto-whitelist is keyed on: network, host (the full address), or "
       "adaptive (host for clients without a name or with a dynamic-looking one)")
      ("dynamic-delay", po::value<std::string>()->default_value("2400"),
       "seconds a new triplet of a client without a verified name or with a dynamic-looking one "
       "is deferred, when longer than --delay (0: --delay for every client)")
      ("compat", po::value<std::string>()->default_value("none"),
       "postgrey: postgrey's keying and auto-whitelisting (--pool-by-domain no --pool-by-spf no "
       "--auto-whitelist-domains 0 --client-awl-key host --dynamic-delay 0; options given "
       "explicitly still win); none: this daemon's defaults")
      ("whitelist-clients", po::value<std::vector<std::string>>()->composing(),
       "client whitelist file, repeatable (default /etc/greylist-milter/whitelist_clients and "
       "its .local)")
      ("whitelist-recipients", po::value<std::vector<std::string>>()->composing(),
       "recipient whitelist file, repeatable (default /etc/greylist-milter/whitelist_recipients "
       "and its .local)");

  po::options_description rules("Rules and DNS lists (greylist-milter.rules(5))");
  rules.add_options()
      ("rules", po::value<std::string>()->default_value("/etc/greylist-milter/rules"),
       "the rules file: access rules, DNS lists, greytraps (the default is read only when it "
       "exists; '' for none)")
      ("dns-server", po::value<std::vector<std::string>>()->composing(),
       "DNS server for the rules' DNS lists, ADDRESS or ADDRESS:PORT ([IPV6]:PORT), repeatable "
       "(default: those of /etc/resolv.conf)")
      ("dns-timeout", po::value<std::string>()->default_value("1000"),
       "milliseconds a DNS list lookup may take; an unanswered list counts as not listed");

  po::options_description milter("Milter front end");
  milter.add_options()
      ("skip-networks", po::value<std::vector<std::string>>()->composing(),
       "client networks never greylisted by the milter, CIDR, repeatable or comma-separated "
       "(default 127.0.0.0/8,::1/128)")
      ("x-greylist-header-always", po::bool_switch(),
       "add a 'not delayed' X-Greylist header to messages nobody was delayed for")
      ("milter-reply-code", po::value<std::string>()->default_value("450"), "SMTP code of the deferral")
      ("milter-enhanced-code", po::value<std::string>()->default_value("4.2.0"),
       "enhanced status code of the deferral")
      ("milter-max-connections", po::value<std::string>()->default_value("1000"),
       "milter connections (TCP) kept at once; beyond it the most silent are cut off, with a log line")
      ("milter-idle-timeout", po::value<std::string>()->default_value("3600"),
       "seconds a milter connection (TCP) may receive nothing before it is cut off");

  po::options_description all;
  all.add(general).add(sockets).add(decisions).add(rules).add(milter).add(postgrey);
  return all;
}

}  // namespace greylist::config
