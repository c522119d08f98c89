/*
 * Handles and the batched reader. A handle is a JS object wrapping one fd; the
 * reader is a uv_poll on it that, when the fd is readable, reads up to `batch`
 * packets into a JS-owned ArrayBuffer (one slot per packet) and makes ONE call
 * into JS with the count. The JS side builds views over that buffer; they are
 * valid only during the call, because the next readable event overwrites the
 * slots. Never blocks (the fd is made non-blocking when a reader starts), never
 * throws into the event loop except what the JS callback itself throws.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <linux/virtio_net.h>
#include <linux/if_packet.h>
#include <netinet/udp.h>

static const napi_type_tag IO_TAG = {0x64736d6970360001ULL, 0x6e61746976656966ULL};

static void free_poll(uv_handle_t *p) { free(p); }

/* Releases everything the reader holds; safe to call twice. Not called from inside the JS callback. */
void reader_teardown(io_handle *h) {
  napi_env env = h->env;
  if (h->poll) {
    uv_poll_stop(h->poll);
    uv_close((uv_handle_t *)h->poll, free_poll);
    h->poll = NULL;
  }
  napi_ref *refs[] = {&h->cb_ref, &h->data_ref, &h->lens_ref, &h->offs_ref, &h->addrs_ref, &h->ports_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) {
    if (*refs[i]) {
      napi_delete_reference(env, *refs[i]);
      *refs[i] = NULL;
    }
  }
  if (h->actx) {
    napi_async_destroy(env, h->actx);
    h->actx = NULL;
  }
  free(h->msgs);
  free(h->iovs);
  free(h->names);
  free(h->ctrl);
  h->msgs = h->iovs = h->names = h->ctrl = NULL;
  h->data = NULL;
  h->lens = h->offs = h->addrs = NULL;
  h->ports = NULL;
  if (h->self_ref) {
    uint32_t rc;
    napi_reference_unref(env, h->self_ref, &rc);
  }
}

void handle_close(io_handle *h) {
  if (h->poll) {
    uv_poll_stop(h->poll); /* before close(fd): the fd must leave epoll first */
    if (h->in_callback) h->close_requested = 1; /* torn down when the callback returns */
    else reader_teardown(h);
  }
  if (h->fd >= 0) {
    close(h->fd);
    h->fd = -1;
  }
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  io_handle *h = data;
  /* Normally closed already; this is the safety net for a handle dropped without close(). */
  if (h->poll) {
    uv_poll_stop(h->poll);
    uv_close((uv_handle_t *)h->poll, free_poll);
    h->poll = NULL;
  }
  if (h->fd >= 0) close(h->fd);
  free(h->tso);
  free(h->msgs);
  free(h->iovs);
  free(h->names);
  free(h->ctrl);
  if (h->stats_ref) napi_delete_reference(env, h->stats_ref);
  if (h->self_ref) napi_delete_reference(env, h->self_ref);
  free(h);
}

napi_value handle_new(napi_env env, int fd, enum io_kind kind, napi_value stats, io_handle **out) {
  double *sp;
  size_t n;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  bool is = false;
  if (napi_is_typedarray(env, stats, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, stats, &t, &n, (void **)&sp, &ab, &off) != napi_ok ||
      t != napi_float64_array || n < ST_COUNT) {
    close(fd);
    return throw_type(env, "stats must be a Float64Array of at least ST_COUNT entries");
  }
  io_handle *h = calloc(1, sizeof *h);
  if (!h) {
    close(fd);
    return throw_errno(env, ENOMEM, "calloc");
  }
  h->magic = IO_MAGIC;
  h->fd = fd;
  h->kind = kind;
  h->env = env;
  h->stats = sp;
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok || napi_wrap(env, obj, h, finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(h);
    return throw_type(env, "cannot create handle object");
  }
  napi_type_tag_object(env, obj, &IO_TAG);
  napi_create_reference(env, stats, 1, &h->stats_ref);
  napi_create_reference(env, obj, 0, &h->self_ref);
  *out = h;
  return obj;
}

io_handle *handle_get(napi_env env, napi_value v, int want_kind) {
  bool ok = false;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object) goto bad;
  if (napi_check_object_type_tag(env, v, &IO_TAG, &ok) != napi_ok || !ok) goto bad;
  io_handle *h = NULL;
  if (napi_unwrap(env, v, (void **)&h) != napi_ok || !h || h->magic != IO_MAGIC) goto bad;
  if (want_kind && (int)h->kind != want_kind) goto bad;
  return h;
bad:
  throw_type(env, "not a dsmip6 native handle of the expected kind");
  return NULL;
}

