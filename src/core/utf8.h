/* utf8.h - keeping text that goes to PostgreSQL valid UTF-8: a cut at a byte count that falls
 * inside a character, or bytes from a foreign answer that are not UTF-8 at all, make
 * PostgreSQL refuse the whole statement (SQLSTATE 22021), and a final state would never land. */
#ifndef AMCB_UTF8_H
#define AMCB_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left), or 0 if none starts there
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). NUL is a valid
 * sequence of one byte: callers that refuse it check for it. Inline: the worker calls it per
 * byte of every archived field. */
static inline size_t utf8_seq_len(const char *p, size_t n)
{
	const unsigned char *s = (const unsigned char *)p;
	unsigned char c = s[0];
	size_t len;
	unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Length of the longest prefix of s (of n bytes) that is at most max bytes and does not end
 * inside a UTF-8 character. */
size_t utf8_prefix(const char *s, size_t n, size_t max);

/* In place: every byte that does not begin or continue a valid UTF-8 sequence becomes '?',
 * so the string is valid UTF-8 of the same length. */
void utf8_scrub(char *s);

/* snprintf-like copy of src into dst (size n > 0): scrubbed, and cut on a character
 * boundary when it does not fit. */
void utf8_copy(char *dst, size_t n, const char *src);

#endif
