/*
 * @secsess/native: AES-256-GCM and ChaCha20-Poly1305 (96-bit nonce, 16-byte tag) inside the
 * caller's buffers, on the OpenSSL that Node.js itself links (its EVP symbols, resolved from
 * the node binary when this addon is loaded; no libcrypto of our own).
 *
 * node:crypto reaches the same code but hands out a new output buffer per call and builds a
 * cipher context per record. Here a key keeps one encryption and one decryption context (key
 * schedule done once); a record only sets its nonce. The record layout is secsess's: the
 * plaintext or ciphertext is buf[from .. to], the tag buf[to .. to + 16].
 *
 *   createKey(cipher: 1 (AES-256-GCM) | 2 (ChaCha20-Poly1305), key: Uint8Array(32)): Key
 *   seal(key, nonce, aad, buf, from, to): void        ciphertext over the plaintext, tag after
 *   open(key, nonce, aad, buf, from, to, out, outAt): boolean
 *   release(key): void                                 frees the contexts (an idle session's);
 *                                                      the next record makes them again
 *   destroy(key): void                                 frees the contexts, wipes the key
 *
 * A key's contexts are made at its first seal and its first open (a record layer's key is
 * used one way only: one context per session direction), and again after release(); so the
 * 32 raw bytes stay in the key until destroy or GC, which wipe them. Keys are type-tagged externals: nothing else
 * (another addon's external, a plain object) is taken for one.
 *
 * open() decrypts into out[outAt .. outAt + (to - from)] (out may be buf with outAt == from:
 * in place; any other overlap is refused) and then checks the tag. OpenSSL's stitched AEAD
 * code decrypts and authenticates in one pass, so the plaintext exists before the verdict:
 * on a tag mismatch the whole output range is wiped (OPENSSL_cleanse) before open() returns
 * false, so no caller ever sees unauthenticated plaintext (SECURITY.md, "Native AEAD").
 *
 * Every argument is checked (types, sizes, ranges inside their buffers, no SharedArrayBuffer:
 * another thread could read the output before a failed tag wipes it); a bad call throws a
 * TypeError or RangeError and touches no byte. OpenSSL's error queue, which node:crypto and
 * node:tls share on this thread, is left as each call found it (ERR_set_mark/pop_to_mark).
 *
 * Linked with immediate binding (binding.gyp): a runtime whose OpenSSL lacks a symbol used
 * here fails at load (ERR_DLOPEN_FAILED, which the sdk's loader falls back from), never at
 * the first call.
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define KEY_SIZE 32
#define NONCE_SIZE 12
#define TAG_SIZE 16
#define CIPHER_AES_256_GCM 1
#define CIPHER_CHACHA20_POLY1305 2

typedef struct {
  const EVP_CIPHER *cipher;
  EVP_CIPHER_CTX *enc;
  EVP_CIPHER_CTX *dec;
  unsigned char raw[KEY_SIZE];
  int live;
} Key;

/* The tag every key carries (napi_type_tag_object): a random 128-bit value of this addon. */
static const napi_type_tag KEY_TAG = {0x5ec5e55a3adc0de1ULL, 0x9b1f4c27d06e83a5ULL};

typedef struct {
  uint8_t *data;
  size_t length;
} Bytes;

/* Frees both contexts (EVP_CIPHER_CTX_free cleanses them); the key can make them again. */
static void drop_contexts(Key *k) {
  if (k->enc != NULL) EVP_CIPHER_CTX_free(k->enc);
  if (k->dec != NULL) EVP_CIPHER_CTX_free(k->dec);
  k->enc = NULL;
  k->dec = NULL;
}

/* Frees both contexts and wipes the raw key: the key is dead. */
static void free_contexts(Key *k) {
  drop_contexts(k);
  OPENSSL_cleanse(k->raw, KEY_SIZE);
  k->live = 0;
}

static void finalize_key(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  Key *k = data;
  free_contexts(k);
  free(k);
}

/* Throws (a TypeError unless `range`) and returns NULL: the value every binding returns then. */
static napi_value fail(napi_env env, int range, const char *message) {
  if (range) napi_throw_range_error(env, "ERR_SECSESS_NATIVE_RANGE", message);
  else napi_throw_type_error(env, "ERR_SECSESS_NATIVE_ARG", message);
  return NULL;
}

/* A Uint8Array over an ArrayBuffer (not a SharedArrayBuffer). */
static int get_bytes(napi_env env, napi_value value, Bytes *out) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  size_t length;
  void *data;
  napi_value backing;
  if (napi_get_typedarray_info(env, value, &type, &length, &data, &backing, NULL) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  bool plain = false;
  if (napi_is_arraybuffer(env, backing, &plain) != napi_ok || !plain) return 0;
  out->data = data;
  out->length = length;
  return 1;
}

