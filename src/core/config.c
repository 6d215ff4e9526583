/* config.c - fills struct Config from one table of keys: defaults, then the ini file
 * (inih; [sections] are allowed and ignored), then AMCBATCH_<KEY> environment variables.
 * It validates types and ranges, and reloads: the table's reloadable flag is the only place
 * that says which keys a running program takes over (config_reload). It does not watch the
 * file: config_sighup.c calls config_reload on SIGHUP. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "sentinel.h"

#ifndef AMCB_PKGDATADIR
#define AMCB_PKGDATADIR "/usr/local/share/amcbatch"
#endif

enum CfType { CF_STR, CF_INT, CF_BOOL };

typedef struct CfKey {
	const char *key;
	enum CfType type;
	size_t offset;
	const char *def;
	bool reloadable; /* may change on SIGHUP without a restart */
	bool secret;     /* its value is never logged (a reload names the key only) */
	long min, max;   /* CF_INT only */
} CfKey;

#define S(k, d, r) \
	{ \
#k, CF_STR, offsetof(Config, k), d, r, false, 0, 0 \
	}
#define SECRET(k, d) \
	{ \
#k, CF_STR, offsetof(Config, k), d, false, true, 0, 0 \
	}
#define I(k, d, r, lo, hi) \
	{ \
#k, CF_INT, offsetof(Config, k), d, r, false, lo, hi \
	}
#define B(k, d, r) \
	{ \
#k, CF_BOOL, offsetof(Config, k), d, r, false, 0, 0 \
	}

/* The order here is the order of conf/amcbatch.conf.example (checked by config_dump).
 * A key is reloadable only if every program reads it from its Config at each use (or its
 * program's reload hook re-applies it); secrets and URLs that may carry a password are
 * SECRET (never reloadable: they are wired into connections at start). */
static const CfKey cf_keys[] = {
	S(log_level, "info", true),
	S(log_format, "text", false),
	SECRET(redis_url, "redis://127.0.0.1:6379/0"),
	S(redis_prefix, "amcb:", false),
	I(redis_timeout_ms, "10000", false, 0, 600000),
	S(redis_sentinels, "", false),
	S(redis_master_name, "mymaster", false),
	SECRET(redis_sentinel_password, ""),
	SECRET(database_url, "postgresql:///amcbatch"),
	I(pg_threads, "4", false, 1, 256),
	SECRET(secret_key, ""),
	S(api_listen, "127.0.0.1", false),
	I(api_port, "8080", false, 0, 65535),
	S(web_root, AMCB_PKGDATADIR "/web", false),
	I(max_body_bytes, "1048576", true, 1024, 1073741824),
	/* max_instances and claim_batch bound how many values one Lua script hands to one Redis
	 * call (enqueue_batch's hashes and lists, claim's jobs); far below Lua's unpack limit
	 * (~8,000), past which a script fails half-written (issue 9) */
	I(max_instances, "100", true, 1, 1000),
	I(max_params_bytes, "10240", true, 2, 16777216),
	I(window_lag_days, "2", true, 0, 30), /* bound: WINDOW_MAX_LAG */
	I(submit_rate_per_min, "120", true, 0, 1000000),
	I(api_timeout_s, "30", false, 1, 3600),
	I(api_max_inflight, "1000", true, 1, 1000000),
	I(api_max_connections, "4096", false, 1, 1000000),
	B(api_access_log, "true", true),
	I(api_read_cache_ms, "10000", false, 0, 3600000),
	I(api_read_cache_mb, "32", false, 1, 65536),
	I(enqueue_janitor_ms, "5000", false, 100, 3600000),
	I(schedule_tick_ms, "1000", false, 0, 3600000),
	B(schedule_test_clock, "false", false),
	S(worker_id, "", false),
	/* amc_base_url / amc_token_url, when set, serve every region (src/core/region.h); else
	 * an account's region (amc_accounts.region) picks its pair of the six below */
	S(amc_base_url, "", false),
	S(amc_token_url, "", false),
	S(amc_base_url_na, "https://advertising-api.amazon.com", false),
	S(amc_base_url_eu, "https://advertising-api-eu.amazon.com", false),
	S(amc_base_url_fe, "https://advertising-api-fe.amazon.com", false),
	S(amc_token_url_na, "https://api.amazon.com/auth/o2/token", false),
	S(amc_token_url_eu, "https://api.amazon.co.uk/auth/o2/token", false),
	S(amc_token_url_fe, "https://api.amazon.co.jp/auth/o2/token", false),
	I(worker_inflight, "1000", true, 1, 1000000),
	I(claim_batch, "50", true, 1, 1000), /* bound: see max_instances */
	I(instance_cap, "10", true, 1, 1000000),
	I(account_cap, "200", true, 1, 1000000),
	I(poll_initial_ms, "1000", true, 1, 86400000),
	I(poll_max_ms, "30000", true, 1, 86400000),
	I(exec_timeout_s, "1800", true, 1, 604800),
	I(lease_ms, "15000", false, 100, 86400000),
	I(heartbeat_ms, "5000", false, 10, 86400000),
	I(http_timeout_ms, "30000", true, 1, 86400000),
	S(spool_dir, "/tmp", false),
	I(max_retries, "5", true, 0, 1000),
	I(shutdown_grace_ms, "10000", true, 0, 86400000),
	I(redis_retention_s, "86400", true, 0, 315360000),
	I(archive_retention_days, "0", false, 0, 36500),
	B(noop_executor, "false", false),
	S(public_url, "", false),
	S(webhook_allow_private_networks, "none", false),
	I(max_webhooks_per_user, "20", true, 1, 10000),
	I(webhook_poll_ms, "1000", false, 50, 3600000),
	I(webhook_concurrency, "32", true, 1, 10000),
	I(webhook_timeout_ms, "10000", true, 100, 600000),
	I(webhook_backoff_ms, "10000", true, 100, 86400000),
	I(webhook_backoff_max_ms, "3600000", true, 100, 86400000),
	I(webhook_max_age_s, "86400", true, 1, 31536000),
	S(metrics_listen, "", false),
	S(sim_listen, "127.0.0.1", false),
	I(sim_port, "9000", false, 0, 65535),
	I(sim_port_eu, "-1", false, -1, 65535),
	I(sim_port_fe, "-1", false, -1, 65535),
	SECRET(sim_database_url, "postgresql:///amcsim"),
	/* amcsim copies these two into its default fault profile and its execution store at
	 * start; at run time its profiles change them (AMCSIM_PROFILES + SIGHUP, PUT /sim/...) */
	I(sim_latency_ms, "2000", false, 0, 86400000),
	I(sim_statement_timeout_ms, "30000", false, 0, 86400000),
	B(sim_strict, "false", true),
};

