/* test_core_config.c - defaults, ini file (sections ignored), environment overrides, and
 * the error messages for unknown keys and bad values; the example config must match the table. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "region.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static char tmpdir[] = "/tmp/test_core_config.XXXXXX";
static char path[256];

extern char **environ;

static void clear_env(void)
{
	/* collect first: unsetenv while walking environ would skip entries */
	char names[64][96];
	int n = 0;

	for (char **e = environ; *e != NULL && n < 64; e++) {
		if (strncmp(*e, "AMCBATCH_", 9) == 0) {
			const char *eq = strchr(*e, '=');
			size_t len = eq != NULL ? (size_t)(eq - *e) : strlen(*e);

			if (len < sizeof(names[0])) {
				memcpy(names[n], *e, len);
				names[n++][len] = '\0';
			}
		}
	}
	for (int i = 0; i < n; i++)
		unsetenv(names[i]);
}

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assertf(f != NULL, "cannot write %s", path);
	if (f == NULL)
		return;
	fputs(text, f);
	fclose(f);
}

static void test_defaults(void)
{
	Config c;
	char err[256];

	clear_env();
	assertf(config_load(&c, NULL, err, sizeof(err)), "load: %s", err);
	assertf(strcmp(c.log_level, "info") == 0, "log_level %s", c.log_level);
	assertf(strcmp(c.redis_url, "redis://127.0.0.1:6379/0") == 0, "redis_url %s", c.redis_url);
	assertf(strcmp(c.redis_prefix, "amcb:") == 0, "redis_prefix %s", c.redis_prefix);
	assertf(strcmp(c.database_url, "postgresql:///amcbatch") == 0, "database_url");
	assertf(c.pg_threads == 4 && c.api_port == 8080 && c.max_body_bytes == 1048576, "ints");
	assertf(c.max_instances == 100 && c.max_params_bytes == 10240, "limits");
	assertf(strcmp(c.worker_id, "") == 0, "worker_id \"%s\"", c.worker_id);
	/* no override for all regions: each region's own pair, Amazon's public hosts */
	assertf(strcmp(c.amc_base_url, "") == 0 && strcmp(c.amc_token_url, "") == 0,
		"override set");
	assertf(strcmp(region_base_url(&c, REGION_NA), "https://advertising-api.amazon.com") == 0 &&
			strcmp(region_base_url(&c, REGION_EU),
			       "https://advertising-api-eu.amazon.com") == 0 &&
			strcmp(region_base_url(&c, REGION_FE),
			       "https://advertising-api-fe.amazon.com") == 0,
		"base urls");
	assertf(strcmp(region_token_url(&c, REGION_NA), "https://api.amazon.com/auth/o2/token") ==
				0 &&
			strcmp(region_token_url(&c, REGION_EU),
			       "https://api.amazon.co.uk/auth/o2/token") == 0 &&
			strcmp(region_token_url(&c, REGION_FE),
			       "https://api.amazon.co.jp/auth/o2/token") == 0,
		"token urls");
	assertf(c.sim_port_eu == -1 && c.sim_port_fe == -1, "sim region ports");
	assertf(c.worker_inflight == 1000 && c.claim_batch == 50, "worker ints");
	assertf(c.poll_initial_ms == 1000 && c.poll_max_ms == 30000 && c.exec_timeout_s == 1800,
		"poll ints");
	assertf(c.lease_ms == 15000 && c.heartbeat_ms == 5000 && c.http_timeout_ms == 30000,
		"lease ints");
	assertf(strcmp(c.spool_dir, "/tmp") == 0, "spool_dir");
	assertf(c.sim_port == 9000 && c.sim_latency_ms == 2000 &&
			c.sim_statement_timeout_ms == 30000,
		"sim ints");
	assertf(strcmp(c.sim_database_url, "postgresql:///amcsim") == 0, "sim db");
	assertf(!c.sim_strict, "sim_strict");
	assertf(strstr(c.web_root, "/web") != NULL, "web_root %s", c.web_root);
	config_cleanup(&c);
	assertf(c.redis_url == NULL, "cleanup leaves pointers");
}

