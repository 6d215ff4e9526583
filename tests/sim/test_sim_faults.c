/* test_sim_faults.c - end-to-end test of amcsim's fault injection (AMCSIM_URL; skips with 77
 * without it): the /sim/ control API, every profile fault seen from the client side, the
 * counters, and the seeded dice. It only touches instances named amcsimtest<random>..., so
 * other tests on the same simulator are not affected, and it restores the profiles and
 * clears the counters when it ends. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

/* cases in this process, not one each (tap.h): its last case removes the profiles the earlier ones recorded in memory */
#define TAP_IN_PROCESS
#include "../tap.h"

#define ACCOUNT "ENTITYAMCSIMTEST"
#define ARRAY_LEN_(a) (sizeof(a) / sizeof((a)[0]))

static const char *base_url;
static char token[128];
static char prefix[32];   /* amcsimtest<8 hex> */
static char used[32][48]; /* instances given a profile: removed at the end */
static int nused;

typedef struct Resp {
	long status;
	CURLcode cc;
	char *body;
	size_t len;
	char retry_after[128];
	char etag[80];
	double secs;
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

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
	Resp *r = arg;
	size_t len = sz * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		size_t k = 12;
		while (k < len && p[k] == ' ')
			k++;
		snprintf(r->retry_after, sizeof(r->retry_after), "%.*s", (int)(len - k), p + k);
		r->retry_after[strcspn(r->retry_after, "\r\n")] = '\0';
	}
	if (len > 5 && strncasecmp(p, "ETag:", 5) == 0) {
		size_t k = 5;
		while (k < len && p[k] == ' ')
			k++;
		snprintf(r->etag, sizeof(r->etag), "%.*s", (int)(len - k), p + k);
		r->etag[strcspn(r->etag, "\r\n")] = '\0';
	}
	return len;
}

static CURL *make(const char *method, const char *url, const char *body, const char *account,
		  long timeout_ms, Resp *r, struct curl_slist **h)
{
	CURL *c = curl_easy_init();
	char buf[256];

	*h = NULL;
	if (account != NULL) {
		snprintf(buf, sizeof(buf), "Authorization: Bearer %s", token);
		*h = curl_slist_append(*h, buf);
		*h = curl_slist_append(
			*h, "Amazon-Advertising-API-ClientId: amzn1.application-oa2-client.test");
		snprintf(buf, sizeof(buf), "Amazon-Advertising-API-AdvertiserId: %s", account);
		*h = curl_slist_append(*h, buf);
		*h = curl_slist_append(*h, "Amazon-Advertising-API-MarketplaceId: ATVPDKIKX0DER");
	}
	if (body != NULL)
		*h = curl_slist_append(*h, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	return c;
}

static void finish(CURL *c, CURLcode cc, Resp *r, struct curl_slist *h)
{
	r->cc = cc;
	if (cc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->secs);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	if (r->body == NULL)
		r->body = strdup("");
}

static Resp http_t(const char *method, const char *url, const char *body, const char *account,
		   long timeout_ms)
{
	Resp r = { 0 };
	struct curl_slist *h;
	CURL *c = make(method, url, body, account, timeout_ms, &r, &h);

	finish(c, curl_easy_perform(c), &r, h);
	return r;
}

static Resp http(const char *method, const char *url, const char *body, const char *account)
{
	return http_t(method, url, body, account, 30000);
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "";
}

/* an instance id of this run: amcsimtest<hex><suffix> */
static const char *inst_id(const char *suffix)
{
	static char buf[4][64];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, 64, "%s%s", prefix, suffix);
	return b;
}

static char *amc_url(const char *inst, const char *suffix)
{
	static char buf[4][2048];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, 2048, "%s/amc/reporting/%s/workflowExecutions%s", base_url, inst, suffix);
	return b;
}

static char *ctl_url(const char *path)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s/sim/%s", base_url, path);
	return buf;
}

/* PUT /sim/profiles/<inst> with a JSON body; asserts 200 */
static void profile(const char *inst, const char *json)
{
	char path[128];
	Resp r;
	int i;

	snprintf(path, sizeof(path), "profiles/%s", inst);
	r = http("PUT", ctl_url(path), json, NULL);
	assertf(r.status == 200, "PUT %s %s: %ld %s", path, json, r.status, r.body);
	free(r.body);
	for (i = 0; i < nused && strcmp(used[i], inst) != 0; i++)
		;
	if (i == nused && nused < (int)ARRAY_LEN_(used))
		snprintf(used[nused++], sizeof(used[0]), "%s", inst);
}

