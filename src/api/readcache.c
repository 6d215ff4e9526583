/* readcache.c - the read replies' cache (readcache.h): generations, the slot table and the
 * notifications that bump them. It knows no route: the routes choose keys and scopes. */
#include "readcache.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mstime.h"
#include "pglisten.h"

typedef struct Entry {
	char *key; /* owned; NULL = empty slot */
	char owner[IDS_UUID_LEN + 1];
	RcBody *body; /* one reference held */
	RcStamp st;
	long long expires_ms;
} Entry;

/* A build in flight and the misses waiting for it (readcache.h). */
struct RcFlight {
	RcFlight *next; /* in its chain of ReadCache.flights */
	char *key;      /* owned */
	RcWaiter *head, **tail;
};

struct ReadCache {
	int ttl_ms;
	size_t max_bytes, bytes; /* bound and use of the stored bodies */
	bool listening;          /* the LISTEN connection is up */
	uint64_t all;            /* "everything changed" */
	uint64_t any;            /* bumped by every change */
	uint64_t batch[RC_BUCKETS], user[RC_BUCKETS];
	uint64_t shared; /* never bumped: RC_SHARED depends on "all" alone */
	Entry slot[RC_SLOTS];
	RcFlight *flights[RC_SLOTS]; /* builds in flight, chained by the hash of their key */
	PgListen *listen;            /* owned */
};

/* FNV-1a: keys and ids are short, and only spread matters */
static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0')
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

RcBody *rcbody_new(const char *data, size_t len)
{
	RcBody *b = malloc(sizeof(*b) + len + 1);

	if (b == NULL)
		return NULL;
	b->refs = 1;
	b->len = len + 1;
	memcpy(b->data, data, len);
	b->data[len] = '\n';
	return b;
}

void rcbody_unref(RcBody *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

static void clear(ReadCache *c, Entry *e)
{
	if (e->key == NULL)
		return;
	c->bytes -= e->body->len;
	rcbody_unref(e->body);
	free(e->key);
	memset(e, 0, sizeof(*e));
}

static void on_listen(enum PgListenEvent ev, const char *payload, void *priv)
{
	ReadCache *c = priv;

	switch (ev) {
	case PGLISTEN_UP:
		c->all++; /* what changed while nobody listened is unknown */
		c->any++;
		c->listening = true;
		log_info("read cache: listening for changes");
		break;
	case PGLISTEN_DOWN:
		c->listening = false;
		c->all++;
		c->any++;
		break;
	case PGLISTEN_OVERFLOW:
		readcache_notify(c, "*");
		break;
	case PGLISTEN_NOTIFY:
		readcache_notify(c, payload);
		break;
	}
}

ReadCache *readcache_new(struct event_base *base, const char *conninfo, int ttl_ms,
			 size_t max_bytes)
{
	ReadCache *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_error("read cache: out of memory");
		return NULL;
	}
	c->ttl_ms = ttl_ms;
	c->max_bytes = max_bytes;
	if ((c->listen = pglisten_new(base, conninfo, "amcbatch_read", on_listen, c)) == NULL) {
		log_error("read cache: cannot start its LISTEN thread");
		free(c);
		return NULL;
	}
	return c;
}

void readcache_free(ReadCache *c)
{
	if (c == NULL)
		return;
	pglisten_free(c->listen); /* first: no callback may run on a freed cache */
	for (size_t i = 0; i < RC_SLOTS; i++) {
		RcFlight *f, *next;

		clear(c, &c->slot[i]);
		/* shutting down: a request still waiting is dropped with its connection */
		for (f = c->flights[i]; f != NULL; f = next) {
			next = f->next;
			free(f->key);
			free(f);
		}
	}
	free(c);
}

static uint64_t *gen_of(ReadCache *c, enum RcScope scope, unsigned bucket)
{
	switch (scope) {
	case RC_BATCH:
		return &c->batch[bucket];
	case RC_USER:
		return &c->user[bucket];
	case RC_SHARED:
		return &c->shared;
	default:
		return &c->any;
	}
}

