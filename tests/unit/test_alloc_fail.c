/* test_alloc_fail.c - every out-of-memory branch of six operations, by failing their Nth
 * allocation through the hook of alloc.h for N = 1, 2, ... until one run sees no failure:
 * a batch-execute body's validation (src/api/validate.c, jansson included), a claim reply's
 * element read into a Job (src/worker/claim_entry.c), a CSV file read record by record
 * (src/worker/csv.c), CSV rows written (src/core/csvw.c), and the libraries' own: libevent
 * (installed as the programs do, alloc_libevent.h) and jansson. Each failed run must end in
 * that operation's error, never a crash or a half result; run under the ASan build, each
 * must also leak nothing. */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "alloc.h"
#include "alloc_libevent.h"
#include "claim_entry.h"
#include "csv.h"
#include "csvw.h"
#include "strbuf.h"
#include "validate.h"

#include "../tap.h"

/* ---- the failing allocator: counts every allocation, refuses the fail_at-th ---- */

static long calls, fail_at; /* fail_at 0: refuse none */

static bool refuse(void)
{
	return ++calls == fail_at;
}

static void *f_malloc(size_t n)
{
	return refuse() ? NULL : malloc(n);
}

static void *f_calloc(size_t n, size_t size)
{
	return refuse() ? NULL : calloc(n, size);
}

static void *f_realloc(void *p, size_t n)
{
	return refuse() ? NULL : realloc(p, n);
}

static char *f_strdup(const char *s)
{
	return refuse() ? NULL : strdup(s);
}

static const AllocFuncs failing = { f_malloc, f_calloc, f_realloc, f_strdup };

/* Runs op with the nth allocation refused; true if the refusal happened (n was reached). */
static bool with_failure(long n, bool (*op)(void *arg), void *arg, bool *ok)
{
	AllocFuncs old;

	calls = 0;
	fail_at = n;
	old = alloc_set_funcs(&failing);
	*ok = op(arg);
	alloc_set_funcs(&old);
	return calls >= n;
}

/* Drives op over every N; check judges each failed run (refused: whether N was reached). */
static long every_n(const char *what, bool (*op)(void *arg), void *arg,
		    void (*check)(void *arg, long n, bool ok))
{
	bool ok;
	long n;

	for (n = 1; n < 100000; n++) {
		bool refused = with_failure(n, op, arg, &ok);

		if (!refused) {
			assertf(ok, "%s: succeeds with every allocation granted", what);
			break;
		}
		check(arg, n, ok);
	}
	printf("# %s: %ld allocations, each refused once\n", what, n - 1);
	return n - 1;
}

/* ---- (a) a batch-execute body ---- */

#define I1 "20000000-0000-4000-8000-000000000001"
#define I2 "20000000-0000-4000-8000-000000000002"

typedef struct ExecCase {
	const char *body;
	long parse_allocs; /* the first allocations: jansson parsing the body */
	ValidateErr e;
} ExecCase;

static bool exec_op(void *arg)
{
	static const ValidateLimits lim = { 4096, 3, 200, 2 };
	static const ValidateInstance known[] = { { I1, true }, { I2, true } };
	ExecCase *c = arg;
	/* the workflow's defaults are made with the hook off: they are the caller's */
	AllocFuncs off = alloc_set_funcs(NULL);
	json_t *wf = json_pack("{s:s}", "startDate", "2025-01-01");
	bool ok;

	alloc_set_funcs(&off);
	memset(&c->e, 0, sizeof(c->e));
	ok = wf != NULL &&
	     validate_exec_all(c->body, strlen(c->body), &lim, known, 2,
			       "SELECT 1 FROM t WHERE c = {{country}} AND d IN {{days}}", wf,
			       1750000000, &c->e);
	off = alloc_set_funcs(NULL);
	json_decref(wf);
	alloc_set_funcs(&off);
	return ok;
}

static void exec_check(void *arg, long n, bool ok)
{
	ExecCase *c = arg;
	bool internal = c->e.status == 500 && strcmp(c->e.code, "internal") == 0;
	/* Inside jansson's parse a refused allocation is seldom reported as one: its lexer
	 * says "invalid token", and (2.14) when a long string's buffer cannot grow it drops
	 * that byte and parses on (lex_save ignores strbuffer_append_byte's result). The body
	 * is then refused for the value it mangled: a clean 4xx, the only kind allowed there. */
	bool in_parse = n <= c->parse_allocs && c->e.status >= 400 && c->e.status < 500 &&
			c->e.code[0] != '\0';

	assertf(!ok, "execute body, allocation %ld refused: refused, not accepted", n);
	assertf(internal || in_parse,
		"execute body, allocation %ld refused: a 500 internal error, got %d %s (%s)", n,
		c->e.status, c->e.code, c->e.message);
}