/* A batch send on a closed handle sends nothing: every packet counts as a tx error (EBADF).
 * Returns how many packets are still to be sent: `count`, or 0 when the handle is closed. */
uint32_t send_count_open(io_handle *h, uint32_t count) {
  if (h->fd >= 0) return count;
  h->stats[ST_TX_ERRORS] += count;
  h->stats[ST_TX_LAST_ERRNO] = EBADF;
  return 0;
}

/* ---- reading ---------------------------------------------------------------------------- */

/* Reads up to a batch from a TUN. With IFF_VNET_HDR and TSO (h->vnet) each read lands in h->tso whole
 * (a TCP super-packet is up to 64 KiB): a plain packet is copied to its slot, a super-packet split into
 * as many slots as there is room for, the rest of it on the next call (on_readable calls again while
 * one is pending). */
static uint32_t read_tun(io_handle *h) {
  uint32_t n = 0;
  while (n < h->batch) {
    if (h->tso_len) {
      n = tun_tso_emit(h, n);
      continue;
    }
    uint8_t *p = h->data + (size_t)n * h->slot;
    struct virtio_net_hdr vh;
    ssize_t r;
    if (h->vnet) {
      struct iovec iov[2] = {{&vh, sizeof vh}, {h->tso, TUN_TSO_SCRATCH}};
      r = readv(h->fd, iov, 2);
    } else {
      r = read(h->fd, p, h->slot);
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        h->stats[ST_RX_ERRORS] += 1;
        h->stats[ST_RX_LAST_ERRNO] = errno;
      }
      break;
    }
    if (r == 0) break;
    size_t len = (size_t)r;
    if (h->vnet) {
      if (len <= sizeof vh) continue; /* a header and no packet */
      len -= sizeof vh;
      int kind = len >= TUN_TSO_SCRATCH ? -1 : tun_tso_take(h, &vh, (uint32_t)len);
      if (kind == 1) continue; /* split at the top of the loop */
      if (kind < 0) { /* a super-packet we cannot split */
        h->stats[ST_RX_TRUNCATED] += 1;
        continue;
      }
      if (len < h->slot) memcpy(p, h->tso, len);
    }
    if (len >= h->slot) { /* cannot tell a full slot from a cut packet: both are dropped */
      h->stats[ST_RX_TRUNCATED] += 1;
      continue;
    }
    h->offs[n] = n * h->slot;
    h->lens[n] = (uint32_t)len;
    n++;
  }
  return n;
}

/* The UDP_GRO control message: the size of each datagram in a coalesced read, 0 if none. */
static int gro_size(struct msghdr *mh) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
      int v;
      memcpy(&v, CMSG_DATA(c), sizeof v);
      return v;
    }
  }
  return 0;
}

/* Adds one datagram as entry n; false when it is too big (counted) or there is no room. */
static int add_entry(io_handle *h, uint32_t *n, uint32_t off, uint32_t len, const struct sockaddr_in *sin) {
  if (len > h->max_dgram || *n >= h->entries) {
    h->stats[ST_RX_TRUNCATED] += 1;
    return 0;
  }
  h->offs[*n] = off;
  h->lens[*n] = len;
  if (sin) {
    h->addrs[*n] = ntohl(sin->sin_addr.s_addr);
    h->ports[*n] = ntohs(sin->sin_port);
  }
  (*n)++;
  return 1;
}