RcStamp readcache_stamp(ReadCache *c, enum RcScope scope, const char *id)
{
	RcStamp st = { .scope = scope };

	if (c == NULL || !c->listening)
		return st;
	st.bucket = scope == RC_BATCH || scope == RC_USER ? hash(id) % RC_BUCKETS : 0;
	st.all = c->all;
	st.gen = *gen_of(c, scope, st.bucket);
	st.ok = true;
	return st;
}

static bool valid(ReadCache *c, const Entry *e)
{
	return c->listening && e->st.all == c->all &&
	       e->st.gen == *gen_of(c, e->st.scope, e->st.bucket) && mstime_mono() < e->expires_ms;
}

RcBody *readcache_get(ReadCache *c, const char *key, char owner[IDS_UUID_LEN + 1],
		      char tag[RC_TAG_LEN])
{
	Entry *e;

	if (c == NULL)
		return NULL;
	e = &c->slot[hash(key) % RC_SLOTS];
	if (e->key == NULL || strcmp(e->key, key) != 0)
		return NULL;
	if (!valid(c, e)) {
		clear(c, e); /* it can never become valid again */
		return NULL;
	}
	if (tag == NULL && e->st.tag[0] != '\0')
		return NULL; /* only for a caller that confirms it */
	if (tag != NULL)
		memcpy(tag, e->st.tag, RC_TAG_LEN);
	memcpy(owner, e->owner, IDS_UUID_LEN + 1);
	e->body->refs++;
	return e->body;
}

void readcache_put(ReadCache *c, const char *key, const char *owner, const RcStamp *st,
		   RcBody *body)
{
	Entry *e;
	char *k;

	if (c == NULL || !st->ok || strlen(owner) > IDS_UUID_LEN)
		return;
	e = &c->slot[hash(key) % RC_SLOTS];
	clear(c, e);
	if (c->bytes + body->len > c->max_bytes || (k = strdup(key)) == NULL)
		return; /* over the bound (or out of memory): served, not kept */
	e->key = k;
	memcpy(e->owner, owner, strlen(owner) + 1);
	e->body = body;
	body->refs++;
	e->st = *st;
	e->expires_ms =
		mstime_mono() +
		(st->tag[0] != '\0' && c->ttl_ms > RC_TAGGED_TTL_MS ? RC_TAGGED_TTL_MS : c->ttl_ms);
	c->bytes += body->len;
	/* a stamp already overtaken by a change: the entry would never be served */
	if (!valid(c, e))
		clear(c, e);
}

bool readcache_join(ReadCache *c, const char *key, RcWaiter *w, RcFlight **flight)
{
	RcFlight **chain, *f;

	*flight = NULL;
	if (c == NULL)
		return false;
	chain = &c->flights[hash(key) % RC_SLOTS];
	for (f = *chain; f != NULL; f = f->next)
		if (strcmp(f->key, key) == 0) {
			w->next = NULL;
			*f->tail = w;
			f->tail = &w->next;
			return true;
		}
	if ((f = calloc(1, sizeof(*f))) == NULL || (f->key = strdup(key)) == NULL) {
		free(f);
		return false; /* built alone: a stampede, never a wrong reply */
	}
	f->tail = &f->head;
	f->next = *chain;
	*chain = f;
	*flight = f;
	return false;
}

void readcache_land(ReadCache *c, RcFlight *f)
{
	RcFlight **p;
	RcWaiter *w, *next;

	if (c == NULL || f == NULL)
		return;
	for (p = &c->flights[hash(f->key) % RC_SLOTS]; *p != NULL; p = &(*p)->next)
		if (*p == f) {
			*p = f->next;
			break;
		}
	/* unlinked first: a woken waiter that misses again starts a flight of its own */
	for (w = f->head; w != NULL; w = next) {
		next = w->next; /* fn may free w's request */
		w->fn(w->arg, f->key);
	}
	free(f->key);
	free(f);
}

void readcache_wrote(ReadCache *c)
{
	if (c != NULL) {
		c->all++;
		c->any++;
	}
}

void readcache_notify(ReadCache *c, const char *payload)
{
	if (c == NULL)
		return;
	c->any++;
	if (strncmp(payload, "b:", 2) == 0)
		c->batch[hash(payload + 2) % RC_BUCKETS]++;
	else if (strncmp(payload, "u:", 2) == 0)
		c->user[hash(payload + 2) % RC_BUCKETS]++;
	else
		c->all++;
}
