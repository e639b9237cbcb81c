#include "store/redis_scripts.h"

namespace greylist::redis {

const char* const kScanScript = R"lua(
local index, prefix = KEYS[1], ARGV[1]
local min, limit, budget = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {0, min}
local found, examined = 0, 0
while found < limit and examined < budget do
  local want = math.min(limit - found, budget - examined)
  local members = redis.call('ZRANGEBYLEX', index, min, '+', 'LIMIT', 0, want)
  for _, member in ipairs(members) do
    examined = examined + 1
    local value = redis.call('GET', prefix .. member)
    if value then
      out[#out + 1] = member
      out[#out + 1] = value
      found = found + 1
    else
      redis.call('ZREM', index, member)
    end
    min = '(' .. member
  end
  if #members < want then
    out[1] = 1
    break
  end
end
out[2] = min
return out
)lua";

const char* const kCasScript = R"lua(#!lua
local entry, index = KEYS[1], KEYS[2]
local current = redis.call('GET', entry)
local changed
if ARGV[1] == '1' then changed = current ~= ARGV[2] else changed = current ~= false end
if changed then
  if current then return {0, current} end
  return {0}
end
if ARGV[3] == 'set' then
  if ARGV[5] == '' then
    redis.call('SET', entry, ARGV[4])
  else
    redis.call('SET', entry, ARGV[4], 'EXAT', ARGV[5])
  end
  redis.call('ZADD', index, 0, ARGV[6])
else
  redis.call('DEL', entry)
  redis.call('ZREM', index, ARGV[6])
end
return {1}
)lua";

}  // namespace greylist::redis
