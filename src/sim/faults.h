/* faults.h - request-level fault injection: before an endpoint handles a request, the
 * instance's profile may answer 429 (Retry-After) or a 5xx instead, or hold the request on
 * a timer (a hang) and hand it back later; a create's answer can be dropped with the
 * connection. The dice are seedable (AMCSIM_SEED). */
#ifndef AMCSIM_FAULTS_H
#define AMCSIM_FAULTS_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>

#include "common.h"
#include "profile.h"
#include "rng.h"
#include "stats.h"

typedef struct Faults Faults;

/* called when a held request is released: handle it now, without the gate */
typedef void (*FaultResume)(void *arg, struct evhttp_request *req);

Faults *faults_new(struct event_base *base, uint64_t seed, FaultResume resume, void *arg);
/* before evhttp_free: drops held requests (their timers never fire) */
void faults_free(Faults *f);
void faults_seed(Faults *f, uint64_t seed);
Rng *faults_rng(Faults *f);

enum Gate {
	GATE_PASS,     /* no fault: handle the request */
	GATE_REPLIED,  /* a fault answered it */
	GATE_DEFERRED, /* held: the resume callback gets it later */
};
/* inst may be NULL (token endpoint). p is the effective profile for inst. region: the host
 * the request came to, for the counters (stats_inc). */
enum Gate faults_gate(Faults *f, ProfileStore *ps, Stats *stats, int region, const Profile *p,
		      struct evhttp_request *req, const char *inst, enum Endpoint ep);
/* answers 429 with p's Retry-After (seconds or an HTTP-date) and AMC's error body; a
 * retry_after_s of -1 means "seconds given here" via override_s */
void faults_reply_429(struct evhttp_request *req, const Profile *p, int override_s,
		      const char *details);
/* closes the connection without answering (after the current callback returns) */
void faults_drop(Faults *f, struct evhttp_request *req);

#endif
