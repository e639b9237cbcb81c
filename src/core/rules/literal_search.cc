#include "core/rules/literal_search.h"

#include <algorithm>

namespace greylist::rules {
namespace {

// The trie as it is built: children per state, unsorted.
struct Trie {
  std::vector<std::vector<std::pair<unsigned char, std::uint32_t>>> children{1};
  std::vector<std::pair<bool, std::uint32_t>> output{1};  // (has one, literal id)

  void insert(std::string_view literal, std::uint32_t id) {
    std::uint32_t state = 0;
    for (const char c : literal) {
      const auto byte = static_cast<unsigned char>(c);
      auto& kids = children[state];
      const auto it = std::find_if(kids.begin(), kids.end(), [&](const auto& e) { return e.first == byte; });
      if (it != kids.end()) {
        state = it->second;
        continue;
      }
      const auto added = static_cast<std::uint32_t>(children.size());
      kids.emplace_back(byte, added);  // `kids` is not used past the growth below
      children.emplace_back();
      output.emplace_back(false, 0);
      state = added;
    }
    if (!output[state].first) output[state] = {true, id};
  }
};

}  // namespace

LiteralSearch::LiteralSearch(const std::vector<std::string>& literals) {
  Trie trie;
  for (std::uint32_t id = 0; id < literals.size(); ++id) {
    if (literals[id].empty()) continue;
    trie.insert(literals[id], id);
    outputs_empty_ = false;
  }
  states_.resize(trie.children.size());
  for (std::uint32_t s = 0; s < states_.size(); ++s) {
    auto& kids = trie.children[s];
    std::sort(kids.begin(), kids.end());
    states_[s].first_edge = static_cast<std::uint32_t>(edges_.size());
    states_[s].edge_count = static_cast<std::uint32_t>(kids.size());
    states_[s].has_output = trie.output[s].first;
    states_[s].literal = trie.output[s].second;
    for (const auto& [byte, to] : kids) edges_.push_back(Edge{byte, to});
  }
  root_next_.fill(0);
  for (std::uint32_t e = 0; e < states_[0].edge_count; ++e) root_next_[edges_[e].byte] = edges_[e].to;
  link();
}

std::uint32_t LiteralSearch::child(std::uint32_t state, unsigned char byte) const {
  const State& s = states_[state];
  const auto begin = edges_.begin() + s.first_edge;
  const auto end = begin + s.edge_count;
  const auto it = std::lower_bound(begin, end, byte, [](const Edge& e, unsigned char b) { return e.byte < b; });
  return it != end && it->byte == byte ? it->to : kNone;
}

std::uint32_t LiteralSearch::next(std::uint32_t state, unsigned char byte) const {
  // Each step down the fail chain shortens the match: amortized constant.
  while (state != 0) {
    const std::uint32_t to = child(state, byte);
    if (to != kNone) return to;
    state = states_[state].fail;
  }
  return root_next_[byte];
}

// Fail and dictionary links, breadth first: a state's fail target is
// shallower, so it is linked before the state needs it.
void LiteralSearch::link() {
  std::vector<std::uint32_t> queue;
  queue.reserve(states_.size());
  queue.push_back(0);
  for (std::size_t head = 0; head < queue.size(); ++head) {
    const std::uint32_t u = queue[head];
    const State parent = states_[u];
    for (std::uint32_t e = parent.first_edge; e < parent.first_edge + parent.edge_count; ++e) {
      const std::uint32_t v = edges_[e].to;
      const std::uint32_t fail = u == 0 ? 0 : next(parent.fail, edges_[e].byte);
      states_[v].fail = fail;
      states_[v].dict = states_[fail].has_output ? fail : states_[fail].dict;
      queue.push_back(v);
    }
  }
}

}  // namespace greylist::rules
