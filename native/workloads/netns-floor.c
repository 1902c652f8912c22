/* The kernel floor of a container's bridge network, for berth's network benchmark:
 * `netns-floor ITERATIONS CONCURRENCY PREFIX BRIDGE ADDRESS/PLEN GATEWAY MTU`.
 * Each of CONCURRENCY threads, per iteration: unshare(CLONE_NEWNET) (a fresh
 * namespace), one rtnetlink socket in it, and through that socket alone: a veth
 * pair whose host end is created in the program's original namespace (attached to
 * BRIDGE, up) and whose peer `eth0` is born in the new one (MTU, MAC), then lo up,
 * eth0's address (ADDRESS + thread), eth0 up and the default route via GATEWAY, as
 * one batch of requests. Teardown: the socket is closed and the thread goes back,
 * which drops the namespace's last reference; the kernel removes it, the veth pair
 * with it. Nothing outlives the program: the namespaces are anonymous.
 *
 * Threads start each phase together (barriers) and read CLOCK_MONOTONIC around it;
 * a phase's time is its first start to its last end across the threads. One line
 * per iteration, "NETNS LINKS RELEASE" in ns: namespace + socket, the link work,
 * the teardown. Host end names are PREFIX,
 * the thread (hex) and the iteration (base 36): unique, since a namespace's
 * removal finishes after the program moves on. Exit 2 on bad arguments, 1 naming
 * the step and errno on a failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 16
#define MAX_ITERATIONS 46656 /* three base-36 digits */

static int iterations, concurrency, mtu, plen, bridge_index, host_fd;
static const char *prefix;
static struct in_addr address, gateway;
static pthread_barrier_t barrier;
static volatile int failed;

struct msg {
  char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
  size_t len; /* bytes of every message built so far */
  struct nlmsghdr *cur;
};

static void msg_begin(struct msg *m, uint16_t type, uint16_t flags, uint32_t seq) {
  m->cur = (struct nlmsghdr *)(m->buf + m->len);
  memset(m->cur, 0, NLMSG_HDRLEN);
  m->cur->nlmsg_len = NLMSG_HDRLEN;
  m->cur->nlmsg_type = type;
  m->cur->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  m->cur->nlmsg_seq = seq;
}

static void *msg_put(struct msg *m, size_t len) {
  char *p = (char *)m->cur + NLMSG_ALIGN(m->cur->nlmsg_len);
  memset(p, 0, NLMSG_ALIGN(len));
  m->cur->nlmsg_len = NLMSG_ALIGN(m->cur->nlmsg_len) + NLMSG_ALIGN(len);
  return p;
}

static struct rtattr *attr(struct msg *m, uint16_t type, const void *data, size_t len) {
  struct rtattr *a = msg_put(m, RTA_LENGTH(len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  return a;
}

static void attr_u32(struct msg *m, uint16_t type, uint32_t v) { attr(m, type, &v, sizeof v); }
static void nest_end(struct msg *m, struct rtattr *a) { a->rta_len = (char *)m->cur + m->cur->nlmsg_len - (char *)a; }
static void msg_end(struct msg *m) { m->len += NLMSG_ALIGN(m->cur->nlmsg_len); }

/* Sends every message of m at once and reads one ack per message; returns 0 or the first errno. */
static int transact(int fd, struct msg *m, int count, const char **what, const char *const names[]) {
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, m->buf, m->len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
    *what = "send";
    return errno;
  }
  int first = 0;
  char reply[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (int acks = 0; acks < count;) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      *what = "recv";
      return errno;
    }
    int len = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type != NLMSG_ERROR) continue;
      const struct nlmsgerr *e = NLMSG_DATA(h);
      if (e->error != 0 && first == 0) {
        first = -e->error;
        *what = names[h->nlmsg_seq < (uint32_t)count ? h->nlmsg_seq : 0];
      }
      acks++;
    }
  }
  return first;
}

