#include "store/bdb_region_space.h"

#include <db_cxx.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "util/log.h"

namespace greylist::bdb {
namespace {

// Region bytes beyond the cache (locks, log buffer, transactions, mutexes),
// with room to spare; and the free space kept for the log and the tables.
// (Berkeley DB adds 25% to a cache under 500 MB for its own structures.)
constexpr std::uint64_t kRegionOverheadBytes = 16 * 1024 * 1024;
constexpr std::uint64_t kFreeSpaceKeptBytes = 64 * 1024 * 1024;

// The environment region files (__db.NNN) in `dir`, as full paths.
std::vector<std::string> region_files(const std::string& dir) {
  std::vector<std::string> files;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return files;
  while (const dirent* entry = ::readdir(d)) {
    const std::string_view name = entry->d_name;
    if (name.substr(0, kRegionFilePrefix.size()) == kRegionFilePrefix) {
      files.push_back(dir + "/" + std::string(name));
    }
  }
  ::closedir(d);
  return files;
}

// Gives each region file its disk space now, so that touching a page of
// the mapping can never fault for want of space. A region may grow later,
// up to its maximum, by extending its file sparsely: blocks reserved beyond
// the end (FALLOC_FL_KEEP_SIZE) make that growth safe too. Berkeley DB 5.3
// numbers the regions of this environment as it creates them: 001 the
// environment (with the lock, log and transaction tables, up to
// `environment_max` bytes), 002 the mutexes (allocated whole), 003 the
// cache (up to `cache_max`). 0 or errno.
int reserve_region_files(const std::string& dir, std::uint64_t environment_max,
                         std::uint64_t cache_max) {
  for (const std::string& path : region_files(dir)) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return errno;
    struct stat st {};
    int error = ::fstat(fd, &st) == 0 ? 0 : errno;
    auto target = static_cast<std::uint64_t>(st.st_size);
    if (path.ends_with("/__db.001")) target = std::max(target, environment_max);
    if (path.ends_with("/__db.003")) target = std::max(target, cache_max);
    if (error == 0 && target > 0) {
      error = ::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(target)) == 0 ? 0 : errno;
      // A file system without fallocate(2): at least the current size.
      if (error == EOPNOTSUPP && st.st_size > 0) error = ::posix_fallocate(fd, 0, st.st_size);
    }
    ::close(fd);
    if (error != 0) return error;
  }
  return 0;
}

}  // namespace

void remove_region_files(const std::string& directory) {
  for (const std::string& path : region_files(directory)) ::unlink(path.c_str());
}

bool room_for_region_files(const std::string& directory, std::size_t cache_bytes) {
  struct statvfs fs {};
  if (::statvfs(directory.c_str(), &fs) != 0) return false;
  const std::uint64_t free_bytes = std::uint64_t{fs.f_bavail} * fs.f_frsize;
  const std::uint64_t needed = cache_bytes / 4 * 5 + kRegionOverheadBytes + kFreeSpaceKeptBytes;
  if (free_bytes >= needed) return true;
  log_warning("berkeley db in " + directory + ": only " + std::to_string(free_bytes / 1024) +
              " KiB free on its file system (" + std::to_string(needed / 1024) +
              " KiB wanted): the environment's regions stay in memory, so greylistctl cannot "
              "join while this process runs");
  return false;
}

int reserve_region_space(DbEnv& env, const std::string& directory) {
  u_int32_t gbytes = 0;
  u_int32_t bytes = 0;
  std::uint64_t cache_max = 0;
  std::uint64_t environment_max = 0;
  if (env.get_cache_max(&gbytes, &bytes) == 0) cache_max = (std::uint64_t{gbytes} << 30) + bytes;
  if (env.get_memory_max(&gbytes, &bytes) == 0) {
    environment_max = (std::uint64_t{gbytes} << 30) + bytes;
  }
  return reserve_region_files(directory, environment_max, cache_max);
}

}  // namespace greylist::bdb
