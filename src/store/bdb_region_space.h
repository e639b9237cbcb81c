// Disk space for a Berkeley DB environment's region files (__db.NNN).
//
// Shared regions (the cache, locks, log buffer that a joining process maps)
// live in region files. A region file is sparse: on a full disk, touching a
// page of its mapping not yet backed by a block kills the process with
// SIGBUS, where a write() would only fail with ENOSPC. So the owner puts its
// regions in files only when the file system has room for them, and then
// reserves their blocks up to the size each region may grow to.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

class DbEnv;

namespace greylist::bdb {

// Environment region files are named __db.001, __db.002, ...
constexpr std::string_view kRegionFilePrefix = "__db.";

// Removes the region files in `directory` (those of an earlier owner are
// stale: recovery starts from the log).
void remove_region_files(const std::string& directory);

// Whether the file system of `directory` has room for region files with a
// cache of `cache_bytes`: the cache plus 25% (Berkeley DB's own structures
// under 500 MB), 16 MB for the other regions and 64 MB kept free for the log
// and the tables. When not, logs a warning saying why the regions stay in
// memory (and greylistctl cannot join).
bool room_for_region_files(const std::string& directory, std::size_t cache_bytes);

// Allocates the disk space of the region files of `env` (open in
// `directory`), each up to the largest size its region may reach
// (FALLOC_FL_KEEP_SIZE beyond the end, so that later sparse growth is backed
// too). 0 or errno.
int reserve_region_space(DbEnv& env, const std::string& directory);

}  // namespace greylist::bdb