static uint32_t read_mmsg(io_handle *h) {
  struct mmsghdr *m = h->msgs;
  for (uint32_t i = 0; i < h->batch; i++) {
    m[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    m[i].msg_hdr.msg_flags = 0;
    if (h->ctrl) m[i].msg_hdr.msg_controllen = IO_CTRL_SPACE;
    m[i].msg_len = 0;
  }
  int r;
  do {
    r = recvmmsg(h->fd, m, h->batch, MSG_DONTWAIT, NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      h->stats[ST_RX_ERRORS] += 1;
      h->stats[ST_RX_LAST_ERRNO] = errno;
    }
    return 0;
  }
  uint32_t n = 0;
  struct sockaddr_storage *names = h->names;
  for (int i = 0; i < r; i++) {
    if (m[i].msg_hdr.msg_flags & MSG_TRUNC) {
      h->stats[ST_RX_TRUNCATED] += 1;
      continue;
    }
    uint32_t base = (uint32_t)i * h->slot, len = m[i].msg_len;
    if (h->kind == IO_PACKET) {
      struct sockaddr_ll *ll = (struct sockaddr_ll *)&names[i];
      if (ll->sll_pkttype == PACKET_OUTGOING) {
        h->stats[ST_RX_SKIPPED] += 1;
        continue;
      }
      add_entry(h, &n, base, len, NULL);
      continue;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)&names[i];
    int seg = h->ctrl ? gro_size(&m[i].msg_hdr) : 0;
    if (seg <= 0 || (uint32_t)seg >= len) {
      add_entry(h, &n, base, len, sin);
      continue;
    }
    /* A GRO read: `len` octets of datagrams of `seg` octets each (the last may be shorter), all
     * from the same source, split back into the datagrams they were. */
    for (uint32_t off = 0; off < len; off += (uint32_t)seg) {
      uint32_t l = len - off < (uint32_t)seg ? len - off : (uint32_t)seg;
      if (add_entry(h, &n, base + off, l, sin)) h->stats[ST_RX_COALESCED] += 1;
    }
  }
  return n;
}

static void deliver(io_handle *h, uint32_t n);

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  io_handle *h = p->data;
  if (h->fd < 0) return;
  if (status < 0) {
    /* libuv stops a poll handle when the fd reports POLLERR (a socket whose interface went down
     * gets ENETDOWN). Reading SO_ERROR clears the pending error; then polling starts again, so a
     * tap or socket keeps working when its link comes back. Not a socket (TUN): harmless. */
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err != 0) h->stats[ST_RX_LAST_ERRNO] = err;
    else h->stats[ST_RX_LAST_ERRNO] = -status;
    h->stats[ST_RX_ERRORS] += 1;
    if (!h->close_requested) uv_poll_start(p, UV_READABLE, on_readable);
    return;
  }
  uint32_t n = h->kind == IO_TUN ? read_tun(h) : read_mmsg(h);
  if (n == 0) return;
  deliver(h, n);
  /* A TUN super-packet split over more slots than one batch has: the rest now, not at the next read. */
  while (h->kind == IO_TUN && h->tso_len && h->poll && h->fd >= 0 && !h->close_requested) {
    n = read_tun(h);
    if (n == 0) break;
    deliver(h, n);
  }
  if (h->close_requested) {
    h->close_requested = 0;
    reader_teardown(h);
  }
}

/* Hands entries [0, n) to the JS callback in windows of at most `batch`. */
static void deliver(io_handle *h, uint32_t n) {
  napi_env env = h->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, argv[2];
  napi_get_reference_value(env, h->cb_ref, &cb);
  napi_get_global(env, &recv); /* napi_make_callback wants an object receiver */
  /* A GRO read can hold more datagrams than a batch: they go to JS in windows of at most
   * `batch`, (count, start) each, so no handler call ever sees more than batchSize. */
  for (uint32_t start = 0; start < n && h->fd >= 0 && !h->close_requested; start += h->batch) {
    uint32_t count = n - start < h->batch ? n - start : h->batch;
    h->stats[ST_RX_PACKETS] += count;
    h->stats[ST_RX_BATCHES] += 1;
    napi_create_uint32(env, count, &argv[0]);
    napi_create_uint32(env, start, &argv[1]);
    h->in_callback = 1;
    napi_status st = napi_make_callback(env, h->actx, recv, cb, 2, argv, NULL);
    h->in_callback = 0;
    if (st == napi_pending_exception) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      napi_fatal_exception(env, exc); /* to process 'uncaughtException', like any event handler */
    }
  }
  napi_close_handle_scope(env, scope);
}

/* readStart(handle, batch, slot, data: ArrayBuffer, lens: Uint32Array, offs: Uint32Array,
 *           addrs: Uint32Array|null, ports: Uint16Array|null, cb: (count, start) => void)
 * lens/offs/addrs/ports hold one entry per packet: at least `batch`, more for a GRO socket
 * (whose reads may split into up to 64 datagrams each); cb sees entries [start, start+count). */
