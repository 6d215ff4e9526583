/* sentinel.c - parses the Redis Sentinel answers and the redis_sentinels list; it opens no
 * connection (rconn.c does). */
#include "sentinel.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static bool parse_port(const char *s, size_t len, int *port)
{
	char tmp[8];
	char *end;
	long v;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	v = strtol(tmp, &end, 10);
	if (*end != '\0' || tmp[0] == '-' || tmp[0] == '+' || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

/* One "ip:port" or "[v6]:port" item of len bytes (no spaces). */
static bool parse_item(const char *s, size_t len, SentinelAddr *a)
{
	const char *colon, *hs = s, *he;

	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL || rb + 1 >= s + len || rb[1] != ':')
			return false;
		hs = s + 1;
		he = rb;
		colon = rb + 1;
	} else {
		colon = NULL;
		for (const char *p = s; p < s + len; p++)
			if (*p == ':')
				colon = p; /* the last one */
		if (colon == NULL)
			return false;
		he = colon;
	}
	if (he <= hs || (size_t)(he - hs) >= sizeof(a->host))
		return false;
	memcpy(a->host, hs, (size_t)(he - hs));
	a->host[he - hs] = '\0';
	/* IPv6 only in brackets: "::1:26379" could be an address without a port */
	if (!ip_literal(a->host) || (hs == s && strchr(a->host, ':') != NULL))
		return false;
	return parse_port(colon + 1, (size_t)(s + len - colon - 1), &a->port);
}

bool sentinel_parse_list(const char *s, SentinelList *out, char *err, size_t errlen)
{
	out->n = 0;
	if (s == NULL)
		return true;
	while (*s) {
		const char *b, *e;

		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		b = s;
		while (*s && *s != ',')
			s++;
		e = s;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (*s == ',')
			s++;
		if (e == b) {
			snprintf(err, errlen, "redis_sentinels: empty entry");
			return false;
		}
		if (out->n == SENTINEL_MAX) {
			snprintf(err, errlen, "redis_sentinels: more than %d entries",
				 SENTINEL_MAX);
			return false;
		}
		if (!parse_item(b, (size_t)(e - b), &out->addr[out->n])) {
			snprintf(
				err, errlen,
				"redis_sentinels: \"%.*s\" is not ip:port (an IP "
				"address, not a name: names would be resolved with a blocking call)",
				(int)(e - b), b);
			out->n = 0;
			return false;
		}
		out->n++;
	}
	return true;
}

bool sentinel_master_addr(const redisReply *r, SentinelAddr *out)
{
	const redisReply *h, *p;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2)
		return false;
	h = r->element[0];
	p = r->element[1];
	if (h == NULL || p == NULL || h->type != REDIS_REPLY_STRING ||
	    p->type != REDIS_REPLY_STRING || h->len == 0 || h->len >= sizeof(out->host))
		return false;
	memcpy(out->host, h->str, h->len);
	out->host[h->len] = '\0';
	return ip_literal(out->host) && parse_port(p->str, p->len, &out->port);
}

const char *sentinel_role_name(const redisReply *r)
{
	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->element[0] == NULL ||
	    (r->element[0]->type != REDIS_REPLY_STRING &&
	     r->element[0]->type != REDIS_REPLY_STATUS))
		return "?";
	return r->element[0]->str;
}

bool sentinel_role_is_master(const redisReply *r)
{
	return strcmp(sentinel_role_name(r), "master") == 0;
}

bool sentinel_switch_master(const redisReply *r, const char *name, SentinelAddr *to)
{
	const redisReply *kind, *chan, *msg;
	char buf[512], oldh[64], newh[64];
	char nm[256];
	int oldp, newp;

	if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 3)
		return false;
	kind = r->element[0];
	chan = r->element[1];
	msg = r->element[2];
	if (kind->type != REDIS_REPLY_STRING || strcmp(kind->str, "message") != 0 ||
	    chan->type != REDIS_REPLY_STRING || strcmp(chan->str, "+switch-master") != 0 ||
	    msg->type != REDIS_REPLY_STRING || msg->len >= sizeof(buf))
		return false;
	memcpy(buf, msg->str, msg->len);
	buf[msg->len] = '\0';
	if (sscanf(buf, "%255s %63s %d %63s %d", nm, oldh, &oldp, newh, &newp) != 5 ||
	    strcmp(nm, name) != 0 || strlen(newh) >= sizeof(to->host) || !ip_literal(newh) ||
	    newp < 1 || newp > 65535)
		return false;
	memcpy(to->host, newh, strlen(newh) + 1);
	to->port = newp;
	return true;
}
