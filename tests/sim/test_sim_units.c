/* test_sim_units.c - amcsim's pure parts without servers: the strict AMC-dialect checker
 * (accepts, rejects, line/column positions), time parsing, result splitting and truncation
 * (the field quoting is core's, tests/unit/test_core_csvw.c), fault profiles (parse, merge,
 * reset), the seeded dice, the amcbatch attribution marker and the synthetic data's day range
 * setting. */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "csv.h"
#include "data.h"
#include "marker.h"
#include "profile.h"
#include "rng.h"
#include "simtime.h"
#include "strict.h"

static void sql_passes(const char *sql)
{
	char msg[512] = "";

	assertf(strict_check(sql, msg, sizeof(msg)), "should pass: %s (%s)", sql, msg);
}

static void sql_fails(const char *sql, const char *want)
{
	char msg[512] = "";

	assertf(!strict_check(sql, msg, sizeof(msg)) && strstr(msg, want) != NULL,
		"should fail with \"%s\": %s (got \"%s\")", want, sql, msg);
}

static void test_strict_accepts(void)
{
	sql_passes(
		"SELECT campaign_id, SUM(impressions) AS imps FROM sponsored_ads_traffic GROUP BY campaign_id");
	sql_passes("WITH t AS (SELECT campaign, count(*) AS n FROM impressions GROUP BY campaign) "
		   "SELECT campaign, n FROM t");
	sql_passes(
		"SELECT campaign, SUM(spend) OVER (PARTITION BY campaign ORDER BY event_dt) AS s, "
		"count(*) FROM impressions GROUP BY campaign, spend, event_dt");
	sql_passes("SELECT 'limit * from x' AS s, count(*) FROM impressions -- LIMIT 5\n");
	sql_passes("SELECT string_agg(campaign, ',' ORDER BY campaign) FROM dsp_impressions");
	sql_passes(
		"SELECT count(*) FROM impressions i JOIN amazon_attributed_events_by_traffic_time a "
		"ON a.campaign_id = i.campaign_id");
}

static void test_strict_rejects(void)
{
	sql_fails("SELECT campaign, count(*) FROM impressions GROUP BY campaign LIMIT 10",
		  "From line 1, column 62 to line 1, column 66: LIMIT is not supported");
	sql_fails("SELECT * FROM impressions", "SELECT * is not supported");
	sql_fails("SELECT campaign FROM impressions", "Aggregation is required");
	sql_fails("SELECT count(*) FROM impressions GROUP BY campaign ORDER BY campaign",
		  "ORDER BY is only supported");
	sql_fails("SELECT count(*)\nFROM sponsored_ad",
		  "From line 2, column 6 to line 2, column 17: Object 'sponsored_ad' not found");
	sql_fails("SELECT count(*) FROM inst_x.impressions_all",
		  "Object 'inst_x.impressions_all' not found");
	sql_fails("SELECT count(*) FROM impressions WHERE campaign = {{name}}",
		  "Undeclared parameter");
	sql_fails("  -- only a comment", "Query is empty");
}

static void test_time_parse(void)
{
	struct tm tm;
	time_t t;

	assertf(simtime_parse_local("2025-06-01T00:00:00", &tm), "plain");
	assertf(!simtime_parse_local("2025-06-01T00:00:00Z", &tm), "Z");
	assertf(!simtime_parse_local("2025-06-01T00:00:00.000", &tm), "fraction");
	assertf(!simtime_parse_local("2025-06-01", &tm), "date only");
	assertf(!simtime_parse_local("2025-02-29T00:00:00", &tm), "not a leap year");
	assertf(simtime_parse_local("2024-02-29T00:00:00", &tm), "leap year");
	simtime_init();
	assertf(simtime_parse_local("2025-06-01T00:00:00", &tm) &&
			simtime_to_utc(&tm, "America/New_York", &t) && t == 1748750400,
		"New York midnight is 04:00Z (%lld)", (long long)t);
	assertf(simtime_zone_valid("UTC") && simtime_zone_valid("Europe/Berlin"), "zones");
	assertf(!simtime_zone_valid("../etc/passwd") && !simtime_zone_valid("Mars/Olympus"),
		"bad zones");
}

static void test_csv_split_cut(void)
{
	const char *csv = "a,b\n1,\"x\ny\"\n2,z\n3,w\n";
	size_t len = strlen(csv), hl, off, bl, total = 0;

	for (int part = 0; part < 2; part++) {
		csv_part(csv, len, 2, part, &hl, &off, &bl);
		assertf(hl == 4, "header length %zu", hl);
		total += bl;
		/* 3 records over 2 parts: 1 then 2; the quoted newline is not a record end */
		assertf(part == 0 ? (off == 4 && bl == 8) : (off == 12 && bl == 8),
			"part %d: off %zu len %zu", part, off, bl);
	}
	assertf(total == len - 4, "every record in one part");
	csv_part(csv, len, 5, 4, &hl, &off, &bl);
	assertf(off == 16 && bl == 4, "last of 5 parts gets the third record: %zu", bl);
	csv_part(csv, len, 5, 0, &hl, &off, &bl);
	assertf(bl == 0, "more parts than records: header only");
	for (double r = 0; r < 1; r += 0.05) {
		size_t c = csv_cut(csv, len, r);
		assertf(c > 4 && c < len && csv[c - 1] != '\n', "cut %zu of %zu (r %.2f)", c, len,
			r);
	}
	size_t c = csv_cut("a,b\n", 4, 0.5);
	assertf(c > 0 && c < 4, "header-only file is cut inside the header: %zu", c);
}