static long stat(const char *inst, const char *key)
{
	Resp r = http("GET", ctl_url("stats"), NULL, NULL);
	json_t *o = json_loads(r.body, 0, NULL);
	json_t *row = inst != NULL ? json_object_get(json_object_get(o, "instances"), inst)
				   : json_object_get(o, "total");
	long n = (long)json_integer_value(json_object_get(row, key));

	assertf(r.status == 200 && o != NULL, "stats: %ld %s", r.status, r.body);
	json_decref(o);
	free(r.body);
	return n;
}

static void get_token(void)
{
	char url[512];
	Resp r;
	json_t *o;

	snprintf(url, sizeof(url), "%s/auth/o2/token", base_url);
	r = http("POST", url,
		 "grant_type=refresh_token&refresh_token=Atzr%7Cfaults&client_id=a&client_secret=b",
		 NULL);
	o = json_loads(r.body, 0, NULL);
	assertf(r.status == 200, "token: %ld %s", r.status, r.body);
	snprintf(token, sizeof(token), "%s", jstr(o, "access_token"));
	json_decref(o);
	free(r.body);
}

static char *create_body(const char *sql)
{
	json_t *o =
		json_pack("{s:{s:s}, s:s, s:s, s:s, s:s}", "workflow", "sqlQuery", sql,
			  "timeWindowType", "EXPLICIT", "timeWindowStart", "2025-01-01T00:00:00",
			  "timeWindowEnd", "2025-01-02T00:00:00", "timeWindowTimeZone", "UTC");
	char *s = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	return s;
}

static Resp create_raw(const char *inst, const char *account, const char *sql)
{
	char *b = create_body(sql);
	Resp r = http("POST", amc_url(inst, ""), b, account);

	free(b);
	return r;
}

/* returns the new execution's id (static buffer) or "" */
static const char *create_acct(const char *inst, const char *account, const char *sql)
{
	static char id[4][64];
	static int k;
	char *out = id[k++ % 4];
	Resp r = create_raw(inst, account, sql);
	json_t *o = json_loads(r.body, 0, NULL);

	out[0] = '\0';
	assertf(r.status == 200, "create on %s: %ld %s", inst, r.status, r.body);
	if (r.status == 200)
		snprintf(out, 64, "%s", jstr(o, "workflowExecutionId"));
	json_decref(o);
	free(r.body);
	return out;
}

static const char *create(const char *inst, const char *sql)
{
	return create_acct(inst, ACCOUNT, sql);
}

static json_t *get_exec(const char *inst, const char *id, long *status)
{
	char sfx[128];
	Resp r;
	json_t *o;

	snprintf(sfx, sizeof(sfx), "/%s", id);
	r = http("GET", amc_url(inst, sfx), NULL, ACCOUNT);
	o = json_loads(r.body, 0, NULL);
	*status = r.status;
	free(r.body);
	return o;
}

static json_t *wait_done(const char *inst, const char *id)
{
	for (int i = 0; i < 300; i++) {
		long st;
		json_t *o = get_exec(inst, id, &st);
		const char *s = jstr(o, "status");
		if (!strcmp(s, "SUCCEEDED") || !strcmp(s, "FAILED") || !strcmp(s, "CANCELLED"))
			return o;
		json_decref(o);
		usleep(100 * 1000);
	}
	assertf(0, "execution %s on %s did not finish", id, inst);
	return NULL;
}

/* downloadUrls of a finished execution (caller decrefs the array's owner: returned) */
static json_t *urls(const char *inst, const char *id)
{
	char sfx[128];
	Resp r;
	json_t *o;

	snprintf(sfx, sizeof(sfx), "/%s/downloadUrls", id);
	r = http("GET", amc_url(inst, sfx), NULL, ACCOUNT);
	o = json_loads(r.body, 0, NULL);
	assertf(r.status == 200 && json_array_size(json_object_get(o, "downloadUrls")) > 0,
		"downloadUrls: %ld %s", r.status, r.body);
	free(r.body);
	return o;
}

static const char *url_at(json_t *u, size_t i)
{
	const char *s = json_string_value(json_array_get(json_object_get(u, "downloadUrls"), i));

	return s != NULL ? s : "http://127.0.0.1:1/none";
}

