#include "tools/config_update.h"

#include <algorithm>
#include <cctype>
#include <map>

namespace greylist {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Booleans compare by meaning ("yes" == "true").
std::string comparable(std::string_view value) {
  std::string v(trim(value));
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  if (v == "yes" || v == "on" || v == "1") return "true";
  if (v == "no" || v == "off" || v == "0") return "false";
  return std::string(trim(value));
}

struct SetLine {
  std::size_t index;  // line number - 1
  std::string value;
};

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    const auto end = text.find('\n');
    lines.emplace_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return lines;
}

// name => the lines that set it, as Boost reads them.
std::map<std::string, std::vector<SetLine>> settings_in(const std::vector<std::string>& lines) {
  std::map<std::string, std::vector<SetLine>> out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    line = trim(line.substr(0, line.find('#')));
    const auto equals = line.find('=');
    if (line.empty() || line.front() == '[' || equals == std::string_view::npos) continue;
    out[std::string(trim(line.substr(0, equals)))].push_back(
        SetLine{i, std::string(trim(line.substr(equals + 1)))});
  }
  return out;
}

const char* why_unwritable(const std::string& value) {
  if (value.find('#') != std::string::npos) return "'#' starts a comment in the config file";
  if (value.find_first_of("\r\n") != std::string::npos) return "a line break";
  if (!value.empty() && (std::isspace(static_cast<unsigned char>(value.front())) ||
                         std::isspace(static_cast<unsigned char>(value.back())))) {
    return "blanks at either end are trimmed from config file values";
  }
  return nullptr;
}

}  // namespace

ConfigUpdate update_config_text(std::string_view existing,
                                const std::vector<MigratedSetting>& settings, bool force,
                                const std::string& heading) {
  ConfigUpdate out;
  std::vector<std::string> lines = split_lines(existing);
  const auto present = settings_in(lines);

  // Group the wanted settings by name, keeping their order.
  std::vector<std::string> names;
  std::map<std::string, std::vector<MigratedSetting>> wanted;
  for (const MigratedSetting& s : settings) {
    if (const char* why = why_unwritable(s.value)) {
      out.unwritable.push_back(s.name + " (from " + s.source + "): " + why);
      continue;
    }
    if (wanted.count(s.name) == 0) names.push_back(s.name);
    wanted[s.name].push_back(s);
  }

  std::vector<MigratedSetting> to_write;
  for (const std::string& name : names) {
    const std::vector<MigratedSetting>& want = wanted[name];
    const auto found = present.find(name);
    if (found == present.end()) {
      to_write.insert(to_write.end(), want.begin(), want.end());
      continue;
    }
    std::vector<std::string> old_values, new_values;
    for (const SetLine& l : found->second) old_values.push_back(comparable(l.value));
    for (const MigratedSetting& s : want) new_values.push_back(comparable(s.value));
    if (old_values == new_values) {
      out.unchanged.insert(out.unchanged.end(), want.begin(), want.end());
      continue;
    }
    for (const SetLine& l : found->second) {
      out.conflicts.push_back(std::to_string(l.index + 1) + ": " + name + " = " + l.value +
                              " (wanted: " + want.front().value + ", from " + want.front().source +
                              ")");
      if (force) lines[l.index] = "# replaced by greylistctl migrate-postgrey: " + lines[l.index];
    }
    if (force) to_write.insert(to_write.end(), want.begin(), want.end());
  }

  for (const std::string& line : lines) out.text += line + "\n";
  if (to_write.empty()) {
    if (!force || out.conflicts.empty()) out.text = std::string(existing);
    return out;
  }
  if (!out.text.empty()) out.text += "\n";
  out.text += "# " + heading + "\n";
  for (const MigratedSetting& s : to_write) {
    out.text += "# postgrey: " + s.source + "\n" + s.name + " = " + s.value + "\n";
  }
  out.added = std::move(to_write);
  return out;
}

}  // namespace greylist
