/* amc_client.h - the AMC reporting API calls the worker makes (create, status, download URLs,
 * cancel, result file download), built on exchange.c; plus tolerant parsing of AMC answers. */
#ifndef AMCB_AMC_CLIENT_H
#define AMCB_AMC_CLIENT_H

#include <jansson.h>

#include "exchange.h"
#include "params.h"

/* Who is calling on which instance. All borrowed for the duration of the call only. */
typedef struct AmcTarget {
	const char *token;     /* LWA access token */
	const char *client_id; /* Amazon-Advertising-API-ClientId */
	const char *advertiser_id;
	const char *marketplace_id;
	const char *instance_id; /* AMC short id */
	const char *base_url;    /* the account region's AMC API base (region_base_url) */
} AmcTarget;

/* POST workflowExecutions (ad-hoc). Never re-sent unless the request surely did not run;
 * not sent at all once mstime_mono() reaches send_by (> 0): see ExchangeReq. */
MUST_CHECK bool amc_create(Worker *w, const AmcTarget *t, const char *sql, const ParamsWindow *win,
			   const char *timezone, int64_t send_by, ExchangeDoneFn done, void *priv);
/* GET workflowExecutions/{id}; GET .../downloadUrls; PUT {"status":"CANCELLED"} (retried). */
MUST_CHECK bool amc_get_execution(Worker *w, const AmcTarget *t, const char *amc_id,
				  ExchangeDoneFn done, void *priv);
MUST_CHECK bool amc_get_download_urls(Worker *w, const AmcTarget *t, const char *amc_id,
				      ExchangeDoneFn done, void *priv);
MUST_CHECK bool amc_cancel(Worker *w, const AmcTarget *t, const char *amc_id, ExchangeDoneFn done,
			   void *priv);
/* A create POST goes out within this long after its intent's set_phase, or not at all. */
#define CREATE_SEND_BUDGET_MS 10000
/* An execution missing from AMC's list is trusted not to exist only this long after its
 * create intent: the send budget, plus slack for the list to show a fresh execution and for
 * the clocks of two hosts (docs/reliability.md, known limits). */
#define ADOPT_WAIT_MS (CREATE_SEND_BUDGET_MS + 20000)

/* GET workflowExecutions?minCreationTime=...&includeWorkflow=true[&nextToken=] (retried): the
 * executions created since since_ms (Unix ms; a minute earlier is asked, for clock skew and
 * AMC's whole seconds). next_token may be NULL. */
MUST_CHECK bool amc_list_executions(Worker *w, const AmcTarget *t, int64_t since_ms,
				    const char *next_token, ExchangeDoneFn done, void *priv);
/* GET a pre-signed result URL (no Ads headers) into sink. */
MUST_CHECK bool amc_download(Worker *w, const char *url, ExchangeSinkFn sink, void *sink_priv,
			     ExchangeDoneFn done, void *priv);

/* The first line of every SQL the worker sends: "-- amcbatch <batch_id> <exec_id>". AMC keeps
 * the text it was given and its list echoes it (includeWorkflow=true), so the list tells
 * exactly which AMC execution belongs to which execution of ours. */
#define AMC_MARKER_LEN 64
void amc_marker(char *buf, size_t n, const char *batch_id, const char *exec_id);
/* Whether sql (as AMC echoes it) starts with the marker line of batch_id/exec_id. */
bool amc_marker_matches(const char *sql, const char *batch_id, const char *exec_id);
/* Whether ex, one execution of a list answer, carries that marker: in its sqlQuery, or in its
 * workflow's (AMC answers either way). */
bool amc_listed_matches(const json_t *ex, const char *batch_id, const char *exec_id);
/* The list answer doc's nextToken into token (n bytes); "" when there is none or it does not
 * fit, so the page is taken as the last. */
void amc_list_next_token(const json_t *doc, char *token, size_t n);

/* The execution object of a create/status answer (flat, or wrapped in
 * {"workflowExecution":{...}}); borrowed from doc. NULL if neither. */
json_t *amc_execution_object(json_t *doc);
/* Error text of a failed answer: details, then message, then the raw body (truncated). */
void amc_error_text(const ExchangeResult *res, char *buf, size_t n);
/* Failure reason of a FAILED execution: statusReason, errorReason, failureReason, message,
 * details; "" if none. Borrowed from exec. */
const char *amc_failure_reason(json_t *exec);

#endif
