/* test_core_states.c - the state names of src/core/states.c against the other places that
 * write them as text: the CHECK constraints of sql/001 (and every `status IN (...)` of the
 * migrations), the Lua scripts (lua/, lua/lib) and the web UI (web/). A state added, renamed
 * or misspelt in one place and not the others fails here. The checks read text, so each is
 * also run once on a copy with a wrong name, to show that it would catch one. */
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "common.h"
#include "states.h"

#define NAME_MAX_LEN 32
#define LIST_MAX 128 /* names matched in one file */

typedef struct List {
	char v[LIST_MAX][NAME_MAX_LEN];
	int n;
} List;

static char *slurp(const char *rel)
{
	char path[512];
	FILE *f;
	char *buf = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/%s", TOP_SRCDIR, rel);
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n) {
		buf[n] = '\0';
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	return buf;
}

static bool in(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return true;
	return false;
}

static bool any_state(const char *s)
{
	return in(exec_state_names, EXEC_STATE_COUNT, s) ||
	       in(batch_state_names, BATCH_STATE_COUNT, s);
}

static void add(List *l, const char *s, size_t len)
{
	if (l->n < LIST_MAX && len < NAME_MAX_LEN) {
		memcpy(l->v[l->n], s, len);
		l->v[l->n++][len] = '\0';
	}
}

/* Every match of the extended regex re in text, except on lines that match skip (NULL: none):
 * capture group `group` appended to out. */
static void matches_but(const char *text, const char *re, int group, const char *skip, List *out)
{
	regex_t rx, sx;
	regmatch_t m[4];
	const char *p = text;

	if (regcomp(&rx, re, REG_EXTENDED | REG_NEWLINE) != 0) {
		assertf(false, "bad regex %s", re);
		return;
	}
	if (skip != NULL && regcomp(&sx, skip, REG_EXTENDED | REG_NEWLINE) != 0) {
		assertf(false, "bad regex %s", skip);
		regfree(&rx);
		return;
	}
	while (regexec(&rx, p, 4, m, 0) == 0) {
		const char *bol = p + m[0].rm_so, *eol;
		char line[512];

		while (bol > text && bol[-1] != '\n')
			bol--;
		eol = strchr(bol, '\n');
		snprintf(line, sizeof(line), "%.*s",
			 (int)(eol != NULL ? eol - bol : (long)strlen(bol)), bol);
		if (m[group].rm_so >= 0 && (skip == NULL || regexec(&sx, line, 0, NULL, 0) != 0))
			add(out, p + m[group].rm_so, (size_t)(m[group].rm_eo - m[group].rm_so));
		p += m[0].rm_eo > 0 ? m[0].rm_eo : 1;
	}
	regfree(&rx);
	if (skip != NULL)
		regfree(&sx);
}

static void matches(const char *text, const char *re, int group, List *out)
{
	matches_but(text, re, group, NULL, out);
}

/* The quoted names ('x' or "x") of the list that the first match of re opens, up to close. */
static List quoted_list(const char *text, const char *re, char close)
{
	List l = { .n = 0 };
	regex_t rx;
	regmatch_t m[1];

	if (regcomp(&rx, re, REG_EXTENDED) != 0 || regexec(&rx, text, 1, m, 0) != 0) {
		regfree(&rx);
		return l;
	}
	regfree(&rx);
	for (const char *p = text + m[0].rm_eo; *p && *p != close; p++) {
		if (*p == '\'' || *p == '"') {
			const char *e = strchr(p + 1, *p);
			if (e == NULL)
				break;
			add(&l, p + 1, (size_t)(e - p - 1));
			p = e;
		}
	}
	return l;
}

static bool listed(const List *l, const char *s)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return true;
	return false;
}

/* Whether l holds exactly names[n], in that order. */
static bool same(const List *l, const char *const *names, int n)
{
	if (l->n != n)
		return false;
	for (int i = 0; i < n; i++)
		if (strcmp(l->v[i], names[i]) != 0)
			return false;
	return true;
}

static void test_tables(void)
{
	for (int i = 0; i < EXEC_STATE_COUNT; i++) {
		enum ExecState s;
		assertf(exec_state_parse(exec_state_names[i], &s) && (int)s == i, "exec %d", i);
		assertf(exec_state_name_is_final(exec_state_names[i]) ==
				(i >= EXEC_STATE_FIRST_FINAL),
			"exec %s final", exec_state_names[i]);
	}
	for (int i = 0; i < BATCH_STATE_COUNT; i++) {
		enum BatchState s;
		assertf(batch_state_parse(batch_state_names[i], &s) && (int)s == i, "batch %d", i);
		assertf(batch_state_name_is_final(batch_state_names[i]) ==
				(i >= BATCH_STATE_FIRST_FINAL),
			"batch %s final", batch_state_names[i]);
	}
	enum ExecState e = EXEC_STATE_RUNNING;
	assertf(!exec_state_parse("RUNNING", &e) && !exec_state_parse(NULL, &e) &&
			e == EXEC_STATE_RUNNING,
		"unknown names are refused, out untouched");
	assertf(!exec_state_name_is_final(NULL) && !batch_state_name_is_final("done"),
		"unknown: not final");
	assertf(batch_state_name_is_final("partial") && !exec_state_name_is_final("partial"),
		"partial is a batch state only");
	assertf(exec_state_is("queued", EXEC_STATE_QUEUED) &&
			!exec_state_is(NULL, EXEC_STATE_QUEUED) &&
			batch_state_is("cancelled", BATCH_STATE_CANCELLED),
		"_is");
}

