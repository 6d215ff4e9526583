/* netaddr.c - address classification for the webhook SSRF guard: ranges as tables, IPv6
 * forms that carry an IPv4 address unwrapped first. It does not resolve names (the API uses
 * evdns, the worker checks the address curl is about to connect to). */
#include "netaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

typedef struct Range4 {
	uint32_t net;
	int bits;
	enum NetClass cls;
} Range4;

static const Range4 ranges4[] = {
	{ 0x00000000, 8, NETADDR_PRIVATE },   /* 0.0.0.0/8 "this network" */
	{ 0x0a000000, 8, NETADDR_PRIVATE },   /* 10/8 */
	{ 0x64400000, 10, NETADDR_PRIVATE },  /* 100.64/10 CGNAT */
	{ 0x7f000000, 8, NETADDR_LOOPBACK },  /* 127/8 */
	{ 0xa9fe0000, 16, NETADDR_PRIVATE },  /* 169.254/16 link-local (cloud metadata) */
	{ 0xac100000, 12, NETADDR_PRIVATE },  /* 172.16/12 */
	{ 0xc0000000, 24, NETADDR_PRIVATE },  /* 192.0.0/24 IETF protocol assignments */
	{ 0xc0000200, 24, NETADDR_PRIVATE },  /* 192.0.2/24 documentation */
	{ 0xc0a80000, 16, NETADDR_PRIVATE },  /* 192.168/16 */
	{ 0xc6120000, 15, NETADDR_PRIVATE },  /* 198.18/15 benchmarking */
	{ 0xc6336400, 24, NETADDR_PRIVATE },  /* 198.51.100/24 documentation */
	{ 0xcb007100, 24, NETADDR_PRIVATE },  /* 203.0.113/24 documentation */
	{ 0xe0000000, 4, NETADDR_MULTICAST }, /* 224/4 */
	{ 0xf0000000, 4, NETADDR_PRIVATE },   /* 240/4 reserved, 255.255.255.255 */
};

static enum NetClass classify4(uint32_t a)
{
	for (size_t i = 0; i < ARRAY_LEN(ranges4); i++) {
		uint32_t mask = ranges4[i].bits == 0 ? 0 : 0xffffffffu << (32 - ranges4[i].bits);
		if ((a & mask) == ranges4[i].net)
			return ranges4[i].cls;
	}
	return NETADDR_PUBLIC;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum NetClass classify6(const uint8_t a[16])
{
	static const uint8_t zero[16];
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };

	if (memcmp(a, zero, 15) == 0) /* :: and ::1 */
		return a[15] == 1 ? NETADDR_LOOPBACK : NETADDR_PRIVATE;
	/* forms that carry an IPv4 address: the address they reach is that one */
	if (memcmp(a, mapped, 12) == 0 || memcmp(a, zero, 12) == 0 || memcmp(a, nat64, 12) == 0)
		return classify4(be32(a + 12));
	if (a[0] == 0x20 && a[1] == 0x02) /* 2002::/16 6to4 */
		return classify4(be32(a + 2));
	if (a[0] == 0xff)
		return NETADDR_MULTICAST;
	if ((a[0] & 0xfe) == 0xfc) /* fc00::/7 ULA */
		return NETADDR_PRIVATE;
	if (a[0] == 0xfe && (a[1] & 0x80) == 0x80) /* fe80::/10 link-local, fec0::/10 site-local */
		return NETADDR_PRIVATE;
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) /* 2001:db8::/32 */
		return NETADDR_PRIVATE;
	if (a[0] == 0x01 && a[1] == 0x00 && memcmp(a + 2, zero, 6) == 0) /* 100::/64 discard */
		return NETADDR_PRIVATE;
	return NETADDR_PUBLIC;
}

enum NetClass netaddr_classify(const struct sockaddr *sa)
{
	if (sa == NULL)
		return NETADDR_PRIVATE;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		return classify4(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		return classify6(in6->sin6_addr.s6_addr);
	}
	return NETADDR_PRIVATE;
}

bool netaddr_allowed(enum NetClass c, enum NetPolicy p)
{
	switch (c) {
	case NETADDR_PUBLIC:
		return true;
	case NETADDR_LOOPBACK:
		return p == NETPOLICY_LOOPBACK || p == NETPOLICY_ALL;
	case NETADDR_PRIVATE:
		return p == NETPOLICY_ALL;
	case NETADDR_MULTICAST:
		return false;
	}
	return false;
}

const char *netaddr_class_name(enum NetClass c)
{
	switch (c) {
	case NETADDR_PUBLIC:
		return "public";
	case NETADDR_LOOPBACK:
		return "loopback";
	case NETADDR_PRIVATE:
		return "private";
	case NETADDR_MULTICAST:
		return "multicast";
	}
	return "unknown";
}

bool netaddr_policy_parse(const char *s, enum NetPolicy *out)
{
	if (s == NULL)
		return false;
	if (strcmp(s, "none") == 0)
		*out = NETPOLICY_NONE;
	else if (strcmp(s, "loopback") == 0)
		*out = NETPOLICY_LOOPBACK;
	else if (strcmp(s, "all") == 0)
		*out = NETPOLICY_ALL;
	else
		return false;
	return true;
}

bool netaddr_parse_literal(const char *host, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	struct sockaddr_in *in = (struct sockaddr_in *)(void *)out;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)(void *)out;

	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		return true;
	}
	return false;
}
