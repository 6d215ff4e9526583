/* netaddr.h - which network an IP address belongs to (public, loopback, private or
 * link-local, multicast) and whether a webhook may reach it under the operator's policy
 * (config webhook_allow_private_networks). Pure functions: no resolving here. */
#ifndef AMCB_NETADDR_H
#define AMCB_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "common.h"

enum NetClass {
	NETADDR_PUBLIC,   /* globally routable */
	NETADDR_LOOPBACK, /* 127.0.0.0/8, ::1 (and their IPv4-mapped forms) */
	NETADDR_PRIVATE,  /* RFC 1918, CGNAT, link-local, ULA, 0.0.0.0/8, reserved, documentation */
	NETADDR_MULTICAST, /* 224.0.0.0/4, ff00::/8: never a webhook's */
};

enum NetPolicy {
	NETPOLICY_NONE,     /* public addresses only (the default) */
	NETPOLICY_LOOPBACK, /* and loopback: a local stack, the tests */
	NETPOLICY_ALL,      /* every unicast address */
};

/* The class of an AF_INET or AF_INET6 address (any other family counts as private).
 * IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 addresses are classed by the IPv4 address
 * they carry. */
enum NetClass netaddr_classify(const struct sockaddr *sa);
/* Whether an address of class c may be reached under policy p. */
bool netaddr_allowed(enum NetClass c, enum NetPolicy p);
const char *netaddr_class_name(enum NetClass c); /* "public", "loopback", ... */
/* "none", "loopback", "all"; false for anything else. */
MUST_CHECK bool netaddr_policy_parse(const char *s, enum NetPolicy *out);
/* Parses an IPv4 dotted quad or an IPv6 address (no brackets) into *out. false: not a literal. */
MUST_CHECK bool netaddr_parse_literal(const char *host, struct sockaddr_storage *out);

#endif
