/* sentinel.h - the Redis Sentinel words rconn needs, as pure functions (no I/O): the
 * redis_sentinels list, the answer to SENTINEL get-master-addr-by-name, ROLE's first element
 * and a +switch-master pub/sub message. The connections themselves are in rconn.c. */
#ifndef AMCB_SENTINEL_H
#define AMCB_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "common.h"

#define SENTINEL_MAX 16      /* sentinels in one redis_sentinels list */
#define SENTINEL_HOST_LEN 46 /* INET6_ADDRSTRLEN */

typedef struct SentinelAddr {
	char host[SENTINEL_HOST_LEN]; /* an IP address literal (never a name: no blocking DNS) */
	int port;
} SentinelAddr;

typedef struct SentinelList {
	int n;
	SentinelAddr addr[SENTINEL_MAX];
} SentinelList;

/* "ip:port,ip:port,..." ("[v6]:port" for IPv6; spaces around items allowed). Empty or
 * NULL gives n = 0. False (err filled) for a host name, a bad port, too many entries. */
MUST_CHECK bool sentinel_parse_list(const char *s, SentinelList *out, char *err, size_t errlen);

/* The reply to SENTINEL get-master-addr-by-name: a 2-element array [ip, port]. False for
 * nil (the sentinel does not know that name), an error, or anything malformed. */
MUST_CHECK bool sentinel_master_addr(const redisReply *r, SentinelAddr *out);

/* ROLE's answer: true only when its first element is "master". */
bool sentinel_role_is_master(const redisReply *r);
/* ROLE's first element ("master", "slave", "sentinel") or "?" for a malformed reply;
 * borrowed from r. */
const char *sentinel_role_name(const redisReply *r);

/* A pub/sub message ["message", "+switch-master", "<name> <old ip> <old port> <new ip>
 * <new port>"]: true when it is one for master `name` with a valid new address (*to). */
MUST_CHECK bool sentinel_switch_master(const redisReply *r, const char *name, SentinelAddr *to);

#endif
