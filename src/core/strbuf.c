/* strbuf.c - the growable string of strbuf.h: doubling growth from 64 bytes, a sticky
 * out-of-memory flag. It does no I/O and knows no formats beyond printf. */
#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

#define STRBUF_MIN 64

void strbuf_init(StrBuf *b)
{
	memset(b, 0, sizeof(*b));
}

void strbuf_cleanup(StrBuf *b)
{
	if (b == NULL)
		return;
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void strbuf_clear(StrBuf *b)
{
	b->len = 0;
	b->oom = false;
	if (b->data != NULL)
		b->data[0] = '\0';
}

bool strbuf_reserve(StrBuf *b, size_t more)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	if (more > SIZE_MAX - 1 - b->len)
		goto fail;
	need = b->len + more + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap > 0 ? b->cap : STRBUF_MIN;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if ((p = amcb_realloc(b->data, cap)) == NULL)
		goto fail;
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return true;
fail:
	b->oom = true;
	return false;
}

void strbuf_add(StrBuf *b, const void *p, size_t n)
{
	if (!strbuf_reserve(b, n))
		return;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void strbuf_adds(StrBuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void strbuf_addf(StrBuf *b, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	if (b->oom)
		return;
	/* first into the room there is; most appends fit and format only once */
	room = b->data != NULL ? b->cap - b->len : 0;
	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? b->data + b->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		goto out;
	}
	if ((size_t)n < room) {
		b->len += (size_t)n;
		return;
	}
	if (!strbuf_reserve(b, (size_t)n))
		goto out;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return;
out:
	/* a truncated first try may have overwritten the NUL at len */
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

char *strbuf_take(StrBuf *b, size_t *len)
{
	char *s;

	if (!strbuf_reserve(b, 0)) {
		strbuf_cleanup(b);
		return NULL;
	}
	s = b->data;
	if (len != NULL)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return s;
}
