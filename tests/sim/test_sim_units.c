/* test_sim_units.c - amcsim's pure parts without servers: the strict AMC-dialect checker
 * (accepts, rejects, line/column positions), RFC 4180 field quoting, time parsing. */
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "csv.h"
#include "simtime.h"
#include "strict.h"

static void accept(const char *sql)
{
	char msg[512] = "";

	assertf(strict_check(sql, msg, sizeof(msg)), "should pass: %s (%s)", sql, msg);
}

static void reject(const char *sql, const char *want)
{
	char msg[512] = "";

	assertf(!strict_check(sql, msg, sizeof(msg)) && strstr(msg, want),
		"should fail with \"%s\": %s (got \"%s\")", want, sql, msg);
}

static void test_strict_accepts(void)
{
	accept("SELECT campaign_id, SUM(impressions) AS imps FROM sponsored_ads_traffic GROUP BY campaign_id");
	accept("WITH t AS (SELECT campaign, count(*) AS n FROM impressions GROUP BY campaign) "
	       "SELECT campaign, n FROM t");
	accept("SELECT campaign, SUM(spend) OVER (PARTITION BY campaign ORDER BY event_dt) AS s, "
	       "count(*) FROM impressions GROUP BY campaign, spend, event_dt");
	accept("SELECT 'limit * from x' AS s, count(*) FROM impressions -- LIMIT 5\n");
	accept("SELECT string_agg(campaign, ',' ORDER BY campaign) FROM dsp_impressions");
	accept("SELECT count(*) FROM impressions i JOIN amazon_attributed_events_by_traffic_time a "
	       "ON a.campaign_id = i.campaign_id");
}

static void test_strict_rejects(void)
{
	reject("SELECT campaign, count(*) FROM impressions GROUP BY campaign LIMIT 10",
	       "From line 1, column 62 to line 1, column 66: LIMIT is not supported");
	reject("SELECT * FROM impressions", "SELECT * is not supported");
	reject("SELECT campaign FROM impressions", "Aggregation is required");
	reject("SELECT count(*) FROM impressions GROUP BY campaign ORDER BY campaign",
	       "ORDER BY is only supported");
	reject("SELECT count(*)\nFROM sponsored_ad", "From line 2, column 6 to line 2, column 17: Object 'sponsored_ad' not found");
	reject("SELECT count(*) FROM inst_x.impressions_all", "Object 'inst_x.impressions_all' not found");
	reject("SELECT count(*) FROM impressions WHERE campaign = {{name}}", "Undeclared parameter");
	reject("  -- only a comment", "Query is empty");
}

static void test_csv_field(void)
{
	const char *in[] = { "plain", "a,b", "say \"hi\"", "l1\nl2", "cr\r", "" };
	const char *out[] = { "plain", "\"a,b\"", "\"say \"\"hi\"\"\"", "\"l1\nl2\"", "\"cr\r\"", "\"\"" };

	for (size_t i = 0; i < ARRAY_LEN(in); i++) {
		char *buf = NULL;
		size_t len = 0, cap = 0;
		assertf(csv_field(&buf, &len, &cap, in[i], strlen(in[i])) && buf &&
			strcmp(buf, out[i]) == 0 && len == strlen(out[i]),
			"field %zu: got %s want %s", i, buf ? buf : "(null)", out[i]);
		free(buf);
	}
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
	assertf(!simtime_zone_valid("../etc/passwd") && !simtime_zone_valid("Mars/Olympus"), "bad zones");
}

int main(void)
{
	RUN_TEST(test_strict_accepts);
	RUN_TEST(test_strict_rejects);
	RUN_TEST(test_csv_field);
	RUN_TEST(test_time_parse);
	return tap_done();
}
