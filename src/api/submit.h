/* submit.h - the pipeline every new batch goes through once it is decided, shared by POST
 * /workflows/{id}/batch-execute (routes_execute.c, which owns it) and POST
 * /workflows/batch/{id}/retry-failed (routes_retry.c): the Idempotency-Key, a rate-limit
 * slot, one PostgreSQL transaction that stores the batch (amcbatch_insert_batch, the links,
 * the 201 body and the enqueue arguments read back from the stored rows), then Redis. */
#ifndef AMCB_API_SUBMIT_H
#define AMCB_API_SUBMIT_H

#include <jansson.h>
#include <libpq-fe.h>

#include "auth.h"
#include "ids.h"
#include "params.h"
#include "pgq.h"
#include "routes.h"
#include "validate.h"

#define IDEM_KEY_MAX 200

/* Route state, owned by the Req (r->ctx, freed by submit_free). */
typedef struct Execute {
	char workflow_id[IDS_UUID_LEN + 1];
	char batch_id[IDS_BATCH_LEN + 1];     /* the candidate, then the one stored */
	char batch_uuid[IDS_UUID_LEN + 1];    /* drawn before the transaction: a re-run of it
						 * recognises its own commit by this */
	char parent_uuid[IDS_UUID_LEN + 1];   /* the batch this one retries; "" for none */
	char schedule_uuid[IDS_UUID_LEN + 1]; /* the schedule this batch runs; "" for none */
	char scheduled_for[32];               /* its slot, ISO-8601 UTC (with schedule_uuid) */
	ExecRequest in;                   /* the validated body (or, for a retry, the original's) */
	char idem_key[IDEM_KEY_MAX + 1];  /* "" = no Idempotency-Key */
	char req_hash[AUTH_HASH_LEN + 1]; /* of scope + canonical body */
	char *sql_query;                  /* the SQL to run */
	json_t *merged;                   /* merged parameters per instance, instance order */
	ParamsWindow *windows;            /* resolved AMC window per instance, instance order */
	char *response;                   /* the 201 body, built by PostgreSQL from the stored rows:
				 * its text made compact, with the final newline */
	size_t response_len;
	size_t total;
	char *own_name; /* the name and description made for a retry (in.name and
				 * in.description point here then); freed by submit_free */
	char *own_description;
} Execute;

/* The stored (user, key) row of an Idempotency-Key: $1 user id, $2 key -> request_hash,
 * response text. */
extern const char submit_sql_idem_get[];

/* The workflow ($1 id, $2 user id, $3 is admin; the user's own, one shared with them, or any
 * for an admin): sql_query, parameters text, name, parameter_types text, and why it may not
 * run (NULL, 'archived' or 'read_only'); and the
 * instances ($1 array of UUIDs, $2 user, $3 is admin) in the layout submit_rate_then_store
 * takes, the grant being $2's. */
extern const char submit_sql_workflow[];
extern const char submit_sql_instances[];

/* True if the row of submit_sql_workflow may run; else replies (409 workflow_archived, 403
 * workflow_read_only) and returns false. */
bool submit_workflow_runnable(Req *r, const PGresult *wf);

/* True if every instance's merged parameters have the types of types_text (the workflow's
 * parameter_types as JSON text; NULL or unreadable: none declared); else fills e (422
 * invalid_parameter) and returns false. The one check of a submission, a schedule's
 * create or edit and a schedule's run as it fires. */
bool submit_types_valid(const ExecRequest *in, const char *types_text, const json_t *merged,
			ValidateErr *e);

/* submit_types_valid on the types of a submit_sql_workflow row; else replies with the error
 * and returns false. */
bool submit_check_types(Req *r, const ExecRequest *in, const PGresult *wf, const json_t *merged);

/* $1 batch UUID: the 201 body of a stored batch, one row of JSON text; and its enqueue_batch
 * arguments (an ENQUEUE_SQL_PAYLOAD row). */
extern const char submit_sql_created_body[];
extern const char submit_sql_payload[];

/* Frees an Execute (the Req's ctx_free). */
void submit_free(void *p);

/* A new Execute as r's ctx (freed with r); NULL after replying 500. */
Execute *submit_new(Req *r);

/* Whether Redis can take a batch now; false after replying 503 queue_unavailable: nothing is
 * stored before this holds (once stored, a batch is kept whatever Redis does). */
MUST_CHECK bool submit_redis_ready(Req *r);

/* Reads the Idempotency-Key header into x and hashes scope (what the body applies to: the
 * workflow id, or the batch retried) with the canonical body; false after replying. */
MUST_CHECK bool submit_idem_prepare(Req *r, Execute *x, const char *scope);

/* Answers a request whose Idempotency-Key is stored: its first response again (201,
 * Idempotent-Replayed: true) or 409 when the body differs. res: submit_sql_idem_get's row. */
void submit_idem_answer(Req *r, const PGresult *res);
/* The first checks of a submission's load (r->ctx an Execute): false when it has answered,
 * because q failed or q->res[idem] (submit_sql_idem_get's) holds the stored answer of the
 * request's Idempotency-Key, replayed by submit_idem_answer. */
MUST_CHECK bool submit_load_ok(Req *r, Pgq *q, int idem);

/* Draws x's candidate batch and execution ids and adds the statements that store its batch
 * for user_id to q: amcbatch_insert_batch (first; its row: batch_id, created) and, when the
 * batch has a relative window, a parent or a schedule slot, the update that links them.
 * inst: the instance rows as submit_rate_then_store takes them. Returns the number of
 * statements added (1 or 2), -1 on OOM or no random source. */
int submit_add_store(Pgq *q, Execute *x, const char *user_id, const PGresult *inst);

/* Takes a submission slot of the user, then stores and enqueues the batch x describes;
 * inst (stolen) holds one row per instance: id, instance_id, instance_name, region, the
 * time zone its window was resolved in, account id, advertiser_id, marketplace_id, granted. */
void submit_rate_then_store(Req *r, PGresult *inst);

#endif