/* The link work of one thread in its fresh namespace, on socket fd. */
static int links(int fd, int thread, int iteration, const char **what) {
  static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  char host_end[IFNAMSIZ];
  snprintf(host_end, sizeof host_end, "%s%x%c%c%c", prefix, thread, digits[iteration / 1296],
           digits[(iteration / 36) % 36], digits[iteration % 36]);
  struct msg m = {.len = 0};
  /* the veth: host end created in the original namespace, on the bridge and up; eth0 here, up */
  msg_begin(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
  struct ifinfomsg *ifi = msg_put(&m, sizeof *ifi);
  ifi->ifi_change = ifi->ifi_flags = IFF_UP;
  attr(&m, IFLA_IFNAME, host_end, strlen(host_end) + 1);
  attr_u32(&m, IFLA_MTU, (uint32_t)mtu);
  attr_u32(&m, IFLA_NET_NS_FD, (uint32_t)host_fd);
  if (bridge_index > 0) attr_u32(&m, IFLA_MASTER, (uint32_t)bridge_index);
  struct rtattr *info = attr(&m, IFLA_LINKINFO, NULL, 0);
  attr(&m, IFLA_INFO_KIND, "veth", 5);
  struct rtattr *data = attr(&m, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer = attr(&m, VETH_INFO_PEER, NULL, 0);
  msg_put(&m, sizeof(struct ifinfomsg)); /* the peer's flags: it is not up yet (its pair is not complete) */
  attr(&m, IFLA_IFNAME, "eth0", 5);
  attr_u32(&m, IFLA_MTU, (uint32_t)mtu);
  uint8_t mac[6] = {0x02, 0x42, 0, 0, 0, 0};
  memcpy(mac + 2, &address.s_addr, 4);
  mac[5] = (uint8_t)(mac[5] + thread);
  attr(&m, IFLA_ADDRESS, mac, 6);
  nest_end(&m, peer);
  nest_end(&m, data);
  nest_end(&m, info);
  msg_end(&m);
  static const char *const create[] = {"veth.create"};
  int err = transact(fd, &m, 1, what, create);
  if (err != 0) return err;

  struct ifreq req;
  memset(&req, 0, sizeof req);
  strcpy(req.ifr_name, "eth0");
  if (ioctl(fd, SIOCGIFINDEX, &req) < 0) {
    *what = "SIOCGIFINDEX eth0";
    return errno;
  }
  /* one batch: lo up, eth0's address, eth0 up, the default route */
  m.len = 0;
  msg_begin(&m, RTM_NEWLINK, 0, 0);
  ifi = msg_put(&m, sizeof *ifi);
  ifi->ifi_index = 1; /* lo is the first device of every namespace */
  ifi->ifi_change = ifi->ifi_flags = IFF_UP;
  msg_end(&m);
  msg_begin(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, 1);
  struct ifaddrmsg *ifa = msg_put(&m, sizeof *ifa);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (uint8_t)plen;
  ifa->ifa_index = (uint32_t)req.ifr_ifindex;
  struct in_addr mine = {.s_addr = htonl(ntohl(address.s_addr) + (uint32_t)thread)};
  attr(&m, IFA_LOCAL, &mine, 4);
  attr(&m, IFA_ADDRESS, &mine, 4);
  msg_end(&m);
  msg_begin(&m, RTM_NEWLINK, 0, 2);
  ifi = msg_put(&m, sizeof *ifi);
  ifi->ifi_index = req.ifr_ifindex;
  ifi->ifi_change = ifi->ifi_flags = IFF_UP;
  msg_end(&m);
  msg_begin(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, 3);
  struct rtmsg *rt = msg_put(&m, sizeof *rt);
  rt->rtm_family = AF_INET;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  attr(&m, RTA_GATEWAY, &gateway, 4);
  attr_u32(&m, RTA_OIF, (uint32_t)req.ifr_ifindex);
  msg_end(&m);
  static const char *const batch[] = {"lo up", "addr.add eth0", "eth0 up", "route.default"};
  return transact(fd, &m, 4, what, batch);
}

static void fail(int thread, const char *what, int err) {
  fprintf(stderr, "netns-floor: thread %d: %s: %s\n", thread, what, strerror(err));
  failed = 1;
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Per thread, the start and end of each phase of the current iteration (netns, links, release). */
static uint64_t stamps[MAX_THREADS][3][2];

static void *worker(void *arg) {
  int thread = (int)(intptr_t)arg;
  uint64_t(*t)[2] = stamps[thread];
  for (int i = 0; i < iterations; i++) {
    int fd = -1;
    pthread_barrier_wait(&barrier); /* netns: a namespace and a socket in it */
    t[0][0] = now_ns();
    if (!failed) {
      if (unshare(CLONE_NEWNET) < 0) fail(thread, "unshare(CLONE_NEWNET)", errno);
      else if ((fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0) fail(thread, "socket", errno);
    }
    t[0][1] = now_ns();
    pthread_barrier_wait(&barrier); /* links */
    t[1][0] = now_ns();
    const char *what = "";
    int err = fd >= 0 && !failed ? links(fd, thread, i, &what) : 0;
    if (err != 0) fail(thread, what, err);
    t[1][1] = now_ns();
    pthread_barrier_wait(&barrier); /* release */
    t[2][0] = now_ns();
    if (fd >= 0) close(fd);
    if (setns(host_fd, CLONE_NEWNET) < 0) fail(thread, "setns back", errno);
    t[2][1] = now_ns();
    pthread_barrier_wait(&barrier); /* done: every thread and main see the same `failed` */
    if (failed) break;
  }
  return NULL;
}

/* Wall time of phase p across the threads: the first start to the last end. */
static uint64_t phase_ns(int p) {
  uint64_t first = stamps[0][p][0], last = stamps[0][p][1];
  for (int i = 1; i < concurrency; i++) {
    if (stamps[i][p][0] < first) first = stamps[i][p][0];
    if (stamps[i][p][1] > last) last = stamps[i][p][1];
  }
  return last - first;
}

static int usage(const char *why) {
  fprintf(stderr, "netns-floor: %s\nusage: netns-floor ITERATIONS CONCURRENCY PREFIX BRIDGE ADDRESS/PLEN GATEWAY MTU\n",
          why);
  return 2;
}

int main(int argc, char **argv) {
  if (argc != 8) return usage("wrong number of arguments");
  iterations = atoi(argv[1]);
  concurrency = atoi(argv[2]);
  prefix = argv[3];
  mtu = atoi(argv[7]);
  if (iterations < 1 || iterations > MAX_ITERATIONS) return usage("ITERATIONS must be 1..46656");
  if (concurrency < 1 || concurrency > MAX_THREADS) return usage("CONCURRENCY must be 1..16");
  if (strlen(prefix) < 1 || strlen(prefix) > IFNAMSIZ - 1 - 4) return usage("PREFIX must be 1..11 characters");
  if (mtu < 68 || mtu > 65535) return usage("MTU must be 68..65535");
  char addr[32];
  const char *slash = strchr(argv[5], '/');
  if (slash == NULL || (size_t)(slash - argv[5]) >= sizeof addr) return usage("ADDRESS/PLEN expected");
  memcpy(addr, argv[5], (size_t)(slash - argv[5]));
  addr[slash - argv[5]] = '\0';
  plen = atoi(slash + 1);
  if (inet_pton(AF_INET, addr, &address) != 1 || plen < 1 || plen > 30) return usage("bad ADDRESS/PLEN");
  if (inet_pton(AF_INET, argv[6], &gateway) != 1) return usage("bad GATEWAY");
  bridge_index = (int)if_nametoindex(argv[4]);
  if (bridge_index == 0) {
    fprintf(stderr, "netns-floor: bridge %s: %s\n", argv[4], strerror(errno));
    return 1;
  }
  host_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_fd < 0) {
    fprintf(stderr, "netns-floor: /proc/self/ns/net: %s\n", strerror(errno));
    return 1;
  }
  pthread_barrier_init(&barrier, NULL, (unsigned)concurrency + 1);
  pthread_t threads[MAX_THREADS];
  for (int t = 0; t < concurrency; t++) {
    int err = pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t);
    if (err != 0) {
      /* the threads already started wait at the first barrier forever: exit ends them */
      fprintf(stderr, "netns-floor: pthread_create: %s\n", strerror(err));
      return 1;
    }
  }
  for (int i = 0; i < iterations; i++) {
    for (int b = 0; b < 4; b++) pthread_barrier_wait(&barrier);
    if (failed) break;
    printf("%llu %llu %llu\n", (unsigned long long)phase_ns(0), (unsigned long long)phase_ns(1),
           (unsigned long long)phase_ns(2));
  }
  for (int t = 0; t < concurrency; t++) pthread_join(threads[t], NULL);
  return failed ? 1 : 0;
}
