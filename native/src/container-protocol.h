// The messages the Node process (parent) and a container's cloned child exchange
// over their SOCK_SEQPACKET socketpair, and the child's setup steps they name.
//
//   parent (Node, addon)                          child (C only until execve)
//   ────────────────────                          ───────────────────────────
//   [spawn thread] clone3(CLONE_NEW* | CLONE_VM  starts with all signals blocked,
//    | CLONE_VFORK | CLONE_PIDFD) ─────────────▶   on the spawn thread's stack
//                          ◀────────────────────── kSyncCloned (the thread: kSyncCloneFailed)
//   write /proc/<pid>/{uid,gid}_map (user ns)     setns(paths) · reads the socket …
//   [idmap_rootfs: a helper makes the idmapped    [idmap_rootfs: receives the tree]
//    rootfs tree; kSyncRootfsTree + SCM_RIGHTS]
//   [idmapped binds: one tree each, through the   [receives them, holds them until
//    container's user namespace or a holder's     each mount's step]
//    with the mount's maps; kSyncMountTree]
//   [JS: cgroup create (+ attach(pid) where      … blocked: sync point 1
//        the child cannot join itself),
//        network interface into the netns]
//   kSyncSetup ───────────────────────────────▶   [join cgroups: "0" into each v1 tasks
//                                                  file] · (setresuid 0) ·
//                                                 [lo up in a new netns] · unshare(CLONE_NEWCGROUP)
//                                                 stdio · propagation · rootfs bind (or
//                                                 move_mount of the idmapped tree) ·
//                                                 mounts (an idmapped bind: move_mount of its
//                                                 tree onto the target made in the rootfs) · /dev ·
//                         ◀────────────────────── [kSyncHooks {steps}] only when the config
//                                                 asks for it (hooks_sync) …
//   [JS: createContainer hooks in the child's     … blocked: sync point 1b (mounts done,
//    namespaces: nsenter --target <pid>            old root still visible)
//    --mount …, state JSON on stdin]
//   kSyncResume ──────────────────────────────▶   pivot_root · sysctl ·
//                                                 masked / read-only paths ·
//                                                 [terminal: open /dev/pts/ptmx, unlock,
//                                                  consoleSize, peer: setsid + TIOCSCTTY,
//                                                  dup2 onto 0–2]
//                         ◀────────────────────── [kSyncTerminal + SCM_RIGHTS {master}]
//                                                 (no reply) · hostname ·
//                                                 rlimits · no_new_privs · caps · user ·
//                                                 umask · cwd · close fds (CLOEXEC) ·
//                                                 [seccomp: here, or before user/caps
//                                                  without no_new_privs, or right
//                                                  before execve: ChildConfig]
//                         ◀────────────────────── kSyncCreated {steps}   (or kSyncError)
//   [create() resolves: state "created"]          … blocked: sync point 2
//   kSyncStart ───────────────────────────────▶   unblock signals · execve(args)
//                         ◀────────────────────── EOF: the socket is CLOEXEC, so a
//                                                 successful execve closes it;
//                         ◀────────────────────── kSyncError {step "execve", errno}
//                                                 when execve failed (child exits 127, or 126
//                                                 when the file exists but cannot run).
//
// Detached mode (exec FIFO): after kSyncCreated the child does not read the socket;
// it opens /proc/self/fd/<fifo> O_WRONLY (blocking until `start` opens the FIFO for
// reading), writes one byte and continues to execve. An execve error then goes to
// the container's fd 2 ("berth: execve /nope: ENOENT") and the exit code is 127.
//
// Exec (ChildConfig.exec_mode): the same conversation for a new process in a running
// container: every namespace is joined (pid by the parent around clone), the parent
// writes the pid into the container's cgroup before kSyncSetup, and the child skips
// the rootfs steps (mounts, pivot_root, paths) — setns(mnt) already put it in the
// container's root. An execve error exits 127 (ENOENT, ENOTDIR) or 126 (any other).
//
// The parent ending the conversation (closing its end) makes a child that waits at a
// sync point _exit(1): a failed create never leaves a process behind.
// Every error is one kSyncError message naming the step, a detail (paths) and errno.
#pragma once
#include <cstdint>

