/*
 * dsmip6 native I/O addon: shared declarations.
 *
 * What this is: the edge between Node and the kernel for the (DS)MIPv6 tunnel
 * interface: TUN devices, an AF_PACKET tap for IPv6 packets with a Home
 * Address option or a type 2 routing header, a raw IPv6 sender, and UDP over
 * IPv4 (port 4191), each read in batches off a uv_poll and written in batches.
 *
 * What it must never do: parse or judge packets beyond what the kernel needs
 * (the exceptions: the BPF filter, which mirrors tunnel/mipfilter.ts, and the
 * TCP offload at the TUN in tungro.c, which reads TCP/IP headers to do what the
 * kernel's GRO and GSO would),
 * block the event loop (every fd is non-blocking unless a caller asks
 * otherwise), throw from a data-plane call (writes count errors, they do not
 * throw), or leave the calling thread in another network namespace.
 */
#ifndef DSMIP6_IO_H
#define DSMIP6_IO_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>

enum io_kind { IO_TUN = 1, IO_PACKET = 2, IO_RAW6 = 3, IO_UDP4 = 4 };

/* Slots of the Float64Array the JS side hands to every open; native code only adds to them. */
enum io_stat {
  ST_RX_PACKETS = 0,   /* packets delivered to JS */
  ST_RX_BATCHES = 1,   /* callbacks made */
  ST_RX_TRUNCATED = 2, /* dropped: larger than a slot */
  ST_RX_ERRORS = 3,    /* read/recvmmsg failures other than EAGAIN/EINTR */
  ST_RX_LAST_ERRNO = 4,
  ST_TX_PACKETS = 5,   /* accepted by the kernel */
  ST_TX_ERRORS = 6,    /* refused by the kernel (or not a packet) */
  ST_TX_LAST_ERRNO = 7,
  ST_RX_SKIPPED = 8,   /* AF_PACKET: our own outgoing packets, when PACKET_IGNORE_OUTGOING is missing */
  ST_RX_COALESCED = 9, /* UDP: datagrams that came in a coalesced (GRO) read and were split again */
  ST_TX_COALESCED = 10,/* UDP: datagrams sent inside a coalesced (GSO) message */
  ST_COUNT = 11
};

/* Control buffer per message for the UDP_GRO segment size. */
#define IO_CTRL_SPACE 64

/* Largest batch one callback or one write call handles. */
#define IO_MAX_BATCH 1024

typedef struct io_handle {
  uint32_t magic;
  int fd;
  enum io_kind kind;
  napi_env env;
  napi_ref self_ref;   /* strong while a reader is running, so GC cannot close a reading fd */
  double *stats;
  napi_ref stats_ref;

  /* reader (NULL poll when not reading) */
  uv_poll_t *poll;
  napi_ref cb_ref, data_ref, lens_ref, offs_ref, addrs_ref, ports_ref;
  napi_async_context actx;
  uint8_t *data;       /* batch * slot octets, owned by a JS ArrayBuffer */
  uint32_t slot, batch;
  uint32_t *lens, *offs, *addrs;
  uint16_t *ports;
  void *msgs;          /* struct mmsghdr[batch] for the recvmmsg kinds */
  void *iovs;          /* struct iovec[batch] */
  void *names;         /* sockaddr storage[batch] */
  void *ctrl;          /* udp4 with GRO: a control buffer per message */
  uint32_t entries;    /* room in lens/offs/addrs/ports */
  uint32_t max_dgram;  /* a datagram longer than this is dropped as truncated */
  int gro;             /* udp4: UDP_GRO enabled on the socket */
  int in_callback;
  int close_requested;
  int no_gso;          /* udp4: do not coalesce sends with UDP_SEGMENT */
  int gso_max;         /* udp4: largest datagram coalesced (lowered when the path refuses one) */
  int ifindex;         /* raw6: the bound interface, scope for link-local destinations */
  int vnet;            /* tun: opened with IFF_VNET_HDR and TSO on (a virtio_net_hdr before every packet; TCP coalesced on write) */
  uint8_t *tso;        /* tun with vnet: every read lands here first; a TCP super-packet stays until split into slots */
  uint32_t tso_len;    /* octets of the super-packet still being split (0: none) */
  uint32_t tso_k, tso_mss, tso_hl, tso_iphl; /* next segment, segment payload size, header octets, IP header octets */
} io_handle;

