// How greylistctl writes what it found: times, JSON strings, text fields.
#pragma once

#include <string>
#include <string_view>

#include "greylist/clock.h"

namespace greylist {

// ISO 8601 in UTC, to the second: "2026-11-25T07:13:15Z".
std::string iso8601(EpochSeconds when);

// A JSON string literal (with the quotes) for arbitrary bytes: '"', '\\'
// and control characters escaped; bytes that are not valid UTF-8 become
// \u00XX of the byte (Latin-1), so the output is always valid JSON.
std::string json_string(std::string_view bytes);

// One whitespace-free field of a text line: bytes outside printable ASCII,
// the space and '\\' written as \xHH; an empty value as "<>" (the null
// sender's usual spelling), so columns always split on whitespace.
std::string text_field(std::string_view bytes);

}  // namespace greylist
