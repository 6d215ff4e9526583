/* data.c - creates an instance's synthetic tables and views on first use. Data are a pure
 * function of the instance id (md5-derived numbers, no random()), so every run and every
 * simulator process sees the same rows. It does not run user queries (sqlrun.c does). */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* any constant distinct from other users of advisory locks in this database */
#define DATA_LOCK_KEY 0x616d6373

const char *const data_views[] = {
	"impressions",
	"dsp_impressions",
	"sponsored_ads_traffic",
	"amazon_attributed_events_by_traffic_time",
	"amazon_attributed_events_by_conversion_time",
	NULL,
};

bool data_instance_id_valid(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > DATA_INSTANCE_MAX)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* The days the data cover (inclusive): a start-up setting (data_set_days), fixed before
 * the pool threads that read it exist. */
static char day_first[11] = "2024-01-01", day_last[11] = "2027-12-31";

/* YYYY-MM-DD naming a real day (2025-02-30 is not one) */
static bool day_valid(const char *s)
{
	struct tm tm = { 0 }, back;
	int y, m, d, end = 0;

	if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &end) != 3 || end != 10 ||
	    y < 1900 || m < 1 || m > 12 || d < 1 || d > 31)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	time_t t = timegm(&tm);
	return gmtime_r(&t, &back) && back.tm_mday == d && back.tm_mon == m - 1;
}

bool data_set_days(const char *first, const char *last)
{
	if (!day_valid(first) || !day_valid(last) || strcmp(first, last) > 0)
		return false;
	memcpy(day_first, first, sizeof(day_first));
	memcpy(day_last, last, sizeof(day_last));
	return true;
}

void data_schema_name(const char *id, char out[DATA_INSTANCE_MAX + 6])
{
	snprintf(out, DATA_INSTANCE_MAX + 6, "inst_%s", id);
}

/*
 * %1$s = quoted schema identifier, %2$s = instance id as a literal, %3$s and %4$s = the first
 * and last day. Daily rows, by default from 2024-01-01 to 2027-12-31: 4 campaigns x 3
 * devices of impressions (17,532 rows) and 4 campaigns of attributed events (5,844 rows);
 * creation takes about 0.3 s, one instance at a time (AMCSIM_DATA_FROM/TO shorten it).
 * Campaign names hold a comma and quotes on purpose: they exercise CSV quoting.
 */
