/* ids.c - random identifiers from getrandom(2) and syntax checks for ids arriving from
 * outside. Hex is always lower-case; it does not check that an id exists anywhere. */
#include "ids.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

static const char hexdig[] = "0123456789abcdef";

bool ids_random(void *buf, size_t n)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t got = getrandom(p, n, 0);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		p += got;
		n -= (size_t)got;
	}
	return true;
}

static void to_hex(char *out, const unsigned char *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexdig[in[i] >> 4];
		out[2 * i + 1] = hexdig[in[i] & 0x0f];
	}
}

/* prefix + 8 hex digits (4 random bytes) */
static bool prefixed(char *out, const char *prefix)
{
	unsigned char r[4];
	size_t plen = strlen(prefix);

	if (!ids_random(r, sizeof(r)))
		return false;
	memcpy(out, prefix, plen);
	to_hex(out + plen, r, sizeof(r));
	out[plen + 2 * sizeof(r)] = '\0';
	return true;
}

bool ids_batch(char out[IDS_BATCH_LEN + 1])
{
	return prefixed(out, "batch_");
}

bool ids_exec(char out[IDS_EXEC_LEN + 1])
{
	return prefixed(out, "exec_");
}

bool ids_uuid(char out[IDS_UUID_LEN + 1])
{
	unsigned char r[16];
	char *o = out;

	if (!ids_random(r, sizeof(r)))
		return false;
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40); /* version 4 */
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*o++ = '-';
		to_hex(o, &r[i], 1);
		o += 2;
	}
	*o = '\0';
	return true;
}

static bool is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_hex(char c)
{
	return is_lower_hex(c) || (c >= 'A' && c <= 'F');
}

static bool is_prefixed(const char *s, const char *prefix, size_t total)
{
	size_t plen = strlen(prefix);

	if (s == NULL || strlen(s) != total || strncmp(s, prefix, plen) != 0)
		return false;
	for (size_t i = plen; i < total; i++)
		if (!is_lower_hex(s[i]))
			return false;
	return true;
}

bool ids_is_batch(const char *s)
{
	return is_prefixed(s, "batch_", IDS_BATCH_LEN);
}

bool ids_is_exec(const char *s)
{
	return is_prefixed(s, "exec_", IDS_EXEC_LEN);
}

/* Accepts any UUID version and either case (PostgreSQL prints lower-case, clients may not). */
bool ids_is_uuid(const char *s)
{
	if (s == NULL || strlen(s) != IDS_UUID_LEN)
		return false;
	for (size_t i = 0; i < IDS_UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

bool ids_split_ref(const char *ref, char batch_id[IDS_BATCH_LEN + 1],
		   char exec_id[IDS_EXEC_LEN + 1])
{
	const char *sep = strchr(ref, ':');

	/* lengths first: the copies below must fit */
	if (sep == NULL || (size_t)(sep - ref) > IDS_BATCH_LEN || strlen(sep + 1) > IDS_EXEC_LEN)
		return false;
	memcpy(batch_id, ref, (size_t)(sep - ref));
	batch_id[sep - ref] = '\0';
	strcpy(exec_id, sep + 1);
	return ids_is_batch(batch_id) && ids_is_exec(exec_id);
}
