#include "spf/spf_macro.h"

#include <algorithm>
#include <cctype>

#include "spf/spf_names.h"

namespace greylist::spf {
namespace {

constexpr std::string_view kLetters = "slodiphv";
constexpr std::string_view kExplanationLetters = "crt";
constexpr std::string_view kDelimiters = ".-+,/_=";
constexpr int kMaxKeep = 1000;  // more parts than any expansion can have

bool is_literal(char c) { return c >= 0x21 && c <= 0x7e && c != '%'; }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Parses the inside of "%{...}" (without the braces) into `token`.
Status parse_macro(std::string_view inside, bool explanation, MacroToken& token) {
  if (inside.empty()) return Status::InvalidArgument("empty macro %{}");
  const char letter = static_cast<char>(std::tolower(static_cast<unsigned char>(inside[0])));
  const bool known = kLetters.find(letter) != std::string_view::npos ||
                     (explanation && kExplanationLetters.find(letter) != std::string_view::npos);
  if (!known || std::isalpha(static_cast<unsigned char>(inside[0])) == 0) {
    return Status::InvalidArgument("unknown macro letter in %{" + std::string(inside) + "}");
  }
  token.letter = letter;
  token.url_escape = std::isupper(static_cast<unsigned char>(inside[0])) != 0;
  std::size_t i = 1;
  bool digits = false;
  for (; i < inside.size() && std::isdigit(static_cast<unsigned char>(inside[i])) != 0; ++i) {
    digits = true;
    token.keep = std::min(token.keep * 10 + (inside[i] - '0'), kMaxKeep);
  }
  if (digits && token.keep == 0) return Status::InvalidArgument("macro keeps 0 parts");
  if (i < inside.size() && (inside[i] == 'r' || inside[i] == 'R')) {
    token.reverse = true;
    ++i;
  }
  for (; i < inside.size(); ++i) {
    if (kDelimiters.find(inside[i]) == std::string_view::npos) {
      return Status::InvalidArgument("bad macro delimiter in %{" + std::string(inside) + "}");
    }
    token.delimiters += inside[i];
  }
  return Status::Ok();
}

// A literal written "%%", "%_" or "%-"; nullopt for another character.
std::optional<std::string> escape_form(char c) {
  if (c == '%') return std::string("%");
  if (c == '_') return std::string(" ");
  if (c == '-') return std::string("%20");
  return std::nullopt;
}

std::string transform(const MacroToken& token, std::string_view value) {
  const std::string_view delimiters =
      token.delimiters.empty() ? std::string_view(".") : std::string_view(token.delimiters);
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= value.size(); ++i) {
    if (i == value.size() || delimiters.find(value[i]) != std::string_view::npos) {
      parts.push_back(value.substr(start, i - start));
      start = i + 1;
    }
  }
  if (token.reverse) std::reverse(parts.begin(), parts.end());
  const std::size_t keep = token.keep == 0 ? parts.size() : std::min<std::size_t>(token.keep, parts.size());
  std::string out;
  for (std::size_t i = parts.size() - keep; i < parts.size(); ++i) {
    if (i != parts.size() - keep) out += '.';
    out += parts[i];
  }
  return out;
}

std::string url_escape(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace

Result<MacroString> parse_macro_string(std::string_view text, bool explanation) {
  MacroString tokens;
  for (std::size_t i = 0; i < text.size();) {
    if (is_literal(text[i])) {
      if (tokens.empty() || tokens.back().letter != 0 || tokens.back().expand_form) tokens.emplace_back();
      tokens.back().literal += text[i++];
      continue;
    }
    if (text[i] != '%') return Status::InvalidArgument("character not allowed in a macro string");
    if (i + 1 >= text.size()) return Status::InvalidArgument("macro string ends in '%'");
    MacroToken token;
    if (auto literal = escape_form(text[i + 1])) {
      token.literal = *literal;
      token.expand_form = true;
      i += 2;
    } else if (text[i + 1] == '{') {
      const auto close = text.find('}', i + 2);
      if (close == std::string_view::npos) return Status::InvalidArgument("macro without '}'");
      if (Status status = parse_macro(text.substr(i + 2, close - i - 2), explanation, token); !status.ok()) {
        return status;
      }
      i = close + 1;
    } else {
      return Status::InvalidArgument("'%' not followed by '{', '%', '_' or '-'");
    }
    tokens.push_back(std::move(token));
  }
  return tokens;
}

Result<MacroString> parse_domain_spec(std::string_view text) {
  auto parsed = parse_macro_string(text, false);
  if (!parsed.ok()) return parsed;
  const MacroString& tokens = parsed.value();
  if (tokens.empty()) return Status::InvalidArgument("empty domain");
  const MacroToken& last = tokens.back();
  if (last.letter != 0 || last.expand_form) return parsed;
  std::string_view literal = last.literal;
  if (!literal.empty() && literal.back() == '.') literal.remove_suffix(1);
  const auto dot = literal.rfind('.');
  if (dot == std::string_view::npos || !is_toplabel(literal.substr(dot + 1))) {
    return Status::InvalidArgument("domain does not end in a top label");
  }
  return parsed;
}

Expansion expand(const MacroString& macros, MacroValues& values) {
  Expansion expansion;
  for (const MacroToken& token : macros) {
    if (token.letter == 0) {
      expansion.text += token.literal;
    } else {
      const std::optional<std::string> value = values.value(token.letter);
      if (!value) return Expansion{Expansion::Kind::kBlocked, {}};
      const std::string transformed = transform(token, *value);
      expansion.text += token.url_escape ? url_escape(transformed) : transformed;
    }
    if (expansion.text.size() > kMaxExpansion) return Expansion{Expansion::Kind::kTooLong, {}};
  }
  return expansion;
}

}  // namespace greylist::spf
