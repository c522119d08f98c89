/*
 * ESP seal/open with OpenSSL EVP, for the ESP transforms of tunnel/native-esp.ts:
 * AES-GCM-16 (RFC 4106) and AES-CBC + HMAC-SHA-256-128 (RFC 3602, RFC 4868).
 * One object per SA keeps its cipher (and HMAC) contexts keyed once, so a packet
 * costs an IV reset and the AES itself, not a cipher object setup as with node:crypto.
 * The EVP symbols come from the node binary itself (OpenSSL statically linked and
 * exported); the addon does not link libcrypto.
 *
 * What it must never do: release plaintext whose ICV did not verify (a failed open
 * wipes what it wrote), read or write outside the caller's buffers (every offset is
 * checked, a bad one throws), keep a reference to a caller's buffer after the call,
 * or choose IVs itself (the caller writes CBC IVs; GCM IVs follow the sequence number).
 */
#define _GNU_SOURCE
#include "io.h"
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#define ESP_MAGIC 0xe5b0c0deu
#define ESP_ICV 16

enum esp_kind { ESP_GCM = 1, ESP_CBC_HMAC = 2 };

typedef struct {
  uint32_t magic;
  enum esp_kind kind;
  int esn;
  uint32_t iv_len;
  EVP_CIPHER_CTX *enc, *dec;
  EVP_MAC_CTX *mac;        /* CBC: HMAC-SHA-256 keyed once, re-initialised per packet */
  uint8_t salt[4];         /* GCM: nonce = salt | IV */
  uint8_t iv_mask[8];      /* GCM: IV = 64-bit sequence number XOR this */
} esp_ctx;

static void esp_free(esp_ctx *c) {
  if (!c) return;
  EVP_CIPHER_CTX_free(c->enc);
  EVP_CIPHER_CTX_free(c->dec);
  EVP_MAC_CTX_free(c->mac);
  OPENSSL_cleanse(c, sizeof *c);
  free(c);
}

static void esp_finalize(napi_env env, void *data, void *hint) {
  esp_free((esp_ctx *)data);
}

static const EVP_CIPHER *aes(size_t key_len, int gcm) {
  switch (key_len) {
    case 16: return gcm ? EVP_aes_128_gcm() : EVP_aes_128_cbc();
    case 24: return gcm ? EVP_aes_192_gcm() : EVP_aes_192_cbc();
    case 32: return gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
    default: return NULL;
  }
}

static napi_value throw_range(napi_env env, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_range_error(env, "ERR_DSMIP6_ESP_KEY", msg);
  return NULL;
}

/*
 * espNew(kind, encKey, authKey | null, esn, ivMask | null) -> external.
 * kind 1: GCM, encKey = AES key (16/24/32) + 4-octet salt, ivMask 8 octets.
 * kind 2: CBC + HMAC-SHA-256-128, encKey 16/24/32, authKey 32.
 */
