#include "util/privileges.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace greylist {
namespace {

Status os_error(const std::string& what) {
  return Status::IoError(what + ": " + std::strerror(errno));
}

bool is_empty_directory(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return false;
  bool empty = true;
  while (const dirent* entry = readdir(d)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  closedir(d);
  return empty;
}

}  // namespace

bool running_as_root() { return geteuid() == 0; }

Result<ServiceUser> find_service_user(const std::string& user, const std::string& group) {
  std::vector<char> buffer(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwnam_r(user.c_str(), &pw, buffer.data(), buffer.size(), &found) != 0 || !found) {
    return Status::InvalidArgument("user '" + user + "' does not exist (create it with: useradd "
                                   "--system --user-group --no-create-home --shell "
                                   "/usr/sbin/nologin " + user + ", or give --user)");
  }
  ServiceUser out;
  out.name = user;
  out.uid = pw.pw_uid;
  out.gid = pw.pw_gid;
  out.group = group;
  if (!group.empty()) {
    struct group gr {};
    struct group* found_group = nullptr;
    if (getgrnam_r(group.c_str(), &gr, buffer.data(), buffer.size(), &found_group) != 0 ||
        !found_group) {
      return Status::InvalidArgument("group '" + group + "' does not exist (give --group)");
    }
    out.gid = gr.gr_gid;
  }
  if (out.uid == 0) {
    return Status::InvalidArgument("--user " + user + " is root: the daemon refuses to run as "
                                   "root after start-up");
  }
  return out;
}

Status prepare_directory_for(const ServiceUser& user, const std::string& dir) {
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return os_error("cannot examine " + dir);
    if (mkdir(dir.c_str(), 0700) != 0) return os_error("cannot create " + dir);
    if (chown(dir.c_str(), user.uid, user.gid) != 0) return os_error("cannot chown " + dir);
    return Status::Ok();
  }
  if (!S_ISDIR(st.st_mode)) return Status::IoError(dir + " exists and is not a directory");
  if (st.st_uid == user.uid) return Status::Ok();
  if (st.st_uid == 0 && is_empty_directory(dir)) {
    if (chown(dir.c_str(), user.uid, user.gid) != 0) return os_error("cannot chown " + dir);
    if (chmod(dir.c_str(), 0700) != 0) return os_error("cannot chmod " + dir);
    return Status::Ok();
  }
  return Status::IoError(dir + " is not owned by " + user.name + " (uid " +
                         std::to_string(user.uid) + "); fix it with: chown -R " + user.name +
                         ": " + dir);
}

Status as_effective_user(const ServiceUser& user, const std::function<Status()>& fn) {
  if (setegid(user.gid) != 0) return os_error("setegid " + std::to_string(user.gid));
  if (seteuid(user.uid) != 0) {
    const Status failed = os_error("seteuid " + std::to_string(user.uid));
    setegid(0);
    return failed;
  }
  const Status result = fn();
  // Back to root for the steps that still need it (binding sockets).
  if (seteuid(0) != 0 || setegid(0) != 0) return os_error("cannot switch back to root");
  return result;
}

Status give_socket_to_group(const ServiceUser& user, const std::string& path) {
  if (chown(path.c_str(), static_cast<uid_t>(-1), user.gid) != 0) {
    return os_error("cannot give socket " + path + " to group " + std::to_string(user.gid));
  }
  return Status::Ok();
}

Status become_owner_of(const std::string& path, const struct stat& st) {
  if (geteuid() != 0 || st.st_uid == 0) return Status::Ok();
  if (setgroups(0, nullptr) != 0 || setgid(st.st_gid) != 0 || setuid(st.st_uid) != 0) {
    return os_error("cannot become the owner of " + path + " (uid " + std::to_string(st.st_uid) +
                    ")");
  }
  return Status::Ok();
}

Status drop_privileges(const ServiceUser& user) {
  if (setgroups(0, nullptr) != 0) return os_error("setgroups");
  if (setgid(user.gid) != 0) return os_error("setgid " + std::to_string(user.gid));
  if (setuid(user.uid) != 0) return os_error("setuid " + std::to_string(user.uid));
  // Refuse to go on if root could be regained.
  if (setuid(0) == 0 || geteuid() == 0 || getuid() == 0) {
    return Status::IoError("privileges were not dropped: still able to become root");
  }
  return Status::Ok();
}

}  // namespace greylist