/* ---- SQL ---- */

/* Whether sql's CHECK lists of both tables are the C tables, and every `status IN (...)` list
 * names only states. */
static bool sql_agrees(const char *sql, bool report)
{
	List b = quoted_list(sql, "CREATE TABLE batch_executions[^;]*CHECK \\(status IN \\(", ')');
	List e = quoted_list(sql, "CREATE TABLE workflow_executions[^;]*CHECK \\(status IN \\(",
			     ')');
	bool ok = same(&b, batch_state_names, BATCH_STATE_COUNT) &&
		  same(&e, exec_state_names, EXEC_STATE_COUNT);

	if (report) {
		assertf(same(&b, batch_state_names, BATCH_STATE_COUNT),
			"batch_executions CHECK: %d names, not states.c's batch states", b.n);
		assertf(same(&e, exec_state_names, EXEC_STATE_COUNT),
			"workflow_executions CHECK: %d names, not states.c's exec states", e.n);
	}
	return ok;
}

static bool sql_in_lists_agree(const char *sql, const char *file)
{
	regex_t rx;
	regmatch_t m[1];
	const char *p = sql;
	bool ok = true;

	if (regcomp(&rx, "status IN \\(", REG_EXTENDED) != 0)
		return false;
	while (regexec(&rx, p, 1, m, 0) == 0) {
		List l = quoted_list(p + m[0].rm_so, "\\(", ')');
		for (int i = 0; i < l.n; i++) {
			assertf(any_state(l.v[i]), "%s: status IN (... '%s' ...) is no state", file,
				l.v[i]);
			ok &= any_state(l.v[i]);
		}
		p += m[0].rm_eo;
	}
	regfree(&rx);
	return ok;
}

static void test_sql(void)
{
	static const char *const files[] = {
		"sql/001_core.up.sql",     "sql/009_webhooks.up.sql",  "sql/010_policy.up.sql",
		"sql/010_policy.down.sql", "sql/012_read_path.up.sql", "sql/012_read_path.down.sql",
	};
	char *sql = slurp("sql/001_core.up.sql");

	assertf(sql != NULL, "read sql/001_core.up.sql");
	if (sql == NULL)
		return;
	assertf(sql_agrees(sql, true), "sql/001 CHECK constraints");
	/* the check catches a state the C tables do not have */
	char *p = strstr(sql, "'retry_wait', 'completed'");
	if (p != NULL) {
		memcpy(p, "'retry_wayt'", 12);
		assertf(!sql_agrees(sql, false), "a misspelt state in the CHECK is caught");
	}
	free(sql);
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *t = slurp(files[i]);
		assertf(t != NULL, "read %s", files[i]);
		if (t != NULL)
			sql_in_lists_agree(t, files[i]);
		free(t);
	}
}

/* ---- Lua ---- */

static const char *const lua_files[] = {
	"lua/cancel_batch.lua",
	"lua/claim.lua",
	"lua/enqueue_batch.lua",
	"lua/finish.lua",
	"lua/finish_many.lua",
	"lua/fleet.lua",
	"lua/forget_batch.lua",
	"lua/heartbeat.lua",
	"lua/held_jobs.lua",
	"lua/rate_submit.lua",
	"lua/read_batch.lua",
	"lua/reclaim.lua",
	"lua/record_amc_id.lua",
	"lua/release.lua",
	"lua/retry.lua",
	"lua/set_phase.lua",
	"lua/take_amc_cancels.lua",
	"lua/token_unlock.lua",
	"lua/lib/batch_status.lua",
	"lua/lib/cancel_execs.lua",
	"lua/lib/codes.lua",
	"lua/lib/events.lua",
	"lua/lib/finish_jobs.lua",
	"lua/lib/held.lua",
	"lua/lib/job_fields.lua",
	"lua/lib/keys.lua",
	"lua/lib/move_counter.lua",
	"lua/lib/ready.lua",
	"lua/lib/slots.lua",
};

/* The names a Lua file uses as execution states (written to or compared with an exec hash's
 * `state`, a finish's outcome, or a batch counter moved) and as batch statuses. */
