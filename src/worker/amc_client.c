/* amc_client.c - URLs, headers and bodies of the AMC reporting API (amc-api.md §3-§6), and
 * the tolerant readers of its answers. Retry policy per call is chosen here (§9). */
#include "amc_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats.h"
#include "utf8.h"

#define AMC_GET_TRIES 6

/* Ids go into URL paths: only the characters AMC ids are made of. */
static bool path_safe(const char *s)
{
	if (s == NULL || !*s || strlen(s) > 128)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static struct curl_slist *ads_headers(const AmcTarget *t, bool json_body)
{
	struct curl_slist *h = NULL;
	size_t n = strlen(t->token) + 16;
	char *bearer = malloc(n);
	if (bearer == NULL)
		return NULL;
	snprintf(bearer, n, "Bearer %s", t->token);
	bool ok = exchange_header(&h, "Authorization", bearer) &&
		  exchange_header(&h, "Amazon-Advertising-API-ClientId", t->client_id) &&
		  exchange_header(&h, "Amazon-Advertising-API-AdvertiserId", t->advertiser_id) &&
		  exchange_header(&h, "Amazon-Advertising-API-MarketplaceId", t->marketplace_id) &&
		  exchange_header(&h, "Accept", "application/json") &&
		  (!json_body || exchange_header(&h, "Content-Type", "application/json"));
	/* the bearer copy is a secret */
	memset(bearer, 0, n);
	free(bearer);
	if (!ok) {
		curl_slist_free_all(h);
		return NULL;
	}
	return h;
}

static bool exec_url(char *buf, size_t n, const AmcTarget *t, const char *amc_id,
		     const char *suffix)
{
	if (!path_safe(t->instance_id) || (amc_id != NULL && !path_safe(amc_id)) ||
	    t->base_url == NULL)
		return false;
	int len = snprintf(buf, n, "%s/amc/reporting/%s/workflowExecutions%s%s%s", t->base_url,
			   t->instance_id, amc_id != NULL ? "/" : "", amc_id != NULL ? amc_id : "",
			   suffix);
	return len > 0 && (size_t)len < n;
}

static bool amc_send(Worker *w, const AmcTarget *t, int endpoint, const char *method,
		     const char *url, const char *body, enum ExchangeRetry retry, int tries,
		     int64_t send_by, ExchangeDoneFn done, void *priv)
{
	struct curl_slist *h = ads_headers(t, body != NULL);
	if (h == NULL)
		return false;
	ExchangeReq req = { .method = method,
			    .url = url,
			    .body = body,
			    .headers = h,
			    .retry = retry,
			    .max_tries = tries,
			    .fresh_connection = retry == EXCHANGE_RETRY_UNSENT,
			    .send_by_mono_ms = send_by,
			    .endpoint = endpoint };
	return exchange_start(w, &req, done, priv);
}

bool amc_create(Worker *w, const AmcTarget *t, const char *sql, const ParamsWindow *win,
		const char *timezone, int64_t send_by, ExchangeDoneFn done, void *priv)
{
	char url[1024];
	if (!exec_url(url, sizeof(url), t, NULL, ""))
		return false;
	json_t *body =
		json_pack("{s:{s:s}, s:s, s:s, s:s, s:s, s:s}", "workflow", "sqlQuery", sql,
			  "timeWindowType", "EXPLICIT", "timeWindowStart", win->start,
			  "timeWindowEnd", win->end, "timeWindowTimeZone",
			  timezone != NULL && *timezone ? timezone : "UTC", "outputFormat", "CSV");
	if (body == NULL)
		return false;
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return false;
	/* A create whose answer was lost may have run: only provably unsent requests repeat. */
	bool ok = amc_send(w, t, AMC_EP_CREATE, "POST", url, text, EXCHANGE_RETRY_UNSENT, 4,
			   send_by, done, priv);
	free(text);
	return ok;
}

bool amc_get_execution(Worker *w, const AmcTarget *t, const char *amc_id, ExchangeDoneFn done,
		       void *priv)
{
	char url[1024];
	return exec_url(url, sizeof(url), t, amc_id, "") &&
	       amc_send(w, t, AMC_EP_POLL, "GET", url, NULL, EXCHANGE_RETRY_IDEMPOTENT,
			AMC_GET_TRIES, 0, done, priv);
}

bool amc_get_download_urls(Worker *w, const AmcTarget *t, const char *amc_id, ExchangeDoneFn done,
			   void *priv)
{
	char url[1024];
	return exec_url(url, sizeof(url), t, amc_id, "/downloadUrls") &&
	       amc_send(w, t, AMC_EP_URLS, "GET", url, NULL, EXCHANGE_RETRY_IDEMPOTENT,
			AMC_GET_TRIES, 0, done, priv);
}

#define LIST_SINCE_SLACK_MS 60000

bool amc_list_executions(Worker *w, const AmcTarget *t, int64_t since_ms, const char *next_token,
			 ExchangeDoneFn done, void *priv)
{
	char url[2048], suffix[1024], since[32];
	char *tok = NULL;
	time_t from = (time_t)((since_ms - LIST_SINCE_SLACK_MS) / 1000);
	struct tm tm;

	gmtime_r(&from, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%S", &tm);
	if (next_token != NULL && *next_token) {
		CURL *e = curl_easy_init();
		tok = e != NULL ? curl_easy_escape(e, next_token, 0) : NULL;
		if (e != NULL)
			curl_easy_cleanup(e);
		if (tok == NULL)
			return false;
	}
	int n = snprintf(suffix, sizeof(suffix), "?minCreationTime=%s&includeWorkflow=true%s%s",
			 since, tok != NULL ? "&nextToken=" : "", tok != NULL ? tok : "");
	curl_free(tok);
	return n > 0 && (size_t)n < sizeof(suffix) && exec_url(url, sizeof(url), t, NULL, suffix) &&
	       amc_send(w, t, AMC_EP_LIST, "GET", url, NULL, EXCHANGE_RETRY_IDEMPOTENT,
			AMC_GET_TRIES, 0, done, priv);
}

bool amc_cancel(Worker *w, const AmcTarget *t, const char *amc_id, ExchangeDoneFn done, void *priv)
{
	char url[1024];
	return exec_url(url, sizeof(url), t, amc_id, "") &&
	       amc_send(w, t, AMC_EP_CANCEL, "PUT", url, "{\"status\":\"CANCELLED\"}",
			EXCHANGE_RETRY_IDEMPOTENT, AMC_GET_TRIES, 0, done, priv);
}

bool amc_download(Worker *w, const char *url, ExchangeSinkFn sink, void *sink_priv,
		  ExchangeDoneFn done, void *priv)
{
	/* pre-signed: the signature is in the query string, no Ads headers. One attempt: the
	 * caller restarts the whole download (the sink already holds a partial file). */
	ExchangeReq req = { .method = "GET",
			    .url = url,
			    .retry = EXCHANGE_RETRY_NONE,
			    .max_tries = 1,
			    .sink = sink,
			    .sink_priv = sink_priv,
			    .bulk = true,
			    .endpoint = AMC_EP_DOWNLOAD };
	return exchange_start(w, &req, done, priv);
}

void amc_marker(char *buf, size_t n, const char *batch_id, const char *exec_id)
{
	snprintf(buf, n, "-- amcbatch %s %s", batch_id, exec_id);
}

bool amc_marker_matches(const char *sql, const char *batch_id, const char *exec_id)
{
	char marker[AMC_MARKER_LEN];
	size_t n;

	amc_marker(marker, sizeof(marker), batch_id, exec_id);
	n = strlen(marker);
	/* the whole first line: exec_1 must not match exec_12 */
	return strncmp(sql, marker, n) == 0 && (sql[n] == '\n' || sql[n] == '\r' || sql[n] == '\0');
}

bool amc_listed_matches(const json_t *ex, const char *batch_id, const char *exec_id)
{
	const char *sql = json_string_value(json_object_get(ex, "sqlQuery"));

	if (sql == NULL)
		sql = json_string_value(
			json_object_get(json_object_get(ex, "workflow"), "sqlQuery"));
	return sql != NULL && amc_marker_matches(sql, batch_id, exec_id);
}

void amc_list_next_token(const json_t *doc, char *token, size_t n)
{
	const char *next = json_string_value(json_object_get(doc, "nextToken"));

	snprintf(token, n, "%s", next != NULL && strlen(next) < n ? next : "");
}

json_t *amc_execution_object(json_t *doc)
{
	if (!json_is_object(doc))
		return NULL;
	json_t *inner = json_object_get(doc, "workflowExecution");
	if (json_is_object(inner))
		return inner;
	return doc;
}

void amc_error_text(const ExchangeResult *res, char *buf, size_t n)
{
	if (res->rc != CURLE_OK) {
		snprintf(buf, n, "%s", res->error);
		return;
	}
	json_t *doc = json_loadb(res->body, res->len, 0, NULL);
	const char *s = NULL;
	if (json_is_object(doc)) {
		s = json_string_value(json_object_get(doc, "details"));
		if (s == NULL)
			s = json_string_value(json_object_get(doc, "message"));
	}
	/* AMC's texts end up in PostgreSQL: never cut inside a character, never invalid UTF-8 */
	if (s) {
		utf8_copy(buf, n, s);
	} else {
		int k = snprintf(buf, n, "HTTP %ld: ", res->status);
		if (k > 0 && (size_t)k < n)
			utf8_copy(buf + k, n - (size_t)k < 201 ? n - (size_t)k : 201, res->body);
	}
	json_decref(doc);
}

const char *amc_failure_reason(json_t *exec)
{
	static const char *const keys[] = { "statusReason", "errorReason", "failureReason",
					    "message", "details" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const char *s = json_string_value(json_object_get(exec, keys[i]));
		if (s != NULL && *s)
			return s;
	}
	return "";
}
