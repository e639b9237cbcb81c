// Whole-file reads for tests: what a daemon logged, what a tool wrote.
#pragma once

#include <cstdint>
#include <string>

namespace greylist::testing {

// The bytes of the file at `path`; "" when it is missing or unreadable.
std::string read_file(const std::string& path);

// Its size in bytes; 0 when it is missing or not a regular file.
std::uint64_t file_size_or_zero(const std::string& path);

}  // namespace greylist::testing
