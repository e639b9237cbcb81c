// greylistctl import: merges a dump written by `greylistctl export`
// (store_dump.h) into the store, e.g. Berkeley DB's entries into the Redis
// server several MX hosts share.
//
// All or nothing as far as the file goes: every line is checked before the
// first write, so a damaged or truncated dump changes nothing. Each entry
// is then merged in its own store update (entry_merge.h), so an import
// stopped half way (an error, a signal) can simply be run again.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

#include "greylist/record_codec.h"
#include "tools/ctl_command.h"
#include "tools/entry_merge.h"
#include "tools/store_dump.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

struct ImportCounts {
  std::uint64_t written = 0;    // new entries (or ones replacing a damaged entry)
  std::uint64_t merged = 0;     // combined with an entry the store held
  std::uint64_t unchanged = 0;  // the store already held as much
  std::uint64_t expired = 0;    // expired under our settings: left out
};

// The dump, readable twice (checked, then written): the file itself when
// it is a regular file, else (standard input "-", a pipe) a copy in an
// unlinked temporary file.
Result<std::unique_ptr<std::istream>> open_dump(const std::string& path,
                                                std::istream& stdin_stream) {
  struct stat st {};
  if (path != "-" && ::stat(path.c_str(), &st) != 0) {
    return Status::IoError(path + ": " + std::strerror(errno));
  }
  if (path != "-" && S_ISREG(st.st_mode)) {
    auto file = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*file) return Status::IoError(path + ": cannot open");
    return std::unique_ptr<std::istream>(std::move(file));
  }
  std::ifstream named_source;
  if (path != "-") {
    named_source.open(path, std::ios::binary);
    if (!named_source) return Status::IoError(path + ": cannot open");
  }
  std::istream& source = path == "-" ? stdin_stream : named_source;
  const char* tmpdir = std::getenv("TMPDIR");
  std::string name = std::string(tmpdir != nullptr && tmpdir[0] != '\0' ? tmpdir : "/tmp") +
                     "/greylistctl-import-XXXXXX";
  const int fd = ::mkstemp(name.data());
  if (fd < 0) {
    return Status::IoError("cannot create a temporary file: " + std::string(std::strerror(errno)));
  }
  auto spool = std::make_unique<std::fstream>(
      name, std::ios::binary | std::ios::in | std::ios::out | std::ios::trunc);
  ::close(fd);
  ::unlink(name.c_str());  // gone with the process; the open stream keeps it
  if (!*spool) return Status::IoError(name + ": cannot open");
  if (source.peek() != std::char_traits<char>::eof()) *spool << source.rdbuf();
  if (source.bad() || !*spool || !spool->flush()) {
    return Status::IoError("cannot copy " + std::string(path == "-" ? "standard input" : path) +
                           " to a temporary file");
  }
  spool->seekg(0);
  return std::unique_ptr<std::istream>(std::move(spool));
}

void print_problems(CtlContext& ctx, const std::string& name, const DumpReadReport& report) {
  for (const std::string& problem : report.problems) {
    ctx.err << "greylistctl: import: " << name << ": " << problem << "\n";
  }
  if (report.problem_count > report.problems.size()) {
    ctx.err << "greylistctl: import: " << name << ": and "
            << report.problem_count - report.problems.size() << " more problems\n";
  }
}

// Merges one entry; counts what happened.
Status import_entry(Store& store, const DumpEntry& entry, const GreylistConfig& config,
                    EpochSeconds now, bool dry_run, ImportCounts& counts) {
  const auto own_expiry = entry_expires_at(entry.table, entry.key, entry.value, config);
  if (!own_expiry || *own_expiry <= now) {
    ++counts.expired;
    return Status::Ok();
  }
  std::uint64_t* outcome = nullptr;
  const Status updated = store.update(
      entry.table, entry.key, [&](std::optional<std::string>& value) -> UpdateOutcome {
        std::string merged = value ? merge_entry(entry.kind, *value, entry.value) : entry.value;
        const bool existing = value && record_decodes(entry.kind, *value);
        if (existing && same_record(entry.kind, *value, merged)) {
          outcome = &counts.unchanged;
          return {};
        }
        outcome = existing ? &counts.merged : &counts.written;
        if (dry_run) return {};
        // The merged record decodes (both parts did), so it has an expiry.
        const auto expires = entry_expires_at(entry.table, entry.key, merged, config);
        value = std::move(merged);
        return {UpdateOutcome::Verdict::kWrite, expires.value_or(*own_expiry)};
      });
  if (!updated.ok()) return updated;
  if (outcome != nullptr) ++*outcome;
  return Status::Ok();
}