/* runs sql on inst to SUCCEEDED; returns its id (static buffer) */
static const char *run_ok(const char *inst, const char *sql)
{
	static char id[64];
	json_t *o;

	snprintf(id, sizeof(id), "%s", create(inst, sql));
	o = *id ? wait_done(inst, id) : NULL;
	assertf(o != NULL && !strcmp(jstr(o, "status"), "SUCCEEDED"), "run on %s: %s %s", inst,
		o != NULL ? jstr(o, "status") : "-", o != NULL ? jstr(o, "statusReason") : "");
	json_decref(o);
	return id;
}

static long list_status(const char *inst, char *retry_after, size_t ralen, char **body)
{
	Resp r = http("GET", amc_url(inst, "?minCreationTime=2024-01-01T00:00:00"), NULL, ACCOUNT);

	if (retry_after != NULL)
		snprintf(retry_after, ralen, "%s", r.retry_after);
	if (body)
		*body = r.body;
	else
		free(r.body);
	return r.status;
}

static void test_profiles_api(void)
{
	const char *a = inst_id("p");
	char path[128];
	Resp r;
	json_t *o;

	profile(a, "{\"rate_429\":0.5,\"retry_after_s\":3}");
	profile(a, "{\"retry_after_s\":4,\"codes_5xx\":[503]}");
	snprintf(path, sizeof(path), "profiles/%s", a);
	r = http("GET", ctl_url(path), NULL, NULL);
	o = json_loads(r.body, 0, NULL);
	assertf(r.status == 200 && json_real_value(json_object_get(o, "rate_429")) == 0.5 &&
			json_integer_value(json_object_get(o, "retry_after_s")) == 4 &&
			json_integer_value(json_array_get(json_object_get(o, "codes_5xx"), 0)) ==
				503 &&
			json_object_get(o, "latency_ms") != NULL &&
			json_object_get(o, "max_running") != NULL,
		"merged effective profile: %s", r.body);
	json_decref(o);
	free(r.body);
	r = http("GET", ctl_url("profiles"), NULL, NULL);
	o = json_loads(r.body, 0, NULL);
	json_t *mine = json_object_get(json_object_get(o, "instances"), a);
	assertf(mine != NULL && json_object_size(mine) == 3 &&
			json_object_get(o, "default") != NULL,
		"override lists only its own fields: %s", r.body);
	json_decref(o);
	free(r.body);

	r = http("PUT", ctl_url(path), "{\"rate_42\":1}", NULL);
	assertf(r.status == 400 && strstr(r.body, "rate_42") != NULL, "unknown field: %ld %s",
		r.status, r.body);
	free(r.body);
	r = http("PUT", ctl_url(path), "{\"rate_5xx\":1.5}", NULL);
	assertf(r.status == 400, "rate out of range: %ld %s", r.status, r.body);
	free(r.body);
	r = http("PUT", ctl_url(path), "{\"rate_5xx\":1,\"hang_ms\":\"x\"}", NULL);
	assertf(r.status == 400, "bad type: %ld", r.status);
	free(r.body);
	r = http("GET", ctl_url("profiles"), NULL, NULL);
	o = json_loads(r.body, 0, NULL);
	mine = json_object_get(json_object_get(o, "instances"), a);
	assertf(json_object_size(mine) == 3 && json_object_get(mine, "rate_5xx") == NULL,
		"a rejected PUT changes nothing: %s", r.body);
	json_decref(o);
	free(r.body);
	r = http("PUT", ctl_url("profiles/bad.id"), "{}", NULL);
	assertf(r.status == 400, "bad instance id: %ld", r.status);
	free(r.body);

	/* the default: change a harmless field, then restore the start-up default */
	r = http("PUT", ctl_url("profiles/default"), "{\"fail_reason\":\"amcsimtest reason\"}",
		 NULL);
	assertf(r.status == 200 && strstr(r.body, "amcsimtest reason") != NULL,
		"PUT default: %ld %s", r.status, r.body);
	free(r.body);
	r = http("DELETE", ctl_url("profiles/default"), NULL, NULL);
	assertf(r.status == 200 && strstr(r.body, "amcsimtest reason") == NULL,
		"DELETE default: %s", r.body);
	free(r.body);

	r = http("DELETE", ctl_url(path), NULL, NULL);
	assertf(r.status == 200, "DELETE override: %ld", r.status);
	free(r.body);
	r = http("DELETE", ctl_url(path), NULL, NULL);
	assertf(r.status == 404, "DELETE twice: %ld", r.status);
	free(r.body);
	r = http("GET", ctl_url("profiles"), NULL, NULL);
	assertf(strstr(r.body, a) == NULL, "override gone: %s", r.body);
	free(r.body);
	r = http("GET", ctl_url("nope"), NULL, NULL);
	assertf(r.status == 404, "unknown control path: %ld", r.status);
	free(r.body);
}

