/*
 * TCP offload at a TUN opened with IFF_VNET_HDR. Writes: TCP segments coalesced (generic receive
 * offload done in user space, as wireguard-go's tun/offload_linux.go does): consecutive segments
 * of one TCP flow in a batch go to the kernel as one GSO packet (virtio_net_hdr gso_type
 * TCPV4/TCPV6, the checksum left partial), so the kernel's IP and TCP receive path runs once per
 * run of segments instead of once per segment. Everything else is written alone, with an empty
 * header. Reads (TSO asked for with TUNSETOFFLOAD): a TCP super-packet the kernel hands over is
 * split here into the segments it would have made (sequence numbers, IP lengths and IDs, flags,
 * full checksums), and a partial checksum on any other packet is completed.
 *
 * It must never coalesce what the kernel would not have: only segments whose IP header and TCP
 * checksums verify, with the same addresses, ports, IP fields, ACK number, window and TCP options,
 * in sequence, carrying data, with no flag but ACK (PSH only on the last), each but the last
 * exactly the first one's size. It never changes a byte of payload and never reorders packets, and
 * never makes a segment larger than the kernel's own segment size (gso_size) for it.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/virtio_net.h>

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
/* Largest IP packet a coalesced write may make (IPv4 total length, IPv6 payload length fit 16 bits). */
#define GRO_MAX_PACKET 65535
/* IPv6 (40) or IPv4 (20) header and a TCP header with the most options (60). */
#define GRO_MAX_HEADERS 100
/* Segments in one coalesced write: within writev's UIO_MAXIOV (1024) with the two headers, and about
 * what 64 KiB holds at a 1,000-octet MSS. */
#define GRO_MAX_SEGS 64

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void wr16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }

/* One's-complement sum of 16-bit big-endian words (RFC 1071), not yet folded. */
static uint64_t sum16(const uint8_t *p, size_t n, uint64_t s) {
  for (; n >= 2; p += 2, n -= 2) s += rd16(p);
  if (n) s += (uint64_t)p[0] << 8;
  return s;
}

static uint16_t fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)s;
}

/* The pseudo-header sum (RFC 8200 §8.1, RFC 793) for `tcp_len` octets of TCP after IP header `ip`. */
static uint64_t pseudo_sum(const uint8_t *ip, int v6, uint32_t tcp_len) {
  uint64_t s = v6 ? sum16(ip + 8, 32, 0) : sum16(ip + 12, 8, 0);
  return s + (tcp_len >> 16) + (tcp_len & 0xffff) + 6;
}

/* A TCP segment as coalescing sees it; ok = 0 for anything that is written alone. */
typedef struct {
  int ok, v6;
  uint32_t iphl, tcphl, paylen, seq;
  uint8_t flags;
} seg_info;

static seg_info inspect(const uint8_t *p, size_t len) {
  seg_info s = {0};
  if (len < 20) return s;
  uint8_t ver = p[0] >> 4;
  if (ver == 6) {
    if (len < 60 || p[6] != 6 || 40u + rd16(p + 4) != len) return s; /* TCP right after the header, no padding */
    s.v6 = 1, s.iphl = 40;
  } else if (ver == 4) {
    /* No options, DF set, not a fragment, TCP, no trailing octets, a header checksum that verifies. */
    if ((p[0] & 0x0f) != 5 || len < 40 || p[9] != 6 || rd16(p + 2) != len || (rd16(p + 6) & 0xbfff) != 0 || !(p[6] & 0x40)) return s;
    if (fold(sum16(p, 20, 0)) != 0xffff) return s;
    s.iphl = 20;
  } else {
    return s;
  }
  const uint8_t *t = p + s.iphl;
  s.tcphl = (uint32_t)(t[12] >> 4) * 4;
  if (s.tcphl < 20 || s.iphl + s.tcphl >= len) return s; /* a segment without data is never coalesced */
  s.flags = t[13];
  /* ECE, CWR, URG and every flag but ACK and PSH mean "write alone". */
  if ((s.flags & ~(TCP_ACK | TCP_PSH)) != 0 || !(s.flags & TCP_ACK)) return s;
  uint32_t tcp_len = (uint32_t)len - s.iphl;
  if (fold(pseudo_sum(p, s.v6, tcp_len) + sum16(t, tcp_len, 0)) != 0xffff) return s; /* the kernel would drop it */
  s.paylen = tcp_len - s.tcphl;
  s.seq = rd32(t + 4);
  s.ok = 1;
  return s;
}

/* Are `q` and `p` (the run's first segment) of one flow with the same headers but for length, sequence
 * number, flags and (IPv4) ID and checksum? The caller checks the sequence number and sizes. */