static const char create_sql[] =
	"CREATE SCHEMA %1$s;\n"
	"CREATE TABLE %1$s.impressions_all (event_dt timestamp NOT NULL, event_date date NOT NULL,"
	" advertiser text NOT NULL, advertiser_id bigint NOT NULL, campaign text NOT NULL,"
	" campaign_id bigint NOT NULL, ad_product_type text NOT NULL, device_type text NOT NULL,"
	" impressions bigint NOT NULL, clicks bigint NOT NULL, spend numeric(12,2) NOT NULL);\n"
	"CREATE TABLE %1$s.attributed_events_all (traffic_event_dt timestamp NOT NULL,"
	" conversion_event_dt timestamp NOT NULL, advertiser text NOT NULL,"
	" campaign text NOT NULL, campaign_id bigint NOT NULL, ad_product_type text NOT NULL,"
	" conversions bigint NOT NULL, purchases bigint NOT NULL, units_sold bigint NOT NULL,"
	" product_sales numeric(12,2) NOT NULL);\n"
	"WITH base AS (SELECT ('x' || substr(md5(%2$s), 1, 7))::bit(28)::bigint AS b),\n"
	" c(idx, name, ptype) AS (VALUES (1, 'Brand Defense, Exact', 'sponsored_products'),"
	" (2, 'Spring \"Sale\" 2025', 'sponsored_brands'), (3, 'Prospecting - Video', 'dsp'),"
	" (4, 'Retargeting', 'dsp')),\n"
	" g AS (SELECT d, c.idx, c.name, c.ptype, dev,"
	"  ('x' || substr(md5(%2$s || ':' || d::date || ':' || c.idx || ':' || dev), 1, 8))::bit(32)::bigint AS r1,"
	"  ('x' || substr(md5(%2$s || ':' || d::date || ':' || c.idx || ':' || dev), 9, 8))::bit(32)::bigint AS r2"
	"  FROM generate_series('%3$s'::timestamp, '%4$s'::timestamp, '1 day') d, c,"
	"  unnest(ARRAY['desktop', 'mobile', 'tv']) dev)\n"
	"INSERT INTO %1$s.impressions_all SELECT d + (r1 %% 86400) * interval '1 second', d::date,"
	" 'Advertiser ' || %2$s, base.b, name, base.b * 10 + idx, ptype, dev,"
	" 100 + r2 %% 5000, (r2 %% 5000) / 50 + r1 %% 7,"
	" round(((r2 %% 5000) * 0.004 + (r1 %% 100) / 100.0)::numeric, 2) FROM g, base;\n"
	"WITH base AS (SELECT ('x' || substr(md5(%2$s), 1, 7))::bit(28)::bigint AS b),\n"
	" c(idx, name, ptype) AS (VALUES (1, 'Brand Defense, Exact', 'sponsored_products'),"
	" (2, 'Spring \"Sale\" 2025', 'sponsored_brands'), (3, 'Prospecting - Video', 'dsp'),"
	" (4, 'Retargeting', 'dsp')),\n"
	" g AS (SELECT d, c.idx, c.name, c.ptype,"
	"  ('x' || substr(md5(%2$s || ':conv:' || d::date || ':' || c.idx), 1, 8))::bit(32)::bigint AS r1,"
	"  ('x' || substr(md5(%2$s || ':conv:' || d::date || ':' || c.idx), 9, 8))::bit(32)::bigint AS r2"
	"  FROM generate_series('%3$s'::timestamp, '%4$s'::timestamp, '1 day') d, c)\n"
	"INSERT INTO %1$s.attributed_events_all SELECT d + (r1 %% 86400) * interval '1 second',"
	" d + (r1 %% 86400) * interval '1 second' + (r2 %% 7) * interval '1 day' + (r2 %% 3600) * interval '1 second',"
	" 'Advertiser ' || %2$s, name, base.b * 10 + idx, ptype, r2 %% 40, (r2 %% 40) / 2,"
	" (r2 %% 40) / 2 + r1 %% 3, round(((r2 %% 40) / 2 * 19.99 + (r1 %% 1000) / 100.0)::numeric, 2)"
	" FROM g, base;\n"
	"CREATE INDEX ON %1$s.impressions_all (event_dt);\n"
	"CREATE INDEX ON %1$s.attributed_events_all (traffic_event_dt);\n"
	"CREATE INDEX ON %1$s.attributed_events_all (conversion_event_dt);\n"
	"CREATE VIEW %1$s.impressions AS SELECT * FROM %1$s.impressions_all"
	" WHERE event_dt >= current_setting('amcsim.window_start')::timestamp"
	" AND event_dt < current_setting('amcsim.window_end')::timestamp;\n"
	"CREATE VIEW %1$s.dsp_impressions AS SELECT * FROM %1$s.impressions"
	" WHERE ad_product_type = 'dsp';\n"
	"CREATE VIEW %1$s.sponsored_ads_traffic AS SELECT * FROM %1$s.impressions"
	" WHERE ad_product_type <> 'dsp';\n"
	"CREATE VIEW %1$s.amazon_attributed_events_by_traffic_time AS"
	" SELECT traffic_event_dt AS event_dt, * FROM %1$s.attributed_events_all"
	" WHERE traffic_event_dt >= current_setting('amcsim.window_start')::timestamp"
	" AND traffic_event_dt < current_setting('amcsim.window_end')::timestamp;\n"
	"CREATE VIEW %1$s.amazon_attributed_events_by_conversion_time AS"
	" SELECT conversion_event_dt AS event_dt, * FROM %1$s.attributed_events_all"
	" WHERE conversion_event_dt >= current_setting('amcsim.window_start')::timestamp"
	" AND conversion_event_dt < current_setting('amcsim.window_end')::timestamp;\n"
	"REVOKE ALL ON SCHEMA %1$s FROM PUBLIC;\n"
	"GRANT USAGE ON SCHEMA %1$s TO " DATA_READER_ROLE ";\n"
	"GRANT SELECT ON %1$s.impressions, %1$s.dsp_impressions, %1$s.sponsored_ads_traffic,"
	" %1$s.amazon_attributed_events_by_traffic_time,"
	" %1$s.amazon_attributed_events_by_conversion_time TO " DATA_READER_ROLE ";\n";

/*
 * The role is cluster-wide, so another database (or simulator) may create it between our
 * check and our CREATE: the exceptions cover that race. The connecting user must be able
 * to SET ROLE to it afterwards, hence the GRANT to itself (a no-op for a superuser).
 */
