/* profile.c - profile fields are described once in a table (name, type, place, bounds) that
 * drives parsing, merging and the JSON view, so a new field is one line here. Overrides are
 * partial: the `set` bits say which fields they carry, everything else follows the default. */
#include "profile.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "log.h"
#include "region.h"

const char *const endpoint_name[EP__COUNT] = {
	[EP_CREATE] = "create", [EP_GET] = "get",   [EP_LIST] = "list",
	[EP_CANCEL] = "cancel", [EP_URLS] = "urls", [EP_DOWNLOAD] = "download",
	[EP_TOKEN] = "token",
};

enum FType { FT_INT, FT_RATE, FT_BOOL, FT_STR, FT_CODES, FT_ENDPOINTS, FT_REGION };

typedef struct Field {
	const char *name;
	enum FType type;
	size_t off;
	size_t size;
	int min, max; /* FT_INT bounds */
} Field;

#define F(name, type, min, max) \
	{ \
#name, type, offsetof(Profile, name), sizeof(((Profile *)0)->name), min, max \
	}
#define DAY_MS 86400000

static const Field fields[] = {
	F(latency_ms, FT_INT, 0, DAY_MS),
	F(pending_ms, FT_INT, 0, DAY_MS),
	F(rate_429, FT_RATE, 0, 0),
	F(retry_after_s, FT_INT, 0, 86400),
	F(retry_after_date, FT_BOOL, 0, 0),
	F(burst_429, FT_INT, 0, 100000000),
	F(rate_5xx, FT_RATE, 0, 0),
	F(codes_5xx, FT_CODES, 0, 0),
	F(hang_rate, FT_RATE, 0, 0),
	F(hang_ms, FT_INT, 0, 3600000),
	F(lost_create_rate, FT_RATE, 0, 0),
	F(not_found_after_create_ms, FT_INT, 0, DAY_MS),
	F(fail_rate, FT_RATE, 0, 0),
	F(fail_reason, FT_STR, 0, 0),
	F(token_ttl_s, FT_INT, 1, 86400 * 365),
	F(url_ttl_s, FT_INT, 1, 86400 * 7),
	F(url_403_first, FT_BOOL, 0, 0),
	F(truncate_rate, FT_RATE, 0, 0),
	F(no_final_newline, FT_BOOL, 0, 0),
	F(multipart_etag, FT_BOOL, 0, 0),
	F(split_files, FT_INT, 1, PROFILE_SPLIT_MAX),
	F(max_running, FT_INT, 1, 1000000),
	F(account_max_running, FT_INT, 1, 100000000),
	F(daily_quota, FT_INT, 0, 100000000),
	F(endpoints, FT_ENDPOINTS, 0, 0),
	F(region, FT_REGION, 0, 0),
};
#define NFIELDS ARRAY_LEN(fields)
#define ALL_SET ((UINT64_C(1) << NFIELDS) - 1)

struct ProfileStore {
	Profile base;         /* start-up values from config/environment */
	Profile file_default; /* partial, from AMCSIM_PROFILES */
	HTab *file_over;      /* inst -> Profile* (owned), from AMCSIM_PROFILES */
	Profile dflt;         /* the live default: complete */
	HTab *over;           /* inst -> Profile* (owned): live partial overrides */
};

void profiles_builtin(Profile *p)
{
	memset(p, 0, sizeof(*p));
	p->set = ALL_SET;
	p->pending_ms = 100;
	p->retry_after_s = 1;
	p->codes_5xx[0] = 500;
	p->codes_5xx[1] = 502;
	p->codes_5xx[2] = 503;
	p->codes_5xx[3] = 504;
	p->ncodes_5xx = 4;
	p->hang_ms = 5000;
	snprintf(p->fail_reason, sizeof(p->fail_reason), "%s",
		 "Workflow execution failed: an internal error occurred while running the query");
	p->token_ttl_s = 3600;
	p->url_ttl_s = 600;
	p->split_files = 1;
	p->max_running = 10;
	p->account_max_running = 200;
	p->endpoints = EP_DEFAULT_MASK;
	/* unbound: instances made before regions, and by tests that never name one, work on
	 * every host */
	p->region = PROFILE_ANY_REGION;
}

