// greylistctl migrate-postgrey: postgrey's settings, whitelist additions
// and database carried over in one step (see greylistctl(8)).
//
// Order matters: everything is read and checked before anything is
// written (a conflict or a running postgrey writes nothing), the files in
// /etc are written while still root, and the store is opened last (which
// may give up root for the owner of --dbdir).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <iostream>
#include <set>
#include <string_view>

#include "tools/config_update.h"
#include "tools/ctl_command.h"
#include "tools/ctl_import_postgrey.h"
#include "tools/postgrey_options.h"
#include "config/shell_words.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

constexpr const char* kCommand = "migrate-postgrey";
constexpr std::size_t kMaxWhitelistBytes = 16 * 1024 * 1024;

struct Paths {
  std::string defaults;        // /etc/default/postgrey
  std::string postgrey_etc;    // /etc/postgrey
  std::string postgrey_share;  // /usr/share/postgrey: the package's pristine lists
  std::optional<std::string> postgrey_dbdir;  // else POSTGREY_OPTS --dbdir
  std::string etc;             // /etc/greylist-milter
  std::string config;          // ETC/greylist-milter.conf, or greylistctl --config
};

// A file to write (a whitelist copied from postgrey's directory).
struct FileCopy {
  std::string from;
  std::string to;
  std::string content;
  bool exists = false;  // `to` exists already...
  bool same = false;    // ...with this content
};

struct Plan {
  PostgreyConfiguration postgrey;
  std::vector<FileCopy> copies;
  ConfigUpdate config;
  bool config_exists = false;
  std::vector<std::string> notes;   // printed as "not carried over: ..."
  std::vector<std::string> advice;  // printed as "note: ..."
};

// The whole file; nullopt when it does not exist.
Result<std::optional<std::string>> read_optional(const std::string& path, std::size_t max_bytes) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || text.size() + static_cast<std::size_t>(n) > max_bytes) {
      const std::string why = n < 0 ? std::strerror(errno) : "larger than expected";
      close(fd);
      return Status::IoError(path + ": " + why);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(fd);
  return std::optional<std::string>(std::move(text));
}

// The whole file, which must exist.
Result<std::string> read_whole(const std::string& path, std::size_t max_bytes) {
  auto text = read_optional(path, max_bytes);
  if (!text.ok()) return text.status();
  if (!text.value()) return Status::IoError(path + ": no such file");
  return std::move(*text.value());
}

// POSTGREY_OPTS and POSTGREY_TEXT of the defaults file, translated.
Result<PostgreyConfiguration> read_postgrey_configuration(CtlContext& ctx, const Paths& paths) {
  auto text = read_whole(paths.defaults, kMaxShellText);
  if (!text.ok()) return text.status();
  auto assignments = parse_shell_assignments(text.value());
  if (!assignments.ok()) {
    return Status::InvalidArgument(paths.defaults + ": " + assignments.status().message());
  }
  for (const auto& warning : assignments.value().warnings) {
    ctx.err << "greylistctl: " << kCommand << ": warning: " << paths.defaults << ":" << warning
            << "\n";
  }
  const auto& values = assignments.value().values;
  const auto opts = values.find("POSTGREY_OPTS");
  auto words = split_shell_words(opts == values.end() ? "" : opts->second);
  if (!words.ok()) {
    return Status::InvalidArgument(paths.defaults + ": POSTGREY_OPTS: " + words.status().message());
  }
  std::optional<std::string> greylist_text;
  if (const auto t = values.find("POSTGREY_TEXT"); t != values.end() && !t->second.empty()) {
    greylist_text = t->second;
  }
  ctx.out << "postgrey settings " << paths.defaults << ": POSTGREY_OPTS="
          << (opts == values.end() ? "(unset)" : "\"" + opts->second + "\"") << ", POSTGREY_TEXT="
          << (greylist_text ? "\"" + *greylist_text + "\"" : "(unset)") << "\n";
  PostgreyConfiguration out = translate_postgrey_options(words.value(), greylist_text);
  if (!greylist_text) {
    out.not_carried.push_back(
        "POSTGREY_TEXT (unset): Debian's postgrey unit then answers 'Greylisted, see "
        "https://postgrey.schweikert.ch/help/<this host>.html'; greylist-milter keeps postgrey's "
        "own default text (%r: the recipient's domain)");
  }
  return out;
}

