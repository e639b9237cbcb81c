// The Lua scripts RedisStore runs on the server.
#pragma once

namespace greylist::redis {

// Reads the entries of one table in index order, skipping (and removing from
// the index) members whose entry has expired. KEYS[1] the index; ARGV: the
// table's data key prefix, the ZRANGEBYLEX start ("(" + the last key seen),
// the number of entries wanted, the members to examine at most. Returns
// {1 if the index ended else 0, the start for a next run, key, value, ...}.
extern const char* const kScanScript;

// Compare-and-set of one entry, the write half of update(). KEYS[1] the
// entry, KEYS[2] its table's index; ARGV: "1" if the entry was read present
// (then ARGV[2] is the value read) or "0" if read absent; "set" or "del";
// the new value; the expiry (Unix seconds, "" for none); the index member.
// When the entry still is what was read, it is written (SET, with EXAT when
// given, and ZADD to the index) or deleted (DEL and ZREM), and the reply is
// {1}; otherwise nothing changes and the reply is the entry now: {0, value},
// or {0} when it is absent. The shebang makes Redis refuse the script up
// front on a read-only replica (READONLY), like any write command; it needs
// Redis 7.0 or later.
extern const char* const kCasScript;

}  // namespace greylist::redis