/* copies the fields src carries onto dst */
static void overlay(Profile *dst, const Profile *src)
{
	for (size_t i = 0; i < NFIELDS; i++) {
		if (!(src->set & (UINT64_C(1) << i)))
			continue;
		memcpy((char *)dst + fields[i].off, (const char *)src + fields[i].off,
		       fields[i].size);
		if (fields[i].type == FT_CODES)
			dst->ncodes_5xx = src->ncodes_5xx;
	}
	dst->set |= src->set;
}

static bool drop(const char *key, void *value, void *priv)
{
	free(value);
	return true;
}

static void clear(HTab *h)
{
	htab_foreach (h, drop, NULL)
		;
}

static bool copy_entry(const char *key, void *value, void *priv)
{
	HTab *to = priv;
	Profile *p = malloc(sizeof(*p));

	if (p == NULL) {
		log_error("out of memory copying the profile of %s", key);
		return false;
	}
	*p = *(Profile *)value;
	if (!htab_put(to, key, p)) {
		log_error("out of memory copying the profile of %s", key);
		free(p);
	}
	return false;
}

void profiles_reset(ProfileStore *ps)
{
	ps->dflt = ps->base;
	overlay(&ps->dflt, &ps->file_default);
	clear(ps->over);
	htab_foreach (ps->file_over, copy_entry, ps->over)
		;
}

ProfileStore *profiles_new(const Profile *base)
{
	ProfileStore *ps = calloc(1, sizeof(*ps));

	if (ps == NULL)
		return NULL;
	ps->base = *base;
	ps->base.set = ALL_SET;
	if ((ps->over = htab_new()) == NULL || (ps->file_over = htab_new()) == NULL) {
		profiles_free(ps);
		return NULL;
	}
	profiles_reset(ps);
	return ps;
}

void profiles_free(ProfileStore *ps)
{
	if (ps == NULL)
		return;
	if (ps->over != NULL) {
		clear(ps->over);
		htab_free(ps->over);
	}
	if (ps->file_over != NULL) {
		clear(ps->file_over);
		htab_free(ps->file_over);
	}
	free(ps);
}

static const Field *find_field(const char *name)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