namespace berth {

enum SyncType : uint32_t {
  kSyncSetup = 1,    // parent → child: maps written, cgroups joined: run the setup
  kSyncCreated = 2,  // child → parent: setup done, waiting at sync point 2 (carries steps)
  kSyncStart = 3,    // parent → child: continue to execve
  kSyncError = 4,    // child → parent: a step failed (step, errno, detail; carries steps)
  kSyncHooks = 5,    // child → parent: mounts done, before pivot_root: run createContainer hooks
  kSyncResume = 6,   // parent → child: hooks done, continue with pivot_root
  kSyncTerminal = 7, // child → parent: the pty master as SCM_RIGHTS (no reply; before any seccomp filter)
  kSyncRootfsTree = 8, // parent → child, before kSyncSetup: the idmapped rootfs tree as SCM_RIGHTS (idmap.h)
  kSyncMountTree = 9,  // parent → child, after it: one idmapped bind's tree per message, in slot order
  kSyncCloned = 10,    // child → parent, its first message (the type alone): it runs; pid and pidfd are set
  kSyncCloneFailed = 11,  // spawn thread → parent instead: {type, stage, errno} (SpawnFailure)
};

// What the spawn thread sends when it could not clone the child: stage 0 the clone, 1 the pid namespace's setns.
struct SpawnFailure {
  uint32_t type;
  uint32_t stage;
  int32_t err;
};

// The child's setup steps, in the order they run. Names (kStepNames) are what
// spans and error messages show.
enum Step : uint32_t {
  kStepSetns,
  kStepWaitSetup,
  kStepCgroupJoin,
  kStepUsernsRoot,
  kStepLoopback,
  kStepUnshareCgroup,
  kStepStdio,
  kStepOomScoreAdj,
  kStepPropagation,
  kStepRootfsBind,
  kStepMount,
  kStepDevices,
  kStepMounts,
  kStepWaitHooks,
  kStepPivotRoot,
  kStepSysctl,
  kStepMaskedPaths,
  kStepReadonlyPaths,
  kStepReadonlyRoot,
  kStepTerminal,
  kStepHostname,
  kStepRlimits,
  kStepNoNewPrivs,
  kStepCapBounding,
  kStepUser,
  kStepCapabilities,
  kStepCwd,
  kStepCloseFds,
  kStepSeccomp,
  kStepExecFifo,
  kStepExecve,
  kStepCount,
};

inline const char* const kStepNames[kStepCount] = {
    "setns",          "wait-setup",     "cgroup-join",      "userns-root",    "loopback",
    "unshare-cgroup", "stdio",
    "oom-score-adj",  "propagation",    "rootfs-bind",      "mount",          "devices",
    "mounts",         "wait-hooks",     "pivot-root",       "sysctl",         "masked-paths",
    "readonly-paths", "readonly-root",  "terminal",         "hostname",       "rlimits",
    "no-new-privs",   "cap-bounding",   "user",             "capabilities",   "cwd",
    "close-fds",      "seccomp",        "exec-fifo",        "execve",
};

// One timed step; index is the mount's position for kStepMount, else -1.
struct StepRecord {
  uint32_t step;
  int32_t index;
  uint64_t start_ns;
  uint64_t end_ns;
};

constexpr int kMaxSteps = 64;
constexpr int kMaxDetail = 1024;

// What the child sends (kSyncCreated, kSyncError). Parent → child messages are a
// bare uint32_t SyncType.
struct ChildMessage {
  uint32_t type;
  uint32_t nsteps;
  uint32_t step;   // kSyncError: the failed step
  int32_t err;     // kSyncError: errno
  StepRecord steps[kMaxSteps];
  char detail[kMaxDetail];  // kSyncError: "proc on /proc", NUL-terminated
};

}  // namespace berth