napi_value reader_start(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value a[9];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  if (argc < 9) return throw_type(env, "readStart needs 9 arguments");
  io_handle *h = handle_get(env, a[0], 0);
  if (!h) return NULL;
  if (h->kind == IO_RAW6) return throw_type(env, "a raw IPv6 sender cannot read");
  if (h->fd < 0) return throw_errno(env, EBADF, "readStart");
  if (h->poll) return throw_type(env, "a reader is already running on this handle");
  uint32_t batch, slot;
  if (arg_u32(env, a[1], &batch, NULL) || batch < 1 || batch > IO_MAX_BATCH) return throw_type(env, "batch out of range");
  if (arg_u32(env, a[2], &slot, NULL) || slot < 64 || slot > (1u << 20)) return throw_type(env, "slot out of range");
  bool isab = false;
  void *data;
  size_t dlen;
  if (napi_is_arraybuffer(env, a[3], &isab) != napi_ok || !isab ||
      napi_get_arraybuffer_info(env, a[3], &data, &dlen) != napi_ok || dlen < (size_t)batch * slot)
    return throw_type(env, "data must be an ArrayBuffer of batch * slot octets");
  uint32_t *lens, *offs, *addrs = NULL;
  uint16_t *ports = NULL;
  size_t l1, l2, l3, l4;
  if (arg_u32_array(env, a[4], &lens, &l1) || l1 < batch) return throw_type(env, "lens must be a Uint32Array(batch)");
  if (arg_u32_array(env, a[5], &offs, &l2) || l2 < batch) return throw_type(env, "offs must be a Uint32Array(batch)");
  size_t entries = l1 < l2 ? l1 : l2;
  if (h->kind == IO_UDP4) {
    if (arg_u32_array(env, a[6], &addrs, &l3) || l3 < batch) return throw_type(env, "addrs must be a Uint32Array(batch)");
    if (arg_u16_array(env, a[7], &ports, &l4) || l4 < batch) return throw_type(env, "ports must be a Uint16Array(batch)");
    if (l3 < entries) entries = l3;
    if (l4 < entries) entries = l4;
  }
  napi_valuetype ft;
  if (napi_typeof(env, a[8], &ft) != napi_ok || ft != napi_function) return throw_type(env, "callback must be a function");

  int fl = fcntl(h->fd, F_GETFL);
  if (fl < 0 || fcntl(h->fd, F_SETFL, fl | O_NONBLOCK) < 0) return throw_errno(env, errno, "fcntl(O_NONBLOCK)");

  if (h->kind != IO_TUN) {
    struct mmsghdr *m = calloc(batch, sizeof *m);
    struct iovec *iov = calloc(batch, sizeof *iov);
    struct sockaddr_storage *names = calloc(batch, sizeof *names);
    if (!m || !iov || !names) {
      free(m), free(iov), free(names);
      return throw_errno(env, ENOMEM, "calloc");
    }
    for (uint32_t i = 0; i < batch; i++) {
      iov[i].iov_base = (uint8_t *)data + (size_t)i * slot;
      iov[i].iov_len = slot;
      m[i].msg_hdr.msg_iov = &iov[i];
      m[i].msg_hdr.msg_iovlen = 1;
      m[i].msg_hdr.msg_name = &names[i];
    }
    if (h->gro) {
      h->ctrl = calloc(batch, IO_CTRL_SPACE);
      if (!h->ctrl) {
        free(m), free(iov), free(names);
        return throw_errno(env, ENOMEM, "calloc");
      }
      for (uint32_t i = 0; i < batch; i++) m[i].msg_hdr.msg_control = (char *)h->ctrl + (size_t)i * IO_CTRL_SPACE;
    }
    h->msgs = m;
    h->iovs = iov;
    h->names = names;
  }
  uv_loop_t *loop;
  NAPI_OK(napi_get_uv_event_loop(env, &loop));
  uv_poll_t *poll = calloc(1, sizeof *poll);
  if (!poll) return throw_errno(env, ENOMEM, "calloc");
  int rc = uv_poll_init(loop, poll, h->fd);
  if (rc < 0) {
    free(poll);
    return throw_errno(env, -rc, "uv_poll_init");
  }
  poll->data = h;
  h->poll = poll;
  h->data = data;
  h->batch = batch;
  h->slot = slot;
  h->entries = (uint32_t)entries;
  if (!h->max_dgram || h->max_dgram > slot) h->max_dgram = slot - 1;
  h->lens = lens;
  h->offs = offs;
  h->addrs = addrs;
  h->ports = ports;
  napi_create_reference(env, a[3], 1, &h->data_ref);
  napi_create_reference(env, a[4], 1, &h->lens_ref);
  napi_create_reference(env, a[5], 1, &h->offs_ref);
  if (addrs) napi_create_reference(env, a[6], 1, &h->addrs_ref);
  if (ports) napi_create_reference(env, a[7], 1, &h->ports_ref);
  napi_create_reference(env, a[8], 1, &h->cb_ref);
  napi_value rname;
  napi_create_string_utf8(env, "dsmip6:read", NAPI_AUTO_LENGTH, &rname);
  napi_async_init(env, NULL, rname, &h->actx);
  uint32_t refc;
  napi_reference_ref(env, h->self_ref, &refc);
  rc = uv_poll_start(poll, UV_READABLE, on_readable);
  if (rc < 0) {
    reader_teardown(h);
    return throw_errno(env, -rc, "uv_poll_start");
  }
  return NULL;
}

napi_value reader_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], 0);
  if (!h) return NULL;
  if (h->poll) {
    uv_poll_stop(h->poll);
    if (h->in_callback) h->close_requested = 1;
    else reader_teardown(h);
  }
  return NULL;
}