static void test_alloc_fail_exec_body(void)
{
	ExecCase c = {
		.body = "{\"name\":\"n\",\"instance_ids\":[\"" I1 "\",\"" I2 "\"],"
			"\"parameters\":{\"country\":\"US\",\"days\":[1,2,3]},"
			"\"instance_parameters\":{\"" I2 "\":{\"country\":\"it's\"}},"
			"\"window\":{\"type\":\"previous_week\",\"lag_days\":0},"
			"\"on_failure\":\"continue\"}",
	};

	AllocFuncs old;
	json_t *v;

	/* count the parse's own allocations: nothing refused */
	calls = 0;
	fail_at = 0;
	old = alloc_set_funcs(&failing);
	v = json_loadb(c.body, strlen(c.body), JSON_REJECT_DUPLICATES, NULL);
	c.parse_allocs = calls;
	json_decref(v);
	alloc_set_funcs(&old);
	assertf(v != NULL && c.parse_allocs > 0, "the body parses, through the hook");
	assertf(every_n("execute body", exec_op, &c, exec_check) > c.parse_allocs,
		"the validation allocates (the hook is wired)");
}

/* ---- (b) a claim reply's element ---- */

typedef struct ClaimCase {
	redisReply *reply;
	Job job;
	bool fits;
} ClaimCase;

static bool claim_op(void *arg)
{
	ClaimCase *c = arg;
	ClaimEntry e;
	bool ok;

	memset(&c->job, 0, sizeof(c->job));
	if (!claim_entry_parse(c->reply, &e))
		return false;
	ok = claim_entry_fill(&c->job, &e, &c->fits);
	/* what job_free does with them, on success and on failure alike */
	free(c->job.params_json);
	free(c->job.sql_template);
	return ok;
}

static void claim_check(void *arg, long n, bool ok)
{
	(void)arg;
	assertf(!ok, "claim element, allocation %ld refused: out of memory reported", n);
}

/* RESP for the element {ref, [field, value ...], sql}, parsed as hiredis does */
static redisReply *claim_reply(void)
{
	static const char *const fields[] = {
		"claim",
		"17",
		"id",
		"30000000-0000-4000-8000-000000000001",
		"account_id",
		"acct",
		"amc_instance_id",
		"amcinst",
		"advertiser_id",
		"adv",
		"marketplace_id",
		"mkt",
		"timezone",
		"Europe/Berlin",
		"amc_region",
		"EU",
		"parameters",
		"{\"country\":\"US\"}",
		"attempts",
		"2",
		"started_at",
		"1750000000000",
		"window_start",
		"2025-01-01",
		"window_end",
		"2025-01-07",
	};
	StrBuf b = STRBUF_INIT;
	redisReader *rd = redisReaderCreate();
	void *reply = NULL;

	strbuf_addf(&b, "*3\r\n$%zu\r\n%s\r\n*%zu\r\n", strlen("batch_0000abcd:exec_0000ef01"),
		    "batch_0000abcd:exec_0000ef01", ARRAY_LEN(fields));
	for (size_t i = 0; i < ARRAY_LEN(fields); i++)
		strbuf_addf(&b, "$%zu\r\n%s\r\n", strlen(fields[i]), fields[i]);
	strbuf_addf(&b, "$%zu\r\n%s\r\n", strlen("SELECT {{country}}"), "SELECT {{country}}");
	if (rd == NULL || b.oom || redisReaderFeed(rd, b.data, b.len) != REDIS_OK ||
	    redisReaderGetReply(rd, &reply) != REDIS_OK)
		reply = NULL;
	redisReaderFree(rd);
	strbuf_cleanup(&b);
	return reply;
}

static void test_alloc_fail_claim(void)
{
	ClaimCase c = { .reply = claim_reply() };

	assertf(c.reply != NULL, "the claim reply parses");
	if (c.reply == NULL)
		return;
	assertf(every_n("claim element", claim_op, &c, claim_check) == 2,
		"the parameters and the SQL are the element's allocations");
	assertf(c.fits && strcmp(c.job.timezone, "Europe/Berlin") == 0 && c.job.attempts == 2,
		"the last run filled the job");
	freeReplyObject(c.reply);
}