static void test_file(void)
{
	Config c;
	char err[256];

	clear_env();
	write_file("; comment\n"
		   "log_level = debug\n"
		   "[api]\n"
		   "api_port = 18080\n"
		   "max_instances=7\n"
		   "[sim]\n"
		   "sim_strict = yes\n"
		   "redis_prefix = t1:\n");
	assertf(config_load(&c, path, err, sizeof(err)), "load: %s", err);
	assertf(strcmp(c.log_level, "debug") == 0, "log_level %s", c.log_level);
	assertf(c.api_port == 18080, "api_port %d", c.api_port);
	assertf(c.max_instances == 7, "max_instances %d", c.max_instances);
	assertf(c.sim_strict, "sim_strict");
	assertf(strcmp(c.redis_prefix, "t1:") == 0, "prefix %s", c.redis_prefix);
	assertf(c.pg_threads == 4, "untouched default changed");
	config_cleanup(&c);
}

/* amc_base_url / amc_token_url serve every region when set; else each region's own key */
static void test_region_urls(void)
{
	Config c;
	char err[256];
	AmcRegion r = REGION_NA;

	clear_env();
	write_file("amc_base_url_eu = http://127.0.0.1:9001\n"
		   "amc_token_url_fe = http://127.0.0.1:9002/auth/o2/token\n");
	assertf(config_load(&c, path, err, sizeof(err)), "load: %s", err);
	assertf(strcmp(region_base_url(&c, REGION_EU), "http://127.0.0.1:9001") == 0, "eu base");
	assertf(strcmp(region_base_url(&c, REGION_NA), "https://advertising-api.amazon.com") == 0,
		"na base");
	assertf(strcmp(region_token_url(&c, REGION_FE), "http://127.0.0.1:9002/auth/o2/token") == 0,
		"fe token");
	config_cleanup(&c);

	setenv("AMCBATCH_AMC_BASE_URL", "http://127.0.0.1:9000", 1);
	setenv("AMCBATCH_AMC_TOKEN_URL", "http://127.0.0.1:9000/auth/o2/token", 1);
	assertf(config_load(&c, path, err, sizeof(err)), "load: %s", err);
	for (int i = 0; i < REGION__COUNT; i++) {
		assertf(strcmp(region_base_url(&c, (AmcRegion)i), "http://127.0.0.1:9000") == 0,
			"override for all: %s", region_name[i]);
		assertf(strcmp(region_token_url(&c, (AmcRegion)i),
			       "http://127.0.0.1:9000/auth/o2/token") == 0,
			"token override: %s", region_name[i]);
	}
	config_cleanup(&c);
	clear_env();

	assertf(region_parse("EU", &r) && r == REGION_EU, "parse EU");
	assertf(region_parse("FE", &r) && r == REGION_FE, "parse FE");
	assertf(region_parse("NA", &r) && r == REGION_NA, "parse NA");
	assertf(!region_parse("eu", &r) && !region_parse("", &r) && !region_parse("US", &r) &&
			!region_parse(NULL, &r) && r == REGION_NA,
		"bad regions refused");
}

static void test_env_overrides_file(void)
{
	Config c;
	char err[256];

	clear_env();
	write_file("api_port = 18080\nredis_url = redis://127.0.0.1:1/2\n");
	setenv("AMCBATCH_API_PORT", "18081", 1);
	setenv("AMCBATCH_WORKER_ID", "w-1", 1);
	setenv("AMCBATCH_SIM_STRICT", "true", 1);
	assertf(config_load(&c, path, err, sizeof(err)), "load: %s", err);
	assertf(c.api_port == 18081, "env did not win: %d", c.api_port);
	assertf(strcmp(c.redis_url, "redis://127.0.0.1:1/2") == 0, "file value lost");
	assertf(strcmp(c.worker_id, "w-1") == 0, "worker_id %s", c.worker_id);
	assertf(c.sim_strict, "sim_strict from env");
	config_cleanup(&c);
	clear_env();
}

static void expect_error(const char *file, const char *env_name, const char *env_value,
			 const char *want1, const char *want2)
{
	Config c;
	char err[256] = "";

	clear_env();
	if (file != NULL)
		write_file(file);
	if (env_name != NULL)
		setenv(env_name, env_value, 1);
	assertf(!config_load(&c, file != NULL ? path : NULL, err, sizeof(err)),
		"accepted bad config");
	assertf(strstr(err, want1) != NULL, "error \"%s\" lacks \"%s\"", err, want1);
	if (want2 != NULL)
		assertf(strstr(err, want2) != NULL, "error \"%s\" lacks \"%s\"", err, want2);
	clear_env();
}

