/* strbuf.h - one growable byte string: append bytes, a string or printf output, then take
 * the result. A failed append sets a sticky flag and later appends do nothing, so a caller
 * builds the whole string and checks once at the end. No limits: a caller that caps a size
 * checks len itself. Allocations go through the hook of alloc.h. */
#ifndef AMCB_STRBUF_H
#define AMCB_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

/* An embedded struct (strbuf_init/strbuf_cleanup). The buffer owns data until strbuf_take
 * hands it over; data is NULL until the first append, then always NUL-terminated at len
 * (the NUL is not counted), so callers may read data and len directly. */
typedef struct StrBuf {
	char *data;
	size_t len;
	size_t cap; /* bytes allocated at data */
	bool oom;   /* sticky: an append failed (out of memory or a printf error) */
} StrBuf;

#define STRBUF_INIT \
	{ \
		NULL, 0, 0, false \
	}

void strbuf_init(StrBuf *b);
/* Frees data; b is empty again and may be reused. Accepts NULL. */
void strbuf_cleanup(StrBuf *b);
/* Empties the string but keeps its memory, and clears the oom flag: a new start (a retried
 * transfer reuses its buffer this way). */
void strbuf_clear(StrBuf *b);

/* Room for `more` bytes after len (plus the NUL) without a further allocation; false (and
 * oom set) when that cannot be had. */
MUST_CHECK bool strbuf_reserve(StrBuf *b, size_t more);
/* Appends n bytes of p (borrowed; may hold NUL bytes). Even n == 0 allocates, so that a
 * buffer appended to is never NULL. */
void strbuf_add(StrBuf *b, const void *p, size_t n);
/* Appends the NUL-terminated s (borrowed). */
void strbuf_adds(StrBuf *b, const char *s);
/* Appends printf output. */
void strbuf_addf(StrBuf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* Hands data over: the caller frees it. NULL if any append failed (the memory is freed then);
 * "" when nothing was appended. Either way b is empty again, with the oom flag cleared. When
 * len is not NULL it gets the length on success. */
MUST_CHECK char *strbuf_take(StrBuf *b, size_t *len);

#endif
