/* test_cli_output.c - the CLI's output text: CSV record counting, the --watch progress line
 * and its fitting to narrow terminals, JSON values and durations as display text (CSV
 * quoting is core's, tests/unit/test_core_csvw.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "fmt.h"
#include "progress.h"
#include "table.h"
#include "../tap.h"

/* printf of a possibly NULL string */
#define STR(s) ((s) ? (s) : "(null)")

static json_t *status_obj(const char *text)
{
	json_error_t e;
	json_t *v = json_loads(text, 0, &e);

	assertf(v, "test JSON: %s", e.text);
	return v;
}

static void test_cli_output_progress_counts(void)
{
	json_t *bs = status_obj(
		"{\"status\":\"running\",\"total_instances\":12,\"completed_instances\":7,"
		"\"failed_instances\":1,\"running_instances\":3,\"pending_instances\":1,"
		"\"cancelled_instances\":0,"
		"\"status_counts\":{\"failed\":1,\"completed\":7,\"running\":3,\"pending\":1}}");
	Progress p;
	char line[256];

	progress_from_status(&p, bs);
	assertf(p.done == 8 && p.total == 12, "done %lld/%lld", p.done, p.total);
	assertf(progress_percent(&p) == 67, "67%%, got %d", progress_percent(&p));
	progress_render(&p, 20, line, sizeof(line));
	assertf(strcmp(line,
		       "[#############-------] 8/12  67%  pending 1 \xc2\xb7 running 3 \xc2\xb7 completed 7 "
		       "\xc2\xb7 failed 1") == 0,
		"line '%s'", line);
	progress_render(&p, 0, line, sizeof(line));
	assertf(strcmp(line,
		       "8/12  67%  pending 1 \xc2\xb7 running 3 \xc2\xb7 completed 7 \xc2\xb7 failed 1") ==
			0,
		"bar-less line '%s'", line);
	json_decref(bs);

	/* no status_counts: the *_instances fields; extra states appended after known ones */
	bs = status_obj(
		"{\"total_instances\":4,\"completed_instances\":4,\"running_instances\":0}");
	progress_from_status(&p, bs);
	progress_render(&p, 10, line, sizeof(line));
	assertf(strcmp(line, "[##########] 4/4  100%  completed 4") == 0, "done line '%s'", line);
	json_decref(bs);
	bs = status_obj(
		"{\"total_instances\":3,\"status_counts\":{\"retry_wait\":1,\"weird\":1,\"queued\":1}}");
	progress_from_status(&p, bs);
	progress_render(&p, 0, line, sizeof(line));
	assertf(strcmp(line, "0/3  0%  queued 1 \xc2\xb7 retry_wait 1 \xc2\xb7 weird 1") == 0,
		"order '%s'", line);
	json_decref(bs);
}

static void test_cli_output_progress_percent(void)
{
	Progress p = { .done = 199, .total = 200 };

	assertf(progress_percent(&p) == 99, "never 100%% before the end, got %d",
		progress_percent(&p));
	p.done = 0;
	p.total = 0;
	assertf(progress_percent(&p) == 0, "empty batch 0%%");
	p.done = 1;
	p.total = 3;
	assertf(progress_percent(&p) == 33, "1/3 -> 33");
	p.done = 2;
	assertf(progress_percent(&p) == 67, "2/3 -> 67");
}

static void test_cli_output_progress_fit(void)
{
	json_t *bs = status_obj(
		"{\"total_instances\":100,\"completed_instances\":50,\"failed_instances\":0,"
		"\"status_counts\":{\"completed\":50,\"running\":40,\"pending\":10}}");
	Progress p;
	char line[256];

	progress_from_status(&p, bs);
	progress_render_fit(&p, 200, line, sizeof(line));
	assertf(strncmp(line, "[##########----------] ", 23) == 0, "wide terminal: 20 bar, '%s'",
		line);
	progress_render_fit(&p, 70, line, sizeof(line));
	assertf(strncmp(line, "[#####-----] ", 13) == 0 && table_text_width(line) < 70,
		"70 cols: 10 bar, '%s'", line);
	progress_render_fit(&p, 60, line, sizeof(line));
	assertf(strncmp(line, "50/100  50%", 11) == 0 && table_text_width(line) < 60,
		"60 cols: no bar, '%s'", line);
	progress_render_fit(&p, 20, line, sizeof(line));
	assertf(table_text_width(line) == 19 && strstr(line, "\xe2\x80\xa6") != NULL,
		"20 cols: cut, '%s'", line);
	json_decref(bs);
}

static void test_cli_output_json_text(void)
{
	json_t *v = status_obj("[\"s\", 12, 0.1, 1e300, true, null, {\"a\":1}, [1,2], -5]");
	const char *want[] = { "s", "12", "0.1", "1e+300", "true", "", "{\"a\":1}", "[1,2]", "-5" };

	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		char *t = fmt_json_text(json_array_get(v, i));

		assertf(t != NULL && strcmp(t, want[i]) == 0, "item %zu: want '%s' got '%s'", i,
			want[i], STR(t));
		free(t);
	}
	json_decref(v);
	{
		char *t = fmt_json_text(NULL);

		assertf(t != NULL && !*t, "missing value is empty");
		free(t);
	}
}

