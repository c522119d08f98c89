/*
 * Errors and argument helpers for the dsmip6 native addon. Errors thrown here
 * carry errno, its name (code) and the failing call (syscall); tunnel/native.ts
 * turns them into the named error classes. Never used on a per-packet path.
 */
#define _GNU_SOURCE
#include "io.h"
#include <errno.h>
#include <string.h>
#include <stdio.h>

napi_value throw_type(napi_env env, const char *msg) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_type_error(env, "ERR_DSMIP6_NATIVE_ARG", msg);
  return NULL;
}

napi_value throw_errno(napi_env env, int err, const char *syscall) {
  const char *code = uv_err_name(-err);
  char msg[256], text[128];
  snprintf(msg, sizeof msg, "%s (%s)", code, strerror_r(err, text, sizeof text)); /* GNU strerror_r */
  napi_value m, c, e, n, s;
  if (napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok) return NULL;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &s);
  napi_set_named_property(env, e, "syscall", s);
  napi_throw(env, e);
  return NULL;
}

/* 0 on success; *present = 0 for null/undefined (and buf[0] = 0). */
int arg_string(napi_env env, napi_value v, char *buf, size_t cap, int *present) {
  napi_valuetype t;
  buf[0] = 0;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) {
    if (present) *present = 0;
    return 0;
  }
  if (t != napi_string) return -1;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len + 1 > cap) return -1;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return -1;
  if (present) *present = 1;
  return 0;
}

int arg_u32(napi_env env, napi_value v, uint32_t *out, int *present) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return -1;
  if (t == napi_null || t == napi_undefined) {
    if (present) *present = 0;
    *out = 0;
    return 0;
  }
  if (t != napi_number) return -1;
  if (napi_get_value_uint32(env, v, out) != napi_ok) return -1;
  if (present) *present = 1;
  return 0;
}

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return -1;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &t, len, data, &ab, &off) != napi_ok || t != want) return -1;
  return 0;
}

int arg_bytes(napi_env env, napi_value v, uint8_t **data, size_t *len) {
  return typed(env, v, napi_uint8_array, (void **)data, len);
}
int arg_u32_array(napi_env env, napi_value v, uint32_t **data, size_t *len) {
  return typed(env, v, napi_uint32_array, (void **)data, len);
}
int arg_u16_array(napi_env env, napi_value v, uint16_t **data, size_t *len) {
  return typed(env, v, napi_uint16_array, (void **)data, len);
}

void stat_tx_error(io_handle *h, int err) {
  h->stats[ST_TX_ERRORS] += 1;
  h->stats[ST_TX_LAST_ERRNO] = err;
}
