// LiteralSearch: which of a fixed set of literals occur in a text, found in
// one pass over the text whatever the number of literals (an Aho-Corasick
// automaton). The RuleIndex uses it for the regex rules' required
// literals (regex_literal.h): one search per request value instead of one
// substring search per rule.
//
// Memory is linear in the literals' total length (children kept sorted
// per state, the root's in a table of 256). Matching is exact, byte for
// byte: callers lower-case both sides. Immutable once built; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace greylist::rules {

class LiteralSearch {
 public:
  // `literals[i]` gets id i. Empty literals are never reported; duplicates
  // are reported once, under the first id.
  explicit LiteralSearch(const std::vector<std::string>& literals);

  bool empty() const { return outputs_empty_; }

  // Calls found(id) for every literal that occurs in `text`, once per
  // occurrence (so an id may repeat; callers de-duplicate).
  template <typename Fn>
  void each_found(std::string_view text, Fn found) const {
    if (outputs_empty_) return;
    std::uint32_t state = 0;
    for (const char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      state = state == 0 ? root_next_[byte] : next(state, byte);  // most bytes start nothing
      for (std::uint32_t s = states_[state].has_output ? state : states_[state].dict; s != kNone;
           s = states_[s].dict) {
        found(states_[s].literal);
      }
    }
  }

 private:
  static constexpr std::uint32_t kNone = 0xffffffffu;

  struct Edge {
    unsigned char byte;
    std::uint32_t to;
  };
  struct State {
    std::uint32_t first_edge = 0;  // its children: edges_[first_edge, +edge_count)
    std::uint32_t edge_count = 0;
    std::uint32_t fail = 0;        // longest proper suffix that is a state
    std::uint32_t dict = kNone;    // nearest state on the fail chain with an output
    std::uint32_t literal = 0;     // the id it completes, when has_output
    bool has_output = false;
  };

  std::uint32_t child(std::uint32_t state, unsigned char byte) const;
  std::uint32_t next(std::uint32_t state, unsigned char byte) const;
  void link();

  std::vector<State> states_;                 // 0 is the root
  std::vector<Edge> edges_;                   // per state, sorted by byte
  std::array<std::uint32_t, 256> root_next_;  // the root's transitions (0: stay)
  bool outputs_empty_ = true;
};

}  // namespace greylist::rules
