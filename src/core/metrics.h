/* metrics.h - counters, gauges and fixed-bucket histograms of one process, rendered in the
 * Prometheus text exposition format 0.0.4. It serves nothing over HTTP (the daemons do) and
 * reads no clock by itself except through metrics_now().
 *
 * Labels come only from bounded enums: a Metric declares each label's full value set, so a
 * series is an index (metric_ix2) and the number of series is fixed when it is registered.
 * Registering allocates every series once; updating (metric_inc/add/set/observe) allocates
 * nothing and costs an index check and an add.
 *
 * THREADS: every call is for the one loop thread of the process. Code on other threads
 * (pgpool's) must not touch a Metric: it hands what it measured to the loop thread (pgpool
 * does, with each job's completion), or keeps an atomic the loop thread reads in a
 * collect hook. */
#ifndef AMCB_METRICS_H
#define AMCB_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define METRIC_MAX_LABELS 2

enum MetricType { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* One label and every value it may take (static strings, n of them). */
typedef struct MetricLabel {
	const char *name;
	const char *const *values;
	int n;
} MetricLabel;

typedef struct Metric {
	/* set by the definer (static storage) */
	const char *name; /* amcbatch_<what>[_unit][_total] */
	const char *help;
	enum MetricType type;
	MetricLabel labels[METRIC_MAX_LABELS]; /* unused ones have name NULL */
	const double *bounds; /* histogram bucket upper bounds, ascending; +Inf is implied */
	int nbounds;
	/* filled by metrics_register, owned by the registry */
	size_t nseries;
	double *values;    /* counter/gauge: one per series; histogram: the sums */
	uint64_t *buckets; /* histogram: nseries * (nbounds + 1) counts, not cumulative */
	struct Metric *next;
} Metric;

typedef struct Metrics Metrics;

/* Called by metrics_render before it writes anything: refreshes gauges computed on demand
 * (in-flight counts, atomics other threads keep). */
typedef void (*MetricsCollectFn)(void *priv);

/* NULL on no memory. */
Metrics *metrics_new(void);
/* Frees the registry and every registered metric's series (not the Metric structs, which
 * the definer owns). Accepts NULL. */
void metrics_free(Metrics *reg);
/* Allocates m's series (all zero) and links it into reg; m must outlive reg. false on no
 * memory, a label without values, a name registered twice or unsorted bounds. */
MUST_CHECK bool metrics_register(Metrics *reg, Metric *m);
/* At most 8 hooks; false beyond that. */
MUST_CHECK bool metrics_on_collect(Metrics *reg, MetricsCollectFn fn, void *priv);

/* The series of label value indexes (a, b); for one label pass b = 0, for none 0, 0. An
 * index out of its label's range gives a series past the end, which every update ignores. */
static inline size_t metric_ix2(const Metric *m, int a, int b)
{
	int nb = m->labels[1].name != NULL ? m->labels[1].n : 1;

	if (a < 0 || b < 0 || b >= nb || (m->labels[0].name != NULL && a >= m->labels[0].n))
		return (size_t)-1;
	return (size_t)a * (size_t)nb + (size_t)b;
}

/* Updates; m may be NULL (not registered: nothing happens). */
void metric_add(Metric *m, size_t series, double v); /* counter: v >= 0; gauge: any */
void metric_inc(Metric *m, size_t series);
void metric_set(Metric *m, size_t series, double v);     /* gauge */
void metric_observe(Metric *m, size_t series, double v); /* histogram */
/* Current value of a counter or gauge series, or a histogram series' count (tests). */
double metric_value(const Metric *m, size_t series);

/* The exposition of every registered metric, in registration order, NUL-terminated (caller
 * frees); *len gets its length. NULL on no memory. Runs the collect hooks first. */
char *metrics_render(Metrics *reg, size_t *len);

/* Monotonic seconds, for durations handed to metric_observe. */
double metrics_now(void);

/* Bucket sets. Round trips to Redis, PostgreSQL, AMC and HTTP clients: 0.5 ms .. 10 s. */
extern const double metrics_buckets_latency[];
extern const int metrics_buckets_latency_n;
/* Execution durations: 1 s .. 2 h. */
extern const double metrics_buckets_duration[];
extern const int metrics_buckets_duration_n;

/* The content type of metrics_render's output. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
