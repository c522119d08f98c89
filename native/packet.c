/*
 * AF_PACKET tap for IPv6 packets that a kernel without MIPv6 would drop: those
 * whose first extension header is a Destination Options header holding a Home
 * Address option (0xC9), or a type 2 Routing header. The socket is bound with
 * ETH_P_ALL because such taps run before the netdev ingress hook, where our
 * nftables rule drops these packets; an ETH_P_IPV6 socket would run after it
 * and see nothing. A classic BPF filter keeps every other packet in the kernel.
 * Never sends, never touches packets after the filter (the JS side gets them
 * whole, link header stripped by SOCK_DGRAM).
 *
 * The filter's rule is mirrored by tunnel/mipfilter.ts (the fake's classifier)
 * and by tunnel/nft.ts (which must drop a subset of what this accepts).
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

/* ---- a tiny assembler with labels, for the unrolled option walk -------------------------- */

enum { L_NEXT = -1, L_ACCEPT = 0, L_REJECT, L_RH, L_DST, L_FIXED = 4 };
#define WALK 8                                  /* options examined in the Destination Options header */
#define L_PAD1(i) (L_FIXED + 2 * (i))           /* Pad1 step of iteration i */
#define L_ITER(i) (L_FIXED + 2 * (i) + 1)       /* start of iteration i (WALK = reject) */
#define NLABELS (L_FIXED + 2 * WALK + 2)
#define MAXINS 256

typedef struct {
  struct sock_filter ins[MAXINS];
  int jt[MAXINS], jf[MAXINS], ja[MAXINS];
  int label[NLABELS];
  int n;
} bpf_asm;

static void emit(bpf_asm *p, uint16_t code, uint32_t k, int jt, int jf) {
  p->ins[p->n] = (struct sock_filter){code, 0, 0, k};
  p->jt[p->n] = jt;
  p->jf[p->n] = jf;
  p->ja[p->n] = L_NEXT;
  p->n++;
}
static void jump(bpf_asm *p, int target) {
  emit(p, BPF_JMP | BPF_JA, 0, L_NEXT, L_NEXT);
  p->ja[p->n - 1] = target;
}
static void here(bpf_asm *p, int label) { p->label[label] = p->n; }

static int resolve(bpf_asm *p) {
  for (int i = 0; i < p->n; i++) {
    int t;
    if ((t = p->jt[i]) != L_NEXT) {
      int d = p->label[t] - i - 1;
      if (d < 0 || d > 255) return -1;
      p->ins[i].jt = (uint8_t)d;
    }
    if ((t = p->jf[i]) != L_NEXT) {
      int d = p->label[t] - i - 1;
      if (d < 0 || d > 255) return -1;
      p->ins[i].jf = (uint8_t)d;
    }
    if ((t = p->ja[i]) != L_NEXT) p->ins[i].k = (uint32_t)(p->label[t] - i - 1);
  }
  return 0;
}

/* Offsets are from the IPv6 header: on a SOCK_DGRAM packet socket the filter sees the
 * packet without its link header. */