static void test_cli_output_duration(void)
{
	static const struct {
		const char *json;
		const char *want;
	} cases[] = {
		{ "45", "45s" },    { "0", "0s" },       { "2.5", "2.5s" },
		{ "125", "2m05s" }, { "3725", "1h02m" }, { "59.6", "1m00s" },
		{ "-1", "-" },      { "null", "-" },     { "\"x\"", "-" },
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
		char buf[32];

		fmt_duration(v, buf, sizeof(buf));
		assertf(strcmp(buf, cases[i].want) == 0, "%s: want %s got %s", cases[i].json,
			cases[i].want, buf);
		json_decref(v);
	}
}

/* Feeds text to a counter in pieces of step bytes; returns the record count. */
static unsigned long long count_in_steps(const char *text, size_t step)
{
	CsvCounter c = { 0 };
	size_t len = strlen(text);

	for (size_t i = 0; i < len; i += step)
		csv_count_feed(&c, text + i, len - i < step ? len - i : step);
	return csv_count_records(&c);
}

/* an execution's AMC window and a batch's relative window as the status view prints them */
static void test_cli_output_windows(void)
{
	static const struct {
		const char *json, *want;
	} tw[] = {
		{ "{\"start\":\"2026-11-23T00:00:00\",\"end\":\"2026-11-30T00:00:00\",\"timezone\":\"America/New_York\"}",
		  "2026-11-23 \u2013 2026-11-29 America/New_York" },
		{ "{\"start\":\"2026-02-01T00:00:00\",\"end\":\"2026-03-01T00:00:00\",\"timezone\":\"UTC\"}",
		  "2026-02-01 \u2013 2026-02-28 UTC" },
		{ "{\"start\":\"2027-12-25T00:00:00\",\"end\":\"2028-01-01T00:00:00\"}",
		  "2027-12-25 \u2013 2027-12-31 UTC" },
		{ "{\"start\":\"2026-11-23T06:00:00\",\"end\":\"2026-11-23T18:00:00\",\"timezone\":\"UTC\"}",
		  "2026-11-23T06:00:00 \u2013 2026-11-23T18:00:00 UTC" },
		{ "{\"start\":\"2026-11-23T00:00:00\"}", "" },
		{ "null", "" },
		{ "{\"type\":\"previous_week\",\"lag_days\":2}", "" },
	};
	char buf[160];

	for (size_t i = 0; i < sizeof(tw) / sizeof(tw[0]); i++) {
		json_t *v = json_loads(tw[i].json, JSON_DECODE_ANY, NULL);

		fmt_time_window(v, buf, sizeof(buf));
		assertf(strcmp(buf, tw[i].want) == 0, "%s -> '%s', want '%s'", tw[i].json, buf,
			tw[i].want);
		json_decref(v);
	}
	json_t *w = json_loads("{\"type\":\"previous_week\",\"lag_days\":2}", 0, NULL);
	fmt_window(w, buf, sizeof(buf));
	assertf(strcmp(buf, "previous_week, lag 2 days") == 0, "%s", buf);
	json_decref(w);
	w = json_loads("{\"type\":\"last_n_days\",\"n\":7,\"lag_days\":0}", 0, NULL);
	fmt_window(w, buf, sizeof(buf));
	assertf(strcmp(buf, "last_n_days 7, lag 0 days") == 0, "%s", buf);
	json_decref(w);
	fmt_window(NULL, buf, sizeof(buf));
	assertf(buf[0] == '\0', "no window: nothing");
}

static void test_cli_output_csv_count(void)
{
	static const char text[] = "_instance_name,_instance_id,note\r\n"
				   "\"a, b\",1,\"line1\nline2\"\r\n"
				   "\"say \"\"hi\"\"\r\n\",2,x\r\n"
				   "c,3,\"\"\r\n";

	/* every split point, so state carries over chunk boundaries */
	for (size_t step = 1; step <= sizeof(text); step++)
		assertf(count_in_steps(text, step) == 4, "step %zu: %llu records", step,
			count_in_steps(text, step));
	assertf(count_in_steps("", 1) == 0, "empty stream");
	assertf(count_in_steps("h\r\nlast", 3) == 2, "last record without a line end");
	assertf(count_in_steps("h\n\"open\nfield", 2) == 2, "unterminated quote");
}

int main(void)
{
	RUN_TEST(test_cli_output_csv_count);
	RUN_TEST(test_cli_output_progress_counts);
	RUN_TEST(test_cli_output_progress_percent);
	RUN_TEST(test_cli_output_progress_fit);
	RUN_TEST(test_cli_output_json_text);
	RUN_TEST(test_cli_output_duration);
	RUN_TEST(test_cli_output_windows);
	return tap_done();
}
