/* test_sim_ledger.c - end-to-end test of GET /sim/executions (AMCSIM_URL; skips with 77
 * without it): the fields a fault-campaign checker reads (instance, account, status, the
 * amcbatch marker, result rows and file, cancel requests), paging and bad parameters. It
 * uses instances named amcsimledger<random>... and only looks at their executions. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "../tap.h"

#define ACCOUNT "ENTITYAMCSIMLEDGER"
#define SQL_PLAIN "SELECT count(*) AS n FROM impressions"
#define SQL_MARKED "-- amcbatch batch_0a1b2c3d exec_0f3c21aa\n" SQL_PLAIN

static const char *base_url;
static char token[128];
static char prefix[32];     /* amcsimledger<8 hex> */
static long long start_seq; /* executions before this test are not looked at */

typedef struct Resp {
	long status;
	char *body;
	size_t len;
} Resp;

static size_t on_data(char *p, size_t sz, size_t n, void *arg)
{
	Resp *r = arg;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (nb == NULL)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

/* one request; with amc set, the AMC headers (token, client id, AdvertiserId) */
static Resp http(const char *method, const char *url, const char *body, bool amc)
{
	Resp r = { 0 };
	struct curl_slist *h = NULL;
	CURL *c = curl_easy_init();
	char buf[256];

	if (amc) {
		snprintf(buf, sizeof(buf), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, buf);
		h = curl_slist_append(
			h, "Amazon-Advertising-API-ClientId: amzn1.application-oa2-client.test");
		h = curl_slist_append(h, "Amazon-Advertising-API-AdvertiserId: " ACCOUNT);
	}
	if (body != NULL && amc)
		h = curl_slist_append(h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r.body == NULL)
		r.body = strdup("");
	return r;
}

/* base_url + the path fmt gives; variadic so -Wformat checks each caller's literal fmt */
static const char *url(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *url(const char *fmt, ...)
{
	static char buf[4][1024];
	static int k;
	char *out = buf[k++ % 4];
	int n = snprintf(out, 1024, "%s", base_url);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + n, 1024 - (size_t)n, fmt, ap);
	va_end(ap);
	return out;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static const char *inst(const char *suffix)
{
	static char buf[4][64];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, 64, "%s%s", prefix, suffix);
	return b;
}

/* creates sql on instance i; returns its id (static buffer) or "" */
static const char *create(const char *i, const char *sql)
{
	static char id[4][64];
	static int k;
	char *out = id[k++ % 4];
	json_t *b = json_pack("{s:{s:s}, s:s, s:s, s:s}", "workflow", "sqlQuery", sql,
			      "timeWindowType", "EXPLICIT", "timeWindowStart",
			      "2025-01-01T00:00:00", "timeWindowEnd", "2025-01-02T00:00:00");
	char *body = json_dumps(b, JSON_COMPACT);
	Resp r = http("POST", url("/amc/reporting/%s/workflowExecutions%s", i, ""), body, true);
	json_t *o = json_loads(r.body, 0, NULL);

	out[0] = '\0';
	assertf(r.status == 200, "create on %s: %ld %s", i, r.status, r.body);
	snprintf(out, 64, "%s", jstr(o, "workflowExecutionId"));
	json_decref(o);
	json_decref(b);
	free(body);
	free(r.body);
	return out;
}

static void wait_terminal(const char *i, const char *id)
{
	for (int n = 0; n < 200; n++) {
		Resp r = http("GET", url("/amc/reporting/%s/workflowExecutions/%s", i, id), NULL,
			      true);
		json_t *o = json_loads(r.body, 0, NULL);
		const char *s = jstr(o, "status");
		bool done =
			!strcmp(s, "SUCCEEDED") || !strcmp(s, "FAILED") || !strcmp(s, "CANCELLED");

		json_decref(o);
		free(r.body);
		if (done)
			return;
		usleep(50 * 1000);
	}
	assertf(0, "%s on %s did not finish", id, i);
}

/* GET /sim/executions?<query>; the parsed answer (caller decrefs) or NULL, status in *st */
static json_t *ledger(const char *query, long *st)
{
	Resp r = http("GET", url("/sim/executions?%s%s", query, ""), NULL, false);
	json_t *o = json_loads(r.body, 0, NULL);

	*st = r.status;
	free(r.body);
	return o;
}

/* this test's entry of the execution id (a new reference) or NULL, from every page */
static json_t *entry_of(const char *id, const char *flags)
{
	char q[256];
	long long after = start_seq;
	json_t *found = NULL;
	long st;

	while (found == NULL) {
		snprintf(q, sizeof(q), "after=%lld&limit=50%s", after, flags);
		json_t *o = ledger(q, &st);
		json_t *arr = json_object_get(o, "executions"), *e;
		size_t k;

		assertf(st == 200 && json_is_array(arr), "ledger page: %ld", st);
		json_array_foreach (arr, k, e) {
			if (!strcmp(jstr(e, "workflowExecutionId"), id))
				found = json_incref(e);
		}
		json_t *next = json_object_get(o, "next");
		bool more = json_is_integer(next);
		after = more ? json_integer_value(next) : after;
		json_decref(o);
		if (!more)
			break;
	}
	return found;
}

static void test_ledger_fields(void)
{
	char marked[64], plain[64];
	json_t *e;

	snprintf(marked, sizeof(marked), "%s", create(inst("a"), SQL_MARKED));
	snprintf(plain, sizeof(plain), "%s", create(inst("a"), SQL_PLAIN));
	wait_terminal(inst("a"), marked);
	wait_terminal(inst("a"), plain);

	e = entry_of(marked, "&sql=true&csv=true");
	assertf(e != NULL, "the marked execution is listed");
	json_t *m = json_object_get(e, "marker");
	assertf(!strcmp(jstr(e, "instanceId"), inst("a")) && !strcmp(jstr(e, "account"), ACCOUNT) &&
			!strcmp(jstr(e, "status"), "SUCCEEDED"),
		"instance, account, status: %s %s %s", jstr(e, "instanceId"), jstr(e, "account"),
		jstr(e, "status"));
	assertf(!strcmp(jstr(m, "batchId"), "batch_0a1b2c3d") &&
			!strcmp(jstr(m, "execId"), "exec_0f3c21aa"),
		"marker parsed: %s %s", jstr(m, "batchId"), jstr(m, "execId"));
	assertf(json_integer_value(json_object_get(e, "rows")) == 1 &&
			!strncmp(jstr(e, "csv"), "n\n", 2),
		"one result row and its file: %s", jstr(e, "csv"));
	assertf(!strcmp(jstr(e, "sqlQuery"), SQL_MARKED), "the SQL as sent");
	assertf(json_integer_value(json_object_get(e, "cancelRequests")) == 0 &&
			json_is_null(json_object_get(e, "firstCancelMs")),
		"no cancel request");
	assertf(json_integer_value(json_object_get(e, "createMs")) > 0 &&
			json_integer_value(json_object_get(e, "endMs")) >=
				json_integer_value(json_object_get(e, "createMs")) &&
			strlen(jstr(e, "createTime")) == 20,
		"times: %s", jstr(e, "createTime"));
	long long seq = json_integer_value(json_object_get(e, "seq"));
	json_decref(e);

	e = entry_of(plain, "");
	assertf(e != NULL && json_is_null(json_object_get(e, "marker")), "no marker: null");
	assertf(e != NULL && json_object_get(e, "sqlQuery") == NULL &&
			json_object_get(e, "csv") == NULL,
		"SQL and file only when asked for");
	assertf(e != NULL && json_integer_value(json_object_get(e, "seq")) > seq, "creation order");
	json_decref(e);
}

static void test_ledger_cancel(void)
{
	const char *i = inst("c");
	char path[128], id[64];
	Resp r;

	snprintf(path, sizeof(path), "%s/sim/profiles/%s", base_url, i);
	r = http("PUT", path, "{\"latency_ms\":10000}", false);
	assertf(r.status == 200, "slow profile: %ld", r.status);
	free(r.body);
	snprintf(id, sizeof(id), "%s", create(i, SQL_PLAIN));
	r = http("PUT", url("/amc/reporting/%s/workflowExecutions/%s", i, id),
		 "{\"status\":\"CANCELLED\"}", true);
	assertf(r.status == 200, "cancel: %ld %s", r.status, r.body);
	free(r.body);
	/* too late now: refused, but the request is still counted */
	r = http("DELETE", url("/amc/reporting/%s/workflowExecutions/%s", i, id), NULL, true);
	assertf(r.status == 400, "second cancel refused: %ld", r.status);
	free(r.body);
	r = http("PUT", url("/amc/reporting/%s/workflowExecutions/%s", i, id),
		 "{\"status\":\"RUNNING\"}", true);
	assertf(r.status == 400, "not a cancel: %ld", r.status);
	free(r.body);
	json_t *e = entry_of(id, "&csv=true");
	assertf(e != NULL && !strcmp(jstr(e, "status"), "CANCELLED") &&
			json_integer_value(json_object_get(e, "cancelRequests")) == 2 &&
			json_integer_value(json_object_get(e, "firstCancelMs")) > 0,
		"cancelled, 2 cancel requests: %s %lld", jstr(e, "status"),
		(long long)json_integer_value(json_object_get(e, "cancelRequests")));
	assertf(e != NULL && json_is_null(json_object_get(e, "rows")) &&
			json_object_get(e, "csv") == NULL,
		"no rows, no file");
	json_decref(e);
	r = http("DELETE", path, NULL, false);
	free(r.body);
}

static void test_ledger_paging(void)
{
	char q[128];
	long long after = start_seq, last = 0;
	int pages = 0, mine = 0;
	long st;

	for (;;) {
		snprintf(q, sizeof(q), "after=%lld&limit=1", after);
		json_t *o = ledger(q, &st);
		json_t *arr = json_object_get(o, "executions");
		json_t *next = json_object_get(o, "next");

		assertf(st == 200 && json_array_size(arr) <= 1, "page of 1: %ld", st);
		if (json_array_size(arr) == 1) {
			json_t *e = json_array_get(arr, 0);
			long long seq = json_integer_value(json_object_get(e, "seq"));
			assertf(seq > after, "after %lld: %lld", after, seq);
			mine += !strncmp(jstr(e, "instanceId"), prefix, strlen(prefix));
			last = seq;
		}
		assertf(json_integer_value(json_object_get(o, "lastSeq")) >= last, "lastSeq");
		pages++;
		bool more = json_is_integer(next);
		if (more)
			after = json_integer_value(next);
		json_decref(o);
		if (!more || pages > 10000)
			break;
	}
	assertf(mine == 3, "3 executions of this test over %d pages, got %d", pages, mine);
	json_decref(ledger("limit=0", &st));
	assertf(st == 400, "limit=0: %ld", st);
	json_decref(ledger("limit=10001", &st));
	assertf(st == 400, "limit=10001: %ld", st);
	json_decref(ledger("after=x", &st));
	assertf(st == 400, "after=x: %ld", st);
	json_decref(ledger("after=-1", &st));
	assertf(st == 400, "after=-1: %ld", st);
	Resp r = http("POST", url("/sim/executions%s%s", "", ""), "{}", false);
	assertf(r.status == 405, "POST: %ld", r.status);
	free(r.body);
}

int main(void)
{
	char turl[512];
	long st;

	base_url = getenv("AMCSIM_URL");
	if (base_url == NULL || !*base_url)
		TAP_SKIP_ALL("AMCSIM_URL not set");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(prefix, sizeof(prefix), "amcsimledger%08x", (unsigned)rand());
	json_t *o = ledger("limit=1", &st);
	if (st != 200) {
		printf("not ok - GET %s/sim/executions (HTTP %ld)\n", base_url, st);
		json_decref(o);
		return 1;
	}
	start_seq = json_integer_value(json_object_get(o, "lastSeq"));
	json_decref(o);
	snprintf(turl, sizeof(turl), "%s/auth/o2/token", base_url);
	Resp r = http("POST", turl, "grant_type=refresh_token&refresh_token=Atzr%7Cledger", false);
	o = json_loads(r.body, 0, NULL);
	snprintf(token, sizeof(token), "%s", jstr(o, "access_token"));
	json_decref(o);
	free(r.body);
	RUN_TEST(test_ledger_fields);
	RUN_TEST(test_ledger_cancel);
	RUN_TEST(test_ledger_paging);
	curl_global_cleanup();
	return tap_done();
}