// The first pass: every line of the dump checked, nothing written. Prints
// what is wrong (and returns its status) or warns about keys the daemon
// would never look up.
Result<DumpReadReport> check_dump(CtlContext& ctx, std::istream& in, const std::string& name,
                                  const GreylistConfig& config) {
  std::uint64_t hashed = 0;
  auto checked = read_dump(in, [&](const DumpEntry& entry) {
    hashed += entry.hashed ? 1 : 0;
    return ctx.interrupted.load() ? Status::Unavailable("interrupted") : Status::Ok();
  });
  if (!checked.ok()) {
    ctx.err << "greylistctl: import: " << name << ": " << checked.status().message() << "\n";
    return checked.status();
  }
  if (checked.value().problem_count > 0) {
    print_problems(ctx, name, checked.value());
    ctx.err << "greylistctl: import: " << name << " is not a valid dump: nothing was imported\n";
    return Status::InvalidArgument(name + " is not a valid dump");
  }
  const std::uint64_t entries = checked.value().triplets + checked.value().clients;
  // Keys are imported as they are: the daemon looks up hashed keys only
  // with --privacy (and that key file), plain ones only without.
  if (config.privacy && hashed < entries) {
    ctx.err << "greylistctl: import: warning: " << entries - hashed
            << " entries have plain keys but --privacy is on here: the daemon never looks them "
               "up\n";
  } else if (!config.privacy && hashed > 0) {
    ctx.err << "greylistctl: import: warning: " << hashed
            << " entries have --privacy keys but --privacy is off here: the daemon never looks "
               "them up\n";
  }
  return checked;
}

// The second pass: every entry of the dump (checked) merged into the store,
// or only counted with --dry-run.
Status import_entries(CtlContext& ctx, std::istream& in, const std::string& name, Store& store,
                      const GreylistConfig& config, bool dry_run, ImportCounts& counts) {
  in.clear();
  in.seekg(0);
  const EpochSeconds now = SystemClock().now();
  auto imported = read_dump(in, [&](const DumpEntry& entry) {
    if (ctx.interrupted.load()) return Status::Unavailable("interrupted");
    return import_entry(store, entry, config, now, dry_run, counts);
  });
  if (!imported.ok()) return imported.status();
  if (imported.value().problem_count > 0) {
    print_problems(ctx, name, imported.value());
    return Status::IoError("the dump changed while it was imported");
  }
  return Status::Ok();
}

}  // namespace

int run_import(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("import options");
  options.add_options()
      ("dump", po::value<std::string>(),
       "FILE: a dump written by greylistctl export; - for standard input")
      ("dry-run", po::bool_switch(), "check the dump and count what would change; write nothing");
  options.add(store_override_options());
  po::positional_options_description positional;
  positional.add("dump", 1);
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "import", options, positional, args, vm)) return *done;
  if (vm.count("dump") == 0) {
    return usage_error(ctx, "import", "which dump? (a FILE, or - for standard input)");
  }
  take_store_overrides(vm, ctx.common);
  const std::string path = vm["dump"].as<std::string>();
  const std::string name = path == "-" ? "standard input" : path;
  const bool dry_run = vm["dry-run"].as<bool>();
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "import", settings.status().message());
  const GreylistConfig& config = settings.value().greylist;

  // Read before the store opens: started as root, open_store gives root up.
  auto dump = open_dump(path, std::cin);
  if (!dump.ok()) {
    ctx.err << "greylistctl: import: " << dump.status().message() << "\n";
    return kExitFailure;
  }
  std::istream& in = *dump.value();
  auto checked = check_dump(ctx, in, name, config);
  if (!checked.ok()) return kExitFailure;
  const std::uint64_t entries = checked.value().triplets + checked.value().clients;

  auto opened = open_store(settings.value(), !dry_run);
  if (!opened.ok()) {
    ctx.err << "greylistctl: import: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  Store& store = *opened.value().store;
  ImportCounts counts;
  const Status imported = import_entries(ctx, in, name, store, config, dry_run, counts);
  const std::string done = std::to_string(counts.written) + " new, merged " +
                           std::to_string(counts.merged) + " into existing entries, " +
                           std::to_string(counts.unchanged) + " unchanged, left out " +
                           std::to_string(counts.expired) + " expired";
  if (!imported.ok()) {
    ctx.err << "greylistctl: import: " << name << ": " << imported.message()
            << " (so far: wrote " << done << "; importing again completes it)\n";
    return kExitFailure;
  }
  ctx.out << "import " << name << ": " << entries << " entries (" << checked.value().triplets
          << " triplets, " << checked.value().clients << " clients) into the " << store.name()
          << " store: " << (dry_run ? "would write " : "wrote ") << done << "\n";
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace greylist