static const char role_sql[] =
	"DO $$BEGIN\n"
	"  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" DATA_READER_ROLE "') THEN\n"
	"    CREATE ROLE " DATA_READER_ROLE " NOLOGIN;\n"
	"  END IF;\n"
	"EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;\n"
	"END$$;\n"
	"DO $$BEGIN\n"
	"  IF NOT pg_has_role(current_user, '" DATA_READER_ROLE "', 'MEMBER') THEN\n"
	"    EXECUTE format('GRANT " DATA_READER_ROLE " TO %I', current_user);\n"
	"  END IF;\n"
	"END$$;\n"
	/*
	 * SET ROLE is checked against the session user, so a query running as the reader could
	 * call set_config('role', <session user>) and, when amcsim connects as a superuser, read
	 * server files in the same statement. Without EXECUTE on set_config the reader cannot
	 * change any setting from inside a SELECT. Only a superuser may revoke this (pg_proc is
	 * per database, so other databases keep their defaults); a non-superuser owner needs no
	 * such guard, since falling back to it gains no more than read access to this database.
	 */
	"DO $$BEGIN\n"
	"  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN\n"
	"    REVOKE EXECUTE ON FUNCTION pg_catalog.set_config(text, text, boolean) FROM PUBLIC;\n"
	"  END IF;\n"
	"END$$;\n";

static enum PgResult exec_ok(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *r = PQexec(conn, sql);
	bool ok = pg_ok(conn, r, err, errlen);

	PQclear(r);
	return ok ? PG_OK : pg_fail_kind(conn);
}

/* 1 = exists, 0 = missing, -1 = error (err set). A plain query on pg_namespace, not
 * to_regnamespace(): after waiting on the advisory lock the syscache may not yet know a
 * schema another session just committed, but a fresh MVCC snapshot does. */
static int schema_exists(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	const char *params[1] = { schema };
	PGresult *r =
		PQexecParams(conn, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
			     1, NULL, params, NULL, NULL, 0);
	int res = -1;

	if (pg_ok(conn, r, err, errlen))
		res = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return res;
}

enum PgResult data_ensure_instance(PGconn *conn, const char *id, char *err, size_t errlen)
{
	char schema[DATA_INSTANCE_MAX + 6], lock[64];
	char *qs = NULL, *ql = NULL, *sql = NULL;
	enum PgResult res;
	int ex;

	data_schema_name(id, schema);
	qs = PQescapeIdentifier(conn, schema, strlen(schema));
	ql = PQescapeLiteral(conn, id, strlen(id));
	if (qs == NULL || ql == NULL) {
		snprintf(err, errlen, "escape: %s", PQerrorMessage(conn));
		res = pg_fail_kind(conn);
		goto out;
	}
	/* fast path: a schema is created in one transaction, so existing means complete */
	if ((ex = schema_exists(conn, schema, err, errlen)) != 0) {
		res = ex == 1 ? PG_OK : pg_fail_kind(conn);
		goto out;
	}
	if ((res = exec_ok(conn, "BEGIN", err, errlen)) != PG_OK)
		goto out;
	snprintf(lock, sizeof(lock), "SELECT pg_advisory_xact_lock(%d)", DATA_LOCK_KEY);
	if ((res = exec_ok(conn, lock, err, errlen)) != PG_OK)
		goto rollback;
	if ((ex = schema_exists(conn, schema, err, errlen)) != 0) {
		if (ex < 0) {
			res = pg_fail_kind(conn);
			goto rollback;
		}
		res = exec_ok(conn, "COMMIT", err, errlen);
		goto out;
	}
	if ((res = exec_ok(conn, role_sql, err, errlen)) != PG_OK)
		goto rollback;
	size_t n = sizeof(create_sql) + 64 * (strlen(qs) + strlen(ql) + 2 * sizeof(day_first));
	if ((sql = malloc(n)) == NULL) {
		snprintf(err, errlen, "out of memory");
		res = PG_FAIL;
		goto rollback;
	}
	snprintf(sql, n, create_sql, qs, ql, day_first, day_last);
	if ((res = exec_ok(conn, sql, err, errlen)) != PG_OK)
		goto rollback;
	if ((res = exec_ok(conn, "COMMIT", err, errlen)) == PG_OK)
		log_info("created synthetic data for instance %s (schema %s)", id, schema);
	goto out;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
out:
	free(sql);
	PQfreemem(qs);
	PQfreemem(ql);
	return res;
}
