/* test_core_netaddr.c - the webhook SSRF guard's address classes: every refused range (and
 * its IPv4-mapped and other IPv6 wrappings) against public neighbours, and the policies. */
#include "netaddr.h"

#include <string.h>

#include "../tap.h"

static enum NetClass cls(const char *lit)
{
	struct sockaddr_storage ss;
	bool ok = netaddr_parse_literal(lit, &ss);

	assertf(ok, "%s is a literal", lit);
	return ok ? netaddr_classify((struct sockaddr *)&ss) : (enum NetClass) - 1;
}

static void test_netaddr_classes(void)
{
	static const struct {
		const char *a;
		enum NetClass c;
	} cases[] = {
		{ "127.0.0.1", NETADDR_LOOPBACK },
		{ "127.255.0.9", NETADDR_LOOPBACK },
		{ "::1", NETADDR_LOOPBACK },
		{ "::ffff:127.0.0.1", NETADDR_LOOPBACK },
		{ "10.0.0.1", NETADDR_PRIVATE },
		{ "172.16.0.1", NETADDR_PRIVATE },
		{ "172.31.255.255", NETADDR_PRIVATE },
		{ "192.168.1.1", NETADDR_PRIVATE },
		{ "100.64.0.1", NETADDR_PRIVATE },
		{ "100.127.255.254", NETADDR_PRIVATE },
		{ "169.254.169.254", NETADDR_PRIVATE },
		{ "0.0.0.0", NETADDR_PRIVATE },
		{ "0.1.2.3", NETADDR_PRIVATE },
		{ "255.255.255.255", NETADDR_PRIVATE },
		{ "::", NETADDR_PRIVATE },
		{ "fe80::1", NETADDR_PRIVATE },
		{ "febf::1", NETADDR_PRIVATE },
		{ "fc00::1", NETADDR_PRIVATE },
		{ "fd12:3456::1", NETADDR_PRIVATE },
		{ "::ffff:10.1.2.3", NETADDR_PRIVATE },
		{ "::ffff:169.254.169.254", NETADDR_PRIVATE },
		{ "64:ff9b::a9fe:a9fe", NETADDR_PRIVATE },
		{ "2002:7f00:1::1", NETADDR_LOOPBACK },
		{ "::127.0.0.1", NETADDR_LOOPBACK },
		{ "224.0.0.1", NETADDR_MULTICAST },
		{ "239.255.255.250", NETADDR_MULTICAST },
		{ "ff02::1", NETADDR_MULTICAST },
		{ "::ffff:224.0.0.1", NETADDR_MULTICAST },
		{ "8.8.8.8", NETADDR_PUBLIC },
		{ "172.32.0.1", NETADDR_PUBLIC },
		{ "172.15.255.255", NETADDR_PUBLIC },
		{ "100.128.0.1", NETADDR_PUBLIC },
		{ "11.0.0.1", NETADDR_PUBLIC },
		{ "2606:4700::1111", NETADDR_PUBLIC },
		{ "::ffff:8.8.8.8", NETADDR_PUBLIC },
		{ "fec0::1", NETADDR_PRIVATE },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		enum NetClass c = cls(cases[i].a);
		assertf(c == cases[i].c, "%s: %s, want %s", cases[i].a, netaddr_class_name(c),
			netaddr_class_name(cases[i].c));
	}
}

static void test_netaddr_policy(void)
{
	enum NetPolicy p;
	struct sockaddr_storage ss;

	assertf(netaddr_policy_parse("none", &p) && p == NETPOLICY_NONE, "none");
	assertf(netaddr_policy_parse("loopback", &p) && p == NETPOLICY_LOOPBACK, "loopback");
	assertf(netaddr_policy_parse("all", &p) && p == NETPOLICY_ALL, "all");
	assertf(!netaddr_policy_parse("yes", &p) && !netaddr_policy_parse("", &p),
		"bad policy accepted");
	assertf(netaddr_allowed(NETADDR_PUBLIC, NETPOLICY_NONE), "public under none");
	assertf(!netaddr_allowed(NETADDR_LOOPBACK, NETPOLICY_NONE), "loopback under none");
	assertf(netaddr_allowed(NETADDR_LOOPBACK, NETPOLICY_LOOPBACK), "loopback under loopback");
	assertf(!netaddr_allowed(NETADDR_PRIVATE, NETPOLICY_LOOPBACK), "private under loopback");
	assertf(netaddr_allowed(NETADDR_PRIVATE, NETPOLICY_ALL), "private under all");
	assertf(!netaddr_allowed(NETADDR_MULTICAST, NETPOLICY_ALL), "multicast under all");
	assertf(!netaddr_parse_literal("localhost", &ss), "a name is no literal");
	assertf(!netaddr_parse_literal("2130706433", &ss), "a bare number is no literal");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assertf(netaddr_classify((struct sockaddr *)&ss) == NETADDR_PRIVATE,
		"other families refused");
}

int main(void)
{
	RUN_TEST(test_netaddr_classes);
	RUN_TEST(test_netaddr_policy);
	return tap_done();
}
