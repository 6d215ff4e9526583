/* harness.h - what every Lua script test program (tests/lua/test_lua_*.c) shares: the
 * helpers that call the scripts of lua/ by EVALSHA against the real redis-server named by
 * REDIS_URL, and after every call check the counter invariant and batch status rule of
 * docs/redis-keys.md on every batch the case created, and the scheduling invariants: P running
 * equals the running execs per instance and account, every queued exec waits in its batch's
 * queue or one parked list, every retry_wait exec is in P retry, and the ring P queue holds
 * exactly the batches whose queue is not empty.
 *
 * Each case runs in a process of its own (as beanstalkd's ct does) with a fresh key prefix
 * amcbtest:<pid>:<case>: and fresh harness state, and its keys are deleted after it: one
 * case's failure, crash or leftovers cannot reach the next. Uses the synchronous hiredis API
 * (tests may block). */
#ifndef AMCB_TESTS_LUA_HARNESS_H
#define AMCB_TESTS_LUA_HARNESS_H

#define _POSIX_C_SOURCE 200809L /* first: this header comes before any system header */

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "keys.h"
#include "lua_scripts.h"

/* several files make one test program: harness.c holds tap.h's counters */
#define TAP_SHARED_COUNTERS
#include "../tap.h"

#define ID_MAX 32                /* batch_xxxxxxxx / exec_xxxxxxxx and then some */
#define REF_MAX (2 * ID_MAX + 2) /* B:E */
#define MAX_BATCHES 256
#define MAX_EXECS 128 /* per enqueue */
#define FM_MAX 16     /* jobs per finish_many call */

/* One case of a program: run in a child process by lua_harness_main. */
typedef struct LuaCase {
	const char *name;
	void (*fn)(void);
} LuaCase;
#define LUA_CASE(fn) \
	{ \
#fn, fn \
	}

/* Loads the scripts, then runs each case isolated and prints its "ok - name" / "not ok -
 * name" line, then the summary; the program's exit status (77: no REDIS_URL). */
int lua_harness_main(const LuaCase *cases, size_t n);

/* ---- the case's state (reset before each case) ---- */
extern redisContext *rc;                  /* the case's connection */
extern char prefix[64];                   /* amcbtest:<pid>:<case>: */
extern char sha[LUA_SCRIPT_COUNT][41];    /* SHA1 of each script, loaded once */
extern long long now_ms;                  /* script time only comes from ARGV */
extern char batches[MAX_BATCHES][ID_MAX]; /* batches the invariant is checked on */
extern int n_batches;
/* extra batch fields (JSON members with a leading comma) the next enqueues send, e.g. the
 * batch policy; "" = none */
extern const char *enqueue_extra;
/* The claim token a held-job call carries: the exec's current `claim` (a holder that knows
 * its claim), unless a test sets stale_token to play a holder whose claim was superseded. */
extern const char *stale_token;

/* ---- keys of the case's prefix (in a ring of buffers: valid for a few calls) ---- */
const char *k_batch(const char *b);
const char *k_execs(const char *b);
const char *k_exec(const char *b, const char *e);
const char *k_queue(void);
const char *k_bqueue(const char *b);
const char *k_retry(void);
const char *k_running(void);
const char *k_parked(const char *kind, const char *id);
const char *k_batches(void);
const char *k_events(void);
const char *k_workers(void);
const char *k_jobs(const char *w);
const char *k_lease(const char *w);
const char *k_info(const char *w);
const char *k_amc_cancels(void);
const char *now_str(void);

/* ---- plain commands (all replies are freed where they are read) ---- */
/* the reply (caller frees); a lost server ends the case */
redisReply *cmd(const char *fmt, ...);
/* caller frees; NULL when the field does not exist */
char *hget(const char *key, const char *field);
bool hget_is(const char *key, const char *field, const char *want);
long long hget_ll(const char *key, const char *field);
long long int_cmd(const char *fmt, ...);
/* occurrences of value in a (small, test-sized) list */
int list_count(const char *key, const char *value);
const char *last_event_field(const char *field);
/* whether B:E is a member of the ZSET key */
bool zscore_set(const char *key, const char *b, const char *e);

