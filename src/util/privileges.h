// Privileges: running as the service user (the daemon, and greylistctl
// when it creates or opens --dbdir as root).
//
// The daemon starts as root only to bind its sockets (a unix socket in a
// root-owned directory, or a port below 1024) and to prepare its database
// directory; it then drops to --user/--group for good, before it handles any
// input. Started as another user, it keeps that user (nothing to drop).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <functional>
#include <string>

#include "greylist/status.h"

namespace greylist {

struct ServiceUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string group;
};

// Whether this process runs as root (and so must drop privileges).
bool running_as_root();

// Looks up --user and --group. Errors name the missing user or group and
// say how to create it.
Result<ServiceUser> find_service_user(const std::string& user, const std::string& group);

// Makes `dir` ready for the service user: creates it (mode 0700, owned by
// the user) when missing; gives an existing empty root-owned directory to
// the user; refuses a non-empty directory the user does not own, naming it
// and the command that fixes it. Call as root.
Status prepare_directory_for(const ServiceUser& user, const std::string& dir);

// Runs `fn` with the effective user and group switched to `user`, so files it
// creates belong to the user, then switches back to root. Call as root.
Status as_effective_user(const ServiceUser& user, const std::function<Status()>& fn);

// Gives `path` (a unix socket we created) to the service group.
Status give_socket_to_group(const ServiceUser& user, const std::string& path);

// Started as root (euid 0): becomes the owner of `path`, whose stat() is
// `st`, for good (groups, gid, uid), so that files created next belong to
// that owner. Nothing to do when not root or when `path` is root's.
// Errors name the path and the uid.
Status become_owner_of(const std::string& path, const struct stat& st);

// Drops root for good: supplementary groups, gid, uid; then verifies that
// root cannot be regained. After an ok return the process is `user`.
Status drop_privileges(const ServiceUser& user);

}  // namespace greylist
