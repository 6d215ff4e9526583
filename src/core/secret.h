/* secret.h - encryption at rest of stored credentials (LWA refresh tokens, client secrets):
 * AES-256-GCM with a random 12-byte nonce; the blob is "v1" || nonce || ciphertext || tag. */
#ifndef AMCB_SECRET_H
#define AMCB_SECRET_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define SECRET_KEY_LEN 32
#define SECRET_OVERHEAD (2 + 12 + 16) /* version prefix + nonce + tag */

/* Parses a key given as 64 hex characters. false (err set) if it is not one. */
MUST_CHECK bool secret_key_parse(const char *hex, uint8_t key[SECRET_KEY_LEN], char *err,
				 size_t errlen);
/* The key of a program: `configured` (config secret_key) if not empty, else the environment
 * variable AMCBATCH_SECRET_KEY. false (err set) if neither holds a valid key. */
MUST_CHECK bool secret_key_load(const char *configured, uint8_t key[SECRET_KEY_LEN], char *err,
				size_t errlen);

/* Encrypts plain[0..n). *out is malloc'ed (owned by the caller), *outlen = n + SECRET_OVERHEAD. */
MUST_CHECK bool secret_encrypt(const uint8_t key[SECRET_KEY_LEN], const char *plain, size_t n,
			       uint8_t **out, size_t *outlen);
/* Decrypts a blob of secret_encrypt into a malloc'ed NUL-terminated string (owned by the
 * caller; wipe it before freeing). false on a wrong key, a tampered or truncated blob, or an
 * unknown version (err says which, never the secret). */
MUST_CHECK bool secret_decrypt(const uint8_t key[SECRET_KEY_LEN], const uint8_t *blob, size_t n,
			       char **out, char *err, size_t errlen);

/* Hex helpers for bytea text form ("\x..." in PostgreSQL) and the --encrypt command. */
/* Writes 2n hex digits and a NUL into hex (size >= 2n + 1). */
void secret_hex(const uint8_t *bytes, size_t n, char *hex);
/* Parses hex digits (an optional leading "\x" is skipped) into a malloc'ed buffer. */
MUST_CHECK bool secret_unhex(const char *hex, uint8_t **out, size_t *outlen);

/* Overwrites n bytes in a way the compiler does not drop. */
void secret_wipe(void *p, size_t n);

#endif
