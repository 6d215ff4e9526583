/* utf8.c - validating and cutting UTF-8 text (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). No locale, no allocation. */
#include "utf8.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0 if none starts there. */
static size_t seq_len(const unsigned char *s, size_t n)
{
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

size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0;

	while (i < n) {
		size_t len = seq_len(u + i, n - i);
		if (len == 0)
			len = 1; /* an invalid byte counts as one character */
		if (i + len > max)
			break;
		i += len;
	}
	return i;
}

void utf8_scrub(char *s)
{
	unsigned char *u = (unsigned char *)s;
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t len = seq_len(u + i, n - i);
		if (len == 0) {
			u[i++] = '?';
			continue;
		}
		i += len;
	}
}

void utf8_copy(char *dst, size_t n, const char *src)
{
	const unsigned char *u = (const unsigned char *)src;
	size_t len = strlen(src), i = 0, o = 0;

	if (n == 0)
		return;
	while (i < len) {
		size_t k = seq_len(u + i, len - i);
		if (o + (k ? k : 1) > n - 1)
			break;
		if (k == 0) {
			dst[o++] = '?';
			i++;
			continue;
		}
		memcpy(dst + o, src + i, k);
		o += k;
		i += k;
	}
	dst[o] = '\0';
}