/* parses obj into a fresh partial profile */
static bool parse(json_t *obj, Profile *out, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "a profile must be a JSON object");
		return false;
	}
	json_object_foreach (obj, k, v) {
		const Field *f = find_field(k);
		char *at;
		if (f == NULL) {
			snprintf(err, errlen, "unknown profile field \"%.64s\"", k);
			return false;
		}
		at = (char *)out + f->off;
		switch (f->type) {
		case FT_INT:
			if (!json_is_integer(v) || json_integer_value(v) < f->min ||
			    json_integer_value(v) > f->max) {
				snprintf(err, errlen, "%s must be an integer from %d to %d", k,
					 f->min, f->max);
				return false;
			}
			*(int *)at = (int)json_integer_value(v);
			break;
		case FT_RATE:
			if (!json_is_number(v) || json_number_value(v) < 0 ||
			    json_number_value(v) > 1) {
				snprintf(err, errlen, "%s must be a number from 0 to 1", k);
				return false;
			}
			*(double *)at = json_number_value(v);
			break;
		case FT_BOOL:
			if (!json_is_boolean(v)) {
				snprintf(err, errlen, "%s must be true or false", k);
				return false;
			}
			*(bool *)at = json_is_true(v);
			break;
		case FT_REGION: {
			AmcRegion r;
			const char *s = json_string_value(v);
			if (s != NULL && strcmp(s, "any") == 0) {
				*(int *)at = PROFILE_ANY_REGION;
				break;
			}
			if (!region_parse(s, &r)) {
				snprintf(err, errlen,
					 "%s must be \"NA\", \"EU\", \"FE\" or \"any\"", k);
				return false;
			}
			*(int *)at = (int)r;
			break;
		}
		case FT_STR:
			if (!json_is_string(v) || json_string_length(v) == 0 ||
			    json_string_length(v) >= f->size) {
				snprintf(err, errlen, "%s must be a string of 1 to %zu bytes", k,
					 f->size - 1);
				return false;
			}
			snprintf(at, f->size, "%s", json_string_value(v));
			break;
		case FT_CODES: {
			size_t i;
			json_t *c;
			if (!json_is_array(v) || json_array_size(v) == 0 ||
			    json_array_size(v) > PROFILE_CODES_MAX) {
				snprintf(err, errlen, "%s must be a list of 1 to %d status codes",
					 k, PROFILE_CODES_MAX);
				return false;
			}
			json_array_foreach (v, i, c) {
				json_int_t n = json_integer_value(c);
				if (!json_is_integer(c) || n < 500 || n > 599) {
					snprintf(err, errlen, "%s: %s", k,
						 "each code must be from 500 to 599");
					return false;
				}
				out->codes_5xx[i] = (int)n;
			}
			out->ncodes_5xx = (int)json_array_size(v);
			break;
		}
		case FT_ENDPOINTS: {
			size_t i;
			json_t *c;
			unsigned mask = 0;
			if (!json_is_array(v)) {
				snprintf(err, errlen, "%s must be a list of endpoint names", k);
				return false;
			}
			json_array_foreach (v, i, c) {
				const char *s = json_string_value(c);
				int e = 0;
				while (e < EP__COUNT &&
				       (s == NULL || strcmp(s, endpoint_name[e]) != 0))
					e++;
				if (e == EP__COUNT) {
					snprintf(err, errlen,
						 "%s: unknown endpoint (use create, get, list, "
						 "cancel, urls, download, token)",
						 k);
					return false;
				}
				mask |= EP_MASK(e);
			}
			out->endpoints = mask;
			break;
		}
		}
		out->set |= UINT64_C(1) << (f - fields);
	}
	return true;
}

void profiles_effective(const ProfileStore *ps, const char *inst, Profile *out)
{
	const Profile *o = inst != NULL ? htab_get(ps->over, inst) : NULL;

	*out = ps->dflt;
	if (o != NULL)
		overlay(out, o);
}

