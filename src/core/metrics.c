/* metrics.c - the registry of one process's metrics and their Prometheus text rendering.
 * It does no I/O and keeps no label value it was not given at registration. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strbuf.h"

#define MAX_HOOKS 8

struct Metrics {
	Metric *head, *tail;
	struct {
		MetricsCollectFn fn;
		void *priv;
	} hooks[MAX_HOOKS];
	int nhooks;
};

const double metrics_buckets_latency[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const int metrics_buckets_latency_n = ARRAY_LEN(metrics_buckets_latency);
const double metrics_buckets_duration[] = {
	1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200,
};
const int metrics_buckets_duration_n = ARRAY_LEN(metrics_buckets_duration);

Metrics *metrics_new(void)
{
	return calloc(1, sizeof(Metrics));
}

void metrics_free(Metrics *reg)
{
	Metric *m, *next;

	if (reg == NULL)
		return;
	for (m = reg->head; m != NULL; m = next) {
		next = m->next;
		free(m->values);
		free(m->buckets);
		m->values = NULL;
		m->buckets = NULL;
		m->nseries = 0;
		m->next = NULL;
	}
	free(reg);
}

bool metrics_register(Metrics *reg, Metric *m)
{
	size_t n = 1;

	if (reg == NULL || m == NULL || m->name == NULL || m->help == NULL || m->values != NULL)
		return false;
	for (Metric *o = reg->head; o != NULL; o = o->next)
		if (strcmp(o->name, m->name) == 0)
			return false;
	for (int i = 0; i < METRIC_MAX_LABELS; i++) {
		if (m->labels[i].name == NULL)
			continue;
		if (i > 0 && m->labels[0].name == NULL)
			return false;
		if (m->labels[i].n <= 0 || m->labels[i].values == NULL)
			return false;
		n *= (size_t)m->labels[i].n;
	}
	if (m->type == METRIC_HISTOGRAM) {
		if (m->bounds == NULL || m->nbounds <= 0)
			return false;
		for (int i = 1; i < m->nbounds; i++)
			if (!(m->bounds[i] > m->bounds[i - 1]))
				return false;
		m->buckets = calloc(n * (size_t)(m->nbounds + 1), sizeof(*m->buckets));
		if (m->buckets == NULL)
			return false;
	}
	m->values = calloc(n, sizeof(*m->values));
	if (m->values == NULL) {
		free(m->buckets);
		m->buckets = NULL;
		return false;
	}
	m->nseries = n;
	m->next = NULL;
	if (reg->tail != NULL)
		reg->tail->next = m;
	else
		reg->head = m;
	reg->tail = m;
	return true;
}

bool metrics_on_collect(Metrics *reg, MetricsCollectFn fn, void *priv)
{
	if (reg == NULL || fn == NULL || reg->nhooks == MAX_HOOKS)
		return false;
	reg->hooks[reg->nhooks].fn = fn;
	reg->hooks[reg->nhooks].priv = priv;
	reg->nhooks++;
	return true;
}

/* ---- updates: no allocation, an index check and an add ---- */

void metric_add(Metric *m, size_t series, double v)
{
	if (m == NULL || series >= m->nseries || m->type == METRIC_HISTOGRAM)
		return;
	if (m->type == METRIC_COUNTER && !(v >= 0))
		return; /* a counter never goes down (nor takes NaN) */
	m->values[series] += v;
}

void metric_inc(Metric *m, size_t series)
{
	metric_add(m, series, 1);
}

void metric_set(Metric *m, size_t series, double v)
{
	if (m == NULL || series >= m->nseries || m->type != METRIC_GAUGE)
		return;
	m->values[series] = v;
}

void metric_observe(Metric *m, size_t series, double v)
{
	int i;

	if (m == NULL || series >= m->nseries || m->type != METRIC_HISTOGRAM || isnan(v))
		return;
	for (i = 0; i < m->nbounds && v > m->bounds[i]; i++)
		;
	m->buckets[series * (size_t)(m->nbounds + 1) + (size_t)i]++;
	m->values[series] += v;
}

double metric_value(const Metric *m, size_t series)
{
	double n = 0;

	if (m == NULL || series >= m->nseries)
		return 0;
	if (m->type != METRIC_HISTOGRAM)
		return m->values[series];
	for (int i = 0; i <= m->nbounds; i++)
		n += (double)m->buckets[series * (size_t)(m->nbounds + 1) + (size_t)i];
	return n;
}

double metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- rendering ---- */

/* HELP text escapes \ and newline; label values also escape ". */
static void put_escaped(StrBuf *b, const char *s, bool quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			strbuf_addf(b, "\\\\");
		else if (*s == '\n')
			strbuf_addf(b, "\\n");
		else if (quote && *s == '"')
			strbuf_addf(b, "\\\"");
		else
			strbuf_addf(b, "%c", *s);
	}
}

static void put_number(StrBuf *b, double v)
{
	if (isinf(v))
		strbuf_addf(b, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		strbuf_addf(b, "NaN");
	else {
		char tmp[40];

		/* the shortest of 15 or 17 digits that reads back as v: "0.1", not
		 * "0.10000000000000001" */
		snprintf(tmp, sizeof(tmp), "%.15g", v);
		if (strtod(tmp, NULL) != v)
			snprintf(tmp, sizeof(tmp), "%.17g", v);
		strbuf_addf(b, "%s", tmp);
	}
}

/* {a="x",b="y"[,le="..."]} for series s; nothing when there are no labels and no le. */
static void put_labels(StrBuf *b, const Metric *m, size_t s, const char *le)
{
	int nb = m->labels[1].name != NULL ? m->labels[1].n : 1;
	int idx[METRIC_MAX_LABELS] = { (int)(s / (size_t)nb), (int)(s % (size_t)nb) };
	bool any = false;

	for (int i = 0; i < METRIC_MAX_LABELS; i++) {
		if (m->labels[i].name == NULL)
			continue;
		strbuf_addf(b, "%s%s=\"", any ? "," : "{", m->labels[i].name);
		put_escaped(b, m->labels[i].values[idx[i]], true);
		strbuf_addf(b, "\"");
		any = true;
	}
	if (le != NULL) {
		strbuf_addf(b, "%sle=\"%s\"", any ? "," : "{", le);
		any = true;
	}
	if (any)
		strbuf_addf(b, "}");
}

static void render_one(StrBuf *b, const Metric *m)
{
	static const char *const type_name[] = { "counter", "gauge", "histogram" };

	strbuf_addf(b, "# HELP %s ", m->name);
	put_escaped(b, m->help, false);
	strbuf_addf(b, "\n# TYPE %s %s\n", m->name, type_name[m->type]);
	for (size_t s = 0; s < m->nseries; s++) {
		if (m->type != METRIC_HISTOGRAM) {
			strbuf_addf(b, "%s", m->name);
			put_labels(b, m, s, NULL);
			strbuf_addf(b, " ");
			put_number(b, m->values[s]);
			strbuf_addf(b, "\n");
			continue;
		}
		const uint64_t *bk = m->buckets + s * (size_t)(m->nbounds + 1);
		uint64_t cum = 0;
		char le[32];

		for (int i = 0; i <= m->nbounds; i++) {
			cum += bk[i];
			if (i < m->nbounds)
				snprintf(le, sizeof(le), "%.15g", m->bounds[i]);
			else
				snprintf(le, sizeof(le), "+Inf");
			strbuf_addf(b, "%s_bucket", m->name);
			put_labels(b, m, s, le);
			strbuf_addf(b, " %llu\n", (unsigned long long)cum);
		}
		strbuf_addf(b, "%s_sum", m->name);
		put_labels(b, m, s, NULL);
		strbuf_addf(b, " ");
		put_number(b, m->values[s]);
		strbuf_addf(b, "\n%s_count", m->name);
		put_labels(b, m, s, NULL);
		strbuf_addf(b, " %llu\n", (unsigned long long)cum);
	}
}

char *metrics_render(Metrics *reg, size_t *len)
{
	StrBuf b = STRBUF_INIT;

	/* room for a small registry at once: growth is for the big ones */
	if (reg == NULL || !strbuf_reserve(&b, 4096))
		return NULL;
	for (int i = 0; i < reg->nhooks; i++)
		reg->hooks[i].fn(reg->hooks[i].priv);
	for (const Metric *m = reg->head; m != NULL; m = m->next)
		render_one(&b, m);
	return strbuf_take(&b, len);
}