/* A non-negative integer index no larger than INT_MAX (OpenSSL's lengths are ints). */
static int get_index(napi_env env, napi_value value, size_t *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) return 0;
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= (double)INT_MAX) || d != (double)(int64_t)d) return 0;
  *out = (size_t)d;
  return 1;
}

static Key *get_key(napi_env env, napi_value value) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external) return NULL;
  bool ours = false;
  if (napi_check_object_type_tag(env, value, &KEY_TAG, &ours) != napi_ok || !ours) return NULL;
  void *data = NULL;
  if (napi_get_value_external(env, value, &data) != napi_ok) return NULL;
  return data;
}

static EVP_CIPHER_CTX *new_context(const EVP_CIPHER *cipher, const uint8_t *raw, int encrypt) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx == NULL) return NULL;
  if (EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, NONCE_SIZE, NULL) != 1 ||
      EVP_CipherInit_ex(ctx, NULL, NULL, raw, NULL, encrypt) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

static napi_value create_key(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) {
    return fail(env, 0, "createKey(cipher, key)");
  }
  int32_t id;
  if (napi_get_value_int32(env, argv[0], &id) != napi_ok) return fail(env, 0, "createKey: cipher is 1 or 2");
  const EVP_CIPHER *cipher = id == CIPHER_AES_256_GCM          ? EVP_aes_256_gcm()
                             : id == CIPHER_CHACHA20_POLY1305 ? EVP_chacha20_poly1305()
                                                              : NULL;
  if (cipher == NULL) return fail(env, 1, "createKey: cipher is 1 (AES-256-GCM) or 2 (ChaCha20-Poly1305)");
  Bytes raw;
  if (!get_bytes(env, argv[1], &raw)) return fail(env, 0, "createKey: the key is a Uint8Array");
  if (raw.length != KEY_SIZE) return fail(env, 1, "createKey: the key is 32 bytes");
  Key *k = calloc(1, sizeof(Key));
  if (k == NULL) return fail(env, 1, "createKey: out of memory");
  k->cipher = cipher;
  memcpy(k->raw, raw.data, KEY_SIZE);
  k->live = 1;
  napi_value external;
  if (napi_create_external(env, k, finalize_key, NULL, &external) != napi_ok) {
    /* No external holds it: no finalizer will run for it. */
    free_contexts(k);
    free(k);
    return fail(env, 1, "createKey: out of memory");
  }
  if (napi_type_tag_object(env, external, &KEY_TAG) != napi_ok) {
    /* The external holds it and its finalizer frees it at GC: only make it dead here. */
    free_contexts(k);
    return fail(env, 1, "createKey: out of memory");
  }
  return external;
}

/* The arguments seal() and open() share: key, nonce, aad, buf, from, to (tag room checked). */
typedef struct {
  Key *key;
  Bytes nonce, aad, buf;
  size_t from, to;
} Record;

static int get_record(napi_env env, napi_value *argv, Record *r) {
  r->key = get_key(env, argv[0]);
  if (r->key == NULL) return fail(env, 0, "the key is not a key"), 0;
  if (!r->key->live) return fail(env, 0, "the key was destroyed"), 0;
  if (!get_bytes(env, argv[1], &r->nonce) || !get_bytes(env, argv[2], &r->aad) ||
      !get_bytes(env, argv[3], &r->buf)) {
    return fail(env, 0, "nonce, aad and buf are Uint8Arrays"), 0;
  }
  if (r->nonce.length != NONCE_SIZE) return fail(env, 1, "the nonce is 12 bytes"), 0;
  if (r->aad.length > INT_MAX) return fail(env, 1, "the aad is too long"), 0;
  if (!get_index(env, argv[4], &r->from) || !get_index(env, argv[5], &r->to)) {
    return fail(env, 0, "from and to are integers"), 0;
  }
  if (r->from > r->to || r->to > r->buf.length || r->buf.length - r->to < TAG_SIZE) {
    return fail(env, 1, "the record and its tag are not inside buf"), 0;
  }
  return 1;
}