static int build_mip_filter(bpf_asm *p) {
  memset(p, 0, sizeof *p);
  emit(p, BPF_LD | BPF_H | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL), L_NEXT, L_NEXT);
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, ETH_P_IPV6, L_NEXT, L_REJECT);
  emit(p, BPF_LD | BPF_B | BPF_ABS, 0, L_NEXT, L_NEXT);
  emit(p, BPF_ALU | BPF_AND | BPF_K, 0xf0, L_NEXT, L_NEXT);
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0x60, L_NEXT, L_REJECT);
  emit(p, BPF_LD | BPF_B | BPF_ABS, 6, L_NEXT, L_NEXT); /* Next Header */
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 43, L_RH, L_NEXT);
  /* Plain ESP (no extension header first): an MN at home and its HA talk without HAO / RH2, and
   * with no kernel ESP this process is the only one that can read it. */
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 50, L_ACCEPT, L_NEXT);
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 60, L_DST, L_REJECT);

  here(p, L_RH); /* Routing header first: accept type 2 */
  emit(p, BPF_LD | BPF_B | BPF_ABS, 42, L_NEXT, L_NEXT);
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 2, L_ACCEPT, L_REJECT);

  here(p, L_DST);
  /* The standard 24-octet form has `c9 10` at octet 46 (after PadN 01 02 00 00). nft.ts drops
   * exactly that shape, so it is accepted here without the walk: nothing nft drops is lost. */
  emit(p, BPF_LD | BPF_H | BPF_ABS, 46, L_NEXT, L_NEXT);
  emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0xc910, L_ACCEPT, L_NEXT);
  /* M[0] = end of the header = 40 + 8 * (Hdr Ext Len + 1); X = first option. */
  emit(p, BPF_LD | BPF_B | BPF_ABS, 41, L_NEXT, L_NEXT);
  emit(p, BPF_ALU | BPF_ADD | BPF_K, 1, L_NEXT, L_NEXT);
  emit(p, BPF_ALU | BPF_LSH | BPF_K, 3, L_NEXT, L_NEXT);
  emit(p, BPF_ALU | BPF_ADD | BPF_K, 40, L_NEXT, L_NEXT);
  emit(p, BPF_ST, 0, L_NEXT, L_NEXT);
  emit(p, BPF_LDX | BPF_W | BPF_IMM, 42, L_NEXT, L_NEXT);
  for (int i = 0; i < WALK; i++) {
    here(p, L_ITER(i));
    emit(p, BPF_LD | BPF_MEM, 0, L_NEXT, L_NEXT);          /* A = end */
    emit(p, BPF_ALU | BPF_SUB | BPF_X, 0, L_NEXT, L_NEXT); /* A = end - X */
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, L_REJECT, L_NEXT); /* at the end: no HAO */
    emit(p, BPF_JMP | BPF_JGT | BPF_K, 0xffff, L_REJECT, L_NEXT); /* past it (wrapped): malformed */
    emit(p, BPF_LD | BPF_B | BPF_IND, 0, L_NEXT, L_NEXT);  /* option type */
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0xc9, L_ACCEPT, L_NEXT);
    emit(p, BPF_JMP | BPF_JEQ | BPF_K, 0, L_PAD1(i), L_NEXT);
    emit(p, BPF_LD | BPF_B | BPF_IND, 1, L_NEXT, L_NEXT);  /* option data length */
    emit(p, BPF_ALU | BPF_ADD | BPF_K, 2, L_NEXT, L_NEXT);
    emit(p, BPF_ALU | BPF_ADD | BPF_X, 0, L_NEXT, L_NEXT);
    emit(p, BPF_MISC | BPF_TAX, 0, L_NEXT, L_NEXT);
    jump(p, L_ITER(i + 1));
    here(p, L_PAD1(i));
    emit(p, BPF_MISC | BPF_TXA, 0, L_NEXT, L_NEXT);
    emit(p, BPF_ALU | BPF_ADD | BPF_K, 1, L_NEXT, L_NEXT);
    emit(p, BPF_MISC | BPF_TAX, 0, L_NEXT, L_NEXT);
  }
  here(p, L_ITER(WALK));
  here(p, L_REJECT);
  emit(p, BPF_RET | BPF_K, 0, L_NEXT, L_NEXT);
  here(p, L_ACCEPT);
  emit(p, BPF_RET | BPF_K, 0x40000, L_NEXT, L_NEXT);
  return resolve(p);
}

static void copy_out(struct sock_filter *dst, const bpf_asm *p) { memcpy(dst, p->ins, sizeof(struct sock_filter) * p->n); }

