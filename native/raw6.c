/*
 * Raw IPv6 sender: complete IPv6 packets (header included) through
 * socket(AF_INET6, SOCK_RAW, IPPROTO_RAW) with IPV6_HDRINCL, so the daemon can
 * send packets with a Home Address option or a type 2 routing header that the
 * kernel would never build. The kernel routes each packet by its header's
 * Destination Address (octets 24..39) and sends it as is. Never receives
 * (an IPPROTO_RAW socket gets nothing), never rewrites a packet.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <netinet/in.h>

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

#define CHUNK 64

/* raw6Open(netns: string|null, ifname: string|null, sndbuf: number, stats) -> { handle, ifindex } */
napi_value raw6_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value a[4];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 4) return throw_type(env, "raw6Open needs 4 arguments");
  char ns[4096], ifname[IFNAMSIZ];
  int have_if = 0;
  if (arg_string(env, a[0], ns, sizeof ns, NULL)) return throw_type(env, "netns must be a path string");
  if (arg_string(env, a[1], ifname, sizeof ifname, &have_if)) return throw_type(env, "interface name must be a string of at most 15 octets");
  uint32_t sndbuf;
  if (arg_u32(env, a[2], &sndbuf, NULL)) return throw_type(env, "sndbuf must be a number");
  netns_guard g;
  const char *call = NULL;
  int err = netns_enter(ns, &g, &call), fd = -1;
  unsigned ifindex = 0;
  if (err) return throw_errno(env, err, call);
  fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) {
    err = errno, call = "socket(AF_INET6, SOCK_RAW, IPPROTO_RAW)";
    goto fail;
  }
  int one = 1;
  /* IPPROTO_RAW already implies it on Linux; the option (Linux >= 4.5) makes it explicit. */
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof one) < 0 && errno != ENOPROTOOPT) {
    err = errno, call = "setsockopt(IPV6_HDRINCL)";
    goto fail;
  }
  if (have_if) {
    ifindex = if_nametoindex(ifname);
    if (!ifindex) {
      err = errno ? errno : ENODEV, call = "if_nametoindex";
      goto fail;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0) {
      err = errno, call = "setsockopt(SO_BINDTODEVICE)";
      goto fail;
    }
  }
  if (sndbuf) {
    int v = (int)sndbuf;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  }
  netns_leave(&g);

  io_handle *h;
  napi_value hv = handle_new(env, fd, IO_RAW6, a[3], &h);
  if (!hv) return NULL;
  napi_value out, v;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", hv);
  napi_create_uint32(env, ifindex, &v);
  napi_set_named_property(env, out, "ifindex", v);
  h->ifindex = (int)ifindex;
  return out;

fail:
  if (fd >= 0) close(fd);
  netns_leave(&g);
  return throw_errno(env, err, call);
}

/* Sends m prepared messages; returns how many went, counting refusals. Stops at EAGAIN/ENOBUFS. */
int send_prepared(io_handle *h, struct mmsghdr *msgs, uint32_t m, int *stop) {
  uint32_t done = 0, ok = 0;
  while (done < m) {
    int r = sendmmsg(h->fd, msgs + done, m - done, MSG_DONTWAIT);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        h->stats[ST_TX_ERRORS] += m - done;
        h->stats[ST_TX_LAST_ERRNO] = e;
        *stop = 1;
        break;
      }
      stat_tx_error(h, e); /* this one message is refused (EMSGSIZE, ENETUNREACH, ...): skip it */
      done++;
      continue;
    }
    done += (uint32_t)r;
    ok += (uint32_t)r;
  }
  return (int)ok;
}

/* raw6Send(handle, packets: Uint8Array[], count) -> number sent. Never throws for a packet. */
napi_value raw6_send(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], IO_RAW6);
  if (!h) return NULL;
  uint32_t count;
  if (arg_u32(env, a[2], &count, NULL)) return throw_type(env, "count must be a number");
  uint32_t ok = 0;
  count = send_count_open(h, count);
  struct mmsghdr msgs[CHUNK];
  struct iovec iov[CHUNK];
  struct sockaddr_in6 dst[CHUNK];
  int stop = 0;
  for (uint32_t i = 0; i < count && !stop;) {
    uint32_t m = 0;
    for (; i < count && m < CHUNK; i++) {
      napi_value el;
      uint8_t *p;
      size_t len;
      if (napi_get_element(env, a[1], i, &el) != napi_ok || arg_bytes(env, el, &p, &len) || len < 40 || (p[0] >> 4) != 6) {
        stat_tx_error(h, EINVAL);
        continue;
      }
      memset(&dst[m], 0, sizeof dst[m]);
      dst[m].sin6_family = AF_INET6;
      memcpy(&dst[m].sin6_addr, p + 24, 16);
      if (IN6_IS_ADDR_LINKLOCAL(&dst[m].sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&dst[m].sin6_addr))
        dst[m].sin6_scope_id = (uint32_t)h->ifindex;
      iov[m].iov_base = p;
      iov[m].iov_len = len;
      memset(&msgs[m], 0, sizeof msgs[m]);
      msgs[m].msg_hdr.msg_name = &dst[m];
      msgs[m].msg_hdr.msg_namelen = sizeof dst[m];
      msgs[m].msg_hdr.msg_iov = &iov[m];
      msgs[m].msg_hdr.msg_iovlen = 1;
      m++;
    }
    ok += (uint32_t)send_prepared(h, msgs, m, &stop);
    if (stop && i < count) {
      h->stats[ST_TX_ERRORS] += count - i;
    }
  }
  h->stats[ST_TX_PACKETS] += ok;
  napi_value res;
  napi_create_uint32(env, ok, &res);
  return res;
}