#undef S
#undef SECRET
#undef I
#undef B

static const CfKey *find_key(const char *name)
{
	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++)
		if (strcmp(cf_keys[i].key, name) == 0)
			return &cf_keys[i];
	return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Stores value into cfg for key k. `from` says where the value came from, for messages
 * (NULL inside the file: the caller prefixes path and line). */
static bool set_value(Config *cfg, const CfKey *k, const char *value, const char *from, char *err,
		      size_t errlen)
{
	char *field = (char *)cfg + k->offset;
	char where[80] = "";

	if (from != NULL)
		snprintf(where, sizeof(where), "%s: ", from);

	switch (k->type) {
	case CF_STR: {
		char *dup = strdup(value);
		char **slot = (char **)(void *)field;

		if (dup == NULL) {
			snprintf(err, errlen, "%sout of memory for %s", where, k->key);
			return false;
		}
		free(*slot);
		*slot = dup;
		return true;
	}
	case CF_INT: {
		char *end;
		long v;

		errno = 0;
		v = strtol(value, &end, 10);
		while (end != NULL && isspace((unsigned char)*end))
			end++;
		if (value[0] == '\0' || errno != 0 || *end != '\0') {
			snprintf(err, errlen, "%s%s must be an integer, got \"%s\"", where, k->key,
				 value);
			return false;
		}
		if (v < k->min || v > k->max) {
			snprintf(err, errlen, "%s%s must be between %ld and %ld, got %ld", where,
				 k->key, k->min, k->max, v);
			return false;
		}
		*(int *)(void *)field = (int)v;
		return true;
	}
	case CF_BOOL: {
		bool b;

		if (!parse_bool(value, &b)) {
			snprintf(err, errlen, "%s%s must be true or false, got \"%s\"", where,
				 k->key, value);
			return false;
		}
		*(bool *)(void *)field = b;
		return true;
	}
	}
	snprintf(err, errlen, "%s%s has an unknown type", where, k->key);
	return false;
}

