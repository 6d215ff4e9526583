/* test_sim.c - end-to-end test of a running amcsim (AMCSIM_URL) backed by a real
 * PostgreSQL: tokens, headers, validation, lifecycle, CSV quoting, time windows, SQL
 * errors, read-only enforcement, cancel, listing, download URLs, concurrency limit.
 * Skips (77) when AMCSIM_URL is not set. AMCSIM_TEST_URL_TTL_S (the simulator's
 * AMCSIM_URL_TTL_S, if small) enables the URL expiry check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

/* cases in this process, not one each (tap.h): its cases run against one amcsim in sequence, each using the token the first one got */
#define TAP_IN_PROCESS
#include "../tap.h"

static const char *base_url;
static char token[128];
static char inst[64]; /* a fresh instance per run: exercises schema creation */

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

/* auth: 0 = no headers, 1 = all AMC headers, 2 = token but no ClientId */
static Resp req(const char *method, const char *url, const char *body, int auth)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	char buf[256];
	Resp r = { 0, NULL, 0 };

	if (auth) {
		snprintf(buf, sizeof(buf), "Authorization: Bearer %s", token);
		h = curl_slist_append(h, buf);
		if (auth == 1)
			h = curl_slist_append(
				h,
				"Amazon-Advertising-API-ClientId: amzn1.application-oa2-client.test");
		h = curl_slist_append(h, "Amazon-Advertising-API-AdvertiserId: ENTITYTEST");
		h = curl_slist_append(h, "Amazon-Advertising-API-MarketplaceId: ATVPDKIKX0DER");
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r.body == NULL)
		r.body = strdup("");
	return r;
}

static char *amc_url(const char *suffix)
{
	static char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s/amc/reporting/%s/workflowExecutions%s", base_url,
			 inst, suffix);

	assertf(n > 0 && (size_t)n < sizeof(buf), "URL too long");
	return buf;
}

