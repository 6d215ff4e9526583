/* test_core_metrics.c - the metrics registry and its Prometheus text exposition: HELP/TYPE
 * lines, label sets from their bounded value lists, cumulative histogram buckets with +Inf,
 * _sum and _count, escaping, and updates outside a label's range ignored. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"

static const char *const outcomes[] = { "created", "client_error", "rate_limited" };
static const char *const routes[] = { "GET /a", "POST /b/*" };
static const double bounds[] = { 0.1, 1, 10 };

static Metric submissions = {
	.name = "t_submissions_total",
	.help = "Submissions by outcome.",
	.type = METRIC_COUNTER,
	.labels = { { "outcome", outcomes, 3 } },
};
static Metric depth = {
	.name = "t_queue_depth",
	.help = "Jobs \\ waiting\nnow.",
	.type = METRIC_GAUGE,
};
static Metric latency = {
	.name = "t_request_duration_seconds",
	.help = "Latency.",
	.type = METRIC_HISTOGRAM,
	.labels = { { "route", routes, 2 }, { "outcome", outcomes, 3 } },
	.bounds = bounds,
	.nbounds = 3,
};
static int collected;

static void collect(void *priv)
{
	collected++;
	metric_set(priv, 0, 42);
}

static bool has(const char *text, const char *line)
{
	const char *p = strstr(text, line);

	return p != NULL && (p == text || p[-1] == '\n') && p[strlen(line)] == '\n';
}

static void test_metrics_render(void)
{
	Metrics *reg = metrics_new();
	char *text;
	size_t len = 0;

	assertf(reg != NULL, "new");
	assertf(metrics_register(reg, &submissions), "register counter");
	assertf(metrics_register(reg, &depth), "register gauge");
	assertf(metrics_register(reg, &latency), "register histogram");
	assertf(!metrics_register(reg, &depth), "a metric registered twice is refused");
	assertf(metrics_on_collect(reg, collect, &depth), "collect hook");
	assertf(submissions.nseries == 3 && latency.nseries == 6 && depth.nseries == 1,
		"series counts %zu %zu %zu", submissions.nseries, latency.nseries, depth.nseries);

	metric_inc(&submissions, metric_ix2(&submissions, 0, 0));
	metric_add(&submissions, metric_ix2(&submissions, 2, 0), 3);
	metric_add(&submissions, metric_ix2(&submissions, 2, 0), -1); /* ignored */
	metric_inc(&submissions, metric_ix2(&submissions, 3, 0));     /* out of range: ignored */
	metric_observe(&latency, metric_ix2(&latency, 1, 2), 0.05);
	metric_observe(&latency, metric_ix2(&latency, 1, 2), 1); /* le="1" holds 1 */
	metric_observe(&latency, metric_ix2(&latency, 1, 2), 99);
	metric_observe(&latency, metric_ix2(&latency, 1, 3), 1); /* out of range */
	assertf(metric_value(&submissions, 2) == 3, "counter value");
	assertf(metric_value(&latency, metric_ix2(&latency, 1, 2)) == 3, "histogram count");

	text = metrics_render(reg, &len);
	assertf(text != NULL && len == strlen(text), "render");
	if (text == NULL)
		return;
	assertf(collected == 1, "the hook ran once");
	assertf(has(text, "# HELP t_submissions_total Submissions by outcome."), "help");
	assertf(has(text, "# TYPE t_submissions_total counter"), "type counter");
	assertf(has(text, "t_submissions_total{outcome=\"created\"} 1"), "created 1");
	assertf(has(text, "t_submissions_total{outcome=\"client_error\"} 0"), "zero series shown");
	assertf(has(text, "t_submissions_total{outcome=\"rate_limited\"} 3"), "rate_limited 3");
	assertf(has(text, "# HELP t_queue_depth Jobs \\\\ waiting\\nnow."), "help escaped");
	assertf(has(text, "# TYPE t_queue_depth gauge"), "type gauge");
	assertf(has(text, "t_queue_depth 42"), "gauge from the hook, no braces");
	assertf(has(text, "# TYPE t_request_duration_seconds histogram"), "type histogram");
	assertf(has(text,
		    "t_request_duration_seconds_bucket{route=\"POST /b/*\",outcome=\"rate_limited\",le=\"0.1\"} 1"),
		"bucket 0.1");
	assertf(has(text,
		    "t_request_duration_seconds_bucket{route=\"POST /b/*\",outcome=\"rate_limited\",le=\"1\"} 2"),
		"bucket 1 is cumulative and inclusive");
	assertf(has(text,
		    "t_request_duration_seconds_bucket{route=\"POST /b/*\",outcome=\"rate_limited\",le=\"10\"} 2"),
		"bucket 10");
	assertf(has(text,
		    "t_request_duration_seconds_bucket{route=\"POST /b/*\",outcome=\"rate_limited\",le=\"+Inf\"} 3"),
		"bucket +Inf");
	assertf(has(text,
		    "t_request_duration_seconds_sum{route=\"POST /b/*\",outcome=\"rate_limited\"} 100.05"),
		"sum");
	assertf(has(text,
		    "t_request_duration_seconds_count{route=\"POST /b/*\",outcome=\"rate_limited\"} 3"),
		"count");
	assertf(has(text,
		    "t_request_duration_seconds_count{route=\"GET /a\",outcome=\"created\"} 0"),
		"empty series");
	assertf(strstr(text, "t_submissions_total") < strstr(text, "t_queue_depth"),
		"registration order");
	free(text);
	metrics_free(reg);
	assertf(submissions.values == NULL && submissions.nseries == 0, "free resets the metric");
	metric_inc(&submissions, 0); /* unregistered: nothing happens, no crash */
}

static void test_metrics_refuses_bad_definitions(void)
{
	static const double unsorted[] = { 1, 0.5 };
	Metric no_values = {
		.name = "t_a", .help = "x", .type = METRIC_COUNTER, .labels = { { "l", NULL, 0 } }
	};
	Metric bad_bounds = { .name = "t_b",
			      .help = "x",
			      .type = METRIC_HISTOGRAM,
			      .bounds = unsorted,
			      .nbounds = 2 };
	Metric no_bounds = { .name = "t_c", .help = "x", .type = METRIC_HISTOGRAM };
	Metrics *reg = metrics_new();

	assertf(!metrics_register(reg, &no_values), "a label without values");
	assertf(!metrics_register(reg, &bad_bounds), "unsorted bounds");
	assertf(!metrics_register(reg, &no_bounds), "a histogram without bounds");
	metrics_free(reg);
	metrics_free(NULL);
}

int main(void)
{
	RUN_TEST(test_metrics_render);
	RUN_TEST(test_metrics_refuses_bad_definitions);
	return tap_done();
}