static napi_value seal(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6) {
    return fail(env, 0, "seal(key, nonce, aad, buf, from, to)");
  }
  Record r;
  if (!get_record(env, argv, &r)) return NULL;
  ERR_set_mark();
  if (r.key->enc == NULL) r.key->enc = new_context(r.key->cipher, r.key->raw, 1);
  EVP_CIPHER_CTX *ctx = r.key->enc;
  uint8_t *text = r.buf.data + r.from;
  int length = (int)(r.to - r.from);
  int n = 0;
  int ok = ctx != NULL && EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, r.nonce.data) == 1 &&
           (r.aad.length == 0 || EVP_EncryptUpdate(ctx, NULL, &n, r.aad.data, (int)r.aad.length) == 1) &&
           (length == 0 || (EVP_EncryptUpdate(ctx, text, &n, text, length) == 1 && n == length)) &&
           EVP_EncryptFinal_ex(ctx, text + length, &n) == 1 && n == 0 &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, r.buf.data + r.to) == 1;
  ERR_pop_to_mark();
  if (!ok) {
    /* Never leave a half-sealed record that could be sent: no plaintext, no valid tag. */
    OPENSSL_cleanse(text, (size_t)length + TAG_SIZE);
    napi_throw_error(env, "ERR_SECSESS_NATIVE_OPENSSL", "seal: OpenSSL failed");
  }
  return NULL;
}

static napi_value open_record(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 8) {
    return fail(env, 0, "open(key, nonce, aad, buf, from, to, out, outAt)");
  }
  Record r;
  if (!get_record(env, argv, &r)) return NULL;
  Bytes out;
  size_t out_at;
  if (!get_bytes(env, argv[6], &out)) return fail(env, 0, "out is a Uint8Array");
  if (!get_index(env, argv[7], &out_at)) return fail(env, 0, "outAt is an integer");
  size_t length = r.to - r.from;
  if (out_at > out.length || out.length - out_at < length) {
    return fail(env, 1, "the plaintext's room is not inside out");
  }
  const uint8_t *cipher_text = r.buf.data + r.from;
  uint8_t *plain = out.data + out_at;
  /* In place, or apart: a partial overlap would decrypt bytes it has already overwritten. */
  uintptr_t c0 = (uintptr_t)cipher_text, p0 = (uintptr_t)plain;
  if (length > 0 && p0 != c0 && p0 < c0 + length + TAG_SIZE && c0 < p0 + length) {
    return fail(env, 1, "out overlaps the record other than in place");
  }
  uint8_t tag[TAG_SIZE];
  memcpy(tag, r.buf.data + r.to, TAG_SIZE);
  ERR_set_mark();
  if (r.key->dec == NULL) r.key->dec = new_context(r.key->cipher, r.key->raw, 0);
  EVP_CIPHER_CTX *ctx = r.key->dec;
  if (ctx == NULL) {
    /* OpenSSL refused the cipher (a FIPS provider without ChaCha20, say): not a bad record. */
    ERR_pop_to_mark();
    napi_throw_error(env, "ERR_SECSESS_NATIVE_OPENSSL", "open: OpenSSL refused the cipher");
    return NULL;
  }
  int n = 0;
  int ok = EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, r.nonce.data) == 1 &&
           (r.aad.length == 0 || EVP_DecryptUpdate(ctx, NULL, &n, r.aad.data, (int)r.aad.length) == 1) &&
           (length == 0 || (EVP_DecryptUpdate(ctx, plain, &n, cipher_text, (int)length) == 1 &&
                            (size_t)n == length)) &&
           EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, tag) == 1 &&
           EVP_DecryptFinal_ex(ctx, plain + length, &n) == 1 && n == 0;
  /* A failed tag leaves its reason on the queue: not ours to leave for node:crypto. */
  ERR_pop_to_mark();
  /* The verdict comes after the plaintext: a record that fails leaves none of it behind. */
  if (!ok) OPENSSL_cleanse(plain, length);
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

/* The one argument of release() and destroy(): a key of ours, else NULL with a TypeError thrown. */
static Key *only_key(napi_env env, napi_callback_info info, const char *usage) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    fail(env, 0, usage);
    return NULL;
  }
  Key *k = get_key(env, argv[0]);
  if (k == NULL) fail(env, 0, "the key is not a key");
  return k;
}

static napi_value release_key(napi_env env, napi_callback_info info) {
  Key *k = only_key(env, info, "release(key)");
  if (k != NULL) drop_contexts(k);
  return NULL;
}

static napi_value destroy_key(napi_env env, napi_callback_info info) {
  Key *k = only_key(env, info, "destroy(key)");
  if (k != NULL) free_contexts(k);
  return NULL;
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value version;
  if (!export_function(env, exports, "createKey", create_key) || !export_function(env, exports, "seal", seal) ||
      !export_function(env, exports, "open", open_record) ||
      !export_function(env, exports, "release", release_key) ||
      !export_function(env, exports, "destroy", destroy_key) ||
      napi_create_string_utf8(env, OpenSSL_version(OPENSSL_VERSION), NAPI_AUTO_LENGTH, &version) != napi_ok ||
      napi_set_named_property(env, exports, "openssl", version) != napi_ok) {
    return NULL;
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
