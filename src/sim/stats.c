/* stats.c - plain in-memory counters on the loop thread, over all hosts and per region host;
 * reset by POST /sim/reset-stats. */
#include "stats.h"

#include <stdint.h>
#include <stdlib.h>

#include "htab.h"
#include "log.h"
#include "region.h"

static const char *const stat_name[ST__COUNT] = {
	[ST_CREATE] = "create",
	[ST_GET] = "get",
	[ST_LIST] = "list",
	[ST_CANCEL] = "cancel",
	[ST_URLS] = "urls",
	[ST_DOWNLOAD] = "download",
	[ST_TOKEN] = "token",
	[ST_EXECUTIONS_CREATED] = "executions_created",
	[ST_LOST_CREATES] = "lost_creates",
	[ST_SENT_429] = "sent_429",
	[ST_SENT_5XX] = "sent_5xx",
	[ST_HANGS] = "hangs",
	[ST_NOT_FOUND_INJECTED] = "not_found_injected",
	[ST_FAILED_INJECTED] = "failed_injected",
	[ST_TRUNCATED] = "truncated",
	[ST_S3_403_FIRST] = "s3_403_first",
	[ST_S3_EXPIRED] = "s3_expired",
	[ST_UNAUTHORIZED] = "unauthorized",
	[ST_QUOTA_REFUSED] = "quota_refused",
	[ST_WRONG_REGION] = "wrong_region",
};

typedef struct Row {
	uint64_t n[ST__COUNT];
} Row;

/* one set of counters: a total and a row per instance */
typedef struct Set {
	Row total;
	HTab *insts; /* inst -> Row* (owned) */
} Set;

struct Stats {
	Set all;
	Set region[REGION__COUNT]; /* by the host the request came to */
};

static bool drop(const char *key, void *value, void *priv)
{
	free(value);
	return true;
}

void stats_free(Stats *s)
{
	if (s == NULL)
		return;
	for (int r = -1; r < REGION__COUNT; r++) {
		Set *set = r < 0 ? &s->all : &s->region[r];
		if (set->insts != NULL) {
			htab_foreach (set->insts, drop, NULL)
				;
			htab_free(set->insts);
		}
	}
	free(s);
}

Stats *stats_new(void)
{
	Stats *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	for (int r = -1; r < REGION__COUNT; r++) {
		Set *set = r < 0 ? &s->all : &s->region[r];
		if ((set->insts = htab_new()) == NULL) {
			stats_free(s);
			return NULL;
		}
	}
	return s;
}

static void set_inc(Set *set, const char *inst, enum StatKey k)
{
	Row *r;

	set->total.n[k]++;
	if (inst == NULL)
		return;
	if ((r = htab_get(set->insts, inst)) == NULL) {
		if ((r = calloc(1, sizeof(*r))) == NULL || !htab_put(set->insts, inst, r)) {
			free(r);
			log_error("out of memory counting for instance %s", inst);
			return;
		}
	}
	r->n[k]++;
}

void stats_inc(Stats *s, int region, const char *inst, enum StatKey k)
{
	set_inc(&s->all, inst, k);
	if (region >= 0 && region < REGION__COUNT)
		set_inc(&s->region[region], inst, k);
}

void stats_reset(Stats *s)
{
	for (int r = -1; r < REGION__COUNT; r++) {
		Set *set = r < 0 ? &s->all : &s->region[r];
		htab_foreach (set->insts, drop, NULL)
			;
		set->total = (Row){ { 0 } };
	}
}

static json_t *row_json(const Row *r)
{
	json_t *o = json_object();

	for (int k = 0; o != NULL && k < ST__COUNT; k++)
		if (json_object_set_new(o, stat_name[k], json_integer((json_int_t)r->n[k])) != 0) {
			json_decref(o);
			return NULL;
		}
	return o;
}

typedef struct Ctx {
	json_t *obj;
	bool ok;
} Ctx;

static bool add_row(const char *key, void *value, void *priv)
{
	Ctx *c = priv;
	json_t *v = row_json(value);

	if (v == NULL || json_object_set_new(c->obj, key, v) != 0)
		c->ok = false;
	return false;
}

/* {"total":{...},"instances":{...}} of one set; NULL on OOM */
static json_t *set_json(const Set *set)
{
	Ctx c = { json_object(), true };
	json_t *t = row_json(&set->total);

	if (c.obj == NULL || t == NULL) {
		json_decref(c.obj);
		json_decref(t);
		return NULL;
	}
	htab_foreach (set->insts, add_row, &c)
		;
	json_t *o = json_pack("{s:o, s:o}", "total", t, "instances", c.obj);
	if (o != NULL && !c.ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *stats_json(const Stats *s)
{
	json_t *o = set_json(&s->all), *regions = json_object();

	for (int r = 0; o != NULL && regions != NULL && r < REGION__COUNT; r++) {
		json_t *v = set_json(&s->region[r]);
		if (v == NULL || json_object_set_new(regions, region_name[r], v) != 0) {
			json_decref(regions);
			regions = NULL;
		}
	}
	if (o == NULL || regions == NULL) {
		json_decref(o);
		json_decref(regions);
		return NULL;
	}
	/* set_new takes regions even when it fails */
	if (json_object_set_new(o, "regions", regions) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}