/* ---- the invariant, checked on every batch of the case after every script call ---- */
void check_all(void);

/* ---- calling scripts ---- */
/* EVALSHA script id; the caller frees the reply. Checks the invariant afterwards. */
redisReply *run(enum LuaScriptId id, int nkeys, const char **keys, int nargs, const char **args);
long long run_int(enum LuaScriptId id, int nkeys, const char **keys, int nargs, const char **args);
void new_batch_id(char *out);
/* enqueue_batch with n execs (ids written to exec_ids) on instances insts[i] of accounts
 * accts[i] (NULL: amcinst<i>, no account); registers the batch for checking */
long long enqueue_on(const char *b, int n, char exec_ids[][ID_MAX], const char *const *insts,
		     const char *const *accts);
long long enqueue(const char *b, int n, char exec_ids[][ID_MAX]);
/* claim under the given caps: returns the reply (caller frees) */
redisReply *claim_caps(const char *w, int max, int icap, int acap);
/* claim under the default caps (10 per instance, 200 per account) */
redisReply *claim(const char *w, int max);
/* the ref of claimed job i, copied into out */
bool job_ref(redisReply *r, size_t i, char *out, size_t n);
void ref_of(char *out, const char *b, const char *e);
const char *tok(const char *b, const char *e);
long long record_amc_id(const char *b, const char *e, const char *amc_id, const char *w);
long long set_phase(const char *b, const char *e, const char *phase, const char *w);
/* progress with n field, value strings (at most 8) */
long long progress(const char *b, const char *e, const char *w, const char *const *fields, int n);
/* finish; on success writes final_state/batch_status; returns the integer code or LUA_OK */
long long finish(const char *b, const char *e, const char *outcome, const char *w,
		 char *final_state, char *batch_status);
redisReply *cancel_batch(const char *b);
/* heartbeat asking for up to max_refs of w's jobs list; the reply (caller frees) */
redisReply *heartbeat_refs(const char *w, long long lease_ms, int max_refs);
/* LUA_OK when the heartbeat answered its { n, ref... } array */
long long heartbeat(const char *w, long long lease_ms);
long long reclaim(int max_workers);
/* retry with the flags of ARGV[7], [9] and [10] (throttled, AMC execution live, nothing
 * created); on success writes the batch status; returns the integer code or LUA_OK */
long long retry_flags(const char *b, const char *e, const char *w, long long due,
		      const char *reason, const char *throttled, const char *amc_live,
		      const char *no_create, char *batch_status);
long long retry(const char *b, const char *e, const char *w, long long due, const char *reason,
		char *batch_status);
long long release_live(const char *b, const char *e, const char *w, const char *amc_live);
long long release(const char *b, const char *e, const char *w);
/* running slots held on one instance or account (0 when the field is absent) */
long long slots(const char *kind, const char *id);
/* does claim reply r hold the job b:e? */
bool claimed_has(redisReply *r, const char *b, const char *e);
size_t n_claimed(redisReply *r);
/* every batch the case left open is cancelled: the ring is empty afterwards */
void drain_queue(void);
/* finish_many of n jobs b[i]:e[i] by worker w with outcome o[i] (rows "7" when completed,
 * error "boom" when failed); the caller frees the reply */
redisReply *finish_many(const char *w, int n, const char *const *b, const char *const *e,
			const char *const *o);
/* result i of a finish_many reply is {state, batch_status} */
bool fm_result_is(const redisReply *r, size_t i, const char *state, const char *status);
bool fm_result_code(const redisReply *r, size_t i, long long code);
/* an entry of type among the last 50 events whose exec_ids is ids (and whose field f = v) */
bool has_event(const char *type, const char *ids, const char *f, const char *v);

#endif
