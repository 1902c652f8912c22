// rtnetlink for the networkdriver: bridges, veth pairs, addresses, routes, done
// with netlink requests instead of one `ip` process per step. Calls run on threads of
// this file's own (NetlinkThreads), not libuv's threadpool. Requests for the host's
// namespace run on that thread; requests inside a container's network namespace run
// in a short-lived cloned child (C only, no V8, no malloc) that setns()es into the
// namespace, so the multi-threaded Node process never changes namespace. The child is
// cloned with CLONE_VM (as posix_spawn does) so its cost does not grow with the Node
// process's memory, and shares the descriptor table (CLONE_FILES) so it grows with no
// table size either. Small derived files given with the call (a container's etc files)
// are rewritten in place by the thread while the child works.
//
// Protocol with the child: the parent prepares every request as plain structs
// (names, addresses, MACs) and an array for the results before the clone; the child
// writes one StepRecord per step into that array (index >= 0: an operation; index < 0:
// a phase such as setns) and exits; the parent writes the call's files meanwhile, then
// reaps the child by its pid and only then reads the records. A step that fails ends
// the list: its record carries the errno and the child exits 1.
//
// Requests go out in batches, several netlink messages in one sendto, their acks
// read back in order: a batch ends after a request that creates, renames or
// deletes a link (a later request may look that link up) or after 32 requests.
// The kernel runs every request of a batch even after one failed; the records stop
// at the first failure, so the caller undoes what the batch touched.
//
// A veth.create run inside a container's namespace can create its named end back
// in the caller's namespace (inHost: IFLA_NET_NS_FD of the caller's namespace,
// opened by the parent), attached to a bridge there (master, resolved by the
// parent) and up: with the peer born in the container's namespace, a bridge
// interface is one child, one socket and two batches.
//
// JS: netlinkApply(ops, target?, files?) → Promise<{baseNs, steps: [{index, name, errno,
// error, message, startNs, endNs}], files?: {startNs, endNs, errno, error, syscall,
// path}}>: message is the kernel's extended-ack text, times are Number ns offsets from
// the BigInt baseNs.
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "clock.h"
#include "exports.h"

namespace {

enum OpKind : int {
  OP_BRIDGE_CREATE,
  OP_VETH_CREATE,
  OP_LINK_UP,
  OP_LINK_DOWN,
  OP_LINK_MASTER,
  OP_LINK_MTU,
  OP_LINK_RENAME,
  OP_LINK_DELETE,
  OP_ADDR_ADD,
  OP_ROUTE_DEFAULT,
  OP_LINK_NOLINKLOCAL,
};

struct OpName {
  const char* name;
  OpKind kind;
};

const OpName kOpNames[] = {
    {"bridge.create", OP_BRIDGE_CREATE}, {"veth.create", OP_VETH_CREATE}, {"link.up", OP_LINK_UP},
    {"link.down", OP_LINK_DOWN},         {"link.master", OP_LINK_MASTER}, {"link.mtu", OP_LINK_MTU},
    {"link.rename", OP_LINK_RENAME},     {"link.delete", OP_LINK_DELETE}, {"addr.add", OP_ADDR_ADD},
    {"route.default", OP_ROUTE_DEFAULT}, {"link.nolinklocal", OP_LINK_NOLINKLOCAL},
};

// Phases reported with a negative index. "child" spans clone() to the child's
// reaping (the thread writes the call's files meanwhile); the child's own steps lie inside it.
enum Phase : int { PHASE_NETNS_OPEN = -1, PHASE_CLONE = -2, PHASE_SETNS = -3, PHASE_SOCKET = -4, PHASE_CHILD = -5 };

const char* phase_name(int index) {
  switch (index) {
    case PHASE_NETNS_OPEN: return "netns.open";
    case PHASE_CLONE: return "child";
    case PHASE_SETNS: return "setns";
    case PHASE_SOCKET: return "socket";
    case PHASE_CHILD: return "child.exit";
    default: return "unknown";
  }
}

// One prepared request. Everything the child needs is inline: no pointers to
// memory the child would have to allocate.
struct Op {
  OpKind kind;
  char name[IFNAMSIZ];   // the interface the step is about
  char other[IFNAMSIZ];  // veth peer name, bridge (master) name, new name
  uint8_t addr[4];       // address (addr.add) or gateway (route.default)
  uint8_t prefix;
  uint8_t mac[6];
  bool has_mac;
  uint32_t mtu;
  // veth.create: where the peer is created (fd opened by the parent, or a pid).
  int peer_ns_fd;
  int peer_ns_pid;
  std::string peer_ns_path;  // read by the parent only, before the clone
  bool if_exists_ok;         // bridge.create / addr.add: EEXIST is success
  bool if_missing_ok;        // link.delete: ENODEV is success
  // veth.create: the named end is created in the caller's namespace (fd opened by
  // the parent), attached to master (resolved by the parent), up at creation.
  bool in_host;
  int host_ns_fd;
  char master[IFNAMSIZ];
  int master_index;
  bool up;
};

struct StepRecord {
  int32_t index;
  int32_t err;
  uint64_t start_ns;
  uint64_t end_ns;
  char message[96];  // the kernel's extended-ack message for a failure, if any
};

StepRecord make_record(int index, int err, uint64_t start, const char* message) {
  StepRecord r;
  memset(&r, 0, sizeof(r));
  r.index = index;
  r.err = err;
  r.start_ns = start;
  r.end_ns = berth::monotonic_ns();
  if (message != nullptr) memcpy(r.message, message, strnlen(message, sizeof(r.message) - 1));
  return r;
}

// A netlink socket and the extended-ack message of its last failed request.
struct NlSocket {
  int fd;
  char ack_message[96];
};

// ---- netlink message building (fixed buffers, no allocation) -----------------

struct Msg {
  alignas(NLMSG_ALIGNTO) char buf[2048];
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buf); }
};