napi_value esp_new(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value a[5], r;
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  uint32_t kind = 0;
  uint8_t *ek = NULL, *ak = NULL, *mask = NULL;
  size_t ek_len = 0, ak_len = 0, mask_len = 0;
  bool esn = false;
  napi_valuetype t;
  if (argc < 5 || arg_u32(env, a[0], &kind, NULL) || arg_bytes(env, a[1], &ek, &ek_len) ||
      napi_get_value_bool(env, a[3], &esn) != napi_ok)
    return throw_type(env, "espNew(kind, encKey: Uint8Array, authKey: Uint8Array | null, esn: boolean, ivMask: Uint8Array | null)");
  NAPI_OK(napi_typeof(env, a[2], &t));
  if (t != napi_null && t != napi_undefined && arg_bytes(env, a[2], &ak, &ak_len)) return throw_type(env, "espNew: authKey must be a Uint8Array or null");
  NAPI_OK(napi_typeof(env, a[4], &t));
  if (t != napi_null && t != napi_undefined && arg_bytes(env, a[4], &mask, &mask_len)) return throw_type(env, "espNew: ivMask must be a Uint8Array or null");

  const EVP_CIPHER *cipher = NULL;
  const uint8_t *aes_key = ek;
  if (kind == ESP_GCM) {
    if (ek_len < 4 || !(cipher = aes(ek_len - 4, 1)))
      return throw_range(env, "aes-gcm-16 needs an encKey of 20, 28 or 36 octets (AES-128/192/256 key + 4-octet salt)");
    if (ak) return throw_range(env, "aes-gcm-16 is an AEAD and takes no authKey");
    if (mask && mask_len != 8) return throw_range(env, "aes-gcm-16 takes an ivMask of 8 octets");
  } else if (kind == ESP_CBC_HMAC) {
    if (!(cipher = aes(ek_len, 0))) return throw_range(env, "aes-cbc-hmac-sha256-128 needs an encKey of 16, 24 or 32 octets (AES-128/192/256)");
    if (!ak || ak_len != 32) return throw_range(env, "aes-cbc-hmac-sha256-128 needs an authKey of 32 octets (HMAC-SHA-256, RFC 4868)");
    if (mask) return throw_range(env, "only aes-gcm-16 takes an ivMask");
  } else {
    return throw_range(env, "espNew: kind must be 1 (aes-gcm-16) or 2 (aes-cbc-hmac-sha256-128)");
  }

  esp_ctx *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, 12 /* ENOMEM */, "calloc");
  c->magic = ESP_MAGIC;
  c->kind = (enum esp_kind)kind;
  c->esn = esn;
  c->enc = EVP_CIPHER_CTX_new();
  c->dec = EVP_CIPHER_CTX_new();
  int ok = c->enc && c->dec;
  if (kind == ESP_GCM) {
    size_t klen = ek_len - 4;
    c->iv_len = 8;
    memcpy(c->salt, ek + klen, 4);
    if (mask) memcpy(c->iv_mask, mask, 8);
    /* Key once; the 12-octet nonce is the GCM default IV length. */
    ok = ok && EVP_EncryptInit_ex(c->enc, cipher, NULL, aes_key, NULL) == 1 &&
         EVP_DecryptInit_ex(c->dec, cipher, NULL, aes_key, NULL) == 1;
  } else {
    c->iv_len = 16;
    ok = ok && EVP_EncryptInit_ex(c->enc, cipher, NULL, aes_key, NULL) == 1 &&
         EVP_DecryptInit_ex(c->dec, cipher, NULL, aes_key, NULL) == 1 &&
         EVP_CIPHER_CTX_set_padding(c->enc, 0) == 1 && EVP_CIPHER_CTX_set_padding(c->dec, 0) == 1;
    if (ok) {
      EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
      c->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
      EVP_MAC_free(hmac); /* the context holds its own reference */
      OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0), OSSL_PARAM_construct_end()};
      ok = c->mac && EVP_MAC_init(c->mac, ak, ak_len, params) == 1;
    }
  }
  if (!ok) {
    esp_free(c);
    ERR_clear_error();
    return throw_type(env, "espNew: OpenSSL refused the cipher or key (EVP init failed)");
  }
  if (napi_create_external(env, c, esp_finalize, NULL, &r) != napi_ok) {
    esp_free(c);
    return throw_type(env, "espNew: napi_create_external failed");
  }
  return r;
}

static esp_ctx *ctx_get(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || !p || ((esp_ctx *)p)->magic != ESP_MAGIC) {
    throw_type(env, "not an ESP context from espNew");
    return NULL;
  }
  return p;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

/* AAD: SPI | seq_lo, or SPI | seq_hi | seq_lo with ESN (RFC 4106 §5). */
static size_t gcm_aad(const esp_ctx *c, const uint8_t *esp, uint32_t seq_hi, uint8_t aad[12]) {
  if (!c->esn) {
    memcpy(aad, esp, 8);
    return 8;
  }
  memcpy(aad, esp, 4);
  put32(aad + 4, seq_hi);
  memcpy(aad + 8, esp + 4, 4);
  return 12;
}

