/* test_params.c - params.c: merge, placeholder discovery, literal quoting with hostile
 * values, substitution errors, date parsing and the EXPLICIT time window. */
#include <stdlib.h>
#include <string.h>

#include "params.h"
#include "../tap.h"

static json_t *J(const char *text)
{
	json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (v == NULL) {
		printf("# bad test JSON: %s\n", text);
		exit(1);
	}
	return v;
}

/* substitute sql with params (JSON text); returns the result (caller frees) or NULL */
static char *subst(const char *sql, const char *params, char *err, size_t errlen)
{
	json_t *p = J(params);
	char *out = params_substitute(sql, p, err, errlen);
	json_decref(p);
	return out;
}

static void expect_subst(const char *sql, const char *params, const char *want)
{
	char err[256] = "";
	char *got = subst(sql, params, err, sizeof(err));
	assertf(got != NULL && strcmp(got, want) == 0, "subst(%s, %s) = %s (err %s), want %s", sql,
		params, got != NULL ? got : "NULL", err, want);
	free(got);
}

static void expect_subst_error(const char *sql, const char *params, const char *needle)
{
	char err[256] = "";
	char *got = subst(sql, params, err, sizeof(err));
	assertf(got == NULL && strstr(err, needle) != NULL,
		"subst(%s, %s) should fail with '%s', got %s / err '%s'", sql, params, needle,
		got != NULL ? got : "NULL", err);
	free(got);
}

static void test_params_merge_override_wins(void)
{
	json_t *base = J("{\"a\":1,\"b\":\"x\",\"c\":[1,2]}");
	json_t *over = J("{\"b\":\"y\",\"d\":null}");
	json_t *m = params_merge(base, over);
	json_t *want = J("{\"a\":1,\"b\":\"y\",\"c\":[1,2],\"d\":null}");
	assertf(m != NULL && json_equal(m, want), "merge result");
	assertf(strcmp(json_string_value(json_object_get(base, "b")), "x") == 0,
		"base not modified");
	json_decref(m);
	m = params_merge(NULL, over);
	assertf(m != NULL && json_equal(m, over), "NULL base");
	json_decref(m);
	m = params_merge(base, NULL);
	assertf(m != NULL && json_equal(m, base), "NULL override");
	json_decref(m);
	json_t *arr = J("[1]");
	assertf(params_merge(arr, over) == NULL, "array base refused");
	assertf(params_merge(base, arr) == NULL, "array override refused");
	json_decref(arr);
	json_decref(want);
	json_decref(base);
	json_decref(over);
}

static void test_params_placeholders_found(void)
{
	char err[256];
	json_t *names = params_placeholders(
		"SELECT {{a}}, {{ b_2 }}, {{a}} FROM t WHERE x = {{_c}} AND y IN {{Brand9}}", err,
		sizeof(err));
	json_t *want = J("[\"a\",\"b_2\",\"_c\",\"Brand9\"]");
	assertf(names != NULL && json_equal(names, want), "names unique in order: %s",
		names != NULL ? "" : err);
	json_decref(names);
	json_decref(want);
	names = params_placeholders("SELECT 1 FROM t WHERE s = '{' AND z = '}}'", err, sizeof(err));
	assertf(names != NULL && json_array_size(names) == 0, "single braces are not placeholders");
	json_decref(names);
	static const char *const bad[] = {
		"{{}}",        "{{1abc}}", "{{a-b}}", "{{a}",
		"x {{ a b }}", "{{a}}{{",  "{{{a}}}" /* "{{{" opens with a brace, not a name */
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		names = params_placeholders(bad[i], err, sizeof(err));
		assertf(names == NULL && strstr(err, "malformed") != NULL, "'%s' must be malformed",
			bad[i]);
		json_decref(names);
	}
}

static void test_params_literals(void)
{
	expect_subst("x = {{s}}", "{\"s\":\"abc\"}", "x = 'abc'");
	expect_subst("x = {{s}}", "{\"s\":\"\"}", "x = ''");
	expect_subst("x = {{s}}", "{\"s\":\"O'Brien\"}", "x = 'O''Brien'");
	expect_subst("x = {{s}}", "{\"s\":\"'\"}", "x = ''''");
	expect_subst("x = {{s}}", "{\"s\":\"'; DROP TABLE x; --\"}", "x = '''; DROP TABLE x; --'");
	expect_subst("x = {{s}}", "{\"s\":\"a\\\\b\\\\'\"}",
		     "x = 'a\\b\\'''"); /* backslashes stay as is */
	expect_subst("x = {{s}}", "{\"s\":\"caf\\u00e9 \\u65e5\\u672c \\ud83d\\ude00\"}",
		     "x = 'caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80'");
	expect_subst("x = {{s}}", "{\"s\":\"line1\\nline2\"}", "x = 'line1\nline2'");
	expect_subst("x = {{s}}", "{\"s\":\"{{t}}\"}",
		     "x = '{{t}}'"); /* values are not re-scanned */
	expect_subst("x = {{n}}", "{\"n\":42}", "x = 42");
	expect_subst("x = {{n}}", "{\"n\":-7}", "x = -7");
	expect_subst("x = {{n}}", "{\"n\":0.1}", "x = 0.1");
	expect_subst("x = {{n}}", "{\"n\":1.5e300}", "x = 1.5e+300");
	expect_subst("x = {{b}} AND y = {{f}}", "{\"b\":true,\"f\":false}",
		     "x = TRUE AND y = FALSE");
	expect_subst("x = {{z}}", "{\"z\":null}", "x = NULL");
	expect_subst("x IN {{l}}", "{\"l\":[\"a\",\"b'c\",3,true,null]}",
		     "x IN ('a', 'b''c', 3, TRUE, NULL)");
	expect_subst("{{a}}{{a}}", "{\"a\":1}", "11");
	expect_subst("no placeholders", "{}", "no placeholders");
	expect_subst("", "{}", "");
}

