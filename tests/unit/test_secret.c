/* test_secret.c - AES-256-GCM secrets: a round trip gives the plaintext back, two encryptions
 * differ (random nonce), and a wrong key, a flipped bit, a truncation or a bad version fail. */
#include "secret.h"

#include <stdlib.h>
#include <string.h>

#include "../tap.h"

static const char key_hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char other_hex[] = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static bool contains(const uint8_t *hay, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return true;
	return false;
}

static void load(const char *hex, uint8_t key[SECRET_KEY_LEN])
{
	char err[128];
	bool ok = secret_key_parse(hex, key, err, sizeof(err));
	assertf(ok, "key parse: %s", err);
}

static void test_round_trip(void)
{
	uint8_t key[SECRET_KEY_LEN], *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;
	char *plain = NULL, err[128];
	const char *msg = "Atzr|IwEBIA-secret-refresh-token";

	load(key_hex, key);
	assertf(secret_encrypt(key, msg, strlen(msg), &a, &na), "encrypt");
	assertf(na == strlen(msg) + SECRET_OVERHEAD, "length %zu", na);
	assertf(!contains(a, na, "Atzr"), "plaintext visible in the blob");
	assertf(secret_encrypt(key, msg, strlen(msg), &b, &nb), "encrypt twice");
	assertf(na == nb && memcmp(a, b, na) != 0, "two encryptions are equal (nonce reused?)");
	assertf(secret_decrypt(key, a, na, &plain, err, sizeof(err)), "decrypt: %s", err);
	assertf(plain != NULL && strcmp(plain, msg) == 0, "round trip gave %s",
		plain != NULL ? plain : "(null)");
	free(plain);
	free(a);
	free(b);
}

static void test_empty(void)
{
	uint8_t key[SECRET_KEY_LEN], *a = NULL;
	size_t na = 0;
	char *plain = NULL, err[128];

	load(key_hex, key);
	assertf(secret_encrypt(key, "", 0, &a, &na), "encrypt empty");
	assertf(secret_decrypt(key, a, na, &plain, err, sizeof(err)), "decrypt empty: %s", err);
	assertf(plain != NULL && plain[0] == '\0', "empty round trip");
	free(plain);
	free(a);
}

static void test_wrong_key(void)
{
	uint8_t key[SECRET_KEY_LEN], other[SECRET_KEY_LEN], *a = NULL;
	size_t na = 0;
	char *plain = NULL, err[128] = "";

	load(key_hex, key);
	load(other_hex, other);
	assertf(secret_encrypt(key, "hello", 5, &a, &na), "encrypt");
	assertf(!secret_decrypt(other, a, na, &plain, err, sizeof(err)), "wrong key accepted");
	assertf(plain == NULL && strstr(err, "wrong key") != NULL, "error text: %s", err);
	free(a);
}

static void test_tamper(void)
{
	uint8_t key[SECRET_KEY_LEN], *a = NULL;
	size_t na = 0;
	char *plain = NULL, err[128];

	load(key_hex, key);
	assertf(secret_encrypt(key, "hello world", 11, &a, &na), "encrypt");
	for (size_t i = 0; i < na; i++) {
		a[i] ^= 0x01;
		bool ok = secret_decrypt(key, a, na, &plain, err, sizeof(err));
		assertf(!ok, "flipped bit in byte %zu accepted", i);
		if (ok)
			free(plain);
		plain = NULL;
		a[i] ^= 0x01;
	}
	assertf(!secret_decrypt(key, a, na - 1, &plain, err, sizeof(err)), "truncated accepted");
	assertf(!secret_decrypt(key, a, 5, &plain, err, sizeof(err)), "short accepted");
	assertf(strstr(err, "truncated") != NULL, "error text: %s", err);
	assertf(secret_decrypt(key, a, na, &plain, err, sizeof(err)), "intact blob: %s", err);
	free(plain);
	free(a);
}

static void test_key_and_hex(void)
{
	uint8_t key[SECRET_KEY_LEN], *b = NULL;
	size_t n = 0;
	char err[128], hex[16];

	assertf(!secret_key_parse("abcd", key, err, sizeof(err)), "short key accepted");
	assertf(!secret_key_parse(
			"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", key,
			err, sizeof(err)),
		"non-hex key accepted");
	unsetenv("AMCBATCH_SECRET_KEY");
	assertf(!secret_key_load("", key, err, sizeof(err)), "no key accepted");
	setenv("AMCBATCH_SECRET_KEY", key_hex, 1);
	assertf(secret_key_load("", key, err, sizeof(err)) && key[31] == 0x1f, "key from env: %s",
		err);
	assertf(secret_key_load(other_hex, key, err, sizeof(err)) && key[0] == 0xff, "config wins");
	secret_hex((const uint8_t *)"\x00\xab\x10", 3, hex);
	assertf(strcmp(hex, "00ab10") == 0, "hex %s", hex);
	assertf(secret_unhex("\\x00ab10", &b, &n) && n == 3 && b[1] == 0xab, "unhex bytea form");
	free(b);
	assertf(!secret_unhex("abc", &b, &n), "odd hex accepted");
}

int main(void)
{
	RUN_TEST(test_round_trip);
	RUN_TEST(test_empty);
	RUN_TEST(test_wrong_key);
	RUN_TEST(test_tamper);
	RUN_TEST(test_key_and_hex);
	return tap_done();
}