/* HMAC-SHA-256 over esp[0, len) | seq_hi (ESN); the leftmost 16 octets to icv. */
static int hmac_icv(esp_ctx *c, const uint8_t *esp, size_t len, uint32_t seq_hi, uint8_t icv[ESP_ICV]) {
  uint8_t full[32], hi[4];
  size_t outl = 0;
  int ok = EVP_MAC_init(c->mac, NULL, 0, NULL) == 1 && EVP_MAC_update(c->mac, esp, len) == 1;
  if (ok && c->esn) {
    put32(hi, seq_hi);
    ok = EVP_MAC_update(c->mac, hi, 4) == 1;
  }
  ok = ok && EVP_MAC_final(c->mac, full, &outl, sizeof full) == 1 && outl == 32;
  memcpy(icv, full, ESP_ICV);
  return ok;
}

/* Reads (ctx, buf, espOff, ctLen, seqHi) and checks that buf holds ESP header, IV, ctLen and the ICV. */
static esp_ctx *packet_args(napi_env env, napi_value *a, uint8_t **esp, uint32_t *ct_len, uint32_t *seq_hi) {
  esp_ctx *c = ctx_get(env, a[0]);
  if (!c) return NULL;
  uint8_t *buf;
  size_t len;
  uint32_t off;
  if (arg_bytes(env, a[1], &buf, &len) || arg_u32(env, a[2], &off, NULL) || arg_u32(env, a[3], ct_len, NULL) ||
      arg_u32(env, a[4], seq_hi, NULL)) {
    throw_type(env, "ESP seal/open: (ctx, packet: Uint8Array, espOff, ctLen, seqHi, ...)");
    return NULL;
  }
  uint64_t need = (uint64_t)off + 8 + c->iv_len + *ct_len + ESP_ICV;
  if (need > len || (c->kind == ESP_CBC_HMAC && *ct_len % 16)) {
    throw_range(env, "ESP seal/open: espOff/ctLen run past the packet (or CBC ctLen is not a multiple of 16)");
    return NULL;
  }
  *esp = buf + off;
  return c;
}

/*
 * espSeal(ctx, out, espOff, ctLen, seqHi, seqLo): out[espOff, +8) holds SPI | seq_lo and
 * the plaintext follows the IV. GCM writes the IV (sequence number XOR mask); CBC expects
 * the caller to have written its random IV. Encrypts in place and writes the ICV.
 */
napi_value esp_seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  uint8_t *esp;
  uint32_t ct_len, seq_hi, seq_lo;
  if (argc < 6) return throw_type(env, "espSeal(ctx, out, espOff, ctLen, seqHi, seqLo)");
  esp_ctx *c = packet_args(env, a, &esp, &ct_len, &seq_hi);
  if (!c) return NULL;
  if (arg_u32(env, a[5], &seq_lo, NULL)) return throw_type(env, "espSeal: seqLo must be a number");
  uint8_t *iv = esp + 8, *ct = iv + c->iv_len, *icv = ct + ct_len;
  int outl = 0, ok;
  if (c->kind == ESP_GCM) {
    uint8_t nonce[12], aad[12];
    put32(iv, seq_hi);
    put32(iv + 4, seq_lo);
    for (int i = 0; i < 8; i++) iv[i] ^= c->iv_mask[i];
    memcpy(nonce, c->salt, 4);
    memcpy(nonce + 4, iv, 8);
    size_t aad_len = gcm_aad(c, esp, seq_hi, aad);
    ok = EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, nonce) == 1 &&
         EVP_EncryptUpdate(c->enc, NULL, &outl, aad, (int)aad_len) == 1 &&
         EVP_EncryptUpdate(c->enc, ct, &outl, ct, (int)ct_len) == 1 &&
         EVP_EncryptFinal_ex(c->enc, ct + outl, &outl) == 1 &&
         EVP_CIPHER_CTX_ctrl(c->enc, EVP_CTRL_GCM_GET_TAG, ESP_ICV, icv) == 1;
  } else {
    ok = EVP_EncryptInit_ex(c->enc, NULL, NULL, NULL, iv) == 1 &&
         EVP_EncryptUpdate(c->enc, ct, &outl, ct, (int)ct_len) == 1 && (uint32_t)outl == ct_len &&
         EVP_EncryptFinal_ex(c->enc, ct + outl, &outl) == 1 && outl == 0 &&
         hmac_icv(c, esp, 8 + c->iv_len + ct_len, seq_hi, icv);
  }
  if (!ok) {
    /* Never leave a half-sealed packet that could pass for ciphertext. */
    OPENSSL_cleanse(esp + 8, c->iv_len + ct_len + ESP_ICV);
    ERR_clear_error();
    return throw_type(env, "espSeal: OpenSSL encryption failed");
  }
  return NULL;
}