static void test_profiles(void)
{
	Profile base, p;
	char err[256];
	ProfileStore *ps;
	json_t *o;

	profiles_builtin(&base);
	base.latency_ms = 300;
	ps = profiles_new(&base);
	assertf(ps != NULL, "store");
	if (ps == NULL)
		return;
	o = json_loads("{\"rate_429\":0.25,\"codes_5xx\":[504],\"endpoints\":[\"create\"]}", 0,
		       NULL);
	assertf(profiles_put(ps, "inst1", o, err, sizeof(err)), "put: %s", err);
	json_decref(o);
	o = json_loads("{\"max_running\":3}", 0, NULL);
	assertf(profiles_put(ps, "inst1", o, err, sizeof(err)), "merge: %s", err);
	json_decref(o);
	profiles_effective(ps, "inst1", &p);
	assertf(p.rate_429 == 0.25 && p.max_running == 3 && p.latency_ms == 300 &&
			p.ncodes_5xx == 1 && p.codes_5xx[0] == 504 &&
			p.endpoints == EP_MASK(EP_CREATE),
		"effective override");
	profiles_effective(ps, "other", &p);
	assertf(p.rate_429 == 0 && p.max_running == 10 && p.ncodes_5xx == 4,
		"others get the default");
	o = json_loads("{\"max_running\":0}", 0, NULL);
	assertf(!profiles_put(ps, NULL, o, err, sizeof(err)) && strstr(err, "max_running") != NULL,
		"bounds: %s", err);
	json_decref(o);
	o = json_loads("{\"burst_429\":1}", 0, NULL);
	assertf(profiles_put(ps, NULL, o, err, sizeof(err)), "burst");
	json_decref(o);
	assertf(profiles_take_burst(ps, "x") && !profiles_take_burst(ps, "x"), "burst of one");
	assertf(profiles_delete(ps, "inst1") && !profiles_delete(ps, "inst1"), "delete");
	profiles_effective(ps, "inst1", &p);
	assertf(p.max_running == 10, "back to the default");
	profiles_free(ps);
}

static void test_rng(void)
{
	Rng a, b;
	int hits = 0;

	rng_seed(&a, 99);
	rng_seed(&b, 99);
	for (int i = 0; i < 1000; i++) {
		bool x = rng_roll(&a, 0.3);
		assertf(x == rng_roll(&b, 0.3), "same seed, same draws");
		hits += x;
	}
	assertf(hits > 200 && hits < 400, "about 30%% hits: %d", hits);
	assertf(!rng_roll(&a, 0) && rng_roll(&a, 1), "0 and 1 are certain");
}

static void test_marker(void)
{
	char longid[MARKER_ID_MAX + 2];
	char sql[200];
	Marker m;

	assertf(marker_parse("-- amcbatch batch_0a1b2c3d exec_deadbeef\nSELECT 1", &m) &&
			!strcmp(m.batch_id, "batch_0a1b2c3d") &&
			!strcmp(m.exec_id, "exec_deadbeef"),
		"marker read: %s %s", m.batch_id, m.exec_id);
	assertf(marker_parse("-- amcbatch b e \r\nSELECT 1", &m) && !strcmp(m.exec_id, "e"),
		"trailing blanks and CRLF");
	static const char *const bad[] = {
		"SELECT 1",
		"",
		" -- amcbatch b e\nSELECT 1",
		"-- amcbatch b e",
		"-- amcbatch b\n",
		"-- amcbatch  b e\n",
		"-- amcbatch b  e\n",
		"-- amcbatch b e x\n",
		"-- amcbatch b;e f\n",
		"--amcbatch b e\n",
		"SELECT 1\n-- amcbatch b e\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assertf(!marker_parse(bad[i], &m) && !m.batch_id[0] && !m.exec_id[0],
			"not a marker: \"%s\"", bad[i]);
	assertf(!marker_parse(NULL, &m), "NULL sql");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	snprintf(sql, sizeof(sql), "-- amcbatch %s e\nSELECT 1", longid);
	assertf(!marker_parse(sql, &m), "an id longer than %d", MARKER_ID_MAX);
	longid[MARKER_ID_MAX] = '\0';
	snprintf(sql, sizeof(sql), "-- amcbatch %s e\nSELECT 1", longid);
	assertf(marker_parse(sql, &m) && strlen(m.batch_id) == MARKER_ID_MAX, "an id of %d",
		MARKER_ID_MAX);
}

static void test_data_days(void)
{
	static const char *const bad[][2] = {
		{ "2025-02-30", "2025-03-01" },  { "2025-1-01", "2025-03-01" },
		{ "2025-01-01x", "2025-03-01" }, { "2025-13-01", "2025-03-01" },
		{ "2025-03-02", "2025-03-01" },  { "", "2025-03-01" },
		{ "2025-01-01", "20250301" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assertf(!data_set_days(bad[i][0], bad[i][1]), "refused: %s .. %s", bad[i][0],
			bad[i][1]);
	assertf(data_set_days("2024-02-29", "2024-02-29"), "one (leap) day");
	assertf(data_set_days("2025-01-01", "2025-01-31"), "a month");
	assertf(data_set_days("2024-01-01", "2027-12-31"), "back to the default");
}

int main(void)
{
	RUN_TEST(test_strict_accepts);
	RUN_TEST(test_strict_rejects);
	RUN_TEST(test_time_parse);
	RUN_TEST(test_csv_split_cut);
	RUN_TEST(test_profiles);
	RUN_TEST(test_rng);
	RUN_TEST(test_marker);
	RUN_TEST(test_data_days);
	return tap_done();
}