/* mipFilter() -> Uint8Array: the program as struct sock_filter[] (8 octets each, host order). */
napi_value mip_filter(napi_env env, napi_callback_info info) {
  (void)info;
  bpf_asm p; /* on the stack (a few KiB): worker threads may build it at the same time */
  if (build_mip_filter(&p)) return throw_type(env, "BPF assembly failed");
  napi_value ab, arr;
  void *data;
  NAPI_OK(napi_create_arraybuffer(env, sizeof(struct sock_filter) * p.n, &data, &ab));
  copy_out(data, &p);
  NAPI_OK(napi_create_typedarray(env, napi_uint8_array, sizeof(struct sock_filter) * p.n, ab, 0, &arr));
  return arr;
}

/* packetOpen(ifname, netns: string|null, filter: Uint8Array|null (null = the MIP filter),
 *            rcvbuf: number, stats) -> { handle, ifindex, ignoreOutgoing } */
napi_value packet_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 5) return throw_type(env, "packetOpen needs 5 arguments");
  char ifname[IFNAMSIZ], ns[4096];
  int have_if = 0;
  if (arg_string(env, a[0], ifname, sizeof ifname, &have_if) || !have_if)
    return throw_type(env, "interface name must be a string of at most 15 octets");
  if (arg_string(env, a[1], ns, sizeof ns, NULL)) return throw_type(env, "netns must be a path string");
  struct sock_fprog prog;
  bpf_asm mip;
  struct sock_filter *custom = NULL;
  napi_valuetype ft;
  napi_typeof(env, a[2], &ft);
  if (ft == napi_null || ft == napi_undefined) {
    if (build_mip_filter(&mip)) return throw_type(env, "BPF assembly failed");
    prog.len = (unsigned short)mip.n;
    prog.filter = mip.ins;
  } else {
    uint8_t *fb;
    size_t flen;
    if (arg_bytes(env, a[2], &fb, &flen) || flen == 0 || flen % sizeof(struct sock_filter) || flen / 8 > BPF_MAXINSNS)
      return throw_type(env, "filter must be a Uint8Array of struct sock_filter (8 octets each)");
    custom = malloc(flen);
    if (!custom) return throw_errno(env, ENOMEM, "malloc");
    memcpy(custom, fb, flen);
    prog.len = (unsigned short)(flen / sizeof(struct sock_filter));
    prog.filter = custom;
  }
  uint32_t rcvbuf;
  if (arg_u32(env, a[3], &rcvbuf, NULL)) {
    free(custom);
    return throw_type(env, "rcvbuf must be a number");
  }

  netns_guard g;
  const char *call = NULL;
  int err = netns_enter(ns, &g, &call), fd = -1, ignore_out = 0;
  unsigned ifindex = 0;
  if (err) {
    free(custom);
    return throw_errno(env, err, call);
  }
  /* Protocol 0: nothing is queued before bind(), so no unfiltered packet slips in. */
  fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    err = errno, call = "socket(AF_PACKET)";
    goto fail;
  }
  ifindex = if_nametoindex(ifname);
  if (ifindex == 0) {
    err = errno ? errno : ENODEV, call = "if_nametoindex";
    goto fail;
  }
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    err = errno, call = "setsockopt(SO_ATTACH_FILTER)";
    goto fail;
  }
  int one = 1;
  if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) == 0) ignore_out = 1;
  if (rcvbuf) {
    int v = (int)rcvbuf;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  }
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = (int)ifindex;
  if (bind(fd, (struct sockaddr *)&ll, sizeof ll) < 0) {
    err = errno, call = "bind(AF_PACKET)";
    goto fail;
  }
  netns_leave(&g);
  free(custom);

  io_handle *h;
  napi_value hv = handle_new(env, fd, IO_PACKET, a[4], &h);
  if (!hv) return NULL;
  napi_value out, v;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "handle", hv);
  napi_create_uint32(env, ifindex, &v);
  napi_set_named_property(env, out, "ifindex", v);
  napi_get_boolean(env, ignore_out, &v);
  napi_set_named_property(env, out, "ignoreOutgoing", v);
  return out;

fail:
  if (fd >= 0) close(fd);
  netns_leave(&g);
  free(custom);
  return throw_errno(env, err, call);
}