// A whitelist file to write: `content` (from `from`) to `ours`.
Status plan_copy(const std::string& from, const std::string& content, const std::string& ours,
                 Plan& plan) {
  FileCopy copy{from, ours, content};
  auto existing = read_optional(ours, kMaxWhitelistBytes);
  copy.exists = !existing.ok() || existing.value().has_value();
  copy.same = existing.ok() && existing.value() == copy.content;
  plan.copies.push_back(std::move(copy));
  return Status::Ok();
}

// The entries of a whitelist: comments and blanks gone, as postgrey reads them.
std::vector<std::string> entries_of(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const auto end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    line = line.substr(0, line.find('#'));
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front()))) line.remove_prefix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.remove_suffix(1);
    if (!line.empty()) out.emplace_back(line);
  }
  return out;
}

// What the site added to postgrey's main list (a conffile) compared with
// the package's pristine copy, as lines for our .local file ("" when
// nothing, or when either copy is missing). Entries removed from it are
// named in plan.notes: our own list may still hold them.
Result<std::string> main_list_additions(const std::string& main, const std::string& pristine,
                                        Plan& plan) {
  auto edited = read_whole(main, kMaxWhitelistBytes);
  auto shipped = read_whole(pristine, kMaxWhitelistBytes);
  if (!edited.ok() || !shipped.ok()) return std::string();
  const auto mine = entries_of(edited.value());
  const auto theirs = entries_of(shipped.value());
  const std::set<std::string> mine_set(mine.begin(), mine.end());
  const std::set<std::string> shipped_set(theirs.begin(), theirs.end());
  std::string added;
  for (const auto& entry : mine) {
    if (shipped_set.count(entry) == 0) added += entry + "\n";
  }
  std::size_t removed = 0;
  for (const auto& entry : theirs) removed += mine_set.count(entry) == 0 ? 1 : 0;
  if (removed > 0) {
    plan.notes.push_back(std::to_string(removed) + " entries removed from " + main +
                         " (compared with " + pristine + "): greylist-milter's own list may "
                         "still hold them");
  }
  if (added.empty()) return std::string();
  return "# Entries added to " + main + " (not in postgrey's shipped list),\n"
         "# carried over by greylistctl migrate-postgrey.\n" + added;
}

// kind: "clients" or "recipients". postgrey read its main list and .local
// file when no --whitelist-KIND was given, else the given files. Ours has
// the same pair: the .local file is copied, with what the site added to
// postgrey's main list; given files map the same way (any other file is
// read where it is).
Status plan_whitelists(const Paths& paths, const std::string& kind,
                       const std::vector<std::string>& given, Plan& plan) {
  const std::string base = "whitelist_" + kind;
  const std::string theirs = paths.postgrey_etc + "/" + base;
  const std::string ours = paths.etc + "/" + base;
  const auto named = [&](const std::string& file) {
    return std::find(given.begin(), given.end(), file) != given.end();
  };
  const bool reads_main = given.empty() || named(theirs);
  const bool reads_local = given.empty() ? access((theirs + ".local").c_str(), F_OK) == 0
                                         : named(theirs + ".local");
  std::string local, from;
  if (reads_local) {
    auto content = read_whole(theirs + ".local", kMaxWhitelistBytes);
    if (!content.ok()) return content.status();
    local = content.value();
    from = theirs + ".local";
  }
  if (reads_main) {
    auto added = main_list_additions(theirs, paths.postgrey_share + "/" + base, plan);
    if (!added.ok()) return added.status();
    if (!added.value().empty()) {
      local += (local.empty() || local.back() == '\n' ? "" : "\n") + added.value();
      from += (from.empty() ? "" : " and ") + std::string("the additions to ") + theirs;
    }
  }
  const bool copy_local = !from.empty();
  if (copy_local) {
    if (const Status s = plan_copy(from, local, ours + ".local", plan); !s.ok()) return s;
  }
  const std::string option = "--whitelist-" + kind + "=";
  for (const std::string& file : given) {
    std::string target = file;
    if (file == theirs) {
      target = ours;
      plan.notes.push_back(option + file + ": greylist-milter's own " + ours +
                           " takes its place (site additions go to " + ours + ".local)");
    } else if (file == theirs + ".local") {
      target = ours + ".local";
    }
    plan.postgrey.settings.push_back(MigratedSetting{"whitelist-" + kind, target, option + file});
    if (file == theirs && copy_local && !named(theirs + ".local")) {
      plan.postgrey.settings.push_back(
          MigratedSetting{"whitelist-" + kind, ours + ".local", "additions to " + file});
    }
  }
  return Status::Ok();
}

