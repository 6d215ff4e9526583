/* utf8.h - keeping text that goes to PostgreSQL valid UTF-8: a cut at a byte count that falls
 * inside a character, or bytes from a foreign answer that are not UTF-8 at all, make
 * PostgreSQL refuse the whole statement (SQLSTATE 22021), and a final state would never land. */
#ifndef AMCB_UTF8_H
#define AMCB_UTF8_H

#include <stddef.h>

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