static void test_429(void)
{
	const char *a = inst_id("t");
	char ra[128];
	char *body;

	profile(a, "{\"burst_429\":2,\"retry_after_s\":3}");
	assertf(list_status(a, ra, sizeof(ra), &body) == 429 && strcmp(ra, "3") == 0 &&
			strstr(body, "\"code\":\"429\"") != NULL,
		"burst 1: Retry-After %s %s", ra, body);
	free(body);
	assertf(list_status(a, ra, sizeof(ra), NULL) == 429, "burst 2");
	assertf(list_status(a, ra, sizeof(ra), NULL) == 200, "after the burst");
	profile(a, "{\"rate_429\":1,\"retry_after_date\":true}");
	assertf(list_status(a, ra, sizeof(ra), NULL) == 429 && strstr(ra, " GMT") != NULL &&
			strchr(ra, ',') != NULL,
		"HTTP-date Retry-After: %s", ra);
	/* only the endpoints listed */
	profile(a, "{\"endpoints\":[\"create\"]}");
	assertf(list_status(a, NULL, 0, NULL) == 200, "list not in endpoints");
	Resp r = create_raw(a, ACCOUNT, "SELECT count(*) AS n FROM impressions");
	assertf(r.status == 429, "create in endpoints: %ld %s", r.status, r.body);
	free(r.body);
	profile(a,
		"{\"rate_429\":0,\"endpoints\":[\"create\",\"get\",\"list\",\"cancel\",\"urls\"]}");
	assertf(list_status(a, NULL, 0, NULL) == 200, "429 off");
	assertf(stat(a, "sent_429") == 4, "sent_429 %ld", stat(a, "sent_429"));
	assertf(stat(a, "executions_created") == 0, "a refused create creates nothing");
}

static void test_5xx(void)
{
	const char *a = inst_id("x");
	char *body;

	profile(a, "{\"rate_5xx\":1,\"codes_5xx\":[504]}");
	assertf(list_status(a, NULL, 0, &body) == 504 &&
			strstr(body, "{\"message\":\"Endpoint request timed out\"}") != NULL,
		"504 body %s", body);
	free(body);
	profile(a, "{\"codes_5xx\":[500]}");
	assertf(list_status(a, NULL, 0, &body) == 500 && strstr(body, "\"code\":\"500\"") != NULL,
		"500 body %s", body);
	free(body);
	profile(a, "{\"codes_5xx\":[502]}");
	assertf(list_status(a, NULL, 0, &body) == 502, "502 %s", body);
	free(body);
	profile(a, "{\"rate_5xx\":0}");
	assertf(list_status(a, NULL, 0, NULL) == 200, "5xx off");
	assertf(stat(a, "sent_5xx") == 3 && stat(a, "list") == 4, "sent_5xx %ld list %ld",
		stat(a, "sent_5xx"), stat(a, "list"));
}

