/* policy.h - the batch failure policy (on_failure, sql/010_policy.up.sql) as the API's SQL
 * reads it: one expression per use, so the 201 body, the status, the list and the enqueue
 * payload show the same thing. Parsing a request's policy is validate.c's; applying it is
 * the Lua scripts' and PostgreSQL's status trigger's. */
#ifndef AMCB_API_POLICY_H
#define AMCB_API_POLICY_H

/* on_failure of batch_executions alias b as the API shows it: "continue", "fail_fast" or
 * {"min_success_ratio": 0.9} (JSON) */
#define POLICY_SQL_JSON(b) \
	"CASE " b ".on_failure WHEN 'min_success_ratio'" \
	" THEN json_build_object('min_success_ratio', " b ".min_success_ratio::float8)" \
	" ELSE to_json(" b ".on_failure) END"

/* the ratio as Redis stores it: decimal text without trailing zeros ("0.9"), "" for none */
#define POLICY_SQL_RATIO(b) "coalesce(trim_scale(" b ".min_success_ratio)::text, '')"

/* Stores the policy of a new batch in the submit transaction: $1 batch UUID, $2 on_failure,
 * $3 min_success_ratio (NULL unless min_success_ratio); run only for a policy other than
 * continue, before the enqueue payload is read. */
#define POLICY_SQL_STORE \
	"UPDATE batch_executions SET on_failure = $2, min_success_ratio = $3::numeric" \
	" WHERE id = $1::uuid"

#endif