static void test_errors(void)
{
	char line3[300];

	snprintf(line3, sizeof(line3), "%s:3:", path);
	expect_error("log_level = info\n\nredis_ulr = x\n", NULL, NULL, "redis_ulr", line3);
	expect_error("api_port = 80a\n", NULL, NULL, "api_port", "integer");
	expect_error("api_port = 70000\n", NULL, NULL, "api_port", "between");
	expect_error("pg_threads = 0\n", NULL, NULL, "pg_threads", "between");
	expect_error("api_port =\n", NULL, NULL, "api_port", NULL);
	expect_error("sim_strict = maybe\n", NULL, NULL, "sim_strict", "true or false");
	expect_error("log_level = loud\n", NULL, NULL, "log_level", "loud");
	expect_error(NULL, "AMCBATCH_CLAIM_BATCH", "-5", "AMCBATCH_CLAIM_BATCH", "between");
	expect_error(NULL, "AMCBATCH_LEASE_MS", "x", "AMCBATCH_LEASE_MS", "integer");
	expect_error(NULL, "AMCBATCH_HEARTBEAT_MS", "20000", "heartbeat_ms", "lease_ms");
	expect_error("no equals sign here\n", NULL, NULL, ":1:", NULL);

	Config c;
	char err[256];

	assertf(!config_load(&c, "/nonexistent/amcbatch.conf", err, sizeof(err)), "missing file");
	assertf(strstr(err, "/nonexistent/amcbatch.conf") != NULL, "error %s", err);
}

/* Issue 9: enqueue_batch and claim write one Redis call per list with all their values; past
 * Lua's unpack limit (~8,000) a script failed half-written. Both bounds stay far below it. */
static void test_bounds_below_unpack_limit(void)
{
	Config c;
	char err[256];

	expect_error("max_instances = 8200\n", NULL, NULL, "max_instances", "between 1 and 1000");
	expect_error(NULL, "AMCBATCH_CLAIM_BATCH", "8200", "AMCBATCH_CLAIM_BATCH",
		     "between 1 and 1000");
	expect_error("max_instances = 1001\n", NULL, NULL, "max_instances", "between");
	write_file("max_instances = 1000\nclaim_batch = 1000\n");
	assertf(config_load(&c, path, err, sizeof(err)), "1000 is allowed: %s", err);
	config_cleanup(&c);
}

/* Each key of the table appears once in the dump, and the example config (if the conf part
 * has written it) loads cleanly and lists the same keys in the same order. */
static void test_dump_and_example(void)
{
	char dump[8192] = "", keys_dump[128][64], line[512];
	int nd = 0, ne = 0;
	FILE *f = fmemopen(dump, sizeof(dump) - 1, "w");

	assertf(f != NULL, "fmemopen");
	if (f == NULL)
		return;
	config_dump(f);
	fclose(f);
	for (char *p = dump; *p && nd < 128; nd++) {
		size_t n = strcspn(p, " ");

		snprintf(keys_dump[nd], sizeof(keys_dump[0]), "%.*s", (int)n, p);
		p = strchr(p, '\n');
		if (p == NULL)
			break;
		p++;
	}
	/* the exact key list is checked against the example file below */
	assertf(nd >= 29, "dump has %d keys", nd);
	assertf(strstr(dump, "worker_id = \n") != NULL, "worker_id default not empty");
	assertf(strncmp(dump, "log_level = info\n", 17) == 0, "first line %.20s", dump);

	f = fopen(TOP_SRCDIR "/conf/amcbatch.conf.example", "r");
	if (f == NULL) {
		printf("# conf/amcbatch.conf.example not present yet, order check skipped\n");
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char name[64];

		if (sscanf(line, " %63[a-z_0-9] =", name) == 1 && strchr(line, '=') != NULL &&
		    line[0] != ';' && line[0] != '#') {
			assertf(ne < nd && strcmp(name, keys_dump[ne]) == 0,
				"example key %d is %s, table has %s", ne, name,
				ne < nd ? keys_dump[ne] : "(end)");
			ne++;
		}
	}
	fclose(f);
	assertf(ne == nd, "example lists %d keys, table %d", ne, nd);

	Config c;
	char err[256];

	clear_env();
	assertf(config_load(&c, TOP_SRCDIR "/conf/amcbatch.conf.example", err, sizeof(err)),
		"example does not load: %s", err);
	config_cleanup(&c);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/amcbatch.conf", tmpdir);
	RUN_TEST(test_defaults);
	RUN_TEST(test_file);
	RUN_TEST(test_env_overrides_file);
	RUN_TEST(test_errors);
	RUN_TEST(test_bounds_below_unpack_limit);
	RUN_TEST(test_region_urls);
	RUN_TEST(test_dump_and_example);
	unlink(path);
	rmdir(tmpdir);
	return tap_done();
}