/* a held request delays that request only: the loop keeps answering others */
static void test_hang(void)
{
	const char *a = inst_id("h");
	Resp slow = { 0 }, fast = { 0 };
	struct curl_slist *h1, *h2;
	char url[512];
	CURLM *m = curl_multi_init();
	int running = 1, fast_first = -1;

	profile(a, "{\"hang_rate\":1,\"hang_ms\":1500}");
	CURL *c1 = make("GET", amc_url(a, "?minCreationTime=2024-01-01T00:00:00"), NULL, ACCOUNT,
			30000, &slow, &h1);
	snprintf(url, sizeof(url), "%s/healthz", base_url);
	CURL *c2 = make("GET", url, NULL, NULL, 30000, &fast, &h2);
	curl_multi_add_handle(m, c1);
	usleep(100 * 1000);
	curl_multi_add_handle(m, c2);
	while (running) {
		CURLMsg *msg;
		int left;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE && fast_first < 0)
				fast_first = msg->easy_handle == c2;
		if (running)
			curl_multi_poll(m, NULL, 0, 100, NULL);
	}
	curl_multi_remove_handle(m, c1);
	curl_multi_remove_handle(m, c2);
	curl_multi_cleanup(m);
	finish(c1, CURLE_OK, &slow, h1);
	finish(c2, CURLE_OK, &fast, h2);
	/* held for hang_ms, as libevent's timers count it: they run on CLOCK_MONOTONIC_COARSE,
	 * a few ms coarse, so the client may see a little less (CI once saw 1.4996 s). The bound
	 * only tells a hold of hang_ms from none or a short one; the order below is the point. */
	assertf(slow.status == 200 && slow.secs >= 1.0, "held request: %ld after %.2f s",
		slow.status, slow.secs);
	assertf(fast.status == 200 && fast_first == 1, "another request answered meanwhile");
	free(slow.body);
	free(fast.body);

	/* a client that gives up while held: the simulator must carry on */
	Resp r = http_t("GET", amc_url(a, "?minCreationTime=2024-01-01T00:00:00"), NULL, ACCOUNT,
			300);
	assertf(r.cc == CURLE_OPERATION_TIMEDOUT, "client timeout during a hang: %d", (int)r.cc);
	free(r.body);
	usleep(1600 * 1000);
	profile(a, "{\"hang_rate\":0}");
	assertf(list_status(a, NULL, 0, NULL) == 200, "after an abandoned hang");
	assertf(stat(a, "hangs") == 2, "hangs %ld", stat(a, "hangs"));
}

static void test_lost_create(void)
{
	const char *a = inst_id("l");

	profile(a, "{\"lost_create_rate\":1}");
	Resp r = create_raw(a, ACCOUNT, "SELECT count(*) AS lost FROM impressions");
	assertf(r.cc == CURLE_GOT_NOTHING && r.status == 0,
		"no answer to the create: cc %d HTTP %ld %s", (int)r.cc, r.status, r.body);
	free(r.body);
	profile(a, "{\"lost_create_rate\":0}");
	Resp l =
		http("GET", amc_url(a, "?minCreationTime=2024-01-01T00:00:00&includeWorkflow=true"),
		     NULL, ACCOUNT);
	json_t *o = json_loads(l.body, 0, NULL);
	json_t *ex = json_object_get(o, "executions");
	assertf(json_array_size(ex) == 1 &&
			strstr(jstr(json_array_get(ex, 0), "sqlQuery"), "AS lost") != NULL,
		"the lost create is listed: %s", l.body);
	json_decref(o);
	free(l.body);
	assertf(stat(a, "executions_created") == 1 && stat(a, "lost_creates") == 1 &&
			stat(a, "create") == 1,
		"created %ld lost %ld", stat(a, "executions_created"), stat(a, "lost_creates"));
}

static void test_not_found_window(void)
{
	const char *a = inst_id("n");
	char id[64];
	long st = 0;
	int seen404 = 0, i;

	profile(a, "{\"not_found_after_create_ms\":1500}");
	snprintf(id, sizeof(id), "%s", create(a, "SELECT count(*) AS n FROM impressions"));
	for (i = 0; i < 50; i++) {
		json_decref(get_exec(a, id, &st));
		if (st != 404)
			break;
		seen404++;
		usleep(100 * 1000);
	}
	assertf(seen404 > 0 && st == 200, "404 %d times, then %ld", seen404, st);
	assertf(stat(a, "not_found_injected") == seen404, "not_found_injected %ld",
		stat(a, "not_found_injected"));
}

static void test_failed(void)
{
	const char *a = inst_id("f");
	const char *why = "Workflow could not be run because too many workflows have already been "
			  "run against the same input data sources with overlapping time windows";
	char body[512], id[64];
	json_t *o;

	snprintf(body, sizeof(body), "{\"fail_rate\":1,\"fail_reason\":\"%s\",\"latency_ms\":100}",
		 why);
	profile(a, body);
	snprintf(id, sizeof(id), "%s", create(a, "SELECT count(*) AS n FROM impressions"));
	o = wait_done(a, id);
	assertf(o != NULL && !strcmp(jstr(o, "status"), "FAILED") &&
			!strcmp(jstr(o, "statusReason"), why),
		"injected failure: %s %s", jstr(o, "status"), jstr(o, "statusReason"));
	json_decref(o);
	assertf(stat(a, "failed_injected") == 1, "failed_injected");
}

