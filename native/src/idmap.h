// Idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP) for a container in a new user
// namespace: its rootfs shows the files the host's root owns as owned by the
// container's root. The kernel lets only a process holding CAP_SYS_ADMIN over the
// filesystem's own user namespace (the host's) make one, so a short-lived helper
// cloned from the parent (CLONE_VM | CLONE_VFORK | CLONE_FILES, C only) makes the
// detached tree; the parent hands its fd to the container's child over the sync
// socket, and the child attaches it with move_mount in its own mount namespace.
#pragma once
#include <sys/types.h>

#include <string>

namespace berth {

// A detached, idmapped copy of the mount tree at `path`, mapped through the user
// namespace `userns_path` (/proc/<pid>/ns/user): the mounts below `path` are cloned with
// it when `clone_recursive` (rbind), and idmapped too when `attr_recursive` (the OCI
// `ridmap` option; a submount that cannot be idmapped then fails the whole tree).
// Returns a close-on-exec fd, or -1 with *err set (ENOSYS: no such syscalls; EINVAL:
// the filesystem refuses).
int idmapped_tree(const std::string& path, const std::string& userns_path, int* err, bool clone_recursive = true,
                  bool attr_recursive = true);

// A process that holds a new user namespace with `uid_map` and `gid_map` ("0 100000
// 65536\n…") until *release is closed, for idmapped mounts whose mappings are not the
// container's. Returns its pid (reap it with waitpid after closing *release), or -1 with
// *err set. Runs C only (a fork-like clone that shares nothing with Node).
pid_t userns_holder(const std::string& uid_map, const std::string& gid_map, int* release, int* err);

}  // namespace berth