/* ---- (c) a CSV file, record by record ---- */

typedef struct CsvCase {
	StrBuf text;
	long records;
	char err[160];
} CsvCase;

static bool csv_op(void *arg)
{
	CsvCase *c = arg;
	FILE *f = fmemopen(c->text.data, c->text.len, "rb");
	CsvReader r;
	enum CsvStatus st;

	if (f == NULL)
		return false;
	csv_init(&r, f);
	c->records = 0;
	while ((st = csv_read(&r)) == CSV_RECORD)
		c->records++;
	snprintf(c->err, sizeof(c->err), "%s", st == CSV_ERROR ? r.err : "");
	csv_cleanup(&r);
	fclose(f);
	return st == CSV_EOF;
}

static void csv_check(void *arg, long n, bool ok)
{
	CsvCase *c = arg;

	assertf(!ok && strcmp(c->err, "out of memory") == 0,
		"csv, allocation %ld refused: \"out of memory\", got \"%s\"", n, c->err);
}

static void test_alloc_fail_csv(void)
{
	CsvCase c = { .text = STRBUF_INIT };

	/* a header of 40 columns and rows long enough to grow the record buffer twice */
	for (int i = 0; i < 40; i++)
		strbuf_addf(&c.text, "%scol_%d", i ? "," : "", i);
	strbuf_adds(&c.text, "\r\n");
	for (int row = 0; row < 3; row++) {
		for (int i = 0; i < 40; i++)
			strbuf_addf(&c.text, "%s\"v %d,%d \"\"q\"\"\n%0*d\"", i ? "," : "", row, i,
				    20 * row + 10, i);
		strbuf_adds(&c.text, "\n");
	}
	assertf(!c.text.oom, "the file is built");
	assertf(every_n("csv", csv_op, &c, csv_check) >= 4,
		"the reader grows its fields and its record");
	assertf(c.records == 4, "the last run read every record: %ld", c.records);
	strbuf_cleanup(&c.text);
}

/* ---- (d) CSV rows written ---- */

typedef struct CsvwCase {
	const char *const *row;
	size_t nfields;
	char *out; /* the last successful run's text (owned) */
	size_t len;
} CsvwCase;

static bool csvw_op(void *arg)
{
	CsvwCase *c = arg;
	StrBuf b = STRBUF_INIT;

	/* enough rows to grow the buffer past its first few sizes, quoting on the way */
	for (int i = 0; i < 20; i++)
		csvw_row(&b, c->row, c->nfields, CSVW_CRLF);
	free(c->out);
	c->out = strbuf_take(&b, &c->len);
	return c->out != NULL;
}

static void csvw_check(void *arg, long n, bool ok)
{
	CsvwCase *c = arg;

	assertf(!ok && c->out == NULL, "csv rows, allocation %ld refused: no text, got %s", n,
		c->out != NULL ? "some" : "none");
}

static void test_alloc_fail_csvw(void)
{
	static const char *const row[] = { "plain", "a,b",      "say \"hi\"", NULL,
					   "",      "l1\r\nl2", "Zürich" };
	static const char one[] = "plain,\"a,b\",\"say \"\"hi\"\"\",,\"\",\"l1\r\nl2\",Zürich\r\n";
	CsvwCase c = { .row = row, .nfields = ARRAY_LEN(row) };
	bool same = true;

	assertf(every_n("csv rows", csvw_op, &c, csvw_check) >= 3,
		"the writer grows its buffer through the hook");
	assertf(c.out != NULL && c.len == 20 * (sizeof(one) - 1), "the last run wrote 20 rows");
	for (size_t i = 0; c.out != NULL && i < 20 && same; i++)
		same = memcmp(c.out + i * (sizeof(one) - 1), one, sizeof(one) - 1) == 0;
	assertf(same, "each row as RFC 4180 writes it");
	free(c.out);
}

/* ---- (e) libevent: an event base with a timer, an evbuffer ---- */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg += 1;
}

typedef struct EventCase {
	int fired;       /* the timer's runs */
	char method[16]; /* the base's backend, "" when none was made */
	char first[16];  /* that of the run with nothing refused */
} EventCase;