typedef struct IniCtx {
	Config *cfg;
	char msg[512]; /* first error, without the line number */
} IniCtx;

/* inih handler: returns 0 on error; ini_parse then reports the first bad line number. */
static int ini_cb(void *user, const char *section, const char *name, const char *value)
{
	IniCtx *ctx = user;
	const CfKey *k = find_key(name);

	(void)section; /* keys are global; sections only group them for the reader */
	if (ctx->msg[0])
		return 0; /* keep the first error only */
	if (k == NULL) {
		snprintf(ctx->msg, sizeof(ctx->msg), "unknown key \"%s\"", name);
		return 0;
	}
	if (!set_value(ctx->cfg, k, value, NULL, ctx->msg, sizeof(ctx->msg)))
		return 0;
	return 1;
}

static bool load_env(Config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++) {
		char name[96] = "AMCBATCH_";
		size_t len = strlen(name);
		const char *v;

		for (const char *p = cf_keys[i].key; *p && len < sizeof(name) - 1; p++)
			name[len++] = (char)toupper((unsigned char)*p);
		name[len] = '\0';
		v = getenv(name);
		if (v != NULL && !set_value(cfg, &cf_keys[i], v, name, err, errlen))
			return false;
	}
	return true;
}

/* Checks across keys and of string enumerations, after every source was applied. */
static bool validate(const Config *cfg, char *err, size_t errlen)
{
	static const char *const levels[] = { "error", "warn", "info", "debug" };
	bool ok = false;

	for (size_t i = 0; i < ARRAY_LEN(levels); i++)
		if (strcasecmp(cfg->log_level, levels[i]) == 0)
			ok = true;
	if (!ok) {
		snprintf(err, errlen, "log_level must be error, warn, info or debug, got \"%s\"",
			 cfg->log_level);
		return false;
	}
	if (strcasecmp(cfg->log_format, "text") != 0 && strcasecmp(cfg->log_format, "json") != 0) {
		snprintf(err, errlen, "log_format must be text or json, got \"%s\"",
			 cfg->log_format);
		return false;
	}
	SentinelList sl;

	if (!sentinel_parse_list(cfg->redis_sentinels, &sl, err, errlen))
		return false;
	if (sl.n > 0 && cfg->redis_master_name[0] == '\0') {
		snprintf(err, errlen, "redis_master_name must not be empty with redis_sentinels");
		return false;
	}
	if (cfg->heartbeat_ms >= cfg->lease_ms) {
		snprintf(err, errlen, "heartbeat_ms (%d) must be less than lease_ms (%d)",
			 cfg->heartbeat_ms, cfg->lease_ms);
		return false;
	}
	if (cfg->poll_initial_ms > cfg->poll_max_ms) {
		snprintf(err, errlen, "poll_initial_ms (%d) must not exceed poll_max_ms (%d)",
			 cfg->poll_initial_ms, cfg->poll_max_ms);
		return false;
	}
	return true;
}

bool config_load(Config *cfg, const char *path, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (errlen)
		err[0] = '\0';
	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++) {
		if (!set_value(cfg, &cf_keys[i], cf_keys[i].def, "default", err, errlen))
			goto fail;
	}
	if (path != NULL) {
		IniCtx ctx = { .cfg = cfg, .msg = "" };
		int rc = ini_parse(path, ini_cb, &ctx);

		if (rc == -1) {
			snprintf(err, errlen, "%s: cannot open config file", path);
			goto fail;
		}
		if (rc == -2) {
			snprintf(err, errlen, "%s: out of memory", path);
			goto fail;
		}
		if (rc > 0) {
			snprintf(err, errlen, "%s:%d: %s", path, rc,
				 ctx.msg[0] ? ctx.msg : "syntax error");
			goto fail;
		}
	}
	if (!load_env(cfg, err, errlen))
		goto fail;
	if (!validate(cfg, err, errlen))
		goto fail;
	return true;
fail:
	config_cleanup(cfg);
	return false;
}

void config_cleanup(Config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++) {
		if (cf_keys[i].type == CF_STR) {
			char **slot = (char **)(void *)((char *)cfg + cf_keys[i].offset);

			free(*slot);
			*slot = NULL;
		}
	}
}

void config_dump(FILE *out)
{
	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++)
		fprintf(out, "%s = %s\n", cf_keys[i].key, cf_keys[i].def);
}

bool config_is_reloadable(const char *key)
{
	const CfKey *k = find_key(key);

	return k != NULL && k->reloadable;
}

