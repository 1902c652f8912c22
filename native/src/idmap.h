// Idmapped mounts (mount_setattr MOUNT_ATTR_IDMAP) for a container in a new user
// namespace: its rootfs shows the files the host's root owns as owned by the
// container's root. The kernel lets only a process holding CAP_SYS_ADMIN over the
// filesystem's own user namespace (the host's) make one, so a short-lived helper
// cloned from the parent (CLONE_VM | CLONE_VFORK | CLONE_FILES, C only) makes the
// detached tree; the parent hands its fd to the container's child over the sync
// socket, and the child attaches it with move_mount in its own mount namespace.
#pragma once
#include <string>

namespace berth {

// A detached, recursive, idmapped copy of the mount tree at `path`, mapped through
// the user namespace `userns_path` (/proc/<pid>/ns/user). Returns a close-on-exec fd,
// or -1 with *err set (ENOSYS: no such syscalls; EINVAL: the filesystem refuses).
int idmapped_tree(const std::string& path, const std::string& userns_path, int* err);

}  // namespace berth
