/*
 * Module entry of the dsmip6 native I/O addon (plain N-API, C): exports the
 * openers, the batched reader and the batched writers, and the ESP seal/open
 * of crypto.c. See io.h (and crypto.c) for what the addon is and must never do;
 * tunnel/native.ts is its only loader.
 */
#define _GNU_SOURCE
#include "io.h"

static napi_value handle_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1], r;
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], 0);
  if (!h) return NULL;
  napi_create_int32(env, h->fd, &r);
  return r;
}

static napi_value close_handle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value a[1];
  NAPI_OK(napi_get_cb_info(env, info, &argc, a, NULL, NULL));
  io_handle *h = handle_get(env, a[0], 0);
  if (!h) return NULL;
  handle_close(h);
  return NULL;
}

/* crypto.c: ESP seal/open with kept OpenSSL EVP contexts (tunnel/native-esp.ts). */
napi_value esp_new(napi_env env, napi_callback_info info);
napi_value esp_seal(napi_env env, napi_callback_info info);
napi_value esp_open(napi_env env, napi_callback_info info);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {
      {"tunOpen", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tunWrite", NULL, tun_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"packetOpen", NULL, packet_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mipFilter", NULL, mip_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"raw6Open", NULL, raw6_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"raw6Send", NULL, raw6_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udp4Open", NULL, udp4_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udp4Send", NULL, udp4_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udp4SetGso", NULL, udp4_set_gso, NULL, NULL, NULL, napi_enumerable, NULL},
      {"udp4SetGro", NULL, udp4_set_gro, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readStart", NULL, reader_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readStop", NULL, reader_stop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"fd", NULL, handle_fd, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, close_handle, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espNew", NULL, esp_new, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espSeal", NULL, esp_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espOpen", NULL, esp_open, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns) != napi_ok) return NULL;
  napi_value v;
  napi_create_uint32(env, ST_COUNT, &v);
  napi_set_named_property(env, exports, "STATS_LENGTH", v);
  napi_create_uint32(env, IO_MAX_BATCH, &v);
  napi_set_named_property(env, exports, "MAX_BATCH", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
