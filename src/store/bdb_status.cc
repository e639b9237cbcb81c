#include "store/bdb_status.h"

#include <db_cxx.h>

#include <cerrno>
#include <system_error>
#include <utility>

#include "store/bdb_failchk.h"

namespace greylist::bdb {

bool is_lock_conflict(int error) {
  return error == DB_LOCK_DEADLOCK || error == DB_LOCK_NOTGRANTED;
}

bool environment_failed(int error) {
  switch (error) {
    case DB_RUNRECOVERY:
    case ENOSPC:
    case EDQUOT:
    case EIO:
    case EFBIG:
    case EROFS:
    case EACCES:
    case EPERM:
      return true;
    default:
      return false;
  }
}

std::string errno_text(int error) { return std::error_code(error, std::generic_category()).message(); }

namespace {

std::string reason_for(int error, std::string_view thrown) {
  switch (error) {
    case kBodyThrew:
      return "exception: " + std::string(thrown);
    case kWriteOfAbsentValue:
      return "the update function asked to write an absent value";
    case kKeyTooLarge:
      return "key or value larger than 4 GiB";
    case kEnvironmentDown:
      return "the environment failed and is being reopened with recovery";
    default: {
      std::string reason = db_strerror(error);
      if (is_lock_conflict(error)) {
        reason += " (gave up after " + std::to_string(kMaxAttempts) + " attempts)";
      }
      return reason;
    }
  }
}

}  // namespace

Status to_status(std::string_view directory, std::string_view operation, int error,
                 std::string_view thrown) {
  std::string message = "berkeley db in " + std::string(directory) + ": " + std::string(operation) +
                        " failed: " + reason_for(error, thrown);
  switch (error) {
    case DB_LOCK_DEADLOCK:
    case DB_LOCK_NOTGRANTED:
    case DB_RUNRECOVERY:
    case kEnvironmentDown:
    case ENOMEM:  // lock or transaction table full
      return Status::Unavailable(std::move(message));
    case DB_VERIFY_BAD:
    case DB_PAGE_NOTFOUND:
    case DB_SECONDARY_BAD:
      return Status::Corruption(std::move(message));
    case kWriteOfAbsentValue:
    case kKeyTooLarge:
      return Status::InvalidArgument(std::move(message));
    default:
      return Status::IoError(std::move(message));
  }
}

}  // namespace greylist::bdb