static void test_params_substitute_errors(void)
{
	expect_subst_error("x = {{missing}}", "{\"other\":1}", "no value for parameter 'missing'");
	expect_subst_error("x = {{o}}", "{\"o\":{\"k\":1}}", "objects");
	expect_subst_error("x IN {{l}}", "{\"l\":[]}", "empty array");
	expect_subst_error("x IN {{l}}", "{\"l\":[[1]]}", "nested");
	expect_subst_error("x IN {{l}}", "{\"l\":[{\"a\":1}]}", "objects");
	expect_subst_error("x = {{s}}", "{\"s\":\"a\\u0000b\"}", "NUL");
	expect_subst_error("x = {{ s", "{\"s\":1}", "malformed");
	expect_subst_error("x = {{s}} {{", "{\"s\":1}", "malformed");
	expect_subst_error("x = {{s.t}}", "{\"s\":1}", "malformed");
	char err[64];
	json_t *arr = J("[1]");
	assertf(params_substitute("x", arr, err, sizeof(err)) == NULL, "non-object params refused");
	json_decref(arr);
	/* a literal for one value, as the API may use it */
	json_t *v = J("\"it's\"");
	char *lit = params_literal(v, err, sizeof(err));
	assertf(lit != NULL && strcmp(lit, "'it''s'") == 0, "params_literal string: %s",
		lit != NULL ? lit : err);
	free(lit);
	json_decref(v);
}

static void expect_ts(const char *in, const char *want, bool want_date_only)
{
	char out[PARAMS_TS_LEN];
	bool date_only = !want_date_only;
	bool ok = params_parse_ts(in, out, &date_only);
	assertf(ok && strcmp(out, want) == 0 && date_only == want_date_only,
		"parse_ts(%s) = %s %s, want %s", in, ok ? "ok" : "fail", ok ? out : "", want);
}

static void test_params_parse_ts(void)
{
	expect_ts("2024-01-31", "2024-01-31T00:00:00", true);
	expect_ts("2024-02-29T12:34:56", "2024-02-29T12:34:56", false);
	expect_ts("2024-02-29 12:34:56", "2024-02-29T12:34:56", false);
	expect_ts("2024-03-01T01:02:03Z", "2024-03-01T01:02:03", false);
	expect_ts("2024-03-01T01:02:03.123456Z", "2024-03-01T01:02:03", false);
	expect_ts("2024-03-01T01:02:03+05:30", "2024-03-01T01:02:03", false);
	expect_ts("2024-03-01T01:02:03-0800", "2024-03-01T01:02:03", false);
	static const char *const bad[] = { "",
					   "2024",
					   "2024-1-01",
					   "2023-02-29",
					   "2024-13-01",
					   "2024-04-31",
					   "2024-01-01T24:00:00",
					   "2024-01-01T",
					   "2024-01-01x",
					   "2024-01-01T00:00:00Zjunk",
					   "2024-01-01T00:00:00.Z",
					   "2024-01-01'; DROP TABLE x; --",
					   "２０２４-01-01" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char out[PARAMS_TS_LEN];
		bool d;
		assertf(!params_parse_ts(bad[i], out, &d), "parse_ts(%s) must fail", bad[i]);
	}
}

static void expect_window(const char *params, time_t now, const char *start, const char *end)
{
	char err[256] = "";
	ParamsWindow w;
	json_t *p = J(params);
	bool ok = params_window(p, now, &w, err, sizeof(err));
	assertf(ok && strcmp(w.start, start) == 0 && strcmp(w.end, end) == 0,
		"window(%s) = %s %s .. %s, want %s .. %s", params, ok ? "ok" : err,
		ok ? w.start : "", ok ? w.end : "", start, end);
	json_decref(p);
}