void msg_init(Msg* m, uint16_t type, uint16_t flags) {
  memset(m->buf, 0, sizeof(m->buf));
  m->hdr()->nlmsg_len = NLMSG_LENGTH(0);
  m->hdr()->nlmsg_type = type;
  m->hdr()->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
}

void* msg_reserve(Msg* m, size_t len) {
  size_t off = NLMSG_ALIGN(m->hdr()->nlmsg_len);
  if (off + NLMSG_ALIGN(len) > sizeof(m->buf)) return nullptr;
  m->hdr()->nlmsg_len = off + NLMSG_ALIGN(len);
  return m->buf + off;
}

rtattr* attr_put(Msg* m, uint16_t type, const void* data, size_t len) {
  rtattr* a = static_cast<rtattr*>(msg_reserve(m, RTA_LENGTH(len)));
  if (a == nullptr) return nullptr;
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  return a;
}

rtattr* attr_str(Msg* m, uint16_t type, const char* s) { return attr_put(m, type, s, strlen(s) + 1); }
rtattr* attr_u32(Msg* m, uint16_t type, uint32_t v) { return attr_put(m, type, &v, sizeof(v)); }
rtattr* nest_begin(Msg* m, uint16_t type) { return attr_put(m, type, nullptr, 0); }
void nest_end(Msg* m, rtattr* a) {
  a->rta_len = static_cast<unsigned short>(m->buf + m->hdr()->nlmsg_len - reinterpret_cast<char*>(a));
}

// Copies the NLMSGERR_ATTR_MSG of an error reply (sockets have NETLINK_CAP_ACK,
// so the TLVs follow the nlmsgerr directly) into out.
void extack_message(const nlmsghdr* h, char* out, size_t size) {
  out[0] = '\0';
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS) || !(h->nlmsg_flags & NLM_F_CAPPED)) return;
  const char* p = static_cast<const char*>(NLMSG_DATA(h)) + sizeof(nlmsgerr);
  const char* end = reinterpret_cast<const char*>(h) + h->nlmsg_len;
  while (p + sizeof(nlattr) <= end) {
    const nlattr* a = reinterpret_cast<const nlattr*>(p);
    if (a->nla_len < sizeof(nlattr) || p + a->nla_len > end) return;
    if (a->nla_type == NLMSGERR_ATTR_MSG) {
      size_t len = a->nla_len - NLA_HDRLEN;
      if (len >= size) len = size - 1;
      memcpy(out, p + NLA_HDRLEN, len);
      out[len] = '\0';
      return;
    }
    p += NLA_ALIGN(a->nla_len);
  }
}

// Up to this many requests go out in one sendto.
constexpr size_t kMaxBatch = 32;

// A batch of requests in one buffer; request k carries sequence number first_seq + k.
struct Batch {
  alignas(NLMSG_ALIGNTO) char buf[16384];
  size_t len;
  size_t count;
  uint32_t first_seq;
};

// Appends m to b; false when it does not fit.
bool batch_add(Batch* b, const Msg& m, uint32_t seq) {
  size_t len = NLMSG_ALIGN(reinterpret_cast<const nlmsghdr*>(m.buf)->nlmsg_len);
  if (b->len + len > sizeof(b->buf)) return false;
  memcpy(b->buf + b->len, m.buf, len);
  reinterpret_cast<nlmsghdr*>(b->buf + b->len)->nlmsg_seq = seq;
  b->len += len;
  b->count++;
  return true;
}

// Sends every request of b at once and reads one ack per request. Fills errs[k]
// (0 or a positive errno) and acked_ns[k] (when its ack was read); the kernel's
// message for the first failure goes to s->ack_message. Returns 0, or the errno
// of the socket itself (send, receive, or no ack within the socket's timeout),
// which then stands for every request not acked.
int batch_transact(NlSocket* s, const Batch* b, int* errs, uint64_t* acked_ns) {
  int fd = s->fd;
  s->ack_message[0] = '\0';
  for (size_t k = 0; k < b->count; k++) errs[k] = -1;
  sockaddr_nl kernel;
  memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  ssize_t n;
  do {
    n = sendto(fd, b->buf, b->len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof(kernel));
  } while (n < 0 && errno == EINTR);
  int sock_err = n < 0 ? errno : 0;
  alignas(NLMSG_ALIGNTO) char reply[8192];
  size_t acked = 0;
  while (sock_err == 0 && acked < b->count) {
    do {
      n = recv(fd, reply, sizeof(reply), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      sock_err = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
      break;
    }
    uint64_t now = berth::monotonic_ns();
    int len = static_cast<int>(n);
    for (nlmsghdr* h = reinterpret_cast<nlmsghdr*>(reply); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < b->first_seq) continue;
      size_t k = h->nlmsg_seq - b->first_seq;
      if (k >= b->count || errs[k] >= 0) continue;
      const nlmsgerr* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
      errs[k] = -e->error;
      acked_ns[k] = now;
      if (e->error != 0 && s->ack_message[0] == '\0') extack_message(h, s->ack_message, sizeof(s->ack_message));
      acked++;
    }
  }
  if (sock_err != 0) {
    uint64_t now = berth::monotonic_ns();
    for (size_t k = 0; k < b->count; k++) {
      if (errs[k] < 0) {
        errs[k] = sock_err;
        acked_ns[k] = now;
      }
    }
  }
  return sock_err;
}

int ifindex_of(int fd, const char* name, int* index) {
  ifreq req;
  memset(&req, 0, sizeof(req));
  strncpy(req.ifr_name, name, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &req) < 0) return errno;
  *index = req.ifr_ifindex;
  return 0;
}

