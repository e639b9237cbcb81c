// Combining an imported entry with the one a store already holds, so that
// importing a dump (greylistctl import) re-greylists nobody and importing
// the same dump twice changes nothing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tools/stored_key.h"

namespace greylist {

// What to store for a key of `kind` that holds `existing` when `imported`
// arrives; `imported` must decode as a record of `kind` (the dump reader
// checked it). Triplets: earliest first-seen, latest last-seen, passed if
// either passed, the existing first network unless it has none. Clients:
// the larger count, the latest last-seen. Sender domains: the latest
// last-seen, the existing senders and then imported ones up to the
// record's limit. Greytraps: the earlier first hit, the later end of the
// hold. An existing value that does not decode (a damaged entry,
// which the daemon treats as absent) is replaced by `imported`.
std::string merge_entry(StoredKey::Kind kind, std::string_view existing, std::string_view imported);

// Whether `bytes` decode as a record of `kind`.
bool record_decodes(StoredKey::Kind kind, std::string_view bytes);

// Whether `a` and `b` hold the same record of `kind` (whatever record
// version encodes them); false when either does not decode.
bool same_record(StoredKey::Kind kind, std::string_view a, std::string_view b);

}  // namespace greylist