static bool event_op(void *arg)
{
	static const struct timeval zero = { 0, 0 };
	char chunk[1000];
	EventCase *c = arg;
	struct event_base *base = event_base_new();
	struct event *ev = NULL;
	struct evbuffer *b = evbuffer_new();
	bool ok = base != NULL && b != NULL;

	c->fired = 0;
	snprintf(c->method, sizeof(c->method), "%s",
		 base != NULL ? event_base_get_method(base) : "");
	memset(chunk, 'x', sizeof(chunk));
	ok = ok && (ev = evtimer_new(base, on_timer, &c->fired)) != NULL &&
	     evtimer_add(ev, &zero) == 0 && event_base_loop(base, EVLOOP_ONCE) == 0 &&
	     c->fired == 1;
	for (int i = 0; ok && i < 20; i++)
		ok = evbuffer_add(b, chunk, sizeof(chunk)) == 0 &&
		     evbuffer_add_printf(b, "%d", i) > 0;
	/* one contiguous copy of many chains: an allocation of its own */
	ok = ok && evbuffer_pullup(b, -1) != NULL && evbuffer_get_length(b) > 20 * sizeof(chunk);
	if (b != NULL)
		evbuffer_free(b);
	if (ev != NULL)
		event_free(ev);
	if (base != NULL)
		event_base_free(base);
	return ok;
}

static void event_check(void *arg, long n, bool ok)
{
	EventCase *c = arg;

	/* event_base_new absorbs a refusal inside a backend's set-up: it tries the next one
	 * (epoll, then poll), and the run succeeds on that */
	assertf(!ok || strcmp(c->method, c->first) != 0,
		"libevent, allocation %ld refused: the call that needed it failed, or the base "
		"fell back to another backend (got %s)",
		n, c->method);
}

static void test_alloc_fail_libevent(void)
{
	AllocFuncs old;
	struct evbuffer *b;
	EventCase c = { 0 };

	/* one evbuffer_new, counted: libevent allocates through the hook */
	calls = 0;
	fail_at = 0;
	old = alloc_set_funcs(&failing);
	b = evbuffer_new();
	alloc_set_funcs(&old);
	assertf(b != NULL && calls == 1, "evbuffer_new: one allocation through the hook, %ld",
		calls);
	if (b != NULL)
		evbuffer_free(b);
	assertf(event_op(&c) && c.method[0] != '\0', "the run succeeds with nothing refused");
	memcpy(c.first, c.method, sizeof(c.first));
	assertf(every_n("libevent", event_op, &c, event_check) > 5,
		"a base, a timer and a growing buffer allocate through the hook");
	assertf(c.fired == 1 && strcmp(c.method, c.first) == 0,
		"the last run fired its timer on the first backend (%s)", c.first);
}

/* ---- (f) jansson: a document built and dumped ---- */

static bool json_op(void *arg)
{
	char **out = arg;
	json_t *doc = json_pack("{s:s, s:[i,i,i], s:{s:b, s:s#}}", "name", "a batch", "days", 1, 2,
				3, "opts", "dry", 1, "note", "say \"hi\"", (int)8);

	free(*out);
	*out = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	return *out != NULL;
}

static void json_check(void *arg, long n, bool ok)
{
	char **out = arg;

	assertf(!ok && *out == NULL, "jansson, allocation %ld refused: NULL, not a document", n);
}

static void test_alloc_fail_jansson(void)
{
	AllocFuncs old;
	json_t *v;
	char *out = NULL;

	calls = 0;
	fail_at = 0;
	old = alloc_set_funcs(&failing);
	v = json_string("x");
	alloc_set_funcs(&old);
	assertf(v != NULL && calls == 2, "json_string: its value and its copy, %ld", calls);
	json_decref(v);
	assertf(every_n("jansson", json_op, &out, json_check) > 5,
		"packing and dumping allocate through the hook");
	assertf(out != NULL &&
			strcmp(out, "{\"days\":[1,2,3],\"name\":\"a batch\","
				    "\"opts\":{\"dry\":true,\"note\":\"say \\\"hi\\\"\"}}") == 0,
		"the last run dumped the document: %s", out != NULL ? out : "(null)");
	free(out);
}

/* libevent's warning for each refusal it reports ("calloc: Cannot allocate memory"): the
 * checks say what matters */
static void quiet(int severity, const char *msg)
{
	(void)severity;
	(void)msg;
}

int main(void)
{
	alloc_libevent_install(); /* before any libevent call, as the programs do */
	event_set_log_callback(quiet);
	RUN_TEST(test_alloc_fail_exec_body);
	RUN_TEST(test_alloc_fail_claim);
	RUN_TEST(test_alloc_fail_csv);
	RUN_TEST(test_alloc_fail_csvw);
	RUN_TEST(test_alloc_fail_libevent);
	RUN_TEST(test_alloc_fail_jansson);
	return tap_done();
}