static json_t *parse(const Resp *r)
{
	return json_loads(r->body, 0, NULL);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

static char *create_body(const char *sql, const char *start, const char *end)
{
	json_t *o =
		json_pack("{s:{s:s}, s:s, s:s, s:s, s:s, s:s}", "workflow", "sqlQuery", sql,
			  "timeWindowType", "EXPLICIT", "timeWindowStart", start, "timeWindowEnd",
			  end, "timeWindowTimeZone", "UTC", "outputFormat", "CSV");
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

/* creates an execution; returns its id (static buffer) or "" */
static const char *create(const char *sql, const char *start, const char *end)
{
	static char id[64];
	char *b = create_body(sql, start, end);
	Resp r = req("POST", amc_url(""), b, 1);
	json_t *o = parse(&r);

	id[0] = '\0';
	assertf(r.status == 200, "create: HTTP %ld %s", r.status, r.body);
	if (o != NULL && r.status == 200) {
		snprintf(id, sizeof(id), "%s", jstr(o, "workflowExecutionId"));
		assertf(strcmp(jstr(o, "status"), "PENDING") == 0, "new execution is %s",
			jstr(o, "status"));
		assertf(strncmp(jstr(o, "workflowId"), "transient_", 10) == 0, "workflowId %s",
			jstr(o, "workflowId"));
		assertf(strlen(id) == 36, "id %s is not a UUID", id);
		assertf(json_integer_value(json_object_get(o, "workflowExecutionTimeoutSeconds")) ==
				21600,
			"timeout default");
	}
	json_decref(o);
	free(r.body);
	free(b);
	return id;
}

/* polls until terminal (or 60 s); returns the execution object (caller decrefs) */
static json_t *wait_done(const char *id)
{
	char sfx[128];

	snprintf(sfx, sizeof(sfx), "/%s", id);
	for (int i = 0; i < 600; i++) {
		Resp r = req("GET", amc_url(sfx), NULL, 1);
		json_t *o = parse(&r);
		free(r.body);
		const char *st = jstr(o, "status");
		if (strcmp(st, "SUCCEEDED") == 0 || strcmp(st, "FAILED") == 0 ||
		    strcmp(st, "CANCELLED") == 0)
			return o;
		json_decref(o);
		usleep(100 * 1000);
	}
	return NULL;
}

/* runs sql to completion and downloads its CSV (caller frees), or NULL */
static char *run_csv(const char *sql, const char *start, const char *end)
{
	char id[64], sfx[128];
	json_t *o, *d;
	char *csv = NULL;

	snprintf(id, sizeof(id), "%s", create(sql, start, end));
	if (!*id || (o = wait_done(id)) == NULL) {
		assertf(0, "execution did not finish");
		return NULL;
	}
	assertf(strcmp(jstr(o, "status"), "SUCCEEDED") == 0, "status %s reason %s",
		jstr(o, "status"), jstr(o, "statusReason"));
	assertf(*jstr(o, "startTime") && *jstr(o, "endTime"), "start/end times set");
	json_decref(o);
	snprintf(sfx, sizeof(sfx), "/%s/downloadUrls", id);
	Resp r = req("GET", amc_url(sfx), NULL, 1);
	d = parse(&r);
	assertf(r.status == 200, "downloadUrls: %ld %s", r.status, r.body);
	const char *url = json_string_value(json_array_get(json_object_get(d, "downloadUrls"), 0));
	assertf(url != NULL && strstr(url, "X-Amz-Signature=") != NULL, "signed URL");
	assertf(json_is_array(json_object_get(d, "metadataDownloadUrls")), "metadataDownloadUrls");
	if (url != NULL) {
		Resp f = req("GET", url, NULL, 0);
		assertf(f.status == 200, "S3 GET %ld", f.status);
		if (f.status == 200)
			csv = f.body;
		else
			free(f.body);
	}
	json_decref(d);
	free(r.body);
	return csv;
}

static long csv_count(const char *sql, const char *start, const char *end)
{
	char *csv = run_csv(sql, start, end);
	long n = -1;

	if (csv != NULL && strncmp(csv, "n\n", 2) == 0)
		n = atol(csv + 2);
	assertf(csv != NULL && n >= 0, "count CSV: %s", csv != NULL ? csv : "(none)");
	free(csv);
	return n;
}

static void test_token(void)
{
	char url[512];
	Resp r;
	json_t *o;

	snprintf(url, sizeof(url), "%s/auth/o2/token", base_url);
	r = req("POST", url,
		"grant_type=refresh_token&refresh_token=Atzr%7Ctest&client_id=a&client_secret=b",
		0);
	o = parse(&r);
	assertf(r.status == 200, "token: %ld %s", r.status, r.body);
	assertf(strncmp(jstr(o, "access_token"), "Atza|", 5) == 0, "access token %s", r.body);
	assertf(strcmp(jstr(o, "refresh_token"), "Atzr|test") == 0, "same refresh token back");
	assertf(json_integer_value(json_object_get(o, "expires_in")) > 0, "expires_in");
	snprintf(token, sizeof(token), "%s", jstr(o, "access_token"));
	json_decref(o);
	free(r.body);

	r = req("POST", url, "grant_type=refresh_token&client_id=a", 0);
	assertf(r.status == 400 && strstr(r.body, "invalid_request") != NULL,
		"missing refresh: %ld", r.status);
	free(r.body);
	r = req("POST", url, "grant_type=refresh_token&refresh_token=Atzr%7CREVOKED1", 0);
	assertf(r.status == 400 && strstr(r.body, "invalid_grant") != NULL, "revoked: %ld",
		r.status);
	free(r.body);
}

static void test_auth_headers(void)
{
	char saved[128];
	Resp r = req("GET", amc_url("?minCreationTime=2024-01-01T00:00:00"), NULL, 0);
	json_t *o = parse(&r);

	assertf(r.status == 401 && strcmp(jstr(o, "code"), "401") == 0, "no token: %ld %s",
		r.status, r.body);
	json_decref(o);
	free(r.body);
	snprintf(saved, sizeof(saved), "%s", token);
	snprintf(token, sizeof(token), "Atza|not-issued-by-amcsim");
	r = req("GET", amc_url("?minCreationTime=2024-01-01T00:00:00"), NULL, 1);
	assertf(r.status == 401, "unknown token: %ld", r.status);
	free(r.body);
	snprintf(token, sizeof(token), "%s", saved);
	r = req("GET", amc_url("?minCreationTime=2024-01-01T00:00:00"), NULL, 2);
	assertf(r.status == 400 && strstr(r.body, "ClientId") != NULL, "missing ClientId: %ld %s",
		r.status, r.body);
	free(r.body);
}

static void expect_400(const char *body, const char *what)
{
	Resp r = req("POST", amc_url(""), body, 1);
	json_t *o = parse(&r);

	assertf(r.status == 400 && strcmp(jstr(o, "code"), "400") == 0 && *jstr(o, "details"),
		"%s: %ld %s", what, r.status, r.body);
	json_decref(o);
	free(r.body);
}

static void test_create_validation(void)
{
	expect_400(
		"{\"workflow\":{\"sqlQuery\":\"SELECT 1\"},\"workflowId\":\"w\",\"timeWindowType\":\"EXPLICIT\","
		"\"timeWindowStart\":\"2025-01-01T00:00:00\",\"timeWindowEnd\":\"2025-01-02T00:00:00\"}",
		"both sqlQuery and workflowId");
	expect_400("{\"timeWindowType\":\"EXPLICIT\",\"timeWindowStart\":\"2025-01-01T00:00:00\","
		   "\"timeWindowEnd\":\"2025-01-02T00:00:00\"}",
		   "neither");
	expect_400("{\"workflow\":{\"sqlQuery\":\"SELECT 1\"},\"timeWindowType\":\"EXPLICIT\","
		   "\"timeWindowStart\":\"2025-01-01\",\"timeWindowEnd\":\"2025-01-02T00:00:00\"}",
		   "date only");
	expect_400(
		"{\"workflow\":{\"sqlQuery\":\"SELECT 1\"},\"timeWindowType\":\"EXPLICIT\","
		"\"timeWindowStart\":\"2025-01-01T00:00:00Z\",\"timeWindowEnd\":\"2025-01-02T00:00:00\"}",
		"trailing Z");
	expect_400(
		"{\"workflow\":{\"sqlQuery\":\"SELECT 1\"},\"timeWindowType\":\"EXPLICIT\","
		"\"timeWindowStart\":\"2025-01-02T00:00:00\",\"timeWindowEnd\":\"2025-01-02T00:00:00\"}",
		"start == end");
	expect_400(
		"{\"workflow\":{\"sqlQuery\":\"SELECT 1\"},\"timeWindowType\":\"EXPLICIT\","
		"\"timeWindowStart\":\"2025-01-01T00:00:00\",\"timeWindowEnd\":\"2025-01-02T00:00:00\","
		"\"timeWindowTimeZone\":\"Mars/Olympus\"}",
		"unknown zone");
	expect_400("not json", "not json");
}

static void test_csv_quoting(void)
{
	char *csv = run_csv(
		"SELECT 'a,b' AS x, 'say \"hi\"' AS y, E'l1\\nl2' AS z, count(*) AS n FROM impressions",
		"2025-01-01T00:00:00", "2025-01-02T00:00:00");
	const char *want = "x,y,z,n\n\"a,b\",\"say \"\"hi\"\"\",\"l1\nl2\",12\n";

	assertf(csv != NULL && strcmp(csv, want) == 0, "CSV is\n%s\nwant\n%s",
		csv != NULL ? csv : "(none)", want);
	free(csv);
	/* NULL is an empty field; an empty string is "" */
	csv = run_csv("SELECT NULL::text AS a, '' AS b, count(*) AS n FROM impressions WHERE false",
		      "2025-01-01T00:00:00", "2025-01-02T00:00:00");
	assertf(csv != NULL && strcmp(csv, "a,b,n\n,\"\",0\n") == 0, "NULL/empty CSV: %s",
		csv != NULL ? csv : "(none)");
	free(csv);
}

static void test_time_window(void)
{
	const char *q = "SELECT count(*) AS n FROM impressions";
	long month = csv_count(q, "2025-01-01T00:00:00", "2025-02-01T00:00:00");
	long week = csv_count(q, "2025-01-01T00:00:00", "2025-01-08T00:00:00");
	long none = csv_count(q, "2031-01-01T00:00:00", "2031-02-01T00:00:00");

	/* 4 campaigns x 3 device types, one row each per day */
	assertf(month == 31 * 12, "January rows %ld", month);
	assertf(week == 7 * 12, "first week rows %ld", week);
	assertf(none == 0, "rows outside the data %ld", none);
	/* the attributed-events views filter too */
	long conv = csv_count("SELECT count(*) AS n FROM amazon_attributed_events_by_traffic_time",
			      "2025-03-01T00:00:00", "2025-03-03T00:00:00");
	assertf(conv == 2 * 4, "attributed rows %ld", conv);
}

static json_t *run_fail(const char *sql)
{
	char id[64];
	json_t *o;

	snprintf(id, sizeof(id), "%s", create(sql, "2025-01-01T00:00:00", "2025-01-02T00:00:00"));
	o = *id ? wait_done(id) : NULL;
	assertf(o != NULL && strcmp(jstr(o, "status"), "FAILED") == 0, "%s: status %s", sql,
		o != NULL ? jstr(o, "status") : "(none)");
	return o;
}

static void test_invalid_sql(void)
{
	json_t *o = run_fail("SELECT nope, count(*) FROM impressions GROUP BY 1");

	assertf(o != NULL &&
			strstr(jstr(o, "statusReason"), "column \"nope\" does not exist") != NULL,
		"reason: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
	o = run_fail("SELECT count(*) FROM no_such_table");
	assertf(o != NULL && strstr(jstr(o, "statusReason"),
				    "relation \"no_such_table\" does not exist") != NULL,
		"reason: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
	o = run_fail("SELECT 1; SELECT 2");
	assertf(o != NULL && strstr(jstr(o, "statusReason"), "multiple commands") != NULL,
		"reason: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
}

static void test_read_only(void)
{
	json_t *o = run_fail("INSERT INTO impressions_all SELECT * FROM impressions_all");

	assertf(o != NULL && strstr(jstr(o, "statusReason"), "read-only transaction") != NULL,
		"insert: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
	o = run_fail("CREATE TABLE evil (a int)");
	assertf(o != NULL && strstr(jstr(o, "statusReason"), "read-only transaction") != NULL,
		"create: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
	/* the reader role sees the windowed views only, not the base tables */
	o = run_fail("SELECT count(*) FROM impressions_all");
	assertf(o != NULL && strstr(jstr(o, "statusReason"), "permission denied") != NULL,
		"base table: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
	/* no way back to the connecting role from inside the query */
	o = run_fail(
		"SELECT count(*) FROM impressions WHERE set_config('role', 'postgres', true) IS NOT NULL");
	assertf(o != NULL && strstr(jstr(o, "statusReason"), "permission denied") != NULL,
		"set_config role: %s", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
}

static void test_cancel(void)
{
	char id[64], sfx[160];
	Resp r;
	json_t *o;

	snprintf(id, sizeof(id), "%s",
		 create("SELECT pg_sleep(2), count(*) FROM impressions", "2025-01-01T00:00:00",
			"2025-01-02T00:00:00"));
	snprintf(sfx, sizeof(sfx), "/%s", id);
	r = req("PUT", amc_url(sfx), "{\"status\":\"CANCELLED\"}", 1);
	o = parse(&r);
	assertf(r.status == 200 && json_is_object(o) && json_object_size(o) == 0, "cancel: %ld %s",
		r.status, r.body);
	json_decref(o);
	free(r.body);
	r = req("GET", amc_url(sfx), NULL, 1);
	o = parse(&r);
	assertf(strcmp(jstr(o, "status"), "CANCELLED") == 0, "after cancel: %s", r.body);
	json_decref(o);
	free(r.body);
	r = req("PUT", amc_url(sfx), "{\"status\":\"CANCELLED\"}", 1);
	assertf(r.status == 400, "second cancel: %ld %s", r.status, r.body);
	free(r.body);
	snprintf(sfx, sizeof(sfx), "/%s/downloadUrls", id);
	r = req("GET", amc_url(sfx), NULL, 1);
	assertf((r.status == 400 || r.status == 404) &&
			strstr(r.body, "unavailable for download") != NULL,
		"downloadUrls of a cancelled one: %ld %s", r.status, r.body);
	free(r.body);
	r = req("GET", amc_url("/00000000-0000-4000-8000-000000000000"), NULL, 1);
	assertf(r.status == 404, "unknown execution: %ld", r.status);
	free(r.body);
}

static void test_list(void)
{
	char minq[128], url[2048], next[64] = "";
	time_t t = time(NULL) - 3600;
	struct tm tm;
	int total = 0, pages = 0;
	Resp r;
	json_t *o;

	gmtime_r(&t, &tm);
	strftime(minq, sizeof(minq), "?minCreationTime=%Y-%m-%dT%H:%M:%S", &tm);
	r = req("GET", amc_url(""), NULL, 1);
	assertf(r.status == 400, "list without filters: %ld", r.status);
	free(r.body);

	r = req("GET", amc_url(minq), NULL, 1);
	o = parse(&r);
	size_t all = json_array_size(json_object_get(o, "executions"));
	assertf(r.status == 200 && all >= 10, "list: %ld, %zu executions", r.status, all);
	json_decref(o);
	free(r.body);

	/* page through with limit=3 and nextToken, including the SQL */
	do {
		snprintf(url, sizeof(url), "%s%s&limit=3&includeWorkflow=true%s%s", amc_url(""),
			 minq, *next ? "&nextToken=" : "", next);
		r = req("GET", url, NULL, 1);
		o = parse(&r);
		json_t *ex = json_object_get(o, "executions");
		total += (int)json_array_size(ex);
		assertf(json_array_size(ex) <= 3, "page size");
		assertf(json_array_size(ex) == 0 || *jstr(json_array_get(ex, 0), "sqlQuery"),
			"includeWorkflow adds sqlQuery");
		snprintf(next, sizeof(next), "%s", jstr(o, "nextToken"));
		json_decref(o);
		free(r.body);
	} while (*next && ++pages < 100);
	assertf((size_t)total == all, "paged %d of %zu", total, all);

	snprintf(url, sizeof(url), "%s&nextToken=garbage", minq);
	r = req("GET", amc_url(url), NULL, 1);
	assertf(r.status == 400, "bad nextToken: %ld", r.status);
	free(r.body);
	r = req("GET", amc_url("?minCreationTime=2099-01-01T00:00:00"), NULL, 1);
	o = parse(&r);
	assertf(r.status == 200 && json_array_size(json_object_get(o, "executions")) == 0,
		"future minCreationTime: %s", r.body);
	json_decref(o);
	free(r.body);
}

static void test_s3_urls(void)
{
	char id[64], sfx[160], bad[2048];
	Resp r;
	json_t *d;
	const char *ttl = getenv("AMCSIM_TEST_URL_TTL_S");

	snprintf(id, sizeof(id), "%s",
		 create("SELECT count(*) AS n FROM impressions", "2025-01-01T00:00:00",
			"2025-01-02T00:00:00"));
	json_decref(wait_done(id));
	snprintf(sfx, sizeof(sfx), "/%s/downloadUrls", id);
	r = req("GET", amc_url(sfx), NULL, 1);
	d = parse(&r);
	free(r.body);
	const char *url = json_string_value(json_array_get(json_object_get(d, "downloadUrls"), 0));
	assertf(url != NULL, "a URL");
	if (url == NULL) {
		json_decref(d);
		return;
	}
	snprintf(bad, sizeof(bad), "%s", url);
	char *e = strstr(bad, "X-Amz-Expires=");
	if (e != NULL)
		e[14] = e[14] == '9' ? '8' : '9'; /* lengthen/shorten the lifetime */
	r = req("GET", bad, NULL, 0);
	assertf(r.status == 403 && strstr(r.body, "<Code>SignatureDoesNotMatch</Code>") != NULL,
		"tampered URL: %ld %s", r.status, r.body);
	free(r.body);
	if (ttl != NULL && atoi(ttl) > 0 && atoi(ttl) < 30) {
		sleep((unsigned)atoi(ttl) + 2);
		r = req("GET", url, NULL, 0);
		assertf(r.status == 403 && strstr(r.body, "Request has expired") != NULL,
			"expired URL: %ld %s", r.status, r.body);
		free(r.body);
	} else {
		printf("# URL expiry not checked (set AMCSIM_TEST_URL_TTL_S to a small TTL)\n");
	}
	json_decref(d);
}

static void test_running_limit(void)
{
	char ids[11][64], sfx[1024];
	int max_running = 0, max_pending_at_full = 0;

	/* a second fresh instance: 11 first-use executions also race on schema creation */
	snprintf(inst + strlen(inst), sizeof(inst) - strlen(inst), "b");
	for (int i = 0; i < 11; i++)
		snprintf(ids[i], sizeof(ids[i]), "%s",
			 create("SELECT pg_sleep(1), count(*) AS n FROM impressions",
				"2025-01-01T00:00:00", "2025-01-02T00:00:00"));
	for (int round = 0; round < 40; round++) {
		int running = 0, pending = 0;
		for (int i = 0; i < 11; i++) {
			snprintf(sfx, sizeof(sfx), "/%s", ids[i]);
			Resp r = req("GET", amc_url(sfx), NULL, 1);
			json_t *o = parse(&r);
			running += strcmp(jstr(o, "status"), "RUNNING") == 0;
			pending += strcmp(jstr(o, "status"), "PENDING") == 0;
			json_decref(o);
			free(r.body);
		}
		if (running > max_running)
			max_running = running;
		if (running == 10 && pending > max_pending_at_full)
			max_pending_at_full = pending;
		if (running + pending == 0)
			break;
		usleep(100 * 1000);
	}
	assertf(max_running == 10, "at most 10 RUNNING per instance, saw %d", max_running);
	assertf(max_pending_at_full == 1, "the 11th waits PENDING, saw %d", max_pending_at_full);
	for (int i = 0; i < 11; i++) {
		json_t *o = wait_done(ids[i]);
		assertf(o != NULL && strcmp(jstr(o, "status"), "SUCCEEDED") == 0,
			"execution %d: %s %s", i, o != NULL ? jstr(o, "status") : "?",
			o != NULL ? jstr(o, "statusReason") : "");
		json_decref(o);
	}
}

/* against a second simulator started with sim_strict = true (AMCSIM_STRICT_URL) */
static void test_strict_http(void)
{
	const char *strict = getenv("AMCSIM_STRICT_URL"), *saved = base_url;
	char saved_tok[128];

	if (strict == NULL || !*strict) {
		printf("# strict mode not checked (AMCSIM_STRICT_URL not set)\n");
		return;
	}
	snprintf(saved_tok, sizeof(saved_tok), "%s", token);
	base_url = strict;
	test_token();
	Resp r = req(
		"POST", amc_url(""),
		"{\"workflow\":{\"sqlQuery\":\"SELECT campaign, count(*) FROM impressions "
		"GROUP BY campaign LIMIT 5\"},\"timeWindowType\":\"EXPLICIT\",\"timeWindowStart\":"
		"\"2025-01-01T00:00:00\",\"timeWindowEnd\":\"2025-01-02T00:00:00\"}",
		1);
	assertf(r.status == 400 &&
			strstr(r.body, "Was unable to compile workflow transient_") != NULL &&
			strstr(r.body, "From line 1, column 62 to line 1, column 66") != NULL,
		"strict LIMIT: %ld %s", r.status, r.body);
	free(r.body);
	char *csv = run_csv("SELECT campaign, count(*) AS n FROM impressions GROUP BY campaign",
			    "2025-01-01T00:00:00", "2025-01-02T00:00:00");
	assertf(csv != NULL && strncmp(csv, "campaign,n\n", 11) == 0, "strict valid query: %s",
		csv != NULL ? csv : "(none)");
	free(csv);
	base_url = saved;
	snprintf(token, sizeof(token), "%s", saved_tok);
}

int main(void)
{
	unsigned r;

	base_url = getenv("AMCSIM_URL");
	if (base_url == NULL || !*base_url)
		TAP_SKIP_ALL("AMCSIM_URL not set");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	r = (unsigned)rand();
	snprintf(inst, sizeof(inst), "amctest%08x", r);
	RUN_TEST(test_token);
	RUN_TEST(test_auth_headers);
	RUN_TEST(test_create_validation);
	RUN_TEST(test_csv_quoting);
	RUN_TEST(test_time_window);
	RUN_TEST(test_invalid_sql);
	RUN_TEST(test_read_only);
	RUN_TEST(test_cancel);
	RUN_TEST(test_list);
	RUN_TEST(test_s3_urls);
	RUN_TEST(test_running_limit);
	RUN_TEST(test_strict_http);
	curl_global_cleanup();
	return tap_done();
}
