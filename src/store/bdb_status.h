// Berkeley DB's return codes as Status values, and the store's own codes.
//
// A Berkeley DB call returns 0, one of its own codes (below -30000) or an
// errno value (positive); the store's parts add the negative codes below.
// to_status() turns any of them into the Status the store's methods return,
// its message naming the directory, the operation and the reason.
#pragma once

#include <string>
#include <string_view>

#include "greylist/status.h"

namespace greylist::bdb {

constexpr int kBodyThrew = -1;  // an update function or transaction body threw
constexpr int kWriteOfAbsentValue = -2;
constexpr int kKeyTooLarge = -3;       // a key or value of 4 GiB or more
constexpr int kEnvironmentDown = -4;   // being reopened, or a reopen failed

// A lost lock conflict: a deadlock, or a lock wait that timed out.
bool is_lock_conflict(int error);

// Codes after which the environment's memory cannot be trusted: Berkeley
// DB's own verdict (DB_RUNRECOVERY), or a write that failed (a failed
// commit's abort may not have been able to log its undo). Recovery from the
// files rebuilds it.
bool environment_failed(int error);

// strerror() of an errno value.
std::string errno_text(int error);

// "berkeley db in DIRECTORY: OPERATION failed: REASON". The code: lock
// conflicts, a failed or reopening environment and a full lock or
// transaction table are kUnavailable; a damaged page kCorruption; our
// kWriteOfAbsentValue and kKeyTooLarge kInvalidArgument; anything else
// kIoError. `thrown`: the exception text with kBodyThrew.
Status to_status(std::string_view directory, std::string_view operation, int error,
                 std::string_view thrown = {});

}  // namespace greylist::bdb
