/* test_core_config_reload.c - config_reload's diff logic: which keys differ (table order,
 * secrets hidden), that only the reloadable ones are applied, the counts, that a file that
 * does not load keeps the old config, and that docs/operations.md lists exactly the keys the
 * table marks reloadable. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "log.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static char tmpdir[] = "/tmp/test_core_config_reload.XXXXXX";
static char path[256];

extern char **environ;

/* AMCBATCH_<KEY> variables would override the files written here */
static void clear_env(void)
{
	char names[64][96];
	int n = 0;

	for (char **e = environ; *e != NULL && n < 64; e++) {
		if (strncmp(*e, "AMCBATCH_", 9) == 0) {
			size_t len = strcspn(*e, "=");

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

/* what config_diff reported, in order */
typedef struct Seen {
	int n;
	ConfigChange c[8];
} Seen;

static void collect(const ConfigChange *c, void *arg)
{
	Seen *s = arg;

	if (s->n < 8)
		s->c[s->n] = *c;
	s->n++;
}

static void test_diff(void)
{
	Config a, b;
	Seen seen = { 0 };
	char err[256];

	write_file("database_url = postgresql://u:pw1@db/x\n");
	assertf(config_load(&a, path, err, sizeof(err)), "load a: %s", err);
	write_file("database_url = postgresql://u:pw2@db/x\napi_port = 9090\ninstance_cap = 3\n"
		   "log_level = debug\n");
	assertf(config_load(&b, path, err, sizeof(err)), "load b: %s", err);
	assertf(config_diff(&a, &a, NULL, NULL) == 0, "a config differs from itself");
	assertf(config_diff(&a, &b, collect, &seen) == 4, "%d keys differ, want 4", seen.n);
	/* table order: log_level, database_url, api_port, instance_cap */
	assertf(seen.n == 4 && strcmp(seen.c[0].key, "log_level") == 0 && seen.c[0].reloadable &&
			strcmp(seen.c[0].old_value, "\"info\"") == 0 &&
			strcmp(seen.c[0].new_value, "\"debug\"") == 0,
		"log_level: %s %s -> %s", seen.c[0].key, seen.c[0].old_value, seen.c[0].new_value);
	assertf(strcmp(seen.c[1].key, "database_url") == 0 && !seen.c[1].reloadable &&
			seen.c[1].secret && strstr(seen.c[1].old_value, "pw") == NULL &&
			strstr(seen.c[1].new_value, "pw") == NULL,
		"database_url: %s %s -> %s", seen.c[1].key, seen.c[1].old_value,
		seen.c[1].new_value);
	assertf(strcmp(seen.c[2].key, "api_port") == 0 && !seen.c[2].reloadable &&
			strcmp(seen.c[2].old_value, "8080") == 0 &&
			strcmp(seen.c[2].new_value, "9090") == 0,
		"api_port: %s %s -> %s", seen.c[2].key, seen.c[2].old_value, seen.c[2].new_value);
	assertf(strcmp(seen.c[3].key, "instance_cap") == 0 && seen.c[3].reloadable &&
			strcmp(seen.c[3].old_value, "10") == 0 &&
			strcmp(seen.c[3].new_value, "3") == 0,
		"instance_cap: %s %s -> %s", seen.c[3].key, seen.c[3].old_value,
		seen.c[3].new_value);

	/* applying moves exactly the reloadable ones; the strings swap owners */
	config_apply_reloadable(&a, &b);
	assertf(a.instance_cap == 3 && strcmp(a.log_level, "debug") == 0, "reloadable not applied");
	assertf(a.api_port == 8080 && strstr(a.database_url, "pw1") != NULL,
		"a key that needs a restart was applied");
	assertf(strcmp(b.log_level, "info") == 0, "the old string did not go to next");
	assertf(b.instance_cap == 3 && b.api_port == 9090, "next's own values changed");
	config_cleanup(&b); /* frees a's old log_level: ASan would see a double free or leak */
	config_cleanup(&a);
}

static void test_reload(void)
{
	Config c;
	ConfigReloadResult res = { -1, -1 };
	char err[256];

	write_file("instance_cap = 10\nworker_inflight = 7\n");
	assertf(config_load(&c, path, err, sizeof(err)), "load: %s", err);
	if (c.log_level == NULL)
		return;
	assertf(config_reload(&c, path, &res, err, sizeof(err)), "same file: %s", err);
	assertf(res.applied == 0 && res.need_restart == 0, "same file: %d applied, %d restart",
		res.applied, res.need_restart);

	write_file("instance_cap = 4\nworker_inflight = 7\napi_port = 9090\nlease_ms = 20000\n"
		   "log_level = warn\n");
	assertf(config_reload(&c, path, &res, err, sizeof(err)), "changed file: %s", err);
	assertf(res.applied == 2 && res.need_restart == 2,
		"%d applied (want 2), %d restart (want 2)", res.applied, res.need_restart);
	assertf(c.instance_cap == 4 && strcmp(c.log_level, "warn") == 0, "cap %d level %s",
		c.instance_cap, c.log_level);
	assertf(c.api_port == 8080 && c.lease_ms == 15000,
		"port %d lease %d: applied without a restart", c.api_port, c.lease_ms);

	/* the next reload still compares against what is in force: api_port again needs a
	 * restart, the cap goes back */
	write_file("api_port = 9090\n");
	assertf(config_reload(&c, path, NULL, err, sizeof(err)), "res NULL: %s", err);
	assertf(c.instance_cap == 10 && c.worker_inflight == 1000 && c.api_port == 8080,
		"back to defaults: cap %d inflight %d port %d", c.instance_cap, c.worker_inflight,
		c.api_port);
	config_cleanup(&c);
}

/* A file that does not load changes nothing, whichever way it is bad. */
static void test_bad_file_keeps_config(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "instance_cap = 0\n", "instance_cap" },
		{ "no_such_key = 1\n", "no_such_key" },
		{ "instance_cap = 3\nlog_level = loud\n", "log_level" },
		{ "heartbeat_ms = 20000\n", "heartbeat_ms" },
	};
	Config c;
	char err[256];

	write_file("instance_cap = 6\n");
	assertf(config_load(&c, path, err, sizeof(err)), "load: %s", err);
	if (c.log_level == NULL)
		return;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ConfigReloadResult res = { -1, -1 };

		write_file(bad[i].text);
		err[0] = '\0';
		assertf(!config_reload(&c, path, &res, err, sizeof(err)), "bad file %zu reloaded",
			i);
		assertf(strstr(err, bad[i].want) != NULL, "bad file %zu: err \"%s\"", i, err);
		assertf(c.instance_cap == 6 && strcmp(c.log_level, "info") == 0,
			"bad file %zu changed the config: cap %d", i, c.instance_cap);
	}
	assertf(!config_reload(&c, "/nonexistent/amcbatch.conf", NULL, err, sizeof(err)) &&
			c.instance_cap == 6,
		"a missing file changed the config");
	config_cleanup(&c);
}