/* The value of k in cfg as text, for messages. */
static void value_text(const Config *cfg, const CfKey *k, char *out, size_t outlen)
{
	const char *field = (const char *)cfg + k->offset;

	switch (k->type) {
	case CF_STR: {
		const char *v = *(char *const *)(const void *)field;

		snprintf(out, outlen, "\"%s\"", v != NULL ? v : "");
		return;
	}
	case CF_INT:
		snprintf(out, outlen, "%d", *(const int *)(const void *)field);
		return;
	case CF_BOOL:
		snprintf(out, outlen, "%s", *(const bool *)(const void *)field ? "true" : "false");
		return;
	}
	snprintf(out, outlen, "?");
}

static bool same_value(const Config *a, const Config *b, const CfKey *k)
{
	const char *fa = (const char *)a + k->offset, *fb = (const char *)b + k->offset;

	switch (k->type) {
	case CF_STR: {
		const char *sa = *(char *const *)(const void *)fa,
			   *sb = *(char *const *)(const void *)fb;

		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") == 0;
	}
	case CF_INT:
		return *(const int *)(const void *)fa == *(const int *)(const void *)fb;
	case CF_BOOL:
		return *(const bool *)(const void *)fa == *(const bool *)(const void *)fb;
	}
	return true;
}

size_t config_diff(const Config *cur, const Config *next, ConfigDiffFn fn, void *arg)
{
	size_t n = 0;

	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++) {
		const CfKey *k = &cf_keys[i];
		ConfigChange c = { .key = k->key,
				   .reloadable = k->reloadable,
				   .secret = k->secret };

		if (same_value(cur, next, k))
			continue;
		n++;
		if (fn == NULL)
			continue;
		if (k->secret) {
			snprintf(c.old_value, sizeof(c.old_value), "(hidden)");
			snprintf(c.new_value, sizeof(c.new_value), "(hidden)");
		} else {
			value_text(cur, k, c.old_value, sizeof(c.old_value));
			value_text(next, k, c.new_value, sizeof(c.new_value));
		}
		fn(&c, arg);
	}
	return n;
}

void config_apply_reloadable(Config *cfg, Config *next)
{
	for (size_t i = 0; i < ARRAY_LEN(cf_keys); i++) {
		const CfKey *k = &cf_keys[i];
		char *to = (char *)cfg + k->offset, *from = (char *)next + k->offset;

		if (!k->reloadable)
			continue;
		switch (k->type) {
		case CF_STR: {
			/* swapped, not copied: next frees the old string, and no allocation can fail
			 * half-way through a reload */
			char **a = (char **)(void *)to, **b = (char **)(void *)from, *tmp = *a;

			*a = *b;
			*b = tmp;
			break;
		}
		case CF_INT:
			*(int *)(void *)to = *(int *)(void *)from;
			break;
		case CF_BOOL:
			*(bool *)(void *)to = *(bool *)(void *)from;
			break;
		}
	}
}

/* config_diff callback of config_reload: one line per changed key. */
static void log_change(const ConfigChange *c, void *arg)
{
	ConfigReloadResult *res = arg;

	if (c->reloadable) {
		res->applied++;
		log_info("config reload: %s changed from %s to %s", c->key, c->old_value,
			 c->new_value);
	} else {
		res->need_restart++;
		if (c->secret)
			log_warn(
				"config reload: %s changed: needs a restart (the old value stays in force)",
				c->key);
		else
			log_warn(
				"config reload: %s changed from %s to %s: needs a restart, still %s",
				c->key, c->old_value, c->new_value, c->old_value);
	}
}

bool config_reload(Config *cfg, const char *path, ConfigReloadResult *res, char *err, size_t errlen)
{
	Config next;
	ConfigReloadResult local = { 0, 0 };
	bool level_changed;

	if (res == NULL)
		res = &local;
	res->applied = res->need_restart = 0;
	if (!config_load(&next, path, err, errlen))
		return false; /* config_load freed next; cfg is untouched */
	(void)config_diff(cfg, &next, log_change, res);
	level_changed = strcmp(cfg->log_level, next.log_level) != 0;
	config_apply_reloadable(cfg, &next);
	config_cleanup(&next);
	/* the logger keeps its own copy of the level: the one reloadable key every program
	 * shares outside its Config */
	if (level_changed)
		log_set_level(log_level_parse(cfg->log_level));
	return true;
}