/*
 * espOpen(ctx, p, espOff, ctLen, seqHi, dst) -> boolean: verifies the ICV and writes the
 * plaintext to dst[0, ctLen) (dst must not overlap p). False, with dst wiped, when the ICV
 * does not verify. p is never written.
 */
napi_value esp_open(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value a[6], r;
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  uint8_t *esp, *dst;
  size_t dst_len;
  uint32_t ct_len, seq_hi;
  if (argc < 6) return throw_type(env, "espOpen(ctx, p, espOff, ctLen, seqHi, dst)");
  esp_ctx *c = packet_args(env, a, &esp, &ct_len, &seq_hi);
  if (!c) return NULL;
  if (arg_bytes(env, a[5], &dst, &dst_len) || dst_len < ct_len) return throw_type(env, "espOpen: dst must be a Uint8Array of at least ctLen octets");
  uint8_t *iv = esp + 8, *ct = iv + c->iv_len, *icv = ct + ct_len;
  int outl = 0, ok;
  if (c->kind == ESP_GCM) {
    uint8_t nonce[12], aad[12], tag[ESP_ICV];
    memcpy(nonce, c->salt, 4);
    memcpy(nonce + 4, iv, 8);
    memcpy(tag, icv, ESP_ICV);
    size_t aad_len = gcm_aad(c, esp, seq_hi, aad);
    ok = EVP_DecryptInit_ex(c->dec, NULL, NULL, NULL, nonce) == 1 &&
         EVP_DecryptUpdate(c->dec, NULL, &outl, aad, (int)aad_len) == 1 &&
         EVP_DecryptUpdate(c->dec, dst, &outl, ct, (int)ct_len) == 1 &&
         EVP_CIPHER_CTX_ctrl(c->dec, EVP_CTRL_GCM_SET_TAG, ESP_ICV, tag) == 1 &&
         EVP_DecryptFinal_ex(c->dec, dst + outl, &outl) == 1;
  } else {
    /* Encrypt-then-MAC: nothing is decrypted before the ICV verifies. */
    uint8_t want[ESP_ICV];
    ok = hmac_icv(c, esp, 8 + c->iv_len + ct_len, seq_hi, want) && CRYPTO_memcmp(want, icv, ESP_ICV) == 0;
    ok = ok && EVP_DecryptInit_ex(c->dec, NULL, NULL, NULL, iv) == 1 &&
         EVP_DecryptUpdate(c->dec, dst, &outl, ct, (int)ct_len) == 1 && (uint32_t)outl == ct_len &&
         EVP_DecryptFinal_ex(c->dec, dst + outl, &outl) == 1;
  }
  if (!ok) {
    OPENSSL_cleanse(dst, ct_len);
    /* Leave no OpenSSL error queued for node:crypto to find on this thread later. */
    ERR_clear_error();
  }
  napi_get_boolean(env, ok, &r);
  return r;
}