bool profiles_put(ProfileStore *ps, const char *inst, json_t *obj, char *err, size_t errlen)
{
	Profile p, *o;

	if (!parse(obj, &p, err, errlen))
		return false;
	if (inst == NULL) {
		overlay(&ps->dflt, &p);
		return true;
	}
	if ((o = htab_get(ps->over, inst)) != NULL) {
		overlay(o, &p);
		return true;
	}
	if ((o = malloc(sizeof(*o))) == NULL || !htab_put(ps->over, inst, o)) {
		free(o);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	*o = p;
	return true;
}

bool profiles_delete(ProfileStore *ps, const char *inst)
{
	Profile *o;

	if (inst == NULL) {
		ps->dflt = ps->base;
		overlay(&ps->dflt, &ps->file_default);
		return true;
	}
	if ((o = htab_del(ps->over, inst)) == NULL)
		return false;
	free(o);
	return true;
}

static json_t *to_json(const Profile *p)
{
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < NFIELDS; i++) {
		const Field *f = &fields[i];
		const char *at = (const char *)p + f->off;
		json_t *v = NULL;
		if (!(p->set & (UINT64_C(1) << i)))
			continue;
		switch (f->type) {
		case FT_INT:
			v = json_integer(*(const int *)at);
			break;
		case FT_RATE:
			v = json_real(*(const double *)at);
			break;
		case FT_BOOL:
			v = json_boolean(*(const bool *)at);
			break;
		case FT_STR:
			v = json_string(at);
			break;
		case FT_REGION:
			v = json_string(*(const int *)at == PROFILE_ANY_REGION
						? "any"
						: region_name[*(const int *)at]);
			break;
		case FT_CODES:
			v = json_array();
			for (int k = 0; v != NULL && k < p->ncodes_5xx; k++)
				json_array_append_new(v, json_integer(p->codes_5xx[k]));
			break;
		case FT_ENDPOINTS:
			v = json_array();
			for (int e = 0; v != NULL && e < EP__COUNT; e++)
				if (p->endpoints & EP_MASK(e))
					json_array_append_new(v, json_string(endpoint_name[e]));
			break;
		}
		if (v == NULL || json_object_set_new(o, f->name, v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *profiles_effective_json(const ProfileStore *ps, const char *inst)
{
	Profile p;

	profiles_effective(ps, inst, &p);
	return to_json(&p);
}

typedef struct JsonCtx {
	json_t *obj;
	bool ok;
} JsonCtx;

static bool add_json(const char *key, void *value, void *priv)
{
	JsonCtx *c = priv;
	json_t *v = to_json(value);

	if (v == NULL || json_object_set_new(c->obj, key, v) != 0)
		c->ok = false;
	return false;
}

json_t *profiles_json(const ProfileStore *ps)
{
	JsonCtx c = { json_object(), true };
	json_t *d = to_json(&ps->dflt);

	if (c.obj == NULL || d == NULL) {
		json_decref(c.obj);
		json_decref(d);
		return NULL;
	}
	htab_foreach (ps->over, add_json, &c)
		;
	json_t *o = json_pack("{s:o, s:o}", "default", d, "instances", c.obj);
	if (o != NULL && !c.ok) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* the set bit of the field stored at off */
static uint64_t bit_at(size_t off)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (fields[i].off == off)
			return UINT64_C(1) << i;
	return 0;
}

bool profiles_take_burst(ProfileStore *ps, const char *inst)
{
	Profile *o = inst != NULL ? htab_get(ps->over, inst) : NULL;

	if (o != NULL && (o->set & bit_at(offsetof(Profile, burst_429))) && o->burst_429 > 0) {
		o->burst_429--;
		return true;
	}
	if (ps->dflt.burst_429 > 0) {
		ps->dflt.burst_429--;
		return true;
	}
	return false;
}

static bool max_ttl(const char *key, void *value, void *priv)
{
	const Profile *p = value;
	int *m = priv;

	if ((p->set & bit_at(offsetof(Profile, token_ttl_s))) && p->token_ttl_s > *m)
		*m = p->token_ttl_s;
	return false;
}

int profiles_max_token_ttl(const ProfileStore *ps)
{
	int m = ps->dflt.token_ttl_s;

	htab_foreach (ps->over, max_ttl, &m)
		;
	return m;
}

bool profiles_load_file(ProfileStore *ps, const char *path, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr), *d, *insts, *v;
	Profile fd = { 0 };
	HTab *fo = NULL;
	const char *k;
	char sub[256];

	if (root == NULL) {
		snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
		return false;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "%s: the top level must be an object", path);
		goto fail;
	}
	json_object_foreach (root, k, v) {
		if (strcmp(k, "default") != 0 && strcmp(k, "instances") != 0) {
			snprintf(err, errlen, "%s: unknown key \"%.64s\" (use default, instances)",
				 path, k);
			goto fail;
		}
	}
	if ((d = json_object_get(root, "default")) != NULL && !parse(d, &fd, sub, sizeof(sub))) {
		snprintf(err, errlen, "%s: default: %s", path, sub);
		goto fail;
	}
	if ((fo = htab_new()) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	insts = json_object_get(root, "instances");
	if (insts != NULL && !json_is_object(insts)) {
		snprintf(err, errlen, "%s: instances must be an object", path);
		goto fail;
	}
	json_object_foreach (insts, k, v) {
		Profile *p = malloc(sizeof(*p));
		snprintf(sub, sizeof(sub), "out of memory");
		if (p == NULL || !parse(v, p, sub, sizeof(sub)) || !htab_put(fo, k, p)) {
			snprintf(err, errlen, "%s: instances.%.64s: %s", path, k, sub);
			free(p);
			goto fail;
		}
	}
	json_decref(root);
	ps->file_default = fd;
	clear(ps->file_over);
	htab_free(ps->file_over);
	ps->file_over = fo;
	profiles_reset(ps);
	return true;
fail:
	if (fo != NULL) {
		clear(fo);
		htab_free(fo);
	}
	json_decref(root);
	return false;
}
