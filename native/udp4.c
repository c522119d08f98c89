/*
 * UDP over IPv4 (RFC 5555 port 4191) in batches: bind to (address, port),
 * recvmmsg into reused slots reporting each datagram's source address and port
 * (handle.c), sendmmsg to (address, port) pairs (here). The source a datagram
 * shows is what the HA compares with the IPv4 CoA option for NAT detection, so
 * it is passed on exactly as the kernel reports it. Never connects the socket,
 * never sets SO_REUSEADDR/SO_REUSEPORT (a port in use is an error the operator
 * must see), never changes what arrives: coalesced sends reach the peer as the same datagrams.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#define CHUNK 64
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000
/* A segment plus IPv4 and UDP headers must fit the path MTU; past this, send one by one. */
#define GSO_MAX_SEG 1472

/* udp4Open(address: string, port: number, netns: string|null, bufBytes: number, stats)
 *   -> { handle, address, port } */
napi_value udp4_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 5) return throw_type(env, "udp4Open needs 5 arguments");
  char addr[64], ns[4096];
  int have_addr = 0;
  if (arg_string(env, a[0], addr, sizeof addr, &have_addr)) return throw_type(env, "address must be a string");
  uint32_t port, buf;
  if (arg_u32(env, a[1], &port, NULL) || port > 65535) return throw_type(env, "port must be 0..65535");
  if (arg_string(env, a[2], ns, sizeof ns, NULL)) return throw_type(env, "netns must be a path string");
  if (arg_u32(env, a[3], &buf, NULL)) return throw_type(env, "bufBytes must be a number");
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  if (have_addr && inet_pton(AF_INET, addr, &sin.sin_addr) != 1) return throw_errno(env, EINVAL, "inet_pton");

  netns_guard g;
  const char *call = NULL;
  int err = netns_enter(ns, &g, &call), fd = -1;
  if (err) return throw_errno(env, err, call);
  fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) {
    err = errno, call = "socket(AF_INET, SOCK_DGRAM)";
    goto fail;
  }
  if (buf) {
    int v = (int)buf;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
  }
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    err = errno, call = "bind";
    goto fail;
  }
  socklen_t sl = sizeof sin;
  if (getsockname(fd, (struct sockaddr *)&sin, &sl) < 0) {
    err = errno, call = "getsockname";
    goto fail;
  }
  netns_leave(&g);

  io_handle *h;
  napi_value hv = handle_new(env, fd, IO_UDP4, a[4], &h);
  if (!hv) return NULL;
  h->gso_max = GSO_MAX_SEG;
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", hv);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "address", v);
  napi_create_uint32(env, ntohs(sin.sin_port), &v);
  napi_set_named_property(env, out, "port", v);
  return out;

fail:
  if (fd >= 0) close(fd);
  netns_leave(&g);
  return throw_errno(env, err, call);
}

/*
 * UDP generic segmentation offload (Linux >= 4.18): a run of datagrams to the same destination,
 * all of one size (the last may be shorter), goes down the stack as ONE message with a
 * UDP_SEGMENT control message; the kernel (or the NIC) cuts it into the same datagrams at the
 * device. The receiver cannot tell. It saves the per-datagram trip through the UDP/IP output path,
 * which is most of the cost of sending (wireguard-go coalesces the same way).
 */

typedef struct {
  uint8_t *p;
  size_t len;
  uint32_t addr;
  uint16_t port;
} dgram_t;

