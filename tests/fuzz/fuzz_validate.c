/* fuzz_validate.c - libFuzzer target of the batch-execute validation (validate.c, the code
 * the handler runs): any byte string as the body, against a fixed workflow with placeholders
 * and a fixed instance set (one instance denied). Must never crash, leak or trip UBSan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "validate.h"

static const char sql[] =
	"SELECT campaign, SUM(clicks) AS c FROM impressions WHERE country = {{country}}"
	" AND impressions >= {{ minImpressions }} AND campaign IN {{names}} GROUP BY campaign";
static const ValidateInstance known[] = {
	{ "20000000-0000-4000-8000-000000000001", true },
	{ "20000000-0000-4000-8000-000000000002", true },
	{ "20000000-0000-4000-8000-00000000000a", false },
};
static const char *const generic[] = { "name", "description", "sql_query", "parameters", NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const ValidateLimits lim = { .max_body_bytes = 65536,
				     .max_instances = 100,
				     .max_params_bytes = 10240,
				     .window_lag_days = 2 };
	json_t *wf = json_pack("{s:i, s:s}", "minImpressions", 0, "startDate", "2025-01-01");
	json_t *obj = NULL;
	ValidateErr e;

	memset(&e, 0, sizeof(e));
	if (!validate_exec_all((const char *)data, size, &lim, known, 3, sql, wf,
			       (time_t)1750000000, &e) &&
	    (e.status < 400 || e.status > 599 || e.code[0] == '\0' || e.message[0] == '\0'))
		abort(); /* every refusal names a status, a code and a message */
	/* the generic body path of the other routes */
	if (validate_json_object((const char *)data, size, lim.max_body_bytes, &obj, &e) &&
	    !validate_known_fields(obj, generic, &e) && strcmp(e.code, "unknown_field") != 0)
		abort();
	json_decref(obj);
	json_decref(wf);
	return 0;
}