static void test_token_expiry(void)
{
	const char *a = inst_id("k"), *b = inst_id("k2");

	profile(a, "{\"token_ttl_s\":1}");
	get_token();
	assertf(list_status(a, NULL, 0, NULL) == 200, "fresh token");
	usleep(1200 * 1000);
	char *body;
	assertf(list_status(a, NULL, 0, &body) == 401 && strstr(body, "\"code\":\"401\"") != NULL,
		"expired for the short-lived instance: %s", body);
	free(body);
	assertf(list_status(b, NULL, 0, NULL) == 200, "still valid elsewhere");
	assertf(stat(a, "unauthorized") == 1, "unauthorized %ld", stat(a, "unauthorized"));
	get_token();
	assertf(list_status(a, NULL, 0, NULL) == 200, "a new token works");
}

static void test_url_faults(void)
{
	const char *a = inst_id("u"), *b = inst_id("u2");
	const char *sql = "SELECT count(*) AS n FROM impressions";
	json_t *u;
	Resp r;

	profile(a, "{\"url_ttl_s\":1}");
	u = urls(a, run_ok(a, sql));
	assertf(strstr(url_at(u, 0), "X-Amz-Expires=1&"), "1 s URL: %s", url_at(u, 0));
	usleep(2200 * 1000);
	r = http("GET", url_at(u, 0), NULL, NULL);
	assertf(r.status == 403 && strstr(r.body, "<Code>AccessDenied</Code>") != NULL &&
			strstr(r.body, "Request has expired") != NULL,
		"expired URL: %ld %s", r.status, r.body);
	free(r.body);
	json_decref(u);
	assertf(stat(a, "s3_expired") == 1, "s3_expired");

	profile(b, "{\"url_403_first\":true}");
	u = urls(b, run_ok(b, sql));
	r = http("GET", url_at(u, 0), NULL, NULL);
	assertf(r.status == 403 && strstr(r.body, "<Code>AccessDenied</Code>") != NULL,
		"first try: %ld %s", r.status, r.body);
	free(r.body);
	r = http("GET", url_at(u, 0), NULL, NULL);
	assertf(r.status == 200 && !strncmp(r.body, "n\n", 2), "second try: %ld %s", r.status,
		r.body);
	free(r.body);
	json_decref(u);
	assertf(stat(b, "s3_403_first") == 1 && stat(b, "download") == 2, "s3_403_first");
}

/* "<32 hex digits>" into out[35] */
static void quoted_md5(const char *p, size_t n, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	strcpy(out, "\"?\"");
	if (EVP_Digest(p, n, md, &len, EVP_md5(), NULL) != 1 || len != 16)
		return;
	out[0] = '"';
	for (unsigned int i = 0; i < len; i++)
		snprintf(out + 1 + 2 * i, 3, "%02x", md[i]);
	strcpy(out + 33, "\"");
}

static void test_truncate(void)
{
	const char *a = inst_id("c");
	json_t *u;
	Resp cut, full;

	profile(a, "{\"truncate_rate\":1}");
	u = urls(a,
		 run_ok(a, "SELECT g AS n, 'row ' || g AS label, count(*) AS c FROM impressions, "
			   "generate_series(1, 20) g GROUP BY g"));
	cut = http("GET", url_at(u, 0), NULL, NULL);
	profile(a, "{\"truncate_rate\":0}");
	full = http("GET", url_at(u, 0), NULL, NULL);
	assertf(cut.status == 200 && full.status == 200, "downloads %ld %ld", cut.status,
		full.status);
	assertf(cut.len > 0 && cut.len < full.len && !memcmp(cut.body, full.body, cut.len) &&
			cut.body[cut.len - 1] != '\n',
		"truncated %zu of %zu bytes", cut.len, full.len);
	assertf(full.len > 0 && full.body[full.len - 1] == '\n', "full file ends a row");
	/* the ETag is the whole file's MD5, quoted, on the cut download too: what lets a client
	 * tell a cut that ends on a line break from a whole file */
	char md5_full[35], md5_cut[35];
	quoted_md5(full.body, full.len, md5_full);
	quoted_md5(cut.body, cut.len, md5_cut);
	assertf(!strcmp(full.etag, md5_full) && !strcmp(cut.etag, md5_full) &&
			strcmp(md5_cut, md5_full),
		"ETag %s / %s, MD5 of the file %s", full.etag, cut.etag, md5_full);
	free(cut.body);
	profile(a, "{\"multipart_etag\":true}");
	Resp mp = http("GET", url_at(u, 0), NULL, NULL);
	assertf(mp.status == 200 && mp.len == full.len && strlen(mp.etag) == 36 &&
			!strcmp(mp.etag + 33, "-1\"") && strncmp(mp.etag, md5_full, 33),
		"multipart ETag %s: not the MD5 %s", mp.etag, md5_full);
	free(mp.body);
	free(full.body);
	json_decref(u);
	assertf(stat(a, "truncated") == 1, "truncated counter");
}