/* errors.c: throw an Error carrying errno, code ('EPERM'), syscall; returns NULL for `return throw_errno(...)`. */
napi_value throw_errno(napi_env env, int err, const char *syscall);
napi_value throw_type(napi_env env, const char *msg);

/* netns.c: enter `path` (NULL or "" = stay) on this thread; leave restores it. */
typedef struct { int saved; } netns_guard;
int netns_enter(const char *path, netns_guard *g, const char **failed_call);
void netns_leave(netns_guard *g);

/* tungro.c: writes into a TUN opened with IFF_VNET_HDR, TCP segments coalesced.
 * Sets *full on EAGAIN (the rest of the batch counted as errors).
 * tun_vnet_complete: a packet read from such a TUN, its partial checksum completed; -1 to drop it. */
uint32_t tun_write_vnet(io_handle *h, uint8_t **packets, size_t *lens, uint32_t count, int *full);
int tun_vnet_complete(const void *vnet_hdr, uint8_t *p, size_t len);
/* tungro.c, reads: a TCP super-packet (TSO) in h->tso becomes pending (1), a plain one is left for the
 * caller to copy (0), anything else is dropped (-1); tun_tso_emit splits the pending one into slots
 * [n, batch) and returns the new n. */
#define TUN_TSO_SCRATCH (65536 + 256)
int tun_tso_take(io_handle *h, const void *vnet_hdr, uint32_t len);
uint32_t tun_tso_emit(io_handle *h, uint32_t n);

/* handle.c */
napi_value handle_new(napi_env env, int fd, enum io_kind kind, napi_value stats, io_handle **out);
io_handle *handle_get(napi_env env, napi_value v, int want_kind);
void handle_close(io_handle *h);
uint32_t send_count_open(io_handle *h, uint32_t count);
napi_value reader_start(napi_env env, napi_callback_info info);
napi_value reader_stop(napi_env env, napi_callback_info info);
void reader_teardown(io_handle *h);

/* argument helpers (util.c) */
int arg_string(napi_env env, napi_value v, char *buf, size_t cap, int *present);
int arg_u32(napi_env env, napi_value v, uint32_t *out, int *present);
int arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len);
int arg_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len);
int arg_u16_array(napi_env env, napi_value v, uint16_t **data, size_t *len);
void stat_tx_error(io_handle *h, int err);

/* per-kind openers and writers */
napi_value tun_open(napi_env env, napi_callback_info info);
napi_value tun_write(napi_env env, napi_callback_info info);
napi_value packet_open(napi_env env, napi_callback_info info);
napi_value mip_filter(napi_env env, napi_callback_info info);
napi_value raw6_open(napi_env env, napi_callback_info info);
napi_value raw6_send(napi_env env, napi_callback_info info);
napi_value udp4_open(napi_env env, napi_callback_info info);
napi_value udp4_send(napi_env env, napi_callback_info info);
napi_value udp4_set_gso(napi_env env, napi_callback_info info);
napi_value udp4_set_gro(napi_env env, napi_callback_info info);
/* raw6.c: sendmmsg m prepared messages, counting refusals; *stop at EAGAIN/ENOBUFS. */
int send_prepared(io_handle *h, struct mmsghdr *msgs, uint32_t m, int *stop);

#define IO_MAGIC 0xd5319006u

#define NAPI_OK(call)                                   \
  do {                                                  \
    if ((call) != napi_ok) return throw_type(env, "N-API call failed: " #call); \
  } while (0)

#endif
