/* secret.c - AES-256-GCM through OpenSSL EVP for credentials stored in PostgreSQL. The
 * version prefix lets a later key rotation or cipher change tell old blobs apart. */
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define NONCE_LEN 12
#define TAG_LEN 16
static const char version[2] = { 'v', '1' };

void secret_wipe(void *p, size_t n)
{
	if (p != NULL && n)
		OPENSSL_cleanse(p, n);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void secret_hex(const uint8_t *bytes, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		hex[2 * i] = digits[bytes[i] >> 4];
		hex[2 * i + 1] = digits[bytes[i] & 15];
	}
	hex[2 * n] = '\0';
}

bool secret_unhex(const char *hex, uint8_t **out, size_t *outlen)
{
	if (hex[0] == '\\' && hex[1] == 'x')
		hex += 2;
	size_t len = strlen(hex);
	if (len % 2)
		return false;
	uint8_t *b = malloc(len / 2 + 1);
	if (b == NULL)
		return false;
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(b);
			return false;
		}
		b[i] = (uint8_t)(hi << 4 | lo);
	}
	*out = b;
	*outlen = len / 2;
	return true;
}

bool secret_key_parse(const char *hex, uint8_t key[SECRET_KEY_LEN], char *err, size_t errlen)
{
	uint8_t *b = NULL;
	size_t n = 0;
	if (hex == NULL || strlen(hex) != 2 * SECRET_KEY_LEN || !secret_unhex(hex, &b, &n)) {
		snprintf(err, errlen, "the secret key must be %d hex characters",
			 2 * SECRET_KEY_LEN);
		return false;
	}
	memcpy(key, b, SECRET_KEY_LEN);
	secret_wipe(b, n);
	free(b);
	return true;
}

bool secret_key_load(const char *configured, uint8_t key[SECRET_KEY_LEN], char *err, size_t errlen)
{
	const char *hex =
		configured != NULL && *configured ? configured : getenv("AMCBATCH_SECRET_KEY");
	if (hex == NULL || !*hex) {
		snprintf(err, errlen, "no secret key (config secret_key or AMCBATCH_SECRET_KEY)");
		return false;
	}
	return secret_key_parse(hex, key, err, errlen);
}

bool secret_encrypt(const uint8_t key[SECRET_KEY_LEN], const char *plain, size_t n, uint8_t **out,
		    size_t *outlen)
{
	if (n > (size_t)1 << 30)
		return false;
	size_t total = n + SECRET_OVERHEAD;
	uint8_t *b = malloc(total);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0;
	if (b == NULL || ctx == NULL)
		goto fail;
	memcpy(b, version, sizeof(version));
	uint8_t *nonce = b + sizeof(version), *ct = nonce + NONCE_LEN, *tag = ct + n;
	/* the version prefix is authenticated too (AAD): it cannot be swapped */
	if (RAND_bytes(nonce, NONCE_LEN) != 1 ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_EncryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *)version, sizeof(version)) != 1 ||
	    (n && EVP_EncryptUpdate(ctx, ct, &len, (const uint8_t *)plain, (int)n) != 1) ||
	    EVP_EncryptFinal_ex(ctx, ct + (n ? len : 0), &fin) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, tag) != 1)
		goto fail;
	EVP_CIPHER_CTX_free(ctx);
	*out = b;
	*outlen = total;
	return true;
fail:
	EVP_CIPHER_CTX_free(ctx);
	free(b);
	return false;
}

bool secret_decrypt(const uint8_t key[SECRET_KEY_LEN], const uint8_t *blob, size_t n, char **out,
		    char *err, size_t errlen)
{
	if (n < SECRET_OVERHEAD) {
		snprintf(err, errlen, "encrypted secret is truncated");
		return false;
	}
	if (memcmp(blob, version, sizeof(version)) != 0) {
		snprintf(err, errlen, "encrypted secret has an unknown version");
		return false;
	}
	size_t clen = n - SECRET_OVERHEAD;
	const uint8_t *nonce = blob + sizeof(version), *ct = nonce + NONCE_LEN, *tag = ct + clen;
	char *plain = malloc(clen + 1);
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int len = 0, fin = 0;
	uint8_t tagcopy[TAG_LEN];
	memcpy(tagcopy, tag, TAG_LEN);
	if (plain == NULL || ctx == NULL ||
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
	    EVP_DecryptInit_ex(ctx, NULL, NULL, key, nonce) != 1 ||
	    EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)version, sizeof(version)) != 1 ||
	    (clen && EVP_DecryptUpdate(ctx, (uint8_t *)plain, &len, ct, (int)clen) != 1) ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tagcopy) != 1 ||
	    EVP_DecryptFinal_ex(ctx, (uint8_t *)plain + (clen ? len : 0), &fin) != 1) {
		snprintf(err, errlen, "encrypted secret does not decrypt (wrong key or tampered)");
		EVP_CIPHER_CTX_free(ctx);
		if (plain != NULL) {
			secret_wipe(plain, clen + 1);
			free(plain);
		}
		return false;
	}
	EVP_CIPHER_CTX_free(ctx);
	plain[clen] = '\0';
	*out = plain;
	return true;
}
