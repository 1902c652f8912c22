// Sends one buffer with one file descriptor attached (SCM_RIGHTS) over a unix
// socket. Async-signal-safe (no allocation): the container child uses it to hand
// the pty master to the parent, the parent to give it to a --console-socket.
#pragma once
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

namespace berth {

// Returns sendmsg's result (bytes sent, or -1 with errno); EINTR is retried.
inline ssize_t send_with_fd(int sock, const void* buf, size_t len, int fd) {
  struct iovec iov;
  iov.iov_base = const_cast<void*>(buf);
  iov.iov_len = len;
  alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  struct cmsghdr* cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  ssize_t n;
  do {
    n = sendmsg(sock, &mh, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

}  // namespace berth