/* docs/operations.md lists the reloadable keys between two markers; they must be exactly the
 * table's, so the documentation cannot drift from the one source of truth. */
static void test_docs_list_reloadable_keys(void)
{
	char dump[8192] = "", doc[65536], *from, *to;
	FILE *f = fmemopen(dump, sizeof(dump) - 1, "w");
	size_t n;
	int table = 0;

	assertf(f != NULL, "fmemopen");
	if (f == NULL)
		return;
	config_dump(f);
	fclose(f);
	f = fopen(TOP_SRCDIR "/docs/operations.md", "r");
	assertf(f != NULL, "docs/operations.md");
	if (f == NULL)
		return;
	n = fread(doc, 1, sizeof(doc) - 1, f);
	fclose(f);
	doc[n] = '\0';
	from = strstr(doc, "<!-- reloadable keys -->");
	to = from != NULL ? strstr(from, "<!-- end reloadable keys -->") : NULL;
	assertf(from != NULL && to != NULL, "docs/operations.md has no reloadable keys markers");
	if (from == NULL || to == NULL)
		return;
	*to = '\0';
	for (char *p = dump; *p; p = strchr(p, '\n') + 1) {
		char key[64], quoted[70];
		bool listed;

		snprintf(key, sizeof(key), "%.*s", (int)strcspn(p, " "), p);
		snprintf(quoted, sizeof(quoted), "`%s`", key);
		listed = strstr(from, quoted) != NULL;
		table += config_is_reloadable(key);
		assertf(listed == config_is_reloadable(key),
			"%s: reloadable %d, listed in the docs %d", key, config_is_reloadable(key),
			listed);
		if (strchr(p, '\n') == NULL)
			break;
	}
	assertf(table >= 20, "only %d reloadable keys in the table", table);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/amcbatch.conf", tmpdir);
	clear_env();
	log_init("test_core_config_reload", LOG_LVL_ERROR);
	RUN_TEST(test_diff);
	RUN_TEST(test_reload);
	RUN_TEST(test_bad_file_keeps_config);
	RUN_TEST(test_docs_list_reloadable_keys);
	unlink(path);
	rmdir(tmpdir);
	return tap_done();
}