static int same_flow(const uint8_t *p, const seg_info *a, const uint8_t *q, const seg_info *b) {
  if (a->v6 != b->v6 || a->tcphl != b->tcphl) return 0;
  if (a->v6) {
    /* Version, traffic class, flow label, hop limit, addresses. */
    if (memcmp(p, q, 4) != 0 || p[7] != q[7] || memcmp(p + 8, q + 8, 32) != 0) return 0;
  } else {
    /* TOS, flags (DF), TTL, protocol, addresses. */
    if (p[1] != q[1] || p[6] != q[6] || p[8] != q[8] || memcmp(p + 12, q + 12, 8) != 0) return 0;
  }
  const uint8_t *ta = p + a->iphl, *tb = q + b->iphl;
  /* Ports; then ACK number and window; then the options, octet for octet. */
  return memcmp(ta, tb, 4) == 0 && memcmp(ta + 8, tb + 8, 4) == 0 && memcmp(ta + 14, tb + 14, 2) == 0 &&
         memcmp(ta + 20, tb + 20, a->tcphl - 20) == 0;
}

/* Writes iov; 0 or the errno. */
static int write_iov(int fd, struct iovec *iov, int n) {
  ssize_t r;
  do {
    r = writev(fd, iov, n);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

/* Writes packets [i, j) (j - i >= 2, a run inspect/same_flow accepted) as one GSO packet. */
static int write_run(io_handle *h, uint8_t **pk, const size_t *ln, const seg_info *first, uint32_t i, uint32_t j, uint8_t last_flags) {
  struct iovec iov[2 + GRO_MAX_SEGS];
  struct virtio_net_hdr vh;
  uint8_t hdr[GRO_MAX_HEADERS];
  const uint8_t *p = pk[i];
  uint32_t hl = first->iphl + first->tcphl;
  uint32_t total = hl;
  for (uint32_t k = i; k < j; k++) total += (uint32_t)ln[k] - hl;
  memcpy(hdr, p, hl);
  uint8_t *t = hdr + first->iphl;
  if (first->v6) {
    wr16(hdr + 4, (uint16_t)(total - 40));
  } else {
    wr16(hdr + 2, (uint16_t)total);
    wr16(hdr + 10, 0);
    wr16(hdr + 10, (uint16_t)~fold(sum16(hdr, 20, 0)));
  }
  /* The last segment's PSH is the run's. */
  t[13] = last_flags;
  /* A partial checksum: the pseudo-header sum, not complemented; the kernel adds the rest. */
  wr16(t + 16, fold(pseudo_sum(hdr, first->v6, total - first->iphl)));
  memset(&vh, 0, sizeof vh);
  vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh.gso_type = first->v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
  vh.hdr_len = (uint16_t)hl;
  vh.gso_size = (uint16_t)first->paylen;
  vh.csum_start = (uint16_t)first->iphl;
  vh.csum_offset = 16;
  iov[0] = (struct iovec){&vh, sizeof vh};
  iov[1] = (struct iovec){hdr, hl};
  int n = 2;
  for (uint32_t k = i; k < j; k++) iov[n++] = (struct iovec){pk[k] + hl, ln[k] - hl};
  return write_iov(h->fd, iov, n);
}

/* Counts the outcome of writing `n` packets as one write. Returns how many were taken (0 or n). */
static uint32_t account(io_handle *h, int err, uint32_t n) {
  if (err) {
    h->stats[ST_TX_ERRORS] += n;
    h->stats[ST_TX_LAST_ERRNO] = err;
    return 0;
  }
  if (n > 1) h->stats[ST_TX_COALESCED] += n;
  return n;
}

uint32_t tun_write_vnet(io_handle *h, uint8_t **pk, size_t *ln, uint32_t count, int *full) {
  static const struct virtio_net_hdr none; /* gso_type NONE, no checksum to complete */
  uint32_t ok = 0;
  uint32_t i = 0;
  while (i < count) {
    seg_info a = inspect(pk[i], ln[i]);
    uint32_t j = i + 1;
    uint8_t last_flags = a.flags;
    if (a.ok && !(a.flags & TCP_PSH)) {
      uint32_t next = a.seq + a.paylen;
      size_t total = ln[i];
      uint32_t hl = a.iphl + a.tcphl;
      while (j < count && j - i < GRO_MAX_SEGS) {
        seg_info b = inspect(pk[j], ln[j]);
        if (!b.ok || b.seq != next || b.paylen > a.paylen || total + b.paylen > GRO_MAX_PACKET || !same_flow(pk[i], &a, pk[j], &b)) break;
        total += ln[j] - hl;
        next += b.paylen;
        last_flags = b.flags;
        j++;
        /* Only the last segment may be short or carry PSH. */
        if (b.paylen < a.paylen || (b.flags & TCP_PSH)) break;
      }
    }
    int err;
    if (j - i >= 2) {
      err = write_run(h, pk, ln, &a, i, j, last_flags);
    } else {
      struct iovec iov[2] = {{(void *)&none, sizeof none}, {pk[i], ln[i]}};
      err = write_iov(h->fd, iov, 2);
    }
    if (err == EAGAIN || err == EWOULDBLOCK) { /* the rest would fail too: count them all */
      h->stats[ST_TX_ERRORS] += count - i;
      h->stats[ST_TX_LAST_ERRNO] = err;
      *full = 1;
      break;
    }
    ok += account(h, err, j - i);
    i = j;
  }
  return ok;
}

int tun_vnet_complete(const void *vhdr, uint8_t *p, size_t len) {
  const struct virtio_net_hdr *vh = vhdr;
  if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE) return -1; /* offloads were never asked for (TUNSETOFFLOAD) */
  if (!(vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) return 0;
  size_t start = vh->csum_start, at = start + vh->csum_offset;
  if (start > len || at + 2 > len) return -1;
  /* The field holds the pseudo-header sum; the checksum covers it and everything from csum_start. */
  wr16(p + at, (uint16_t)~fold(sum16(p + start, len - start, 0)));
  return 0;
}

int tun_tso_take(io_handle *h, const void *vhdr, uint32_t len) {
  const struct virtio_net_hdr *vh = vhdr;
  uint8_t *p = h->tso;
  if (vh->gso_type == VIRTIO_NET_HDR_GSO_NONE) return tun_vnet_complete(vh, p, len) < 0 ? -1 : 0;
  if (vh->gso_type != VIRTIO_NET_HDR_GSO_TCPV4 && vh->gso_type != VIRTIO_NET_HDR_GSO_TCPV6) return -1;
  int v6 = vh->gso_type == VIRTIO_NET_HDR_GSO_TCPV6;
  uint32_t iphl;
  if (v6) {
    if (len < 60 || p[0] >> 4 != 6 || p[6] != 6) return -1; /* TCP right after the IPv6 header */
    iphl = 40;
  } else {
    if (len < 40 || p[0] >> 4 != 4 || p[9] != 6) return -1;
    iphl = (uint32_t)(p[0] & 0x0f) * 4;
  }
  if (vh->csum_start != iphl || len < iphl + 20) return -1;
  uint32_t hl = iphl + (uint32_t)(p[iphl + 12] >> 4) * 4;
  uint32_t mss = vh->gso_size;
  if (mss == 0 || hl < iphl + 20 || hl >= len || hl + mss > h->slot - 1) return -1;
  h->tso_len = len;
  h->tso_k = 0;
  h->tso_mss = mss;
  h->tso_hl = hl;
  h->tso_iphl = iphl;
  return 1;
}

uint32_t tun_tso_emit(io_handle *h, uint32_t n) {
  const uint8_t *sp = h->tso;
  uint32_t hl = h->tso_hl, iphl = h->tso_iphl, mss = h->tso_mss, len = h->tso_len;
  int v6 = sp[0] >> 4 == 6;
  const uint8_t *st = sp + iphl;
  uint32_t seq0 = rd32(st + 4);
  uint16_t id0 = v6 ? 0 : rd16(sp + 4);
  while (n < h->batch && h->tso_len) {
    uint32_t k = h->tso_k;
    uint32_t off = hl + k * mss;
    uint32_t plen = len - off < mss ? len - off : mss;
    int last = off + plen >= len;
    uint8_t *d = h->data + (size_t)n * h->slot;
    memcpy(d, sp, hl);
    memcpy(d + hl, sp + off, plen);
    if (v6) {
      wr16(d + 4, (uint16_t)(hl - 40 + plen));
    } else {
      wr16(d + 2, (uint16_t)(hl + plen));
      wr16(d + 4, (uint16_t)(id0 + k)); /* as the kernel's segmentation numbers them */
      wr16(d + 10, 0);
      wr16(d + 10, (uint16_t)~fold(sum16(d, iphl, 0)));
    }
    uint8_t *t = d + iphl;
    uint32_t seq = seq0 + k * mss;
    t[4] = (uint8_t)(seq >> 24), t[5] = (uint8_t)(seq >> 16), t[6] = (uint8_t)(seq >> 8), t[7] = (uint8_t)seq;
    /* FIN and PSH stay on the last segment, CWR on the first (tcp_gso_segment's rule). */
    if (!last) t[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (k > 0) t[13] &= (uint8_t)~0x80;
    uint32_t tcp_len = hl - iphl + plen;
    wr16(t + 16, 0);
    wr16(t + 16, (uint16_t)~fold(pseudo_sum(d, v6, tcp_len) + sum16(t, tcp_len, 0)));
    h->offs[n] = n * h->slot;
    h->lens[n] = hl + plen;
    h->stats[ST_RX_COALESCED] += 1;
    n++;
    h->tso_k = k + 1;
    if (last) h->tso_len = 0;
  }
  return n;
}