static void lua_names(const char *lua, List *exec, List *batch)
{
	/* 'state', 'x' is a pair written (HSET, an event) unless the line lists field names:
	 * an HMGET or a table of names */
	matches_but(lua, "'state', '([a-z_]+)'", 1, "HMGET|(names|FIELDS) = \\{", exec);
	matches(lua, "state [=~]= '([a-z_]+)'", 1, exec);
	matches(lua, "outcome [=~]= '([a-z_]+)'", 1, exec);
	matches(lua, "move_counter\\([^,]+, '([a-z_]+)', '([a-z_]+)'", 1, exec);
	matches(lua, "move_counter\\([^,]+, '([a-z_]+)', '([a-z_]+)'", 2, exec);
	matches(lua, "status = '([a-z_]+)'", 1, batch);
}

/* Whether every name in l is one of names[n] (reported per name when report). */
static bool all_in(const List *l, const char *const *names, int n, const char *what, bool report)
{
	bool ok = true;

	for (int i = 0; i < l->n; i++) {
		if (report)
			assertf(in(names, n, l->v[i]), "%s: '%s' is not a state of states.c", what,
				l->v[i]);
		ok &= in(names, n, l->v[i]);
	}
	return ok;
}

static void test_lua(void)
{
	for (size_t i = 0; i < ARRAY_LEN(lua_files); i++) {
		char *lua = slurp(lua_files[i]);
		List exec = { .n = 0 }, batch = { .n = 0 };

		assertf(lua != NULL, "read %s", lua_files[i]);
		if (lua == NULL)
			continue;
		lua_names(lua, &exec, &batch);
		all_in(&exec, exec_state_names, EXEC_STATE_COUNT, lua_files[i], true);
		all_in(&batch, batch_state_names, BATCH_STATE_COUNT, lua_files[i], true);
		free(lua);
	}
	/* the other way: the batch hash counts every exec state, and lib/batch_status derives
	 * every batch status */
	char *enq = slurp("lua/enqueue_batch.lua"), *bs = slurp("lua/lib/batch_status.lua");
	List counters = { .n = 0 }, exec = { .n = 0 }, batch = { .n = 0 };
	if (enq != NULL)
		matches(enq, "'([a-z_]+)', (0|n),", 1, &counters);
	for (int i = 0; i < EXEC_STATE_COUNT; i++)
		assertf(listed(&counters, exec_state_names[i]),
			"enqueue_batch.lua has no '%s' counter", exec_state_names[i]);
	if (bs != NULL)
		lua_names(bs, &exec, &batch);
	for (int i = 0; i < BATCH_STATE_COUNT; i++)
		assertf(listed(&batch, batch_state_names[i]),
			"lib/batch_status.lua never derives '%s'", batch_state_names[i]);
	/* the check catches a misspelt state */
	List bad = { .n = 0 }, none = { .n = 0 };
	lua_names("rcall('HSET', k, 'state', 'runing')", &bad, &none);
	assertf(bad.n == 1 && !all_in(&bad, exec_state_names, EXEC_STATE_COUNT, "", false),
		"a misspelt Lua state is caught");
	free(enq);
	free(bs);
}

/* ---- web ---- */

static void test_web(void)
{
	char *app = slurp("web/app.js"), *mon = slurp("web/monitor.js"),
	     *hooks = slurp("web/webhooks.js");
	char *css = slurp("web/app.css");

	assertf(app != NULL && mon != NULL && hooks != NULL && css != NULL, "read web/");
	if (app != NULL) {
		/* the batch list's status filter: "" (any) and every batch state, in order */
		List l = quoted_list(app, "const STATUSES = \\[", ']');
		assertf(l.n == BATCH_STATE_COUNT + 1 && l.v[0][0] == '\0',
			"app.js STATUSES: '' first");
		if (l.n > 0) {
			memmove(&l.v[0], &l.v[1], sizeof(l.v[0]) * (size_t)(l.n - 1));
			l.n--;
		}
		assertf(same(&l, batch_state_names, BATCH_STATE_COUNT),
			"app.js STATUSES are the batch states");
	}
	if (mon != NULL) {
		List l = quoted_list(mon, "const TERMINAL = \\[", ']');
		assertf(same(&l, batch_state_names + BATCH_STATE_FIRST_FINAL,
			     BATCH_STATE_FINAL_COUNT),
			"monitor.js TERMINAL is the final batch states");
	}
	if (hooks != NULL) {
		List l = { .n = 0 };
		matches(hooks, "'batch\\.([a-z_]+)'", 1, &l);
		assertf(same(&l, batch_state_names + BATCH_STATE_FIRST_FINAL,
			     BATCH_STATE_FINAL_COUNT),
			"webhooks.js: one batch.<state> event per final batch state");
	}
	if (css != NULL || app != NULL) {
		List l = { .n = 0 };
		if (css != NULL)
			matches(css, "\\.st-([a-z_]+)", 1, &l);
		for (int i = 0; i < l.n; i++)
			assertf(any_state(l.v[i]), "app.css .st-%s is no state", l.v[i]);
		assertf(l.n > 0, "app.css has state classes");
	}
	free(app);
	free(mon);
	free(hooks);
	free(css);
}

int main(void)
{
	RUN_TEST(test_tables);
	RUN_TEST(test_sql);
	RUN_TEST(test_lua);
	RUN_TEST(test_web);
	return tap_done();
}
