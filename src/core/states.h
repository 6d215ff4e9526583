/* states.h - the execution and batch states, named once. Redis (lua/), PostgreSQL (the CHECK
 * constraints of sql/001), the API's JSON and the web UI all carry these names as text;
 * tests/unit/test_core_states checks each of those places against the tables here, so a state
 * added in one place and not the others fails a test instead of a batch.
 *
 * The order is the order of the SQL CHECK lists, and the final states come last, in one run
 * from *_FIRST_FINAL: a metric label or a "is it over" test can take that tail of the table. */
#ifndef AMCB_STATES_H
#define AMCB_STATES_H

#include <stdbool.h>

enum ExecState {
	EXEC_STATE_PENDING,    /* in PostgreSQL, not yet in Redis */
	EXEC_STATE_QUEUED,     /* in Redis, waiting for a claim */
	EXEC_STATE_RUNNING,    /* claimed by a worker */
	EXEC_STATE_RETRY_WAIT, /* back off after a retryable failure, queued again when due */
	EXEC_STATE_COMPLETED,  /* final states from here on */
	EXEC_STATE_FAILED,
	EXEC_STATE_CANCELLED,
	EXEC_STATE_COUNT
};
#define EXEC_STATE_FIRST_FINAL EXEC_STATE_COMPLETED
#define EXEC_STATE_FINAL_COUNT (EXEC_STATE_COUNT - EXEC_STATE_FIRST_FINAL)

enum BatchState {
	BATCH_STATE_PENDING,
	BATCH_STATE_RUNNING,
	BATCH_STATE_COMPLETED, /* final states from here on */
	BATCH_STATE_PARTIAL,
	BATCH_STATE_FAILED,
	BATCH_STATE_CANCELLED,
	BATCH_STATE_COUNT
};
#define BATCH_STATE_FIRST_FINAL BATCH_STATE_COMPLETED
#define BATCH_STATE_FINAL_COUNT (BATCH_STATE_COUNT - BATCH_STATE_FIRST_FINAL)

/* The names, indexed by the enums ("retry_wait", "partial", ...). */
extern const char *const exec_state_names[EXEC_STATE_COUNT];
extern const char *const batch_state_names[BATCH_STATE_COUNT];

/* The name of s; s must be a valid state. */
const char *exec_state_name(enum ExecState s);
const char *batch_state_name(enum BatchState s);

/* The state called name: false (and *out untouched) for NULL or an unknown name. */
bool exec_state_parse(const char *name, enum ExecState *out);
bool batch_state_parse(const char *name, enum BatchState *out);

/* Whether name is a final state (completed, failed, cancelled; for a batch also partial);
 * false for NULL or an unknown name. */
bool exec_state_name_is_final(const char *name);
bool batch_state_name_is_final(const char *name);

/* Whether name is that state: the comparison the code makes where a state arrives as text. */
bool exec_state_is(const char *name, enum ExecState s);
bool batch_state_is(const char *name, enum BatchState s);

#endif