static void test_params_window(void)
{
	/* 2024-03-10T15:00:00Z */
	time_t now = 1710082800;
	expect_window("{\"startDate\":\"2024-01-01\",\"endDate\":\"2024-01-31\"}", now,
		      "2024-01-01T00:00:00", "2024-02-01T00:00:00");
	expect_window("{\"startDate\":\"2024-02-28\",\"endDate\":\"2024-02-29\"}", now,
		      "2024-02-28T00:00:00", "2024-03-01T00:00:00"); /* leap day end */
	expect_window("{\"startDate\":\"2023-12-31\",\"endDate\":\"2023-12-31\"}", now,
		      "2023-12-31T00:00:00", "2024-01-01T00:00:00"); /* one day, year end */
	expect_window(
		"{\"startDate\":\"2024-01-01T06:00:00Z\",\"endDate\":\"2024-01-02T18:30:00.5+01:00\"}",
		now, "2024-01-01T06:00:00", "2024-01-02T18:30:00"); /* datetimes kept */
	/* defaults: the last 7 full days ending 2 days ago (today is 2024-03-10) */
	expect_window("{}", now, "2024-03-01T00:00:00", "2024-03-08T00:00:00");
	expect_window("{\"startDate\":null}", now, "2024-03-01T00:00:00", "2024-03-08T00:00:00");
	expect_window("{\"startDate\":\"2024-02-01\"}", now, "2024-02-01T00:00:00",
		      "2024-03-08T00:00:00");
	expect_window("{\"endDate\":\"2024-01-10\"}", now, "2024-01-04T00:00:00",
		      "2024-01-11T00:00:00");
	/* just after midnight UTC the default moves a day */
	expect_window("{}", 1710028800, "2024-03-01T00:00:00", "2024-03-08T00:00:00");
	expect_window("{}", 1710028799, "2024-02-29T00:00:00", "2024-03-07T00:00:00");

	char err[256];
	ParamsWindow w;
	static const char *const bad[] = {
		"{\"startDate\":\"2024-02-01\",\"endDate\":\"2024-01-01\"}", /* reversed */
		"{\"startDate\":\"2024-01-01T05:00:00\",\"endDate\":\"2024-01-01T05:00:00\"}", /* empty */
		"{\"startDate\":20240101}",
		"{\"endDate\":\"yesterday\"}",
		"{\"startDate\":\"2024-01-01'; DROP TABLE x; --\"}",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		json_t *p = J(bad[i]);
		err[0] = '\0';
		assertf(!params_window(p, now, &w, err, sizeof(err)) && err[0],
			"window(%s) must fail", bad[i]);
		json_decref(p);
	}
}

static void test_params_types(void)
{
	json_t *ph = json_pack("[s,s,s,s]", "d", "n", "t", "l");
	json_t *types = json_pack("{s:s,s:s,s:s,s:s}", "d", "date", "n", "number", "t", "text", "l",
				  "list");
	json_t *bad_name = json_pack("{s:s}", "x", "text"),
	       *bad_type = json_pack("{s:s}", "d", "float");
	char bad[PARAMS_NAME_MAX + 1], err[256];
	static const struct {
		const char *values;
		const char *bad; /* "" when accepted */
	} cases[] = {
		{ "{\"d\": \"2025-01-31\", \"n\": 3.5, \"t\": \"x\", \"l\": [\"a\", 2]}", "" },
		{ "{\"d\": \"2025-01-31T06:00:00Z\"}", "" },
		{ "{}", "" },                /* absent: the SQL check's job */
		{ "{\"other\": true}", "" }, /* undeclared: anything */
		{ "{\"d\": \"2025-02-30\"}", "d" },
		{ "{\"d\": 20250131}", "d" },
		{ "{\"n\": \"3\"}", "n" },
		{ "{\"n\": true}", "n" },
		{ "{\"t\": 3}", "t" },
		{ "{\"l\": []}", "l" },
		{ "{\"l\": \"a\"}", "l" },
		{ "{\"l\": [[1]]}", "l" },
	};

	assertf(params_types_valid(types, ph, bad, err, sizeof(err)), "declared types accepted: %s",
		err);
	assertf(params_types_valid(NULL, ph, bad, err, sizeof(err)), "no types");
	assertf(!params_types_valid(bad_name, ph, bad, err, sizeof(err)) && strcmp(bad, "x") == 0 &&
			strstr(err, "placeholder") != NULL,
		"a type for no placeholder: %s", err);
	assertf(!params_types_valid(bad_type, ph, bad, err, sizeof(err)) && strcmp(bad, "d") == 0 &&
			strstr(err, "date, number, text or list") != NULL,
		"an unknown type: %s", err);
	assertf(!params_types_valid(ph, ph, bad, err, sizeof(err)) && bad[0] == '\0', "an array");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = json_loads(cases[i].values, 0, NULL);
		bool ok = params_check_types(types, v, bad, err, sizeof(err));

		assertf(ok == (cases[i].bad[0] == '\0') && strcmp(bad, cases[i].bad) == 0,
			"check_types(%s): ok=%d bad='%s' err='%s'", cases[i].values, ok, bad, err);
		json_decref(v);
	}
	json_decref(ph);
	json_decref(types);
	json_decref(bad_name);
	json_decref(bad_type);
}

int main(void)
{
	RUN_TEST(test_params_merge_override_wins);
	RUN_TEST(test_params_placeholders_found);
	RUN_TEST(test_params_literals);
	RUN_TEST(test_params_substitute_errors);
	RUN_TEST(test_params_parse_ts);
	RUN_TEST(test_params_window);
	RUN_TEST(test_params_types);
	return tap_done();
}