static int send_one(io_handle *h, const dgram_t *d) {
  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl(d->addr);
  dst.sin_port = htons(d->port);
  ssize_t r;
  do {
    r = sendto(h->fd, d->p, d->len, MSG_DONTWAIT, (struct sockaddr *)&dst, sizeof dst);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

/* Sends n datagrams (n <= CHUNK), coalescing runs when h allows; returns how many went. *stop on EAGAIN/ENOBUFS. */
static uint32_t send_chunk(io_handle *h, dgram_t *d, uint32_t n, int *stop) {
  struct mmsghdr msgs[CHUNK];
  struct iovec iov[CHUNK];
  struct sockaddr_in dst[CHUNK];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctrl[CHUNK];
  uint32_t first[CHUNK], segs[CHUNK]; /* per message: index of its first datagram, datagram count */
  uint32_t m = 0;
  for (uint32_t i = 0; i < n;) {
    uint32_t k = 1;
    size_t total = d[i].len;
    if (!h->no_gso && d[i].len > 0 && d[i].len <= (size_t)h->gso_max) {
      while (i + k < n && k < GSO_MAX_SEGS && d[i + k].addr == d[i].addr && d[i + k].port == d[i].port &&
             d[i + k].len > 0 && d[i + k].len <= d[i].len && total + d[i + k].len <= GSO_MAX_BYTES) {
        total += d[i + k].len;
        k++;
        if (d[i + k - 1].len < d[i].len) break; /* only the last segment may be shorter */
      }
    }
    for (uint32_t j = 0; j < k; j++) {
      iov[i + j].iov_base = d[i + j].p;
      iov[i + j].iov_len = d[i + j].len;
    }
    memset(&dst[m], 0, sizeof dst[m]);
    dst[m].sin_family = AF_INET;
    dst[m].sin_addr.s_addr = htonl(d[i].addr);
    dst[m].sin_port = htons(d[i].port);
    memset(&msgs[m], 0, sizeof msgs[m]);
    msgs[m].msg_hdr.msg_name = &dst[m];
    msgs[m].msg_hdr.msg_namelen = sizeof dst[m];
    msgs[m].msg_hdr.msg_iov = &iov[i];
    msgs[m].msg_hdr.msg_iovlen = k;
    if (k > 1) {
      struct cmsghdr *c = (struct cmsghdr *)ctrl[m].buf;
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)d[i].len;
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
      msgs[m].msg_hdr.msg_control = ctrl[m].buf;
      msgs[m].msg_hdr.msg_controllen = sizeof ctrl[m].buf;
    }
    first[m] = i;
    segs[m] = k;
    m++;
    i += k;
  }
  uint32_t done = 0, ok = 0;
  while (done < m) {
    int r = sendmmsg(h->fd, msgs + done, m - done, MSG_DONTWAIT);
    if (r < 0) {
      int e = errno;
      if (e == EINTR) continue;
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS) {
        for (uint32_t x = done; x < m; x++) h->stats[ST_TX_ERRORS] += segs[x];
        h->stats[ST_TX_LAST_ERRNO] = e;
        *stop = 1;
        break;
      }
      if (segs[done] > 1 && (e == EIO || e == EINVAL || e == EMSGSIZE || e == ENOPROTOOPT)) {
        /* The path cannot take this run in one piece (no checksum offload, MTU, old kernel):
         * send its datagrams one by one; after EIO/ENOPROTOOPT stop coalescing on this socket. */
        if (e == EIO || e == ENOPROTOOPT) h->no_gso = 1;
        else h->gso_max = (int)d[first[done]].len - 1; /* this size is past the path MTU: never again */
        for (uint32_t j = 0; j < segs[done]; j++) {
          int e1 = send_one(h, &d[first[done] + j]);
          if (e1) stat_tx_error(h, e1);
          else ok++;
        }
      } else {
        h->stats[ST_TX_ERRORS] += segs[done];
        h->stats[ST_TX_LAST_ERRNO] = e;
      }
      done++;
      continue;
    }
    for (int x = 0; x < r; x++) {
      ok += segs[done + x];
      if (segs[done + x] > 1) h->stats[ST_TX_COALESCED] += segs[done + x];
    }
    done += (uint32_t)r;
  }
  return ok;
}

/* udp4Send(handle, packets: Uint8Array[], addrs: Uint32Array, ports: Uint16Array, count) -> number sent.
 * addrs[i] is the IPv4 address as a number (a.b.c.d = a << 24 | ...). Never throws for a datagram. */
napi_value udp4_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], IO_UDP4);
  if (!h) return NULL;
  uint32_t *addrs, count;
  uint16_t *ports;
  size_t na, np;
  if (arg_u32_array(env, a[2], &addrs, &na)) return throw_type(env, "addrs must be a Uint32Array");
  if (arg_u16_array(env, a[3], &ports, &np)) return throw_type(env, "ports must be a Uint16Array");
  if (arg_u32(env, a[4], &count, NULL) || count > na || count > np) return throw_type(env, "count exceeds addrs/ports");
  uint32_t ok = 0;
  count = send_count_open(h, count);
  dgram_t d[CHUNK];
  int stop = 0;
  for (uint32_t i = 0; i < count && !stop;) {
    uint32_t n = 0;
    for (; i < count && n < CHUNK; i++) {
      napi_value el;
      if (napi_get_element(env, a[1], i, &el) != napi_ok || arg_bytes(env, el, &d[n].p, &d[n].len)) {
        stat_tx_error(h, EINVAL);
        continue;
      }
      d[n].addr = addrs[i];
      d[n].port = ports[i];
      n++;
    }
    ok += send_chunk(h, d, n, &stop);
    if (stop && i < count) h->stats[ST_TX_ERRORS] += count - i;
  }
  h->stats[ST_TX_PACKETS] += ok;
  napi_value res;
  napi_create_uint32(env, ok, &res);
  return res;
}

/* udp4SetGso(handle, on: boolean): coalescing on (the default) or off. */
napi_value udp4_set_gso(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value a[2];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], IO_UDP4);
  if (!h) return NULL;
  bool on = true;
  napi_get_value_bool(env, a[1], &on);
  h->no_gso = on ? 0 : 1;
  return NULL;
}

/* udp4SetGro(handle, on: boolean, maxDatagram: number) -> boolean: asks the kernel to hand over
 * coalesced runs of datagrams (UDP_GRO, Linux >= 5.0); the reader splits them again. Returns
 * whether it is on. Call before readStart; the reader then needs 64 KiB slots. */
napi_value udp4_set_gro(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3], res;
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], IO_UDP4);
  if (!h) return NULL;
  if (h->poll) return throw_type(env, "set GRO before the reader starts");
  bool on = false;
  uint32_t maxd = 0;
  napi_get_value_bool(env, a[1], &on);
  if (arg_u32(env, a[2], &maxd, NULL)) return throw_type(env, "maxDatagram must be a number");
  int v = on ? 1 : 0;
  h->gro = h->fd >= 0 && setsockopt(h->fd, SOL_UDP, UDP_GRO, &v, sizeof v) == 0 && on;
  h->max_dgram = maxd;
  napi_get_boolean(env, h->gro, &res);
  return res;
}