std::string today() {
  const std::time_t now = std::time(nullptr);
  std::tm tm {};
  gmtime_r(&now, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y-%m-%d", &tm);
  return text;
}

// Everything read and decided; nothing written.
Result<Plan> make_plan(CtlContext& ctx, const Paths& paths, bool force) {
  Plan plan;
  auto postgrey = read_postgrey_configuration(ctx, paths);
  if (!postgrey.ok()) return postgrey.status();
  plan.postgrey = std::move(postgrey).value();
  for (const char* kind : {"clients", "recipients"}) {
    const auto& given = std::string(kind) == "clients" ? plan.postgrey.whitelist_clients
                                                       : plan.postgrey.whitelist_recipients;
    if (const Status s = plan_whitelists(paths, kind, given, plan); !s.ok()) return s;
  }
  // postgrey's keying, auto-whitelisting and single delay, so that the state
  // it built is honoured as it was (an unnamed auto-whitelisted client, a
  // triplet that served postgrey's delay); taking the line out later gives
  // this daemon's measured defaults (EFFECTIVENESS.md).
  plan.postgrey.settings.push_back(MigratedSetting{"compat", "postgrey", "postgrey's behaviour"});
  auto existing = read_optional(paths.config, kMaxShellText);
  if (!existing.ok()) return existing.status();
  plan.config_exists = existing.value().has_value();
  plan.config = update_config_text(existing.value().value_or(""), plan.postgrey.settings,
                                   force,
                                   "Carried over from postgrey (" + paths.defaults +
                                       ") by greylistctl migrate-postgrey on " + today());
  for (const auto& why : plan.config.unwritable) {
    plan.notes.push_back(why + ": give it in GREYLIST_MILTER_OPTS of /etc/default/greylist-milter");
  }
  plan.notes.insert(plan.notes.end(), plan.postgrey.not_carried.begin(),
                    plan.postgrey.not_carried.end());
  for (const auto& s : plan.postgrey.settings) {
    if (s.name != "unix" || s.value.rfind("/run/greylist-milter/", 0) == 0) continue;
    const std::string dir = s.value.substr(0, s.value.rfind('/'));
    plan.advice.push_back("the unit lets the daemon write only in /run/greylist-milter and "
                          "/var/lib/greylist-milter: for the socket " + s.value +
                          " add ReadWritePaths=" + dir + " (systemctl edit greylist-milter)");
  }
  return plan;
}

// Prints the plan; returns the number of conflicts (files or settings that
// would be overwritten).
std::size_t print_plan(CtlContext& ctx, const Paths& paths, const Plan& plan, bool dry_run,
                       bool force) {
  const char* add = dry_run ? "would add " : "added ";
  for (const auto& s : plan.config.added) {
    ctx.out << "config " << paths.config << ": " << add << s.name << " = " << s.value
            << " (postgrey: " << s.source << ")\n";
  }
  for (const auto& s : plan.config.unchanged) {
    ctx.out << "config " << paths.config << ": already " << s.name << " = " << s.value << "\n";
  }
  for (const auto& c : plan.config.conflicts) {
    ctx.out << "config " << paths.config << ": line " << c
            << (force ? ": replaced" : ": differs (--force replaces it)") << "\n";
  }
  std::size_t conflicts = plan.config.conflicts.size();
  for (const FileCopy& copy : plan.copies) {
    ctx.out << "whitelist " << copy.to << ": ";
    if (copy.same) {
      ctx.out << "already the same as " << copy.from << "\n";
    } else if (copy.exists && !force) {
      ctx.out << "exists and differs from " << copy.from << " (--force replaces it)\n";
      ++conflicts;
    } else {
      ctx.out << (dry_run ? "would copy " : "copied ") << copy.from << "\n";
    }
  }
  for (const auto& note : plan.notes) ctx.out << "not carried over: " << note << "\n";
  for (const auto& note : plan.advice) ctx.out << "note: " << note << "\n";
  return force ? 0 : conflicts;
}

// Writes `content` to `path` through a temporary file in its directory
// (renamed over it: never half-written). `check`, when given, validates the
// temporary file before it replaces `path`.
Status write_file(const std::string& path, const std::string& content, mode_t mode,
                  const std::function<Status(const std::string&)>& check = {}) {
  std::string temp = path + ".migrate-XXXXXX";
  const int fd = mkstemp(temp.data());
  if (fd < 0) return Status::IoError("cannot create " + temp + ": " + std::strerror(errno));
  struct stat st {};
  if (stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool written = done == content.size() && fchmod(fd, mode) == 0 && fsync(fd) == 0;
  const int saved = errno;
  close(fd);
  Status status = written ? Status::Ok()
                          : Status::IoError("cannot write " + temp + ": " + std::strerror(saved));
  if (status.ok() && check) status = check(temp);
  if (status.ok() && rename(temp.c_str(), path.c_str()) != 0) {
    status = Status::IoError("cannot rename " + temp + " to " + path + ": " + std::strerror(errno));
  }
  if (!status.ok()) unlink(temp.c_str());
  return status;
}

// The daemon's settings from `config_path` (the new file, or in a dry run
// a temporary copy of what it would be).
Result<DaemonOptions> settings_from(const CtlContext& ctx, const std::string& config_path) {
  CommonOptions common = ctx.common;
  common.config = config_path;
  auto settings = load_settings(common);
  if (!settings.ok()) {
    return Status::InvalidArgument("the resulting configuration is refused: " +
                                   settings.status().message());
  }
  return settings;
}

// Dry run: the settings the new file would give, checked on a temporary
// copy (nothing in ETC is touched).
Result<DaemonOptions> would_be_settings(const CtlContext& ctx, const Plan& plan) {
  const char* tmpdir = getenv("TMPDIR");
  std::string temp = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") +
                     "/greylist-milter.conf.dry-run-XXXXXX";
  const int fd = mkstemp(temp.data());
  if (fd < 0) return Status::IoError("cannot create " + temp + ": " + std::strerror(errno));
  const auto written = write(fd, plan.config.text.data(), plan.config.text.size());
  close(fd);
  auto settings = written == static_cast<ssize_t>(plan.config.text.size())
                      ? settings_from(ctx, temp)
                      : Result<DaemonOptions>(Status::IoError("cannot write " + temp));
  unlink(temp.c_str());
  return settings;
}

// Writes the config file and the whitelist copies; returns the settings
// the daemon will read.
Result<DaemonOptions> write_files(const CtlContext& ctx, const Paths& paths, const Plan& plan) {
  std::optional<DaemonOptions> settings;
  const auto check = [&](const std::string& temp) {
    auto loaded = settings_from(ctx, temp);
    if (!loaded.ok()) return loaded.status();
    settings = std::move(loaded).value();
    return Status::Ok();
  };
  if (!plan.config.added.empty() || !plan.config_exists) {
    if (const Status s = write_file(paths.config, plan.config.text, 0644, check); !s.ok()) return s;
  } else {
    auto loaded = settings_from(ctx, paths.config);
    if (!loaded.ok()) return loaded.status();
    settings = std::move(loaded).value();
  }
  for (const FileCopy& copy : plan.copies) {
    if (copy.same) continue;
    if (const Status s = write_file(copy.to, copy.content, 0644); !s.ok()) return s;
  }
  return std::move(*settings);
}

// postgrey's database, read (before anything is written): nullopt when
// there is nothing to import (said on ctx.out).
Result<std::optional<PostgreyDatabase>> read_database(CtlContext& ctx, const std::string& dir,
                                                       const PostgreyConfiguration& postgrey) {
  if (postgrey.privacy) {
    ctx.out << "not carried over: postgrey's database " << dir
            << ": --privacy stored SHA-1 hashes, which cannot be turned into our keys; its "
               "clients are greylisted once more\n";
    return std::optional<PostgreyDatabase>();
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 && errno == ENOENT) {
    ctx.out << "postgrey database " << dir << ": does not exist, nothing to import\n";
    return std::optional<PostgreyDatabase>();
  }
  auto database = read_postgrey_database(dir);
  if (!database.ok()) return database.status();
  for (const auto& warning : database.value().warnings) {
    ctx.err << "greylistctl: " << kCommand << ": warning: " << warning << "\n";
  }
  return std::optional<PostgreyDatabase>(std::move(database).value());
}

int fail(CtlContext& ctx, const std::string& message) {
  ctx.err << "greylistctl: " << kCommand << ": " << message << "\n";
  return kExitFailure;
}

}  // namespace

int run_migrate_postgrey(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("migrate-postgrey options");
  options.add_options()
      ("postgrey-defaults", po::value<std::string>()->default_value("/etc/default/postgrey"),
       "postgrey's POSTGREY_OPTS and POSTGREY_TEXT")
      ("postgrey-etc", po::value<std::string>()->default_value("/etc/postgrey"),
       "postgrey's whitelist directory (whitelist_*.local are copied)")
      ("postgrey-share", po::value<std::string>()->default_value("/usr/share/postgrey"),
       "the package's pristine whitelists: what the site added to its main lists is carried "
       "over into our .local files")
      ("postgrey-dbdir", po::value<std::string>(),
       "postgrey's database (default: --dbdir of POSTGREY_OPTS, else /var/lib/postgrey)")
      ("etc", po::value<std::string>()->default_value("/etc/greylist-milter"),
       "greylist-milter's directory: greylist-milter.conf (or --config) and whitelist_*.local")
      ("force", po::bool_switch(), "replace settings and files that say something else")
      ("dry-run", po::bool_switch(), "print what would be done; write nothing");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, kCommand, options, {}, args, vm)) return *done;
  Paths paths;
  paths.defaults = vm["postgrey-defaults"].as<std::string>();
  paths.postgrey_etc = vm["postgrey-etc"].as<std::string>();
  paths.postgrey_share = vm["postgrey-share"].as<std::string>();
  if (vm.count("postgrey-dbdir") != 0) paths.postgrey_dbdir = vm["postgrey-dbdir"].as<std::string>();
  paths.etc = vm["etc"].as<std::string>();
  paths.config = ctx.common.config.value_or(paths.etc + "/greylist-milter.conf");
  const bool dry_run = vm["dry-run"].as<bool>();
  const bool force = vm["force"].as<bool>();

  // Everything is read and checked first: any failure up to the writes
  // leaves every file as it was.
  auto plan = make_plan(ctx, paths, force);
  if (!plan.ok()) return fail(ctx, plan.status().message());
  auto settings = would_be_settings(ctx, plan.value());
  if (!settings.ok()) return fail(ctx, settings.status().message() + "; wrote nothing");
  const std::string dbdir = paths.postgrey_dbdir.value_or(plan.value().postgrey.dbdir);
  auto database = read_database(ctx, dbdir, plan.value().postgrey);
  if (!database.ok() && !dry_run) return fail(ctx, database.status().message() + "; wrote nothing");
  if (!database.ok()) {
    ctx.out << "postgrey database " << dbdir << ": " << database.status().message() << "\n";
  }
  if (print_plan(ctx, paths, plan.value(), dry_run, force) != 0) {
    return fail(ctx, std::string(dry_run ? "would write" : "wrote") +
                         " nothing: settings or files above say something else (--force "
                         "replaces them)");
  }
  if (!dry_run) settings = write_files(ctx, paths, plan.value());
  if (!settings.ok()) return fail(ctx, settings.status().message());
  if (!database.ok() || !database.value()) return kExitOk;
  struct stat st {};
  if (dry_run && stat(settings.value().dbdir.c_str(), &st) != 0) {
    ctx.out << "postgrey database " << dbdir << ": would import "
            << database.value()->triplets.size() << " triplets and "
            << database.value()->clients.size() << " clients into " << settings.value().dbdir
            << " (created when the daemon first starts)\n";
    return kExitOk;
  }
  return import_postgrey_database(ctx, kCommand, settings.value(), dbdir, *database.value(),
                                  plan.value().postgrey.delay, dry_run);
}

}  // namespace greylist
