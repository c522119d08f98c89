/*
 * TUN devices: open /dev/net/tun as IFF_TUN | IFF_NO_PI (bare IP packets, no
 * 4-octet packet-information prefix), optionally set the MTU and bring the link
 * up, and write batches of packets. Never configures addresses or routes (that
 * is rtnetlink's job, in the daemon) and never reads here (handle.c does).
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <net/if.h>
#include <linux/if_tun.h>

/* Runs the SIOC* ioctls on a throwaway socket in the current namespace. */
static int link_setup(const char *name, uint32_t mtu, int up, uint32_t *mtu_out, int *ifindex, const char **call) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *call = "socket(ioctl)";
    return errno;
  }
  struct ifreq ifr;
  int err = 0;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (mtu) {
    ifr.ifr_mtu = (int)mtu;
    if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
      err = errno, *call = "ioctl(SIOCSIFMTU)";
      goto out;
    }
  }
  if (up) {
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
      err = errno, *call = "ioctl(SIOCGIFFLAGS)";
      goto out;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
      err = errno, *call = "ioctl(SIOCSIFFLAGS)";
      goto out;
    }
  }
  if (ioctl(s, SIOCGIFMTU, &ifr) < 0) {
    err = errno, *call = "ioctl(SIOCGIFMTU)";
    goto out;
  }
  *mtu_out = (uint32_t)ifr.ifr_mtu;
  if (ioctl(s, SIOCGIFINDEX, &ifr) < 0) {
    err = errno, *call = "ioctl(SIOCGIFINDEX)";
    goto out;
  }
  *ifindex = ifr.ifr_ifindex;
out:
  close(s);
  return err;
}

/* tunOpen(name: string|null, netns: string|null, mtu: number (0 = keep), up: boolean,
 *         blocking: boolean, stats: Float64Array, vnet: boolean) -> { handle, name, mtu, ifindex }
 * vnet: IFF_VNET_HDR with TSO, so that writes coalesce TCP segments and reads split TCP super-packets
 * (tungro.c); JavaScript sees bare IP packets either way. */
napi_value tun_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value a[7];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 7) return throw_type(env, "tunOpen needs 7 arguments");
  char name[IFNAMSIZ], ns[4096];
  if (arg_string(env, a[0], name, sizeof name, NULL)) return throw_type(env, "TUN name must be a string of at most 15 octets");
  if (arg_string(env, a[1], ns, sizeof ns, NULL)) return throw_type(env, "netns must be a path string");
  uint32_t mtu;
  if (arg_u32(env, a[2], &mtu, NULL)) return throw_type(env, "mtu must be a number");
  bool up = false, blocking = false, vnet = false;
  napi_get_value_bool(env, a[3], &up);
  napi_get_value_bool(env, a[4], &blocking);
  napi_get_value_bool(env, a[6], &vnet);

  netns_guard g;
  const char *call = NULL;
  int err = netns_enter(ns, &g, &call);
  if (err) return throw_errno(env, err, call);
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | (blocking ? 0 : O_NONBLOCK));
  if (fd < 0) {
    err = errno, call = "open(/dev/net/tun)";
    goto fail;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (vnet ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    err = errno, call = "ioctl(TUNSETIFF)";
    goto fail;
  }
  memcpy(name, ifr.ifr_name, IFNAMSIZ);
  name[IFNAMSIZ - 1] = 0;
  /* TCP super-packets (TSO) and partial checksums from the kernel: split and completed on read (tungro.c). */
  if (vnet && ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)) < 0) {
    err = errno, call = "ioctl(TUNSETOFFLOAD)";
    goto fail;
  }
  uint32_t mtu_now = 0;
  int ifindex = 0;
  err = link_setup(name, mtu, up, &mtu_now, &ifindex, &call);
  if (err) goto fail;
  netns_leave(&g);

  io_handle *h;
  uint8_t *tso = NULL;
  if (vnet && !(tso = malloc(TUN_TSO_SCRATCH))) {
    close(fd);
    return throw_errno(env, ENOMEM, "malloc");
  }
  napi_value hv = handle_new(env, fd, IO_TUN, a[5], &h);
  if (!hv) {
    free(tso);
    return NULL;
  }
  h->vnet = vnet;
  h->tso = tso;
  napi_value out, v;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", hv);
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, out, "name", v);
  napi_create_uint32(env, mtu_now, &v);
  napi_set_named_property(env, out, "mtu", v);
  napi_create_int32(env, ifindex, &v);
  napi_set_named_property(env, out, "ifindex", v);
  return out;

fail:
  if (fd >= 0) close(fd);
  netns_leave(&g);
  return throw_errno(env, err, call);
}

/* Writes packets one write(2) each. Sets *full on EAGAIN (the rest counted). */
static uint32_t write_plain(io_handle *h, uint8_t **pk, size_t *ln, uint32_t count, int *full) {
  uint32_t ok = 0;
  for (uint32_t i = 0; i < count; i++) {
    ssize_t r;
    do {
      r = write(h->fd, pk[i], ln[i]);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) { /* the rest would fail too: count them all */
        h->stats[ST_TX_ERRORS] += count - i;
        h->stats[ST_TX_LAST_ERRNO] = e;
        *full = 1;
        break;
      }
      stat_tx_error(h, e);
      continue;
    }
    ok++;
  }
  return ok;
}

/* tunWrite(handle, packets: Uint8Array[], count) -> number written. Never throws for a packet:
 * a refused packet (or a non-Uint8Array element) is counted in the stats and skipped. */
napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value a[3];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], IO_TUN);
  if (!h) return NULL;
  uint32_t count;
  if (arg_u32(env, a[2], &count, NULL)) return throw_type(env, "count must be a number");
  count = send_count_open(h, count);
  uint8_t *pk[IO_MAX_BATCH];
  size_t ln[IO_MAX_BATCH];
  uint32_t ok = 0;
  int full = 0;
  /* In chunks of IO_MAX_BATCH packets, as raw6Send and udp4Send do; a full queue (EAGAIN) counts
   * the rest of the chunk, then of the call. */
  for (uint32_t i = 0; i < count && !full;) {
    uint32_t n = 0;
    for (; i < count && n < IO_MAX_BATCH; i++) {
      napi_value el;
      if (napi_get_element(env, a[1], i, &el) != napi_ok || arg_bytes(env, el, &pk[n], &ln[n]) || ln[n] == 0) {
        stat_tx_error(h, EINVAL);
        continue;
      }
      n++;
    }
    ok += h->vnet ? tun_write_vnet(h, pk, ln, n, &full) : write_plain(h, pk, ln, n, &full);
    if (full && i < count) h->stats[ST_TX_ERRORS] += count - i;
  }
  h->stats[ST_TX_PACKETS] += ok;
  napi_value res;
  napi_create_uint32(env, ok, &res);
  return res;
}
