#include "tools/postgrey_options.h"

#include <cctype>
#include <cstring>
#include <map>
#include <string_view>

namespace greylist {
namespace {

enum class Argument { kNone, kRequired, kOptional, kInteger, kList };

// What becomes of one postgrey option here. `ours` names our option of the
// same meaning; nullptr: `note` says why it is not carried over.
struct PostgreyOption {
  const char* names;  // '|'-separated, the first is canonical (Getopt::Long spec)
  Argument argument;
  const char* ours;
  const char* note;
};

// postgrey 1.37's GetOptions list, in its order.
constexpr PostgreyOption kOptions[] = {
    {"help|h", Argument::kNone, nullptr, "postgrey prints its usage and exits: it never ran so"},
    {"man", Argument::kNone, nullptr, "postgrey prints its manual and exits: it never ran so"},
    {"version", Argument::kNone, nullptr, "postgrey prints its version and exits: it never ran so"},
    {"noaction|no-action|n", Argument::kNone, nullptr, "postgrey refuses to start with it"},
    {"verbose|v", Argument::kNone, "verbose", nullptr},
    {"quiet|q", Argument::kNone, "quiet", nullptr},
    {"daemonize|d", Argument::kNone, nullptr,
     "not needed: systemd runs greylist-milter in the foreground"},
    {"unix|u", Argument::kRequired, "unix", nullptr},
    {"inet|i", Argument::kRequired, "inet", nullptr},
    {"socketmode", Argument::kRequired, "socketmode", nullptr},
    {"user", Argument::kRequired, nullptr, "greylist-milter runs as its own user"},
    {"group", Argument::kRequired, nullptr, "greylist-milter runs as its own group"},
    {"dbdir", Argument::kRequired, nullptr, nullptr},  // the database imported
    {"pidfile", Argument::kRequired, nullptr,
     "not needed: systemd tracks greylist-milter (it takes --pidfile too)"},
    {"delay", Argument::kInteger, "delay", nullptr},
    {"max-age", Argument::kInteger, "max-age", nullptr},
    {"lookup-by-subnet", Argument::kNone, nullptr, nullptr},  // the default in both
    {"lookup-by-host", Argument::kNone, "lookup-by-host", nullptr},
    {"ipv4cidr", Argument::kInteger, "ipv4cidr", nullptr},
    {"ipv6cidr", Argument::kInteger, "ipv6cidr", nullptr},
    {"auto-whitelist-clients", Argument::kOptional, "auto-whitelist-clients", nullptr},
    {"whitelist-clients", Argument::kList, nullptr, nullptr},
    {"whitelist-recipients", Argument::kList, nullptr, nullptr},
    {"syslogfacility|syslog-facility|facility", Argument::kRequired, "syslog-facility", nullptr},
    {"retry-window", Argument::kRequired, "retry-window", nullptr},
    {"greylist-action", Argument::kRequired, "greylist-action", nullptr},
    {"greylist-text", Argument::kRequired, "greylist-text", nullptr},
    {"privacy", Argument::kNone, "privacy", nullptr},
    {"hostname", Argument::kRequired, "hostname", nullptr},
    {"exim", Argument::kNone, "exim", nullptr},
    {"listen-queue-size", Argument::kInteger, "listen-queue-size", nullptr},
    {"x-greylist-header", Argument::kRequired, "x-greylist-header", nullptr},
};

const PostgreyOption* find_option(std::string_view name) {
  for (const PostgreyOption& option : kOptions) {
    std::string_view names = option.names;
    while (!names.empty()) {
      const auto bar = names.find('|');
      if (names.substr(0, bar) == name) return &option;
      names = bar == std::string_view::npos ? std::string_view() : names.substr(bar + 1);
    }
  }
  return nullptr;
}

std::string canonical(const PostgreyOption& option) {
  const std::string_view names = option.names;
  return std::string(names.substr(0, names.find('|')));
}

bool is_integer(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  if (text.empty()) return false;
  for (const char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// One option as given (the last of a repeated one).
struct Given {
  std::string value;
  std::string spelled;  // as written: "--delay=60", "-i 10023"
};

// Walks the words as Getopt::Long does; fills `given` (canonical name =>
// last value) and `lists`; refused words go to out.not_carried.
void read_words(const std::vector<std::string>& words, std::map<std::string, Given>& given,
                PostgreyConfiguration& out) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--") break;
    if (word.size() < 2 || word[0] != '-') {
      out.not_carried.push_back("'" + word + "' and what follows: postgrey ignores them");
      break;
    }
    const std::string body = word.substr(word[1] == '-' ? 2 : 1);
    const auto equals = body.find('=');
    const std::string name = body.substr(0, equals);
    const PostgreyOption* option = find_option(name);
    if (option == nullptr) {
      out.not_carried.push_back(word + ": unknown to postgrey 1.37 (it refuses to start)");
      continue;
    }
    std::optional<std::string> value;
    if (equals != std::string::npos) value = body.substr(equals + 1);
    if (option->argument == Argument::kNone && value) {
      out.not_carried.push_back(word + ": takes no value (postgrey refuses to start)");
      continue;
    }
    const bool next_is_value = i + 1 < words.size() &&
                               (option->argument != Argument::kOptional || words[i + 1].empty() ||
                                words[i + 1][0] != '-');
    std::string spelled = word;
    if (!value && option->argument != Argument::kNone && next_is_value) {
      value = words[++i];
      spelled += " " + *value;
    }
    if (!value && (option->argument == Argument::kRequired ||
                   option->argument == Argument::kInteger || option->argument == Argument::kList)) {
      out.not_carried.push_back(word + ": needs a value (postgrey refuses to start)");
      continue;
    }
    if (option->argument == Argument::kInteger && !is_integer(*value)) {
      out.not_carried.push_back(spelled + ": not a number (postgrey refuses to start)");
      continue;
    }
    const std::string key = canonical(*option);
    if (key == "whitelist-clients") out.whitelist_clients.push_back(*value);
    if (key == "whitelist-recipients") out.whitelist_recipients.push_back(*value);
    given[key] = Given{value.value_or(""), spelled};
  }
}

// postgrey reads 0 (and, for some, nothing) as its default.
std::optional<std::string> effective_value(const std::string& key, const Given& given,
                                           PostgreyConfiguration& out) {
  const std::string& v = given.value;
  const auto zero_means = [&](const char* meaning) -> std::optional<std::string> {
    if (std::stoll(v.substr(0, 18)) != 0) return v;
    out.not_carried.push_back(given.spelled + ": postgrey reads 0 as " + meaning +
                              ", greylist-milter's default too: nothing to set");
    return std::nullopt;
  };
  if (key == "delay") {
    if (std::stoll(v.substr(0, 18)) == 0) {
      out.not_carried.push_back(given.spelled +
                                ": postgrey reads 0 as 300; greylist-milter's --delay 0 would "
                                "mean no delay: set delay = 300");
      return std::string("300");
    }
    return v;
  }
  if (key == "max-age") return zero_means("35 days");
  if (key == "ipv4cidr") return zero_means("/24");
  if (key == "ipv6cidr") return zero_means("/64");
  if (key == "auto-whitelist-clients" && v.empty()) return std::string("5");
  if (key == "verbose" || key == "quiet" || key == "lookup-by-host" || key == "privacy" ||
      key == "exim") {
    return std::string("true");
  }
  return v;
}

}  // namespace

PostgreyConfiguration translate_postgrey_options(const std::vector<std::string>& words,
                                                 const std::optional<std::string>& text) {
  PostgreyConfiguration out;
  std::map<std::string, Given> given;
  read_words(words, given, out);
  if (text) given["greylist-text"] = Given{*text, "POSTGREY_TEXT"};
  if (given.count("unix") == 0 && given.count("inet") == 0) {
    out.not_carried.push_back("neither --inet nor --unix: postgrey refuses to start without one");
  }
  if (given.count("quiet") != 0) given.erase("verbose");  // postgrey: quiet wins

  for (const PostgreyOption& option : kOptions) {
    const std::string key = canonical(option);
    const auto found = given.find(key);
    if (found == given.end()) continue;
    const Given& g = found->second;
    if (key == "dbdir") {
      out.dbdir = g.value;
    } else if (key == "delay") {
      out.delay = std::stoll(g.value.substr(0, 18)) == 0 ? 300 : std::stoll(g.value.substr(0, 18));
    } else if (key == "privacy") {
      out.privacy = true;
    }
    if (option.ours == nullptr) {
      if (option.note != nullptr) out.not_carried.push_back(g.spelled + ": " + option.note);
      continue;
    }
    if (auto value = effective_value(key, g, out)) {
      out.settings.push_back(MigratedSetting{option.ours, *value, g.spelled});
    }
  }
  return out;
}

}  // namespace greylist
