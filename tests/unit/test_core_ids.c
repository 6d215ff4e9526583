/* test_core_ids.c - random ids have the documented shape, differ, and the validators
 * reject everything that could smuggle other characters into a Redis key. */
#include "ids.h"

#include <string.h>

#include "../tap.h"

static void test_batch_shape(void)
{
	char a[IDS_BATCH_LEN + 1], b[IDS_BATCH_LEN + 1];

	assertf(ids_batch(a), "ids_batch failed");
	assertf(ids_batch(b), "ids_batch failed");
	assertf(strlen(a) == IDS_BATCH_LEN, "len %zu", strlen(a));
	assertf(strncmp(a, "batch_", 6) == 0, "prefix of %s", a);
	assertf(ids_is_batch(a), "%s not valid", a);
	assertf(strcmp(a, b) != 0, "two ids equal: %s", a);
	assertf(!ids_is_exec(a), "batch id accepted as exec id");
}

static void test_exec_shape(void)
{
	char a[IDS_EXEC_LEN + 1];

	for (int i = 0; i < 100; i++) {
		assertf(ids_exec(a), "ids_exec failed");
		assertf(strlen(a) == IDS_EXEC_LEN && ids_is_exec(a), "bad exec id %s", a);
	}
}

static void test_uuid_shape(void)
{
	char u[IDS_UUID_LEN + 1];

	for (int i = 0; i < 100; i++) {
		assertf(ids_uuid(u), "ids_uuid failed");
		assertf(ids_is_uuid(u), "bad uuid %s", u);
		assertf(u[14] == '4', "version nibble of %s", u);
		assertf(strchr("89ab", u[19]) != NULL, "variant nibble of %s", u);
	}
}

static void test_validators_reject(void)
{
	static const char *bad_batch[] = {
		"",
		"batch_",
		"batch_1234567",
		"batch_123456789",
		"batch_1234567g",
		"batch_ABCDEF12",
		"Batch_12345678",
		"batch_1234}678",
		"exec_12345678",
		"batch_1234567\n",
	};
	static const char *bad_exec[] = {
		"",
		"exec_1234567",
		"exec_123456789",
		"exec_1234567z",
		"exec_:2345678",
		"batch_12345678",
	};
	static const char *bad_uuid[] = {
		"",
		"0f3c21aa-0000-4000-8000-00000000000",
		"0f3c21aa00000-4000-8000-000000000000",
		"0f3c21aa-0000-4000-8000-00000000000g",
		"0f3c21aa-0000-4000-8000-0000000000000",
	};

	for (size_t i = 0; i < ARRAY_LEN(bad_batch); i++)
		assertf(!ids_is_batch(bad_batch[i]), "accepted batch %s", bad_batch[i]);
	for (size_t i = 0; i < ARRAY_LEN(bad_exec); i++)
		assertf(!ids_is_exec(bad_exec[i]), "accepted exec %s", bad_exec[i]);
	for (size_t i = 0; i < ARRAY_LEN(bad_uuid); i++)
		assertf(!ids_is_uuid(bad_uuid[i]), "accepted uuid %s", bad_uuid[i]);
	assertf(!ids_is_batch(NULL) && !ids_is_exec(NULL) && !ids_is_uuid(NULL), "NULL accepted");
	assertf(ids_is_batch("batch_a1b2c3d4"), "rejected batch_a1b2c3d4");
	assertf(ids_is_exec("exec_0f3c21aa"), "rejected exec_0f3c21aa");
	assertf(ids_is_uuid("0F3C21AA-0000-4000-8000-000000000000"), "rejected upper-case uuid");
}

static void test_split_ref(void)
{
	static const char *bad[] = {
		"",
		"batch_a1b2c3d4",
		"batch_a1b2c3d4:",
		":exec_0f3c21aa",
		"batch_a1b2c3d4exec_0f3c21aa",
		"batch_a1b2c3d4:exec_0f3c21aa0",
		"batch_a1b2c3d40:exec_0f3c21aa",
		"exec_0f3c21aa:batch_a1b2c3d4",
		"batch_a1b2c3d4:exec_0f3c21aa:x",
		"batch_a1b2c3d4x12345678901234567890:exec_0f3c21aa",
	};
	char b[IDS_BATCH_LEN + 1], e[IDS_EXEC_LEN + 1];

	assertf(ids_split_ref("batch_a1b2c3d4:exec_0f3c21aa", b, e), "rejected a valid ref");
	assertf(strcmp(b, "batch_a1b2c3d4") == 0 && strcmp(e, "exec_0f3c21aa") == 0,
		"split into %s and %s", b, e);
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assertf(!ids_split_ref(bad[i], b, e), "accepted ref %s", bad[i]);
}

static void test_random_fills(void)
{
	unsigned char buf[64];
	int nonzero = 0;

	memset(buf, 0, sizeof(buf));
	assertf(ids_random(buf, sizeof(buf)), "ids_random failed");
	for (size_t i = 0; i < sizeof(buf); i++)
		nonzero += buf[i] != 0;
	/* 64 random bytes all zero except a handful: probability is negligible */
	assertf(nonzero > 32, "only %d non-zero bytes", nonzero);
}

int main(void)
{
	RUN_TEST(test_batch_shape);
	RUN_TEST(test_exec_shape);
	RUN_TEST(test_uuid_shape);
	RUN_TEST(test_validators_reject);
	RUN_TEST(test_split_ref);
	RUN_TEST(test_random_fills);
	return tap_done();
}
