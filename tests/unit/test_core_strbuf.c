/* test_core_strbuf.c - the growable string of core: appends of bytes, strings and printf
 * output across growth, take and its empty string, and the sticky out-of-memory flag (an
 * allocation refused through the hook of alloc.h). */
#include "strbuf.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#include "../tap.h"

static void test_strbuf_appends(void)
{
	StrBuf b = STRBUF_INIT;
	char *s;
	size_t len = 0;

	strbuf_adds(&b, "a");
	strbuf_add(&b, "b\0c", 3);
	strbuf_addf(&b, "%d-%s", 42, "x");
	assertf(b.len == 8 && memcmp(b.data, "ab\0c42-x", 9) == 0, "bytes, NUL included");
	/* past several doublings, printf both fitting and not fitting the room left */
	for (int i = 0; i < 1000; i++)
		strbuf_addf(&b, "%04d", i);
	assertf(b.len == 8 + 4000, "4000 more bytes: %zu", b.len);
	assertf(strncmp(b.data + 8 + 4 * 999, "0999", 5) == 0, "last record and its NUL");
	strbuf_addf(&b, "%s", "");
	assertf(b.len == 4008 && !b.oom, "an empty printf adds nothing");
	s = strbuf_take(&b, &len);
	assertf(s != NULL && len == 4008, "take: %zu", len);
	assertf(b.data == NULL && b.len == 0 && b.cap == 0, "taken: the buffer is empty again");
	free(s);
}

static void test_strbuf_take_empty(void)
{
	StrBuf b;
	char *s;

	strbuf_init(&b);
	s = strbuf_take(&b, NULL);
	assertf(s != NULL && s[0] == '\0', "nothing appended: \"\"");
	free(s);
	strbuf_add(&b, "", 0);
	assertf(b.data != NULL && b.data[0] == '\0', "an empty append allocates");
	strbuf_adds(&b, "xyz");
	strbuf_clear(&b);
	assertf(b.len == 0 && b.data[0] == '\0' && b.cap > 0, "clear keeps the memory");
	strbuf_cleanup(&b);
	strbuf_cleanup(NULL);
}

static void *refuse_realloc(void *p, size_t n)
{
	(void)p;
	(void)n;
	return NULL;
}

static void test_strbuf_oom_sticky(void)
{
	StrBuf b = STRBUF_INIT;
	AllocFuncs f = { malloc, calloc, refuse_realloc, strdup }, old;

	strbuf_adds(&b, "kept");
	old = alloc_set_funcs(&f);
	strbuf_addf(&b, "%0200d", 1); /* needs growth: refused */
	alloc_set_funcs(&old);
	assertf(b.oom, "a refused growth sets oom");
	assertf(strcmp(b.data, "kept") == 0, "the string before it is intact: %s", b.data);
	strbuf_adds(&b, "more");
	assertf(b.len == 4, "later appends do nothing");
	assertf(!strbuf_reserve(&b, 1), "reserve fails too");
	assertf(strbuf_take(&b, NULL) == NULL, "take gives NULL");
	assertf(b.data == NULL && !b.oom, "and frees: the buffer is usable again");
	strbuf_adds(&b, "again");
	strbuf_cleanup(&b);
}

int main(void)
{
	RUN_TEST(test_strbuf_appends);
	RUN_TEST(test_strbuf_take_empty);
	RUN_TEST(test_strbuf_oom_sticky);
	return tap_done();
}
