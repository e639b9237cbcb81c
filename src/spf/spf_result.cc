#include "greylist/spf_result.h"

namespace greylist {

const char* to_string(SpfResult result) {
  switch (result) {
    case SpfResult::kNone: return "none";
    case SpfResult::kNeutral: return "neutral";
    case SpfResult::kPass: return "pass";
    case SpfResult::kFail: return "fail";
    case SpfResult::kSoftfail: return "softfail";
    case SpfResult::kTemperror: return "temperror";
    case SpfResult::kPermerror: return "permerror";
  }
  return "?";
}

}  // namespace greylist