static int count_records(const char *s)
{
	int n = 0;
	bool q = false;

	for (; *s; s++) {
		if (*s == '"')
			q = !q;
		else if (*s == '\n' && !q)
			n++;
	}
	return n;
}

static void test_split(void)
{
	const char *a = inst_id("s");
	const char *hdr = "n,t,c\n";
	json_t *u;
	int rows = 0;

	profile(a, "{\"split_files\":3}");
	u = urls(a, run_ok(a, "SELECT g AS n, E'x\\ny' AS t, count(*) AS c FROM impressions, "
			      "generate_series(1, 7) g GROUP BY g"));
	assertf(json_array_size(json_object_get(u, "downloadUrls")) == 3, "3 URLs");
	for (size_t i = 0; i < 3; i++) {
		Resp r = http("GET", url_at(u, i), NULL, NULL);
		assertf(r.status == 200 && !strncmp(r.body, hdr, strlen(hdr)), "part %zu: %ld %s",
			i, r.status, r.body);
		rows += count_records(r.body) - 1;
		assertf(count_records(r.body) - 1 == (i < 2 ? 2 : 3), "part %zu rows: %s", i,
			r.body);
		free(r.body);
	}
	assertf(rows == 7, "7 rows over the parts, got %d", rows);
	json_decref(u);
}

/* polls ids (on insts) until all are terminal; returns the most RUNNING at once. The GETs of
 * one sweep are sequential, so an execution may end and the next one start between two of
 * them: a sweep counts only when the sweep before it saw exactly the same states, i.e. nothing
 * changed during either, which makes it a true snapshot. */
static int max_running(const char *const *insts, char ids[][64], int n)
{
	char prev[8][16] = { { 0 } }, cur[8][16];
	int most = 0;

	if (n > 8)
		return -1;
	for (int round = 0; round < 400; round++) {
		int running = 0, done = 0;
		bool same = round > 0;

		for (int i = 0; i < n; i++) {
			long st;
			json_t *o = get_exec(insts[i], ids[i], &st);
			const char *s = jstr(o, "status");

			snprintf(cur[i], sizeof(cur[i]), "%s", s);
			same = same && strcmp(cur[i], prev[i]) == 0;
			running += !strcmp(s, "RUNNING");
			done += !strcmp(s, "SUCCEEDED") || !strcmp(s, "FAILED");
			json_decref(o);
		}
		if (same && running > most)
			most = running;
		if (done == n)
			break;
		memcpy(prev, cur, sizeof(prev));
		usleep(20 * 1000);
	}
	return most;
}

static void test_running_limits(void)
{
	const char *a = inst_id("m"), *b1 = inst_id("m1"), *b2 = inst_id("m2");
	const char *sql = "SELECT count(*) AS n FROM impressions";
	const char *insts[4];
	char ids[4][64];

	profile(a, "{\"max_running\":2,\"latency_ms\":700}");
	for (int i = 0; i < 4; i++) {
		insts[i] = a;
		snprintf(ids[i], 64, "%s", create(a, sql));
	}
	int most = max_running(insts, ids, 4);
	assertf(most == 2, "max_running 2 per instance, saw %d", most);

	/* two instances of one account (its own AdvertiserId), 3 RUNNING at most together */
	profile(b1, "{\"account_max_running\":3,\"latency_ms\":700}");
	profile(b2, "{\"account_max_running\":3,\"latency_ms\":700}");
	for (int i = 0; i < 4; i++) {
		insts[i] = i < 2 ? b1 : b2;
		snprintf(ids[i], 64, "%s", create_acct(insts[i], ACCOUNT "LIMIT", sql));
	}
	most = max_running(insts, ids, 4);
	assertf(most == 3, "account_max_running 3, saw %d", most);
	for (int i = 0; i < 4; i++) {
		json_t *o = wait_done(insts[i], ids[i]);
		assertf(o != NULL && !strcmp(jstr(o, "status"), "SUCCEEDED"), "all succeed");
		json_decref(o);
	}
}

