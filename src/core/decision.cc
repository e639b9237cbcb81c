#include "greylist/decision.h"

namespace greylist {

const char* action_log_word(Decision::Action action) {
  switch (action) {
    case Decision::Action::kGreylist: return "greylist";
    case Decision::Action::kPass:
    case Decision::Action::kWhitelisted: return "pass";
    case Decision::Action::kError: return "error";
  }
  return "error";
}

}  // namespace greylist
