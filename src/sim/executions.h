/* executions.h - the simulated AMC executions: kept in memory (by id, and per instance in
 * creation order), moved through PENDING -> RUNNING -> SUCCEEDED|FAILED|CANCELLED on
 * libevent timers, with at most `max_running` RUNNING per instance and
 * `account_max_running` per account (AdvertiserId), both read from the live profiles. */
#ifndef AMCSIM_EXECUTIONS_H
#define AMCSIM_EXECUTIONS_H

#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <jansson.h>

#include "common.h"
#include "data.h"
#include "ids.h"
#include "pgpool.h"
#include "profile.h"
#include "simtime.h"

enum ExecStatus { EXEC_PENDING, EXEC_RUNNING, EXEC_SUCCEEDED, EXEC_FAILED, EXEC_CANCELLED };
extern const char *const exec_status_name[];

#define EXEC_WORKFLOW_MAX 128
#define EXEC_TZ_MAX 64

typedef struct Inst Inst;
typedef struct Acct Acct;
#define EXEC_ACCOUNT_MAX 128

typedef struct Exec {
	char id[IDS_UUID_LEN + 1];
	char workflow_id[EXEC_WORKFLOW_MAX + 1];
	struct ExecStore *store; /* the store it lives in (timer and pool callbacks) */
	Inst *inst;
	Acct *acct;
	const char *instance_id; /* inst's id */
	uint64_t seq;            /* global creation order: list cursor */
	char *sql;
	enum ExecStatus status;
	char *reason;                                    /* statusReason when FAILED */
	int64_t create_ms, updated_ms, start_ms, end_ms; /* 0 = not yet */
	char tw_type[24];
	char tw_start_orig[20], tw_end_orig[20]; /* as sent (local to tz) */
	char tz[EXEC_TZ_MAX + 1];
	time_t tw_start, tw_end; /* UTC */
	int timeout_s;
	struct event *timer; /* pending dwell, then RUNNING latency */
	bool queued;         /* waiting in inst's queue for a RUNNING slot */
	bool in_sql;         /* a pgpool job holds a pointer to this execution */
	char *csv;           /* result file when SUCCEEDED */
	size_t csv_len;
	long rows;
	struct Exec *qnext;
	/* faults chosen at create time from the instance's profile */
	int pending_ms, latency_ms;
	char *inject_fail;      /* non-NULL: end FAILED with this reason instead of running */
	int nparts;             /* result files */
	bool url_403_first;     /* the first GET of each file is refused */
	uint32_t parts_refused; /* bit per file already refused once */
	/* cancel requests received, whatever their outcome (a checker asks whether the client
	 * tried to stop an execution it no longer wanted: GET /sim/executions) */
	int cancel_requests;
	int64_t cancel_ms; /* the first one; 0 = none */
} Exec;

/* what a validated create request asks for */
typedef struct ExecRequest {
	const char *sql;
	const char *workflow_id; /* NULL: transient_<uuid> */
	const char *tw_type;
	const char *tw_start_orig, *tw_end_orig;
	const char *tz;
	time_t tw_start, tw_end;
	int timeout_s;
	const char *account; /* AdvertiserId */
	int pending_ms, latency_ms;
	const char *inject_fail; /* NULL: run the SQL */
	int nparts;
	bool url_403_first;
} ExecRequest;

typedef struct ExecStore ExecStore;

typedef struct ExecSettings {
	int statement_timeout_ms;
} ExecSettings;

/* profiles is borrowed: the running limits are looked up whenever a slot may open */
ExecStore *executions_new(struct event_base *base, PgPool *pool, ProfileStore *profiles,
			  const ExecSettings *set);
/* before pgpool_free: jobs the pool drops on shutdown are then discarded quietly */
void executions_shutdown(ExecStore *st);
void executions_free(ExecStore *st); /* after pgpool_free: no job may be in flight */
/* NULL on allocation failure */
Exec *executions_create(ExecStore *st, const char *instance, const ExecRequest *req);
/* NULL unless id exists and belongs to instance */
Exec *executions_find(ExecStore *st, const char *instance, const char *id);
/* false (nothing changed) if e is already terminal */
bool executions_cancel(ExecStore *st, Exec *e);
/* a client asked to cancel e (counted before executions_cancel, even if e is terminal) */
void executions_note_cancel(Exec *e);
bool executions_is_terminal(const Exec *e);
/* starts whatever the (changed) limits now allow, on every instance */
void executions_pump_all(ExecStore *st);
/* executions created on instance at or after since_ms (the daily quota) */
size_t executions_count_since(ExecStore *st, const char *instance, int64_t since_ms);

typedef struct ExecFilter {
	const char *workflow_id;              /* NULL = any */
	int64_t min_create_ms, max_create_ms; /* -1 = open */
	bool ascending, include_cancelled;
	uint64_t after_seq; /* cursor: 0 = from the start */
	size_t limit;
} ExecFilter;
/* fills out (up to f->limit) and sets *more when another page exists */
size_t executions_list(ExecStore *st, const char *instance, const ExecFilter *f, Exec **out,
		       bool *more);
json_t *executions_json(const Exec *e, bool include_sql);
/* every instance, creation order: up to limit executions with seq > after_seq in out,
 * *more when others follow (GET /sim/executions pages with it) */
size_t executions_page(ExecStore *st, uint64_t after_seq, Exec **out, size_t limit, bool *more);
/* the AdvertiserId e was created under ("" if none was sent) */
const char *executions_account(const Exec *e);
/* seq of the newest execution, 0 when there is none */
uint64_t executions_last_seq(const ExecStore *st);

#endif
