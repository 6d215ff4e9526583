/* test_core_utf8.c - text bound for PostgreSQL is cut on character boundaries and never holds
 * bytes that are not UTF-8 (PostgreSQL refuses such a statement, SQLSTATE 22021); the
 * sequence rule the worker's CSV and column code share (utf8_seq_len). */
#include "utf8.h"

#include <stdbool.h>
#include <string.h>

#include "../tap.h"

/* whether s is valid UTF-8 (a reference checker independent of utf8.c) */
static bool valid(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	while (*u) {
		int n = *u < 0x80         ? 1
			: (*u >> 5) == 6  ? 2
			: (*u >> 4) == 14 ? 3
			: (*u >> 3) == 30 ? 4
					  : 0;
		if (n == 0 || (n == 2 && *u < 0xc2))
			return false;
		for (int i = 1; i < n; i++)
			if ((u[i] & 0xc0) != 0x80)
				return false;
		u += n;
	}
	return true;
}

static void test_utf8_copy_cuts_on_boundaries(void)
{
	char src[2100], dst[1024];
	size_t n = 0;

	memcpy(src, "AMC execution failed: x", 23);
	n = 23;
	while (n + 2 < sizeof(src) - 1) {
		src[n++] = (char)0xc3; /* é */
		src[n++] = (char)0xa9;
	}
	src[n] = '\0';
	/* every buffer size: the copy is valid UTF-8, as long as fits, and a prefix of src */
	for (size_t sz = 1; sz <= sizeof(dst); sz++) {
		utf8_copy(dst, sz, src);
		assertf(strlen(dst) < sz && strlen(dst) + 2 >= sz - 1, "size %zu: %zu bytes kept",
			sz, strlen(dst));
		assertf(valid(dst), "size %zu: valid UTF-8", sz);
		assertf(strncmp(dst, src, strlen(dst)) == 0, "size %zu: a prefix of the source",
			sz);
	}
}

static void test_utf8_scrubs_invalid_bytes(void)
{
	char dst[64], s[64];

	utf8_copy(dst, sizeof(dst),
		  "ok \xff\xfe bad \xc3 cut \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 end");
	assertf(valid(dst), "scrubbed: %s", dst);
	assertf(strcmp(dst, "ok ?? bad ? cut ?? ??? ???? end") == 0, "each bad byte becomes ?: %s",
		dst);
	strcpy(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc0\xaf");
	utf8_scrub(s);
	assertf(strcmp(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 ??") == 0,
		"valid kept, overlong scrubbed: %s", s);
	assertf(utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 6, 5) == 3,
		"prefix stops before a cut character");
	assertf(utf8_prefix("abc", 3, 10) == 3, "short text kept whole");
}

/* RFC 3629's table, edges included: the worker refuses what this refuses */
static void test_utf8_seq_len(void)
{
	static const struct {
		const char *s;
		size_t n, len;
	} cases[] = {
		{ "A", 1, 1 },
		{ "", 1, 1 }, /* NUL: one byte; callers that refuse it check */
		{ "\x7f", 1, 1 },
		{ "\xc3\xa9", 2, 2 },         /* é */
		{ "\xe2\x82\xac", 3, 3 },     /* € */
		{ "\xf0\x9f\x98\x80", 4, 4 }, /* 😀 */
		{ "\xf4\x8f\xbf\xbf", 4, 4 }, /* U+10FFFF */
		{ "\xef\xbf\xbf", 3, 3 },     /* U+FFFF */
		{ "\x80", 1, 0 },             /* a continuation byte alone */
		{ "\xc0\x80", 2, 0 },         /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },         /* overlong */
		{ "\xe0\x9f\xbf", 3, 0 },     /* overlong */
		{ "\xf0\x8f\xbf\xbf", 4, 0 }, /* overlong */
		{ "\xed\xa0\x80", 3, 0 },     /* U+D800, a surrogate */
		{ "\xed\x9f\xbf", 3, 3 },     /* U+D7FF, just below */
		{ "\xf4\x90\x80\x80", 4, 0 }, /* above U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\xff", 1, 0 },
		{ "\xe2\x82\xac", 2, 0 }, /* cut short by n */
		{ "\xe2\x28\xac", 3, 0 }, /* a bad continuation */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assertf(utf8_seq_len(cases[i].s, cases[i].n) == cases[i].len,
			"case %zu: want %zu, got %zu", i, cases[i].len,
			utf8_seq_len(cases[i].s, cases[i].n));
}

int main(void)
{
	RUN_TEST(test_utf8_copy_cuts_on_boundaries);
	RUN_TEST(test_utf8_scrubs_invalid_bytes);
	RUN_TEST(test_utf8_seq_len);
	return tap_done();
}
