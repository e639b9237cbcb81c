// greylistctl expire: the daemon's background expiry, run to the end now.
#include <iostream>

#include "config/rules_file.h"
#include "greylist/expiry_sweeper.h"
#include "tools/ctl_command.h"

namespace po = boost::program_options;

namespace greylist {
namespace {

// Entries per step (one scan and a transaction per expired entry), as the
// daemon's sweeper thread uses.
constexpr std::size_t kBatch = 1000;

// Sweeps until the pass ends (at most `max_steps` steps), then prints the
// counts; the exit status.
int sweep_to_the_end(CtlContext& ctx, ExpirySweeper& sweeper, std::uint64_t max_steps) {
  ExpirySweeper::Step total;
  for (std::uint64_t steps = 0;; ++steps) {
    if (ctx.interrupted.load() || steps >= max_steps) {
      ctx.err << "greylistctl: expire: "
              << (steps >= max_steps ? "stopped: the database keeps growing" : "interrupted")
              << " after removing " << total.erased + total.undecodable << " entries\n";
      return kExitFailure;
    }
    auto step = sweeper.step(kBatch);
    if (!step.ok()) {
      ctx.err << "greylistctl: expire: " << step.status().message() << "\n";
      return kExitFailure;
    }
    total.scanned += step.value().scanned;
    total.erased += step.value().erased;
    total.undecodable += step.value().undecodable;
    total.newer_kept += step.value().newer_kept;
    if (step.value().pass_finished) break;
  }
  ctx.out << "scanned " << total.scanned << " entries, removed " << total.erased << " expired and "
          << total.undecodable << " undecodable";
  if (total.newer_kept > 0) {
    ctx.out << ", kept " << total.newer_kept << " of a newer format version";
  }
  ctx.out << "\n";
  ctx.out.flush();
  return ctx.out ? kExitOk : kExitFailure;
}

}  // namespace

int run_expire(CtlContext& ctx, const std::vector<std::string>& args) {
  po::options_description options("expire options");
  po::variables_map vm;
  if (auto done = parse_arguments(ctx, "expire", options, {}, args, vm)) return *done;
  auto settings = load_settings(ctx.common);
  if (!settings.ok()) return usage_error(ctx, "expire", settings.status().message());
  // The daemon's rules: their autowhite may keep passed triplets longer.
  auto loaded = load_rules_file(settings.value().rules);
  if (!loaded.ok()) {
    ctx.err << "greylistctl: expire: rules: " << loaded.status().message() << "\n";
    return kExitFailure;
  }
  auto opened = open_store(settings.value(), false);
  if (!opened.ok()) {
    ctx.err << "greylistctl: expire: " << opened.status().message() << "\n";
    return kExitFailure;
  }
  Store& store = *opened.value().store;
  // The pass ends after both tables; entries added meanwhile can make it a
  // little longer, never endless: bound it by what is there now.
  std::uint64_t entries = 0;
  for (const Table table : {Table::kTriplets, Table::kClients}) {
    auto counted = store.count(table);
    if (!counted.ok()) {
      ctx.err << "greylistctl: expire: " << counted.status().message() << "\n";
      return kExitFailure;
    }
    entries += counted.value();
  }
  SystemClock clock;
  const std::shared_ptr<const RuleSet> rules = loaded.value();
  ExpirySweeper sweeper(settings.value().greylist, store, clock, [rules] { return rules; });
  return sweep_to_the_end(ctx, sweeper, 2 * (entries / kBatch + 2) + 100);
}

}  // namespace greylist