ifinfomsg* link_header(Msg* m, uint16_t type, uint16_t flags) {
  msg_init(m, type, flags);
  ifinfomsg* ifi = static_cast<ifinfomsg*>(msg_reserve(m, sizeof(ifinfomsg)));
  ifi->ifi_family = AF_UNSPEC;
  return ifi;
}

// What an ack's errno means for op: EEXIST / ENODEV are success when the op says so.
int ack_result(const Op& op, int err) {
  if (err == EEXIST && op.if_exists_ok && (op.kind == OP_BRIDGE_CREATE || op.kind == OP_ADDR_ADD)) return 0;
  if (err == ENODEV && op.if_missing_ok && op.kind == OP_LINK_DELETE) return 0;
  return err;
}

// Whether a later request may depend on op's effect on link names (it ends a batch).
bool ends_batch(const Op& op) {
  return op.kind == OP_BRIDGE_CREATE || op.kind == OP_VETH_CREATE || op.kind == OP_LINK_RENAME ||
         op.kind == OP_LINK_DELETE;
}

// Builds op's request into m (looking up the interfaces it names on socket fd).
// Returns 0 or the errno of a failed lookup. Async-signal-safe.
int build_op(int fd, const Op& op, Msg* mp) {
  Msg& m = *mp;
  switch (op.kind) {
    case OP_BRIDGE_CREATE: {
      link_header(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
      attr_str(&m, IFLA_IFNAME, op.name);
      if (op.mtu > 0) attr_u32(&m, IFLA_MTU, op.mtu);
      rtattr* info = nest_begin(&m, IFLA_LINKINFO);
      attr_str(&m, IFLA_INFO_KIND, "bridge");
      nest_end(&m, info);
      return 0;
    }
    case OP_VETH_CREATE: {
      ifinfomsg* ifi = link_header(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
      // Only the named end can be brought up at creation: the peer's flags would be
      // applied before the pair is complete (ENOTCONN).
      if (op.up) ifi->ifi_change = ifi->ifi_flags = IFF_UP;
      attr_str(&m, IFLA_IFNAME, op.name);
      if (op.mtu > 0) attr_u32(&m, IFLA_MTU, op.mtu);
      if (op.host_ns_fd >= 0) attr_u32(&m, IFLA_NET_NS_FD, static_cast<uint32_t>(op.host_ns_fd));
      if (op.master_index > 0) attr_u32(&m, IFLA_MASTER, static_cast<uint32_t>(op.master_index));
      rtattr* info = nest_begin(&m, IFLA_LINKINFO);
      attr_str(&m, IFLA_INFO_KIND, "veth");
      rtattr* data = nest_begin(&m, IFLA_INFO_DATA);
      rtattr* peer = nest_begin(&m, VETH_INFO_PEER);
      ifinfomsg* pifi = static_cast<ifinfomsg*>(msg_reserve(&m, sizeof(ifinfomsg)));
      if (pifi == nullptr) return ENOBUFS;
      pifi->ifi_family = AF_UNSPEC;
      attr_str(&m, IFLA_IFNAME, op.other);
      if (op.mtu > 0) attr_u32(&m, IFLA_MTU, op.mtu);
      if (op.has_mac) attr_put(&m, IFLA_ADDRESS, op.mac, 6);
      if (op.peer_ns_fd >= 0) attr_u32(&m, IFLA_NET_NS_FD, static_cast<uint32_t>(op.peer_ns_fd));
      else if (op.peer_ns_pid > 0) attr_u32(&m, IFLA_NET_NS_PID, static_cast<uint32_t>(op.peer_ns_pid));
      nest_end(&m, peer);
      nest_end(&m, data);
      nest_end(&m, info);
      return 0;
    }
    case OP_LINK_UP:
    case OP_LINK_DOWN: {
      ifinfomsg* ifi = link_header(&m, RTM_NEWLINK, 0);
      ifi->ifi_change = IFF_UP;
      ifi->ifi_flags = op.kind == OP_LINK_UP ? IFF_UP : 0;
      attr_str(&m, IFLA_IFNAME, op.name);
      return 0;
    }
    case OP_LINK_MASTER: {
      int master = 0;
      int err = ifindex_of(fd, op.other, &master);
      if (err != 0) return err;
      link_header(&m, RTM_NEWLINK, 0);
      attr_str(&m, IFLA_IFNAME, op.name);
      attr_u32(&m, IFLA_MASTER, static_cast<uint32_t>(master));
      return 0;
    }
    case OP_LINK_NOLINKLOCAL: {
      // addr_gen_mode none (`ip link set X addrgenmode none`): the link gets no IPv6 link-local address, so it sends
      // no DAD probe, router solicitation or MLD report when it comes up (on a bridge each is flooded to every port).
      link_header(&m, RTM_NEWLINK, 0);
      attr_str(&m, IFLA_IFNAME, op.name);
      rtattr* spec = nest_begin(&m, IFLA_AF_SPEC);
      rtattr* inet6 = nest_begin(&m, AF_INET6);
      uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
      if (attr_put(&m, IFLA_INET6_ADDR_GEN_MODE, &mode, 1) == nullptr) return EMSGSIZE;
      nest_end(&m, inet6);
      nest_end(&m, spec);
      return 0;
    }
    case OP_LINK_MTU: {
      link_header(&m, RTM_NEWLINK, 0);
      attr_str(&m, IFLA_IFNAME, op.name);
      attr_u32(&m, IFLA_MTU, op.mtu);
      return 0;
    }
    case OP_LINK_RENAME: {
      int index = 0;
      int err = ifindex_of(fd, op.name, &index);
      if (err != 0) return err;
      ifinfomsg* ifi = link_header(&m, RTM_NEWLINK, 0);
      ifi->ifi_index = index;
      attr_str(&m, IFLA_IFNAME, op.other);
      return 0;
    }
    case OP_LINK_DELETE: {
      link_header(&m, RTM_DELLINK, 0);
      attr_str(&m, IFLA_IFNAME, op.name);
      return 0;
    }
    case OP_ADDR_ADD: {
      int index = 0;
      int err = ifindex_of(fd, op.name, &index);
      if (err != 0) return err;
      msg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
      ifaddrmsg* ifa = static_cast<ifaddrmsg*>(msg_reserve(&m, sizeof(ifaddrmsg)));
      ifa->ifa_family = AF_INET;
      ifa->ifa_prefixlen = op.prefix;
      ifa->ifa_scope = RT_SCOPE_UNIVERSE;
      ifa->ifa_index = static_cast<uint32_t>(index);
      attr_put(&m, IFA_LOCAL, op.addr, 4);
      attr_put(&m, IFA_ADDRESS, op.addr, 4);
      if (op.prefix < 31) {
        uint8_t brd[4];
        for (int i = 0; i < 4; i++) {
          int bits = op.prefix - i * 8;
          uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
          brd[i] = static_cast<uint8_t>(op.addr[i] | static_cast<uint8_t>(~mask));
        }
        attr_put(&m, IFA_BROADCAST, brd, 4);
      }
      return 0;
    }
    case OP_ROUTE_DEFAULT: {
      msg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
      rtmsg* rt = static_cast<rtmsg*>(msg_reserve(&m, sizeof(rtmsg)));
      rt->rtm_family = AF_INET;
      rt->rtm_table = RT_TABLE_MAIN;
      rt->rtm_protocol = RTPROT_BOOT;
      rt->rtm_scope = RT_SCOPE_UNIVERSE;
      rt->rtm_type = RTN_UNICAST;
      attr_put(&m, RTA_GATEWAY, op.addr, 4);
      if (op.name[0] != '\0') {
        int index = 0;
        int err = ifindex_of(fd, op.name, &index);
        if (err != 0) return err;
        attr_u32(&m, RTA_OIF, static_cast<uint32_t>(index));
      }
      if (op.mtu > 0) {
        // RTA_METRICS is a nested list of rtattrs; RTAX_MTU caps packets on this
        // route below the link's MTU (`ip route add … mtu N`).
        rtattr* metrics = attr_put(&m, RTA_METRICS, nullptr, 0);
        if (metrics == nullptr || attr_u32(&m, RTAX_MTU, op.mtu) == nullptr) return EMSGSIZE;
        metrics->rta_len = static_cast<unsigned short>(reinterpret_cast<char*>(m.hdr()) + m.hdr()->nlmsg_len - reinterpret_cast<char*>(metrics));
      }
      return 0;
    }
  }
  return EINVAL;
}

int open_netlink(int* out) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return errno;
  // Extended acks carry the kernel's reason for a failure; capped acks keep the
  // reply small (no copy of the request). Older kernels ignore both.
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
  // A request the kernel never acks (none is known) must not hang the worker or the child.
  timeval timeout{30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_nl local;
  memset(&local, 0, sizeof(local));
  local.nl_family = AF_NETLINK;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) < 0) {
    int err = errno;
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

// Where step records go: a vector (worker thread), or an array the parent sized
// before the clone (child: shared memory, no allocation; extra records are dropped).
struct Sink {
  std::vector<StepRecord>* records;
  StepRecord* array;
  size_t capacity;
  size_t count;
  void put(const StepRecord& r) {
    if (records != nullptr) {
      records->push_back(r);
      return;
    }
    if (count < capacity) array[count++] = r;
  }
};

// Opens a socket and runs ops in order, in batches (see the top of this file), one
// record each; records stop at the first failure. A request's record runs from the
// previous ack of its batch (or the send) to its own ack. Returns 0 or the failing
// errno. Async-signal-safe when sink is an array (everything else is on the stack).
int run_ops(const Op* ops, size_t count, Sink* sink) {
  uint64_t t0 = berth::monotonic_ns();
  NlSocket sock;
  sock.fd = -1;
  sock.ack_message[0] = '\0';
  int err = open_netlink(&sock.fd);
  sink->put(make_record(PHASE_SOCKET, err, t0, nullptr));
  if (err != 0) return err;
  Batch batch;
  Msg m;
  int errs[kMaxBatch];
  uint64_t acked_ns[kMaxBatch];
  size_t i = 0;
  while (err == 0 && i < count) {
    uint64_t start = berth::monotonic_ns();
    batch.len = 0;
    batch.count = 0;
    batch.first_seq = static_cast<uint32_t>(i + 1);
    // A lookup that fails while building ends the batch before that op; it is
    // reported once the requests before it are acked.
    int build_err = 0;
    size_t j = i;
    while (j < count && batch.count < kMaxBatch) {
      build_err = build_op(sock.fd, ops[j], &m);
      if (build_err == 0 && !batch_add(&batch, m, static_cast<uint32_t>(j + 1))) build_err = ENOBUFS;
      if (build_err != 0) break;
      j++;
      if (ends_batch(ops[j - 1])) break;
    }
    if (batch.count > 0) batch_transact(&sock, &batch, errs, acked_ns);
    for (size_t k = 0; k < batch.count; k++) {
      const Op& op = ops[i + k];
      int e = ack_result(op, errs[k]);
      StepRecord r = make_record(static_cast<int>(i + k), e, start, e != 0 ? sock.ack_message : nullptr);
      r.end_ns = acked_ns[k];
      sink->put(r);
      start = acked_ns[k];
      if (e != 0) {
        err = e;
        break;
      }
    }
    if (err == 0 && build_err != 0) {
      err = build_err;
      sink->put(make_record(static_cast<int>(j), err, start, nullptr));
    }
    i = j;
  }
  close(sock.fd);
  return err;
}

struct ChildArgs {
  int ns_fd;
  const Op* ops;
  size_t count;
  Sink* sink;
};

// The child: join the namespace, run the ops, record each step in the parent's array, exit.
int child_entry(void* arg) {
  const ChildArgs* a = static_cast<const ChildArgs*>(arg);
  uint64_t t0 = berth::monotonic_ns();
  int err = setns(a->ns_fd, CLONE_NEWNET) < 0 ? errno : 0;
  a->sink->put(make_record(PHASE_SETNS, err, t0, nullptr));
  if (err == 0) err = run_ops(a->ops, a->count, a->sink);
  _exit(err == 0 ? 0 : 1);
  return 1;
}

// A small derived file the call rewrites in place (see write_files): the etc
// files of a container, written by the netlink thread while the child does the
// namespace's work, so they need no threadpool job of their own.
struct InPlaceFile {
  std::string path;
  std::string data;
  mode_t mode;
};

// What the file writes of one call did: the first failure (errno, syscall, path), or none.
struct FilesOutcome {
  bool ran = false;
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  int err = 0;
  const char* syscall = nullptr;
  std::string path;
};

// Makes the parent directories of path (mkdir -p of its dirname). Returns 0 or errno.
int make_parents(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos || slash == 0) return 0;
  std::string dir = path.substr(0, slash);
  for (size_t i = 1; i <= dir.size(); i++) {
    if (i < dir.size() && dir[i] != '/') continue;
    std::string part = dir.substr(0, i);
    if (mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) return errno;
  }
  return 0;
}

// Rewrites each file in its own inode (a missing file is created, and its missing
// directories once), in order, stopping at the first failure: open without O_TRUNC,
// write from offset 0, then cut an old tail longer than the new content, and set the
// mode only when it differs. No O_TRUNC: on ext4 a truncation to size 0 marks the inode
// for allocation at close (auto_da_alloc), and that close starts the file's writeback —
// measured here 200–300 µs of CPU for three small files against 55 µs without it.
void write_files(const std::vector<InPlaceFile>& files, FilesOutcome* out) {
  out->ran = true;
  out->start_ns = berth::monotonic_ns();
  for (const InPlaceFile& f : files) {
    int fd = open(f.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, f.mode);
    if (fd < 0 && errno == ENOENT && make_parents(f.path) == 0) {
      fd = open(f.path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, f.mode);
    }
    const char* failed = fd < 0 ? "open" : nullptr;
    int err = errno;
    struct stat st;
    if (failed == nullptr && fstat(fd, &st) != 0) {
      failed = "fstat";
      err = errno;
    }
    if (failed == nullptr && (st.st_mode & 07777) != f.mode && fchmod(fd, f.mode) != 0) {
      failed = "fchmod";
      err = errno;
    }
    for (size_t off = 0; failed == nullptr && off < f.data.size();) {
      ssize_t n = pwrite(fd, f.data.data() + off, f.data.size() - off, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failed = "write";
        err = errno;
      } else {
        off += static_cast<size_t>(n);
      }
    }
    if (failed == nullptr && st.st_size > static_cast<off_t>(f.data.size()) &&
        ftruncate(fd, static_cast<off_t>(f.data.size())) != 0) {
      failed = "ftruncate";
      err = errno;
    }
    if (fd >= 0 && close(fd) != 0 && failed == nullptr) {
      failed = "close";
      err = errno;
    }
    if (failed != nullptr) {
      out->err = err;
      out->syscall = failed;
      out->path = f.path;
      break;
    }
  }
  out->end_ns = berth::monotonic_ns();
}

// One netlinkApply call. Execute() runs on a netlink thread (NetlinkThreads), Complete()
// on the JS thread once it is done.
class ApplyJob {
 public:
  ApplyJob(Napi::Env env, std::vector<Op> ops, std::string target_path, int target_pid,
           std::vector<InPlaceFile> files)
      : deferred_(Napi::Promise::Deferred::New(env)),
        ops_(std::move(ops)),
        target_path_(std::move(target_path)),
        target_pid_(target_pid),
        files_(std::move(files)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() {
    base_ns_ = berth::monotonic_ns();
    if (ops_.empty()) {
      write_files(files_, &files_out_);
      return;
    }
    std::vector<int> fds;
    bool ok = open_namespaces(&fds);
    if (ok) {
      if (target_path_.empty() && target_pid_ <= 0) {
        Sink sink{&records_, nullptr, 0, 0};
        run_ops(ops_.data(), ops_.size(), &sink);
        if (!files_.empty()) write_files(files_, &files_out_);
      } else {
        run_in_child(fds.back());
      }
    }
    for (int fd : fds) close(fd);
  }

  void Complete(Napi::Env env) {
    Napi::HandleScope scope(env);
    Napi::Object result = Napi::Object::New(env);
    result.Set("baseNs", Napi::BigInt::New(env, base_ns_));
    Napi::Array steps = Napi::Array::New(env, records_.size());
    for (size_t i = 0; i < records_.size(); i++) {
      const StepRecord& r = records_[i];
      Napi::Object s = Napi::Object::New(env);
      s.Set("index", r.index);
      const char* name = r.index >= 0 && static_cast<size_t>(r.index) < ops_.size() ? op_name(ops_[r.index].kind)
                                                                                       : phase_name(r.index);
      s.Set("name", name);
      s.Set("errno", r.err);
      if (r.err != 0) {
        const char* ename = strerrorname_np(r.err);
        s.Set("error", ename != nullptr ? ename : ("errno " + std::to_string(r.err)).c_str());
        if (r.message[0] != '\0') s.Set("message", std::string(r.message, strnlen(r.message, sizeof(r.message))));
      }
      s.Set("startNs", static_cast<double>(static_cast<int64_t>(r.start_ns - base_ns_)));
      s.Set("endNs", static_cast<double>(static_cast<int64_t>(r.end_ns - base_ns_)));
      steps.Set(i, s);
    }
    result.Set("steps", steps);
    if (files_out_.ran) {
      Napi::Object f = Napi::Object::New(env);
      f.Set("startNs", static_cast<double>(static_cast<int64_t>(files_out_.start_ns - base_ns_)));
      f.Set("endNs", static_cast<double>(static_cast<int64_t>(files_out_.end_ns - base_ns_)));
      f.Set("errno", files_out_.err);
      if (files_out_.err != 0) {
        const char* ename = strerrorname_np(files_out_.err);
        f.Set("error", ename != nullptr ? ename : ("errno " + std::to_string(files_out_.err)).c_str());
        f.Set("syscall", files_out_.syscall);
        f.Set("path", files_out_.path);
      }
      result.Set("files", f);
    }
    deferred_.Resolve(result);
  }

 private:
  static const char* op_name(OpKind kind) {
    for (const OpName& n : kOpNames) {
      if (n.kind == kind) return n.name;
    }
    return "unknown";
  }

  void phase(int index, int err, uint64_t start) { records_.push_back(make_record(index, err, start, nullptr)); }

  // Opens the namespaces named by path (veth peers, the target) and, for a
  // veth.create with inHost, this process's own; resolves the masters of
  // veth.create here (in this process's namespace). The target's fd is the last
  // one in fds.
  bool open_namespaces(std::vector<int>* fds) {
    uint64_t start = berth::monotonic_ns();
    int self_fd = -1;
    int lookup_fd = -1;
    for (size_t i = 0; i < ops_.size(); i++) {
      Op& op = ops_[i];
      if (op.in_host && self_fd < 0) {
        self_fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self_fd < 0) {
          phase(PHASE_NETNS_OPEN, errno, start);
          if (lookup_fd >= 0) close(lookup_fd);
          return false;
        }
        fds->push_back(self_fd);
      }
      if (op.in_host) op.host_ns_fd = self_fd;
      if (op.master[0] != '\0') {
        if (lookup_fd < 0) lookup_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
        int err = lookup_fd < 0 ? errno : ifindex_of(lookup_fd, op.master, &op.master_index);
        if (err != 0) {
          char why[96];
          snprintf(why, sizeof(why), "master %s: %s", op.master, strerrorname_np(err) ? strerrorname_np(err) : "?");
          records_.push_back(make_record(static_cast<int>(i), err, start, why));
          if (lookup_fd >= 0) close(lookup_fd);
          return false;
        }
      }
    }
    if (lookup_fd >= 0) close(lookup_fd);
    for (Op& op : ops_) {
      if (op.peer_ns_path.empty()) continue;
      int fd = open(op.peer_ns_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        phase(PHASE_NETNS_OPEN, errno, start);
        return false;
      }
      fds->push_back(fd);
      op.peer_ns_fd = fd;
    }
    if (!target_path_.empty() || target_pid_ > 0) {
      std::string path = !target_path_.empty() ? target_path_ : "/proc/" + std::to_string(target_pid_) + "/ns/net";
      int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        phase(PHASE_NETNS_OPEN, errno, start);
        return false;
      }
      fds->push_back(fd);
      phase(PHASE_NETNS_OPEN, 0, start);
    }
    return true;
  }

  void run_in_child(int ns_fd) {
    uint64_t start = berth::monotonic_ns();
    // CLONE_VM, as posix_spawn does: no copy of the page tables (a fork of a large Node
    // process costs milliseconds). Not CLONE_VFORK: this thread writes the call's files
    // while the child does the namespace's work, then waits for it; the child's records
    // are read only after waitpid. CLONE_FILES and CLONE_FS: no copy of the process's
    // descriptor table to make at the clone and to close at the exit (the child closes
    // the one socket it opens). The child runs on its own small stack, touches only the
    // prepared ops, the record array and its stack (no allocation, no lock), and runs
    // with every signal blocked so no handler of the Node process ever runs in it.
    // Its stack is this thread's, made on the thread's first child and kept (one child
    // at a time per thread): no mmap, page faults and munmap (a TLB shootdown across
    // the process's threads) per call.
    constexpr size_t stack_size = 256 * 1024;
    thread_local void* stack = nullptr;
    if (stack == nullptr) {
      void* m = mmap(nullptr, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
      if (m == MAP_FAILED) {
        phase(PHASE_CLONE, errno, start);
        return;
      }
      stack = m;
    }
    // setns, socket, one per op, one for a failed lookup
    std::vector<StepRecord> array(ops_.size() + 4);
    Sink sink{nullptr, array.data(), array.size(), 0};
    ChildArgs args{ns_fd, ops_.data(), ops_.size(), &sink};
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int pid = clone(child_entry, static_cast<char*>(stack) + stack_size, CLONE_VM | CLONE_FILES | CLONE_FS | SIGCHLD,
                    &args);
    int clone_err = pid < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    if (pid < 0) {
      phase(PHASE_CLONE, clone_err, start);
      return;
    }
    if (!files_.empty()) write_files(files_, &files_out_);
    int status = 0;
    uint64_t wait_start = berth::monotonic_ns();
    while (waitpid(static_cast<pid_t>(pid), &status, __WALL) < 0 && errno == EINTR) {
    }
    phase(PHASE_CLONE, 0, start);
    records_.insert(records_.end(), array.begin(), array.begin() + static_cast<std::ptrdiff_t>(sink.count));
    // A child that died without reporting a failure (a signal) is an error too.
    bool reported_failure = false;
    for (const StepRecord& rec : records_) reported_failure = reported_failure || rec.err != 0;
    if (!reported_failure && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      phase(PHASE_CHILD, WIFSIGNALED(status) ? EINTR : ECHILD, wait_start);
    }
  }

  Napi::Promise::Deferred deferred_;
  std::vector<Op> ops_;
  std::string target_path_;
  int target_pid_;
  uint64_t base_ns_ = 0;
  std::vector<StepRecord> records_;
  std::vector<InPlaceFile> files_;
  FilesOutcome files_out_;
};

// The threads netlinkApply runs on, beside libuv's threadpool: a namespace child keeps
// its thread asleep for the whole kernel work (milliseconds while other processes hold
// rtnl_lock), so on the threadpool four concurrent set-ups would fill its four threads
// and every file job (the state write of the same set-up among them) would wait for one.
// Threads are made on demand, while no thread is idle, up to kMaxThreads (then calls
// queue), and kept. A finished call goes back to the JS thread through its own
// thread-safe function, which keeps the event loop alive while the call runs.
class NetlinkThreads {
 public:
  static NetlinkThreads& get() {
    static NetlinkThreads* pool = new NetlinkThreads();  // never destroyed: its threads outlive main()
    return *pool;
  }

  void submit(ApplyJob* job, napi_threadsafe_function done) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({job, done});
    if (idle_ == 0 && threads_ < kMaxThreads) {
      threads_++;
      std::thread(&NetlinkThreads::loop, this).detach();
    } else {
      cv_.notify_one();
    }
  }

 private:
  static constexpr int kMaxThreads = 8;
  struct Item {
    ApplyJob* job;
    napi_threadsafe_function done;
  };

  void loop() {
    // Signals go to the JS thread, never to a netlink thread (nor to its children).
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    for (;;) {
      Item item;
      {
        std::unique_lock<std::mutex> lock(mu_);
        idle_++;
        cv_.wait(lock, [this] { return !queue_.empty(); });
        idle_--;
        item = queue_.front();
        queue_.pop_front();
      }
      item.job->Execute();
      napi_call_threadsafe_function(item.done, item.job, napi_tsfn_blocking);
      napi_release_threadsafe_function(item.done, napi_tsfn_release);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  int threads_ = 0;
  int idle_ = 0;
};

// On the JS thread: resolves the call's promise (env is null when the environment is going away).
void complete_job(napi_env env, napi_value, void*, void* data) {
  ApplyJob* job = static_cast<ApplyJob*>(data);
  if (env != nullptr) job->Complete(Napi::Env(env));
  delete job;
}

bool parse_ipv4(const std::string& s, uint8_t out[4]) {
  unsigned a, b, c, d;
  char tail;
  if (sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4) return false;
  if (a > 255 || b > 255 || c > 255 || d > 255) return false;
  out[0] = static_cast<uint8_t>(a);
  out[1] = static_cast<uint8_t>(b);
  out[2] = static_cast<uint8_t>(c);
  out[3] = static_cast<uint8_t>(d);
  return true;
}

bool parse_mac(const std::string& s, uint8_t out[6]) {
  unsigned v[6];
  char tail;
  if (sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) return false;
  for (int i = 0; i < 6; i++) {
    if (v[i] > 255) return false;
    out[i] = static_cast<uint8_t>(v[i]);
  }
  return true;
}

// Copies an interface name; false when it does not fit IFNAMSIZ.
bool copy_ifname(const std::string& s, char out[IFNAMSIZ]) {
  if (s.size() >= IFNAMSIZ) return false;
  memset(out, 0, IFNAMSIZ);
  memcpy(out, s.data(), s.size());
  return true;
}

std::string str_field(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

// Converts one JS op to an Op; on failure returns a message for a TypeError.
std::string parse_op(const Napi::Object& o, Op* op) {
  std::string kind = str_field(o, "op");
  bool found = false;
  for (const OpName& n : kOpNames) {
    if (kind == n.name) {
      op->kind = n.kind;
      found = true;
    }
  }
  if (!found) return "unknown op " + kind;
  std::string name = str_field(o, "name");
  if (!copy_ifname(name, op->name)) return kind + ": interface name too long: " + name;
  if (op->name[0] == '\0' && op->kind != OP_ROUTE_DEFAULT) return kind + ": name is required";
  std::string other = op->kind == OP_VETH_CREATE ? str_field(o, "peer")
                      : op->kind == OP_LINK_MASTER ? str_field(o, "master")
                      : op->kind == OP_LINK_RENAME ? str_field(o, "newName")
                                                   : std::string();
  if (!copy_ifname(other, op->other)) return kind + ": interface name too long: " + other;
  if ((op->kind == OP_VETH_CREATE || op->kind == OP_LINK_MASTER || op->kind == OP_LINK_RENAME) && other.empty()) {
    return kind + " " + name + ": peer/master/newName is required";
  }
  std::string addr = op->kind == OP_ROUTE_DEFAULT ? str_field(o, "gateway") : str_field(o, "address");
  if (op->kind == OP_ADDR_ADD || op->kind == OP_ROUTE_DEFAULT) {
    if (!parse_ipv4(addr, op->addr)) return kind + " " + name + ": invalid IPv4 address " + addr;
  }
  Napi::Value prefix = o.Get("prefix");
  if (op->kind == OP_ADDR_ADD) {
    if (!prefix.IsNumber()) return kind + " " + name + ": prefix is required";
    int p = prefix.As<Napi::Number>().Int32Value();
    if (p < 0 || p > 32) return kind + " " + name + ": invalid prefix";
    op->prefix = static_cast<uint8_t>(p);
  }
  Napi::Value mtu = o.Get("mtu");
  if (mtu.IsNumber()) op->mtu = mtu.As<Napi::Number>().Uint32Value();
  if (op->kind == OP_LINK_MTU && op->mtu == 0) return kind + " " + name + ": mtu is required";
  std::string mac = str_field(o, "peerMac");
  if (!mac.empty()) {
    if (!parse_mac(mac, op->mac)) return kind + " " + name + ": invalid MAC " + mac;
    op->has_mac = true;
  }
  Napi::Value ns = o.Get("peerNetns");
  if (ns.IsObject()) {
    Napi::Object n = ns.As<Napi::Object>();
    op->peer_ns_path = str_field(n, "path");
    Napi::Value pid = n.Get("pid");
    if (pid.IsNumber()) op->peer_ns_pid = pid.As<Napi::Number>().Int32Value();
    if (op->peer_ns_path.empty() && op->peer_ns_pid <= 0) return kind + " " + name + ": peerNetns needs pid or path";
  }
  op->if_exists_ok = o.Get("ifExistsOk").ToBoolean().Value();
  op->if_missing_ok = o.Get("ifMissingOk").ToBoolean().Value();
  if (op->kind == OP_VETH_CREATE) {
    op->in_host = o.Get("inHost").ToBoolean().Value();
    op->up = o.Get("up").ToBoolean().Value();
    std::string master = str_field(o, "master");
    if (!copy_ifname(master, op->master)) return kind + " " + name + ": interface name too long: " + master;
  }
  return std::string();
}

// netlinkApply(ops, target?, files?): runs ops in order, in the host's namespace or, with
// target {pid} or {path}, in that network namespace from a cloned child; files
// ([{path, data, mode}]) are rewritten in place meanwhile (see write_files).
Napi::Value NetlinkApply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "netlinkApply: ops must be an array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array arr = info[0].As<Napi::Array>();
  // A bound on the work of one call (and on the child's record array).
  if (arr.Length() > 256) {
    Napi::TypeError::New(env, "netlinkApply: at most 256 ops per call").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::vector<Op> ops(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Op& op = ops[i];
    memset(op.name, 0, sizeof(op.name));
    memset(op.other, 0, sizeof(op.other));
    memset(op.addr, 0, sizeof(op.addr));
    memset(op.mac, 0, sizeof(op.mac));
    op.prefix = 0;
    op.has_mac = false;
    op.mtu = 0;
    op.peer_ns_fd = -1;
    op.peer_ns_pid = 0;
    op.if_exists_ok = false;
    op.if_missing_ok = false;
    op.in_host = false;
    op.host_ns_fd = -1;
    memset(op.master, 0, sizeof(op.master));
    op.master_index = 0;
    op.up = false;
    Napi::Value v = arr.Get(i);
    std::string err = v.IsObject() ? parse_op(v.As<Napi::Object>(), &op) : "op must be an object";
    if (!err.empty()) {
      Napi::TypeError::New(env, "netlinkApply: op " + std::to_string(i) + ": " + err).ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  std::string target_path;
  int target_pid = 0;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object t = info[1].As<Napi::Object>();
    target_path = str_field(t, "path");
    Napi::Value pid = t.Get("pid");
    if (pid.IsNumber()) target_pid = pid.As<Napi::Number>().Int32Value();
    if (target_path.empty() && target_pid <= 0) {
      Napi::TypeError::New(env, "netlinkApply: target needs pid or path").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // A master is looked up in this process's namespace: the named end must be created there.
    for (size_t i = 0; i < ops.size(); i++) {
      if (ops[i].master[0] != '\0' && !ops[i].in_host) {
        Napi::TypeError::New(env, "netlinkApply: op " + std::to_string(i) + ": veth.create " + ops[i].name +
                                      ": master in a target namespace needs inHost")
            .ThrowAsJavaScriptException();
        return env.Undefined();
      }
    }
  }
  std::vector<InPlaceFile> files;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsArray()) {
      Napi::TypeError::New(env, "netlinkApply: files must be an array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Array list = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); i++) {
      std::string where = "netlinkApply: files[" + std::to_string(i) + "]";
      Napi::Value v = list.Get(i);
      if (!v.IsObject()) {
        Napi::TypeError::New(env, where + " must be an object").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Object o = v.As<Napi::Object>();
      InPlaceFile f;
      f.path = str_field(o, "path");
      if (f.path.empty() || f.path[0] != '/' || f.path.find('\0') != std::string::npos) {
        Napi::TypeError::New(env, where + ".path must be an absolute path").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      Napi::Value data = o.Get("data");
      if (!data.IsString()) {
        Napi::TypeError::New(env, where + ".data must be a string").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      f.data = data.As<Napi::String>().Utf8Value();
      Napi::Value mode = o.Get("mode");
      int64_t m = mode.IsNumber() ? mode.As<Napi::Number>().Int64Value() : 0644;
      if (!(mode.IsUndefined() || mode.IsNumber()) || m < 0 || m > 07777) {
        Napi::TypeError::New(env, where + ".mode must be a permission number (0 to 0o7777)").ThrowAsJavaScriptException();
        return env.Undefined();
      }
      f.mode = static_cast<mode_t>(m);
      files.push_back(std::move(f));
    }
  }
  ApplyJob* job = new ApplyJob(env, std::move(ops), std::move(target_path), target_pid, std::move(files));
  Napi::Promise promise = job->Promise();
  napi_value name = Napi::String::New(env, "berth:netlinkApply");
  napi_threadsafe_function done = nullptr;
  napi_status st = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, nullptr, nullptr, nullptr,
                                                   complete_job, &done);
  if (st != napi_ok) {
    delete job;
    Napi::Error::New(env, "netlinkApply: cannot make its completion callback").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  NetlinkThreads::get().submit(job, done);
  return promise;
}

berth::ExportRegistrar reg([](Napi::Env env, Napi::Object exports) {
  exports.Set("netlinkApply", Napi::Function::New(env, NetlinkApply, "netlinkApply"));
});

}  // namespace