static void test_daily_quota(void)
{
	const char *a = inst_id("q");
	Resp r;

	profile(a, "{\"daily_quota\":1}");
	create(a, "SELECT count(*) AS n FROM impressions");
	r = create_raw(a, ACCOUNT, "SELECT count(*) AS n FROM impressions");
	assertf(r.status == 429 && strstr(r.body, "quota") != NULL && atoi(r.retry_after) > 0,
		"over quota: %ld %s (Retry-After %s)", r.status, r.body, r.retry_after);
	free(r.body);
	assertf(stat(a, "quota_refused") == 1 && stat(a, "executions_created") == 1,
		"quota counters");
}

/* the same seed and requests give the same faults */
static void test_seed(void)
{
	const char *a = inst_id("r");
	char run1[41] = "", run2[41] = "";
	Resp r;

	profile(a, "{\"rate_429\":0.5}");
	for (int pass = 0; pass < 2; pass++) {
		char *out = pass ? run2 : run1;
		r = http("PUT", ctl_url("seed"), "{\"seed\":4242}", NULL);
		assertf(r.status == 200, "PUT seed: %ld %s", r.status, r.body);
		free(r.body);
		for (int i = 0; i < 40; i++)
			out[i] = list_status(a, NULL, 0, NULL) == 429 ? 'T' : '.';
	}
	assertf(!strcmp(run1, run2) && strchr(run1, 'T') != NULL && strchr(run1, '.') != NULL,
		"same pattern: %s vs %s", run1, run2);
	profile(a, "{\"rate_429\":0}");
}

static void test_stats_reset(void)
{
	const char *a = inst_id("q");
	Resp r;

	assertf(stat(a, "create") == 2, "create requests counted: %ld", stat(a, "create"));
	assertf(stat(NULL, "create") >= 2, "total");
	r = http("POST", ctl_url("reset-stats"), NULL, NULL);
	assertf(r.status == 200, "reset-stats: %ld", r.status);
	free(r.body);
	assertf(stat(a, "create") == 0 && stat(NULL, "create") == 0, "counters cleared");
}

static void cleanup(void)
{
	char path[160];
	Resp r;

	for (int i = 0; i < nused; i++) {
		snprintf(path, sizeof(path), "profiles/%.47s", used[i]);
		r = http("DELETE", ctl_url(path), NULL, NULL);
		free(r.body);
	}
	r = http("GET", ctl_url("profiles"), NULL, NULL);
	assertf(r.status == 200 && strstr(r.body, prefix) == NULL,
		"no profile of this test left: %s", r.body);
	free(r.body);
	r = http("POST", ctl_url("reset-stats"), NULL, NULL);
	free(r.body);
}

int main(void)
{
	base_url = getenv("AMCSIM_URL");
	if (base_url == NULL || !*base_url)
		TAP_SKIP_ALL("AMCSIM_URL not set");
	curl_global_init(CURL_GLOBAL_DEFAULT);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	snprintf(prefix, sizeof(prefix), "amcsimtest%08x", (unsigned)rand());
	Resp r = http("GET", ctl_url("profiles"), NULL, NULL);
	if (r.status != 200) {
		free(r.body);
		printf("not ok - control API at %s/sim/ (HTTP %ld)\n", base_url, r.status);
		return 1;
	}
	free(r.body);
	get_token();
	RUN_TEST(test_profiles_api);
	RUN_TEST(test_429);
	RUN_TEST(test_5xx);
	RUN_TEST(test_hang);
	RUN_TEST(test_lost_create);
	RUN_TEST(test_not_found_window);
	RUN_TEST(test_failed);
	RUN_TEST(test_token_expiry);
	RUN_TEST(test_url_faults);
	RUN_TEST(test_truncate);
	RUN_TEST(test_split);
	RUN_TEST(test_running_limits);
	RUN_TEST(test_daily_quota);
	RUN_TEST(test_seed);
	RUN_TEST(test_stats_reset);
	RUN_TEST(cleanup);
	curl_global_cleanup();
	return tap_done();
}
