/* test_core_sentinel.c - the Sentinel parsing of src/core/sentinel.c on hand-built replies:
 * the redis_sentinels list, get-master-addr-by-name answers, ROLE and +switch-master. */
#include "sentinel.h"

#include <string.h>

#include "../tap.h"

static redisReply str(const char *s)
{
	redisReply r = { .type = REDIS_REPLY_STRING, .str = (char *)s, .len = strlen(s) };

	return r;
}

static void test_sentinel_list(void)
{
	SentinelList l;
	char err[256];

	assertf(sentinel_parse_list("", &l, err, sizeof(err)) && l.n == 0, "empty");
	assertf(sentinel_parse_list(NULL, &l, err, sizeof(err)) && l.n == 0, "NULL");
	assertf(sentinel_parse_list("127.0.0.1:26379, 10.0.0.2:1 ,[::1]:26380", &l, err,
				    sizeof(err)) &&
			l.n == 3,
		"three: %s", err);
	assertf(strcmp(l.addr[0].host, "127.0.0.1") == 0 && l.addr[0].port == 26379, "first");
	assertf(strcmp(l.addr[1].host, "10.0.0.2") == 0 && l.addr[1].port == 1, "second");
	assertf(strcmp(l.addr[2].host, "::1") == 0 && l.addr[2].port == 26380, "v6");
	static const char *const bad[] = { "localhost:26379", "127.0.0.1",
					   "127.0.0.1:0",     "127.0.0.1:65536",
					   "127.0.0.1:x",     "127.0.0.1:26379,,127.0.0.1:2",
					   "::1:26379",       "[::1]26379",
					   "127.0.0.1:-1",    "sentinel.example.com:26379" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assertf(!sentinel_parse_list(bad[i], &l, err, sizeof(err)) && err[0], "%s refused",
			bad[i]);
	char many[512] = "";
	for (int i = 0; i <= SENTINEL_MAX; i++)
		strcat(many, "127.0.0.1:1,");
	assertf(!sentinel_parse_list(many, &l, err, sizeof(err)), "too many");
}

static void test_sentinel_master_addr(void)
{
	redisReply h = str("10.1.2.3"), p = str("6380"), *el[2] = { &h, &p };
	redisReply arr = { .type = REDIS_REPLY_ARRAY, .elements = 2, .element = el };
	redisReply nil = { .type = REDIS_REPLY_NIL };
	redisReply e = { .type = REDIS_REPLY_ERROR, .str = "ERR unknown", .len = 11 };
	SentinelAddr a;

	assertf(sentinel_master_addr(&arr, &a) && strcmp(a.host, "10.1.2.3") == 0 && a.port == 6380,
		"addr");
	assertf(!sentinel_master_addr(&nil, &a), "nil: unknown master");
	assertf(!sentinel_master_addr(&e, &a), "error");
	assertf(!sentinel_master_addr(NULL, &a), "NULL");
	p = str("0");
	assertf(!sentinel_master_addr(&arr, &a), "port 0");
	p = str("6380");
	h = str("redis.internal");
	assertf(!sentinel_master_addr(&arr, &a), "a name, not an IP");
	arr.elements = 1;
	assertf(!sentinel_master_addr(&arr, &a), "one element");
}

static void test_sentinel_role(void)
{
	redisReply m = str("master"), s = str("slave"), *el[1] = { &m };
	redisReply arr = { .type = REDIS_REPLY_ARRAY, .elements = 1, .element = el };
	redisReply empty = { .type = REDIS_REPLY_ARRAY, .elements = 0 };

	assertf(sentinel_role_is_master(&arr), "master");
	el[0] = &s;
	assertf(!sentinel_role_is_master(&arr) && strcmp(sentinel_role_name(&arr), "slave") == 0,
		"slave");
	assertf(!sentinel_role_is_master(&empty) && strcmp(sentinel_role_name(&empty), "?") == 0,
		"empty");
	assertf(!sentinel_role_is_master(NULL), "NULL");
}

static void test_sentinel_switch_master(void)
{
	redisReply k = str("message"), ch = str("+switch-master"),
		   msg = str("mymaster 127.0.0.1 6379 127.0.0.1 6380"), *el[3] = { &k, &ch, &msg };
	redisReply arr = { .type = REDIS_REPLY_ARRAY, .elements = 3, .element = el };
	SentinelAddr to;

	assertf(sentinel_switch_master(&arr, "mymaster", &to) &&
			strcmp(to.host, "127.0.0.1") == 0 && to.port == 6380,
		"switch");
	assertf(!sentinel_switch_master(&arr, "other", &to), "another master's switch");
	k = str("subscribe");
	assertf(!sentinel_switch_master(&arr, "mymaster", &to), "the subscribe confirmation");
	k = str("message");
	msg = str("mymaster 127.0.0.1 6379 127.0.0.1");
	assertf(!sentinel_switch_master(&arr, "mymaster", &to), "truncated");
	msg = str("mymaster 127.0.0.1 6379 host.example 6380");
	assertf(!sentinel_switch_master(&arr, "mymaster", &to), "a name");
	ch = str("+sdown");
	msg = str("mymaster 127.0.0.1 6379 127.0.0.1 6380");
	assertf(!sentinel_switch_master(&arr, "mymaster", &to), "other channel");
}

int main(void)
{
	RUN_TEST(test_sentinel_list);
	RUN_TEST(test_sentinel_master_addr);
	RUN_TEST(test_sentinel_role);
	RUN_TEST(test_sentinel_switch_master);
	return tap_done();
}
