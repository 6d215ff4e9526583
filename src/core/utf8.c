/* utf8.c - cutting and scrubbing UTF-8 text, by the sequence rule of utf8.h (RFC 3629). No
 * locale, no allocation. */
#include "utf8.h"

#include <string.h>

size_t utf8_prefix(const char *s, size_t n, size_t max)
{
	size_t i = 0;

	while (i < n) {
		size_t len = utf8_seq_len(s + i, n - i);
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
	size_t n = strlen(s), i = 0;

	while (i < n) {
		size_t len = utf8_seq_len(s + i, n - i);
		if (len == 0) {
			s[i++] = '?';
			continue;
		}
		i += len;
	}
}

void utf8_copy(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src), i = 0, o = 0;

	if (n == 0)
		return;
	while (i < len) {
		size_t k = utf8_seq_len(src + i, len - i);
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
