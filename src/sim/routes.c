/* routes.c - request dispatch and the AMC endpoint handlers: header and token checks,
 * request validation (amc-api.md §11), JSON shapes, and where each profile fault applies
 * (faults.c decides the request-level ones). State changes live in executions.c; every
 * handler sends exactly one reply (or drops the connection: a lost create). */
#include "routes.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "control.h"
#include "csv.h"
#include "httpd.h"
#include "log.h"
#include "strict.h"

#define BODY_MAX (1024 * 1024)
#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
#define TIMEOUT_DEFAULT_S 21600
#define RESULT_BUCKET "amcsim-results"

/* AMC's generic error body {"code":"400","details":"..."} */
static void amc_error(struct evhttp_request *req, int status, const char *fmt, ...)
	PRINTF_LIKE(3, 4);
static void amc_error(struct evhttp_request *req, int status, const char *fmt, ...)
{
	char code[8], details[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(details, sizeof(details), fmt, ap);
	va_end(ap);
	snprintf(code, sizeof(code), "%d", status);
	httpd_reply_json(req, status, json_pack("{s:s, s:s}", "code", code, "details", details));
}

static const char *header(struct evhttp_request *req, const char *name)
{
	return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

static void reply_exec(Sim *sim, struct evhttp_request *req, const Exec *e, bool include_sql)
{
	json_t *o = executions_json(e, include_sql);

	if (o != NULL && sim->wrap)
		o = json_pack("{s:o}", "workflowExecution", o);
	if (o == NULL) {
		amc_error(req, 500, "Internal error");
		return;
	}
	httpd_reply_json(req, 200, o);
}

static bool query_flag(struct evkeyvalq *q, const char *name, bool dflt)
{
	const char *v = evhttp_find_header(q, name);

	if (v == NULL)
		return dflt;
	return strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0;
}

/* ---- POST /auth/o2/token (Login with Amazon) ---- */

static void oauth_error(struct evhttp_request *req, int status, const char *err, const char *desc)
{
	httpd_reply_json(req, status,
			 json_pack("{s:s, s:s}", "error", err, "error_description", desc));
}

static void handle_token(Sim *sim, struct evhttp_request *req)
{
	bool too_big = false;
	char *body = httpd_body(req, BODY_MAX, &too_big);
	struct evkeyvalq form;
	char tok[TOKEN_LEN + 1];
	const char *grant, *refresh;
	Profile p;

	TAILQ_INIT(&form);
	if (body == NULL || evhttp_parse_query_str(body, &form) != 0) {
		oauth_error(req, 400, "invalid_request", "The request body could not be parsed");
		goto out;
	}
	grant = evhttp_find_header(&form, "grant_type");
	refresh = evhttp_find_header(&form, "refresh_token");
	if (grant == NULL || strcmp(grant, "refresh_token") != 0) {
		oauth_error(req, 400, "unsupported_grant_type",
			    "Only grant_type=refresh_token is supported");
		goto out;
	}
	if (refresh == NULL || !*refresh) {
		oauth_error(req, 400, "invalid_request", "The request is missing refresh_token");
		goto out;
	}
	/* fault injection: a refresh token that says it is revoked behaves like one */
	if (strstr(refresh, "REVOKED") != NULL) {
		oauth_error(req, 400, "invalid_grant",
			    "The request has an invalid grant parameter : refresh_token");
		goto out;
	}
	/* each region's token endpoint issues its own tokens (amc-api.md §1: real ones work in
	 * every region; AMCSIM_REGION_TOKENS makes amcsim stricter than that) */
	if (!token_issue(sim->tokens, simtime_now_ms(), sim->region, tok)) {
		oauth_error(req, 500, "server_error", "Could not issue a token");
		goto out;
	}
	profiles_effective(sim->profiles, NULL, &p);
	/* fault injection: a refresh token that says so is rotated, as LWA may do: the answer
	 * carries a new one (which does not say so, so it is rotated once) */
	char rotated[96];
	if (strstr(refresh, "ROTATE") != NULL)
		snprintf(rotated, sizeof(rotated), "Atzr|rotated-%.32s", tok);
	httpd_reply_json(req, 200,
			 json_pack("{s:s, s:s, s:i, s:s}", "access_token", tok, "token_type",
				   "bearer", "expires_in", p.token_ttl_s, "refresh_token",
				   strstr(refresh, "ROTATE") != NULL ? rotated : refresh));
out:
	evhttp_clear_headers(&form);
	free(body);
}

/* ---- GET /s3/<bucket>/<instance>/<execution>/part-00000.csv ---- */

static void s3_reply_error(struct evhttp_request *req, int status, enum S3Check c, const char *key)
{
	char *xml = s3_error_xml(c, key);
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
			  "application/xml");
	if (b != NULL && xml != NULL)
		evbuffer_add(b, xml, strlen(xml));
	evhttp_send_reply(req, status, status == 403 ? "Forbidden" : "Not Found", b);
	if (b != NULL)
		evbuffer_free(b);
	free(xml);
}

/* S3's ETag of the stored file: its MD5 for an object put in one piece, so a client can tell
 * a body that did not arrive whole; for one uploaded in parts, the MD5 of the parts' MD5s and
 * "-<parts>", which proves nothing about the body (one part here) */
static void add_etag(struct evhttp_request *req, const char *file, size_t len, bool multipart)
{
	unsigned char whole[EVP_MAX_MD_SIZE], md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char etag[2 * EVP_MAX_MD_SIZE + 8];

	if (EVP_Digest(file, len, whole, &n, EVP_md5(), NULL) != 1)
		return;
	if (!multipart)
		memcpy(md, whole, n);
	else if (EVP_Digest(whole, n, md, &n, EVP_md5(), NULL) != 1)
		return;
	etag[0] = '"';
	for (unsigned int i = 0; i < n; i++)
		snprintf(etag + 1 + 2 * i, 3, "%02x", md[i]);
	snprintf(etag + 1 + 2 * n, 5, "%s\"", multipart ? "-1" : "");
	evhttp_add_header(evhttp_request_get_output_headers(req), "ETag", etag);
}

static void handle_s3(Sim *sim, struct evhttp_request *req, const char *path, const char *query,
		      bool gate)
{
	char inst[DATA_INSTANCE_MAX + 1], id[IDS_UUID_LEN + 1];
	const char *key = path + 4; /* after "/s3/" */
	int part = -1, end = 0;
	bool named = sscanf(key, RESULT_BUCKET "/%58[A-Za-z0-9_-]/%36[0-9a-f-]/part-%5d.csv%n",
			    inst, id, &part, &end) == 3 &&
		     key[end] == '\0' && part >= 0;
	const char *who = named ? inst : NULL;
	enum S3Check c;
	struct evbuffer *b;
	char *file;
	size_t hl, off, bl, len;
	Profile p;
	Exec *e;

	profiles_effective(sim->profiles, who, &p);
	if (gate) {
		stats_inc(sim->stats, sim->region, who, ST_DOWNLOAD);
		if (faults_gate(sim->faults, sim->profiles, sim->stats, sim->region, &p, req, who,
				EP_DOWNLOAD) != GATE_PASS)
			return;
	}
	if ((c = s3_check(sim->s3, path, query, simtime_now_ms())) != S3_OK) {
		if (c == S3_EXPIRED)
			stats_inc(sim->stats, sim->region, who, ST_S3_EXPIRED);
		s3_reply_error(req, 403, c, key);
		return;
	}
	if (!named || (e = executions_find(sim->execs, inst, id)) == NULL ||
	    e->status != EXEC_SUCCEEDED || part >= e->nparts) {
		s3_reply_error(req, 404, S3_NO_SUCH_KEY, key);
		return;
	}
	if (e->url_403_first && !(e->parts_refused & (UINT32_C(1) << part))) {
		/* as if the URL had expired on its way to us: the client must ask for new ones */
		e->parts_refused |= UINT32_C(1) << part;
		stats_inc(sim->stats, sim->region, inst, ST_S3_403_FIRST);
		s3_reply_error(req, 403, S3_EXPIRED, key);
		return;
	}
	csv_part(e->csv != NULL ? e->csv : "", e->csv != NULL ? e->csv_len : 0, e->nparts, part,
		 &hl, &off, &bl);
	/* a copy: the execution keeps its own file for later downloads */
	if ((file = malloc(hl + bl + 1)) == NULL || (b = evbuffer_new()) == NULL) {
		free(file);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	const char *src = e->csv != NULL ? e->csv : "";
	memcpy(file, src, hl);
	memcpy(file + hl, src + off, bl);
	len = hl + bl;
	/* real AMC files are not known to end with a line break: the worker must cope */
	if (p.no_final_newline && len > 0 && file[len - 1] == '\n') {
		len--;
		if (len > 0 && file[len - 1] == '\r')
			len--;
	}
	add_etag(req, file, len, p.multipart_etag);
	if (rng_roll(faults_rng(sim->faults), p.truncate_rate)) {
		len = csv_cut(file, len, rng_unit(faults_rng(sim->faults)));
		stats_inc(sim->stats, sim->region, inst, ST_TRUNCATED);
	}
	evbuffer_add(b, file, len);
	free(file);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/csv");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* ---- POST workflowExecutions ---- */

static const char *const window_types[] = {
	"EXPLICIT", "MOST_RECENT_DAY", "MOST_RECENT_WEEK", "CURRENT_MONTH", "PREVIOUS_MONTH", NULL,
};

static void fmt_local(const struct tm *tm, char out[20])
{
	strftime(out, 20, "%Y-%m-%dT%H:%M:%S", tm);
}

/* the relative window types, computed from today's midnight in the requested zone */
static bool relative_window(const char *type, const char *tz, ExecRequest *r, char so[20],
			    char eo[20])
{
	struct tm now, s, e;

	if (!simtime_from_utc(time(NULL), tz, &now))
		return false;
	now.tm_hour = now.tm_min = now.tm_sec = 0;
	now.tm_isdst = -1;
	s = e = now;
	if (strcmp(type, "MOST_RECENT_DAY") == 0) {
		s.tm_mday -= 1;
	} else if (strcmp(type, "MOST_RECENT_WEEK") == 0) {
		s.tm_mday -= 7;
	} else if (strcmp(type, "CURRENT_MONTH") == 0) {
		s.tm_mday = 1;
	} else {
		s.tm_mday = e.tm_mday = 1;
		s.tm_mon -= 1;
	}
	if (!simtime_to_utc(&s, tz, &r->tw_start) || !simtime_to_utc(&e, tz, &r->tw_end))
		return false;
	/* mktime/timegm normalised the fields; print them back in the zone */
	if (!simtime_from_utc(r->tw_start, tz, &s) || !simtime_from_utc(r->tw_end, tz, &e))
		return false;
	fmt_local(&s, so);
	fmt_local(&e, eo);
	return true;
}

/* seconds until the next UTC midnight, when the daily quota starts over */
static int64_t utc_midnight_ms(int64_t now_ms, int *secs_left)
{
	int64_t day = now_ms / 86400000 * 86400000;

	*secs_left = (int)((day + 86400000 - now_ms + 999) / 1000);
	return day;
}

static void handle_create(Sim *sim, struct evhttp_request *req, const char *inst, const Profile *p)
{
	bool too_big = false;
	char *body = httpd_body(req, BODY_MAX, &too_big);
	json_error_t jerr;
	json_t *root = NULL, *wf, *v;
	const char *sql = NULL, *saved = NULL, *wfid = NULL;
	char so[20], eo[20], msg[700], transient[IDS_UUID_LEN + 11];
	ExecRequest r = { 0 };
	struct tm tm;
	Exec *e;

	if (body == NULL) {
		amc_error(req, too_big ? 413 : 400,
			  too_big ? "Request body too large" : "Request body is missing");
		goto out;
	}
	if ((root = json_loads(body, 0, &jerr)) == NULL || !json_is_object(root)) {
		amc_error(req, 400, "Request body is not a valid JSON object");
		goto out;
	}
	wf = json_object_get(root, "workflow");
	if (wf != NULL && !json_is_object(wf)) {
		amc_error(req, 400, "workflow must be an object");
		goto out;
	}
	if ((v = json_object_get(wf, "sqlQuery")) != NULL && (sql = json_string_value(v)) == NULL) {
		amc_error(req, 400, "workflow.sqlQuery must be a string");
		goto out;
	}
	if ((v = json_object_get(wf, "workflowId")) != NULL &&
	    (wfid = json_string_value(v)) == NULL) {
		amc_error(req, 400, "workflow.workflowId must be a string");
		goto out;
	}
	if ((v = json_object_get(root, "workflowId")) != NULL &&
	    (saved = json_string_value(v)) == NULL) {
		amc_error(req, 400, "workflowId must be a string");
		goto out;
	}
	if ((sql == NULL) == (saved == NULL)) {
		amc_error(req, 400,
			  "Exactly one of workflow.sqlQuery or workflowId must be provided");
		goto out;
	}
	if (saved != NULL) {
		/* the simulator keeps no saved workflows: ad-hoc only */
		amc_error(req, 400, "Workflow with ID %.200s does not exist", saved);
		goto out;
	}
	if (strspn(sql, " \t\r\n") == strlen(sql)) {
		amc_error(req, 400, "workflow.sqlQuery must not be empty");
		goto out;
	}
	if (wfid != NULL && (!*wfid || strlen(wfid) > EXEC_WORKFLOW_MAX)) {
		amc_error(req, 400, "workflow.workflowId must be 1 to %d characters",
			  EXEC_WORKFLOW_MAX);
		goto out;
	}
	if (wfid == NULL) {
		/* named now so that a compile error can already quote it, as AMC's does */
		memcpy(transient, "transient_", 10);
		if (!ids_uuid(transient + 10)) {
			amc_error(req, 500, "Internal error: no random source");
			goto out;
		}
		wfid = transient;
	}
	r.sql = sql;
	r.workflow_id = wfid;
	r.tw_type = json_string_value(json_object_get(root, "timeWindowType"));
	if (!r.tw_type)
		r.tw_type = "MOST_RECENT_DAY";
	bool known = false;
	for (const char *const *t = window_types; *t != NULL && !known; t++)
		known = strcmp(*t, r.tw_type) == 0;
	if (!known) {
		amc_error(req, 400, "Invalid timeWindowType %.40s", r.tw_type);
		goto out;
	}
	r.tz = json_string_value(json_object_get(root, "timeWindowTimeZone"));
	if (!r.tz)
		r.tz = "UTC";
	if (!simtime_zone_valid(r.tz)) {
		amc_error(req, 400, "Invalid timeWindowTimeZone %.64s", r.tz);
		goto out;
	}
	if (strcmp(r.tw_type, "EXPLICIT") == 0) {
		r.tw_start_orig = json_string_value(json_object_get(root, "timeWindowStart"));
		r.tw_end_orig = json_string_value(json_object_get(root, "timeWindowEnd"));
		if (!r.tw_start_orig || !r.tw_end_orig) {
			amc_error(
				req, 400,
				"timeWindowStart and timeWindowEnd are required when timeWindowType is EXPLICIT");
			goto out;
		}
		if (!simtime_parse_local(r.tw_start_orig, &tm) ||
		    !simtime_to_utc(&tm, r.tz, &r.tw_start)) {
			amc_error(req, 400,
				  "Invalid timeWindowStart %.40s: expected yyyy-MM-ddTHH:mm:ss",
				  r.tw_start_orig);
			goto out;
		}
		if (!simtime_parse_local(r.tw_end_orig, &tm) ||
		    !simtime_to_utc(&tm, r.tz, &r.tw_end)) {
			amc_error(req, 400,
				  "Invalid timeWindowEnd %.40s: expected yyyy-MM-ddTHH:mm:ss",
				  r.tw_end_orig);
			goto out;
		}
		if (r.tw_start >= r.tw_end) {
			amc_error(req, 400, "timeWindowStart must be before timeWindowEnd");
			goto out;
		}
	} else {
		if (!relative_window(r.tw_type, r.tz, &r, so, eo)) {
			amc_error(req, 400, "Could not compute the time window");
			goto out;
		}
		r.tw_start_orig = so;
		r.tw_end_orig = eo;
	}
	r.timeout_s = TIMEOUT_DEFAULT_S;
	if ((v = json_object_get(root, "workflowExecutionTimeoutSeconds")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 86400) {
			amc_error(
				req, 400,
				"workflowExecutionTimeoutSeconds must be an integer from 1 to 86400");
			goto out;
		}
		r.timeout_s = (int)json_integer_value(v);
	}
	if (sim->strict && !strict_check(sql, msg, sizeof(msg))) {
		amc_error(
			req, 400,
			"Was unable to compile workflow %s because it was found to be invalid: %s",
			wfid, msg);
		goto out;
	}
	if (p->daily_quota > 0) {
		int left;
		int64_t day = utc_midnight_ms(simtime_now_ms(), &left);
		if (executions_count_since(sim->execs, inst, day) >= (size_t)p->daily_quota) {
			stats_inc(sim->stats, sim->region, inst, ST_QUOTA_REFUSED);
			snprintf(msg, sizeof(msg),
				 "Instance %s has reached its quota of %d ad hoc "
				 "workflow executions per day",
				 inst, p->daily_quota);
			faults_reply_429(req, p, left, msg);
			goto out;
		}
	}
	r.account = header(req, "Amazon-Advertising-API-AdvertiserId");
	r.pending_ms = p->pending_ms;
	r.latency_ms = p->latency_ms;
	r.nparts = p->split_files;
	r.url_403_first = p->url_403_first;
	if (rng_roll(faults_rng(sim->faults), p->fail_rate))
		r.inject_fail = p->fail_reason;
	if ((e = executions_create(sim->execs, inst, &r)) == NULL) {
		amc_error(req, 500, "Internal error: could not create the execution");
		goto out;
	}
	stats_inc(sim->stats, sim->region, inst, ST_EXECUTIONS_CREATED);
	if (r.inject_fail)
		stats_inc(sim->stats, sim->region, inst, ST_FAILED_INJECTED);
	if (rng_roll(faults_rng(sim->faults), p->lost_create_rate)) {
		/* stored and running, but the client never hears of it */
		stats_inc(sim->stats, sim->region, inst, ST_LOST_CREATES);
		log_info("execution %s on %s: dropping the create response (lost_create_rate)",
			 e->id, inst);
		faults_drop(sim->faults, req);
		goto out;
	}
	reply_exec(sim, req, e, false);
out:
	json_decref(root);
	free(body);
}

/* ---- GET workflowExecutions (list) ---- */

/* The cursor is the last sequence number served, lightly disguised: clients must treat
 * it as opaque, and a guessed or edited token is rejected. */
#define CURSOR_MASK 0x5a3c96e1f00d2b47ULL

static void handle_list(Sim *sim, struct evhttp_request *req, const char *inst, struct evkeyvalq *q)
{
	ExecFilter f = { .min_create_ms = -1,
			 .max_create_ms = -1,
			 .include_cancelled = true,
			 .limit = LIST_LIMIT_DEFAULT };
	const char *min = evhttp_find_header(q, "minCreationTime");
	const char *max = evhttp_find_header(q, "maxCreationTime");
	const char *lim = evhttp_find_header(q, "limit");
	const char *tok = evhttp_find_header(q, "nextToken");
	const char *tz = evhttp_find_header(q, "timeZone");
	bool include_sql = query_flag(q, "includeWorkflow", false), more = false;
	struct tm tm;
	time_t t;
	Exec **rows = NULL;
	json_t *arr, *o;

	f.workflow_id = evhttp_find_header(q, "workflowId");
	f.ascending = query_flag(q, "sortAscending", false);
	f.include_cancelled = query_flag(q, "includeCancelled", true);
	if (tz == NULL)
		tz = "UTC";
	if (f.workflow_id == NULL && min == NULL) {
		amc_error(req, 400, "One of workflowId or minCreationTime is required");
		return;
	}
	if (!simtime_zone_valid(tz)) {
		amc_error(req, 400, "Invalid timeZone %.64s", tz);
		return;
	}
	if (min != NULL) {
		if (!simtime_parse_local(min, &tm) || !simtime_to_utc(&tm, tz, &t)) {
			amc_error(req, 400,
				  "Invalid minCreationTime: expected yyyy-MM-ddTHH:mm:ss");
			return;
		}
		f.min_create_ms = (int64_t)t * 1000;
	}
	if (max != NULL) {
		if (!simtime_parse_local(max, &tm) || !simtime_to_utc(&tm, tz, &t)) {
			amc_error(req, 400,
				  "Invalid maxCreationTime: expected yyyy-MM-ddTHH:mm:ss");
			return;
		}
		f.max_create_ms = (int64_t)t * 1000 + 999;
	}
	if (lim != NULL) {
		char *end;
		long n = strtol(lim, &end, 10);
		if (*end || n < 1 || n > LIST_LIMIT_MAX) {
			amc_error(req, 400, "limit must be an integer from 1 to %d",
				  LIST_LIMIT_MAX);
			return;
		}
		f.limit = (size_t)n;
	}
	if (tok != NULL && *tok) {
		char *end;
		unsigned long long v = strtoull(tok, &end, 16);
		if (*end || strlen(tok) != 16 || !(f.after_seq = v ^ CURSOR_MASK)) {
			amc_error(req, 400, "Invalid nextToken");
			return;
		}
	}
	if ((rows = malloc(f.limit * sizeof(*rows))) == NULL || (arr = json_array()) == NULL) {
		free(rows);
		amc_error(req, 500, "Internal error");
		return;
	}
	size_t n = executions_list(sim->execs, inst, &f, rows, &more);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, executions_json(rows[i], include_sql));
	o = json_pack("{s:o}", "executions", arr);
	if (more) {
		char next[17];
		snprintf(next, sizeof(next), "%016llx",
			 (unsigned long long)(rows[n - 1]->seq ^ CURSOR_MASK));
		json_object_set_new(o, "nextToken", json_string(next));
	}
	free(rows);
	httpd_reply_json(req, 200, o);
}

/* ---- PUT/DELETE workflowExecutions/{id} (cancel) ---- */

static void handle_cancel(Sim *sim, struct evhttp_request *req, Exec *e, bool is_delete)
{
	bool too_big = false;
	char *body = is_delete ? NULL : httpd_body(req, BODY_MAX, &too_big);
	json_t *root = body != NULL ? json_loads(body, 0, NULL) : NULL;
	const char *st = json_string_value(json_object_get(root, "status"));

	if (!is_delete && (st == NULL || strcmp(st, "CANCELLED") != 0)) {
		amc_error(req, 400, "The only supported update is {\"status\":\"CANCELLED\"}");
		goto out;
	}
	/* counted even when it comes too late: the ledger shows that the client tried */
	executions_note_cancel(e);
	if (!executions_cancel(sim->execs, e))
		amc_error(req, 400,
			  "Execution with ID %s is in terminal status %s and cannot be cancelled",
			  e->id, exec_status_name[e->status]);
	else
		httpd_reply_json(req, 200, json_object());
out:
	json_decref(root);
	free(body);
}

/* ---- GET workflowExecutions/{id}/downloadUrls ---- */

static void handle_download_urls(Sim *sim, struct evhttp_request *req, Exec *e, const Profile *p)
{
	const char *host = header(req, "Host");
	char key[200], url[1024];
	json_t *urls;

	if (e->status != EXEC_SUCCEEDED) {
		amc_error(req, 400, "Execution with ID %s is unavailable for download", e->id);
		return;
	}
	/* URLs point back at whatever address the client used to reach us */
	if (host == NULL || !*host || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") != strlen(host))
		host = sim->self[sim->region];
	if ((urls = json_array()) == NULL) {
		amc_error(req, 500, "Internal error");
		return;
	}
	for (int i = 0; i < e->nparts; i++) {
		snprintf(key, sizeof(key), RESULT_BUCKET "/%s/%s/part-%05d.csv", e->instance_id,
			 e->id, i);
		if (!s3_url(sim->s3, host, key, simtime_now_ms(), p->url_ttl_s, url, sizeof(url)) ||
		    json_array_append_new(urls, json_string(url)) != 0) {
			json_decref(urls);
			amc_error(req, 500, "Internal error: could not sign the download URL");
			return;
		}
	}
	httpd_reply_json(req, 200,
			 json_pack("{s:o, s:[]}", "downloadUrls", urls, "metadataDownloadUrls"));
}

/* ---- dispatch ---- */

static bool content_type_ok(struct evhttp_request *req)
{
	const char *ct = header(req, "Content-Type");

	if (ct == NULL)
		return true;
	return strncasecmp(ct, "application/json", 16) == 0 ||
	       (strncasecmp(ct, "application/vnd.", 16) == 0 && strstr(ct, "json") != NULL);
}

/* which endpoint a request addresses, before any check (the stats and the gate need it);
 * -1 when it addresses none */
static int classify(enum evhttp_cmd_type m, int nseg, const char *tail, const char *sub)
{
	if (nseg == 1) {
		if (strcmp(tail, "/workflowExecutions") != 0 &&
		    strcmp(tail, "/workflowExecutions/") != 0)
			return -1;
		return m == EVHTTP_REQ_POST ? EP_CREATE : m == EVHTTP_REQ_GET ? EP_LIST : -1;
	}
	if (nseg == 2)
		return m == EVHTTP_REQ_GET                             ? EP_GET
		       : m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_DELETE ? EP_CANCEL
								       : -1;
	if (nseg == 3 && strcmp(sub, "downloadUrls") == 0 && m == EVHTTP_REQ_GET)
		return EP_URLS;
	return -1;
}

static const enum StatKey ep_stat[EP__COUNT] = {
	[EP_CREATE] = ST_CREATE, [EP_GET] = ST_GET,   [EP_LIST] = ST_LIST,
	[EP_CANCEL] = ST_CANCEL, [EP_URLS] = ST_URLS, [EP_DOWNLOAD] = ST_DOWNLOAD,
	[EP_TOKEN] = ST_TOKEN,
};

static void handle_amc(Sim *sim, struct evhttp_request *req, const char *rest, struct evkeyvalq *q,
		       bool gate)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *auth = header(req, "Authorization");
	char inst[128], id[128], sub[64];
	int nseg, ep, token_region = -1;
	bool valid;
	Profile p;
	Exec *e;

	inst[0] = id[0] = sub[0] = '\0';
	nseg = sscanf(rest, "%127[^/]/workflowExecutions/%127[^/]/%63[^/]", inst, id, sub);
	valid = nseg >= 1 && data_instance_id_valid(inst);
	profiles_effective(sim->profiles, valid ? inst : NULL, &p);
	ep = valid ? classify(m, nseg, rest + strlen(inst), sub) : -1;
	if (gate && ep >= 0) {
		stats_inc(sim->stats, sim->region, inst, ep_stat[ep]);
		if (faults_gate(sim->faults, sim->profiles, sim->stats, sim->region, &p, req, inst,
				ep) != GATE_PASS)
			return;
	}
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0 ||
	    !token_valid(sim->tokens, auth + 7, simtime_now_ms(), p.token_ttl_s, &token_region)) {
		stats_inc(sim->stats, sim->region, valid ? inst : NULL, ST_UNAUTHORIZED);
		amc_error(req, 401,
			  "Unauthorized: the access token is missing, invalid or expired");
		return;
	}
	if (sim->region_tokens && token_region != sim->region) {
		stats_inc(sim->stats, sim->region, valid ? inst : NULL, ST_WRONG_REGION);
		amc_error(req, 401,
			  "Unauthorized: the access token was issued for region %s, not %s",
			  region_name[token_region], region_name[sim->region]);
		return;
	}
	if (header(req, "Amazon-Advertising-API-ClientId") == NULL) {
		amc_error(req, 400, "Missing header Amazon-Advertising-API-ClientId");
		return;
	}
	if (header(req, "Amazon-Advertising-API-AdvertiserId") == NULL) {
		amc_error(req, 400, "Missing header Amazon-Advertising-API-AdvertiserId");
		return;
	}
	if (!valid) {
		amc_error(req, 404, "Instance not found");
		return;
	}
	/* an instance lives in one region; what AMC answers on another region's host is not
	 * documented (amc-api.md), so: 403 with AMC's error body, as for an instance the caller
	 * may not use */
	if (p.region != PROFILE_ANY_REGION && p.region != sim->region) {
		stats_inc(sim->stats, sim->region, inst, ST_WRONG_REGION);
		amc_error(req, 403, "Instance %s is in region %s: call it on the %s host, not %s",
			  inst, region_name[p.region], region_name[p.region],
			  region_name[sim->region]);
		return;
	}
	if (nseg == 1) {
		size_t n = strlen(inst);
		const char *tail = rest + n;
		if (strcmp(tail, "/workflowExecutions") != 0 &&
		    strcmp(tail, "/workflowExecutions/") != 0) {
			amc_error(req, 404, "Resource not found");
		} else if (m == EVHTTP_REQ_POST) {
			if (!content_type_ok(req))
				amc_error(req, 415, "Unsupported Content-Type");
			else
				handle_create(sim, req, inst, &p);
		} else if (m == EVHTTP_REQ_GET) {
			handle_list(sim, req, inst, q);
		} else {
			amc_error(req, 405, "Method not allowed");
		}
		return;
	}
	if ((e = executions_find(sim->execs, inst, id)) == NULL) {
		amc_error(req, 404, "Execution with ID %.64s not found", id);
		return;
	}
	if (nseg == 3) {
		if (strcmp(sub, "downloadUrls") != 0)
			amc_error(req, 404, "Resource not found");
		else if (m != EVHTTP_REQ_GET)
			amc_error(req, 405, "Method not allowed");
		else
			handle_download_urls(sim, req, e, &p);
		return;
	}
	if (m == EVHTTP_REQ_GET && simtime_now_ms() < e->create_ms + p.not_found_after_create_ms) {
		/* eventual consistency right after create, as RAMP saw it */
		stats_inc(sim->stats, sim->region, inst, ST_NOT_FOUND_INJECTED);
		amc_error(req, 404, "Execution with ID %s does not exist", e->id);
	} else if (m == EVHTTP_REQ_GET)
		reply_exec(sim, req, e, query_flag(q, "includeWorkflow", false));
	else if (m == EVHTTP_REQ_PUT && !content_type_ok(req))
		amc_error(req, 415, "Unsupported Content-Type");
	else if (m == EVHTTP_REQ_PUT || m == EVHTTP_REQ_DELETE)
		handle_cancel(sim, req, e, m == EVHTTP_REQ_DELETE);
	else
		amc_error(req, 405, "Method not allowed");
}

static void dispatch(Sim *sim, struct evhttp_request *req, bool gate)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = evhttp_uri_get_path(uri);
	const char *query = evhttp_uri_get_query(uri);
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq q;

	TAILQ_INIT(&q);
	if (path == NULL)
		path = "/";
	log_debug("%s %s",
		  m == EVHTTP_REQ_GET    ? "GET"
		  : m == EVHTTP_REQ_POST ? "POST"
		  : m == EVHTTP_REQ_PUT  ? "PUT"
					 : "other",
		  path);
	if (query != NULL && evhttp_parse_query_str(query, &q) != 0) {
		amc_error(req, 400, "Malformed query string");
	} else if (strcmp(path, "/auth/o2/token") == 0) {
		Profile p;
		profiles_effective(sim->profiles, NULL, &p);
		if (gate && m == EVHTTP_REQ_POST) {
			stats_inc(sim->stats, sim->region, NULL, ST_TOKEN);
			if (faults_gate(sim->faults, sim->profiles, sim->stats, sim->region, &p,
					req, NULL, EP_TOKEN) != GATE_PASS)
				goto out;
		}
		if (m == EVHTTP_REQ_POST)
			handle_token(sim, req);
		else
			oauth_error(req, 405, "invalid_request", "Use POST");
	} else if (strncmp(path, "/s3/", 4) == 0) {
		if (m == EVHTTP_REQ_GET)
			handle_s3(sim, req, path, query, gate);
		else
			s3_reply_error(req, 403, S3_BAD_SIGNATURE, path + 4);
	} else if (strncmp(path, "/sim/", 5) == 0) {
		control_handle(sim, req, path + 5);
	} else if (strcmp(path, "/healthz") == 0) {
		httpd_reply_json(req, 200, json_pack("{s:s}", "status", "ok"));
	} else if (strncmp(path, "/amc/reporting/", 15) == 0) {
		handle_amc(sim, req, path + 15, &q, gate);
	} else {
		amc_error(req, 404, "Resource not found");
	}
out:
	evhttp_clear_headers(&q);
}

/* the region of the listener a request came to (NA when it cannot tell) */
static int request_region(const Sim *sim, struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct evhttp *server = conn != NULL ? evhttp_connection_get_server(conn) : NULL;

	for (int r = 0; server != NULL && r < REGION__COUNT; r++)
		if (sim->http[r] == server)
			return r;
	return REGION_NA;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	Sim *sim = arg;

	sim->region = request_region(sim, req);
	dispatch(sim, req, true);
}

void routes_resume(void *arg, struct evhttp_request *req)
{
	Sim *sim = arg;

	sim->region = request_region(sim, req);
	dispatch(sim, req, false);
}

void routes_install(Sim *sim, AmcRegion region)
{
	struct evhttp *http = sim->http[region];

	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
						 EVHTTP_REQ_DELETE);
	evhttp_set_max_body_size(http, BODY_MAX);
	evhttp_set_gencb(http, on_request, sim);
}
