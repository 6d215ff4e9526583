/* test_cli_args.c - submit's argument rules: which --param values become numbers or JSON,
 * key=value and INSTANCE:key=value splitting, comma lists, instance resolution. */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "../tap.h"

/* printf of a possibly NULL string */
#define STR(s) ((s) ? (s) : "(null)")

static void test_cli_args_json_number(void)
{
	static const char *const yes[] = {
		"0", "-1", "42", "3.14", "-0.5", "1e3", "2E-7", "10.5e+2"
	};
	static const char *const no[] = { "",   "-",  "01",   "1.",         ".5",  "1e",  "+1",
					  "1 ", " 1", "0x10", "2024-01-01", "NaN", "1,5", "12abc" };

	for (size_t i = 0; i < ARRAY_LEN(yes); i++)
		assertf(args_is_json_number(yes[i]), "'%s' is a number", yes[i]);
	for (size_t i = 0; i < ARRAY_LEN(no); i++)
		assertf(!args_is_json_number(no[i]), "'%s' is not a number", no[i]);
}

static void test_cli_args_param_value(void)
{
	char err[256] = "";
	json_t *v;

	v = args_param_value("42", err, sizeof(err));
	assertf(json_is_integer(v) && json_integer_value(v) == 42, "integer");
	json_decref(v);
	v = args_param_value("0.25", err, sizeof(err));
	assertf(json_is_real(v) && json_real_value(v) == 0.25, "real");
	json_decref(v);
	v = args_param_value("2024-01-01", err, sizeof(err));
	assertf(json_is_string(v) && strcmp(json_string_value(v), "2024-01-01") == 0,
		"date stays a string");
	json_decref(v);
	v = args_param_value("007", err, sizeof(err));
	assertf(json_is_string(v), "leading zero stays a string");
	json_decref(v);
	v = args_param_value("true", err, sizeof(err));
	assertf(json_is_string(v), "true stays a string (only numbers and [/{ are converted)");
	json_decref(v);
	v = args_param_value("123456789012345678901234567890", err, sizeof(err));
	assertf(json_is_string(v), "integer too big for jansson stays a string");
	json_decref(v);
	v = args_param_value("[\"a\", 2]", err, sizeof(err));
	assertf(json_is_array(v) && json_array_size(v) == 2, "array parsed");
	json_decref(v);
	v = args_param_value("{\"k\": 1}", err, sizeof(err));
	assertf(json_is_object(v) && json_integer_value(json_object_get(v, "k")) == 1,
		"object parsed");
	json_decref(v);
	v = args_param_value("[1, 2", err, sizeof(err));
	assertf(v == NULL && strstr(err, "invalid JSON") != NULL,
		"broken array is an error, err='%s'", err);
	json_decref(v);
	v = args_param_value("", err, sizeof(err));
	assertf(json_is_string(v) && json_string_length(v) == 0, "empty value is an empty string");
	json_decref(v);
}

static void test_cli_args_set_kv(void)
{
	json_t *o = json_object();
	char err[256] = "";

	assertf(args_set_kv(o, "startDate=2024-01-01", err, sizeof(err)), "date kv");
	assertf(args_set_kv(o, "limit=10", err, sizeof(err)), "number kv");
	assertf(args_set_kv(o, "expr=a=b", err, sizeof(err)), "value may contain '='");
	assertf(args_set_kv(o, "limit=20", err, sizeof(err)), "later wins");
	assertf(strcmp(json_string_value(json_object_get(o, "startDate")), "2024-01-01") == 0,
		"date");
	assertf(json_integer_value(json_object_get(o, "limit")) == 20, "limit 20");
	assertf(strcmp(json_string_value(json_object_get(o, "expr")), "a=b") == 0, "a=b");
	assertf(!args_set_kv(o, "novalue", err, sizeof(err)) && strstr(err, "key=value") != NULL,
		"no '=', err='%s'", err);
	assertf(!args_set_kv(o, "=v", err, sizeof(err)) && strstr(err, "empty") != NULL,
		"empty key, err='%s'", err);
	assertf(!args_set_kv(o, "k=[x", err, sizeof(err)), "bad JSON value");
	assertf(json_object_size(o) == 3, "failed calls add nothing, size %zu",
		json_object_size(o));
	json_decref(o);
}

static void test_cli_args_override(void)
{
	char err[256] = "", *ref = NULL;
	const char *kv = NULL;

	assertf(args_split_override("US Prod:region=us", &ref, &kv, err, sizeof(err)), "split");
	assertf(ref != NULL && strcmp(ref, "US Prod") == 0, "ref, got '%s'", STR(ref));
	assertf(kv != NULL && strcmp(kv, "region=us") == 0, "kv");
	free(ref);
	assertf(args_split_override("amc1:t=12:30", &ref, &kv, err, sizeof(err)) &&
			strcmp(ref, "amc1") == 0 && strcmp(kv, "t=12:30") == 0,
		"first ':' splits");
	free(ref);
	assertf(!args_split_override("k=v", &ref, &kv, err, sizeof(err)) && ref == NULL, "no ':'");
	assertf(!args_split_override(":k=v", &ref, &kv, err, sizeof(err)) && ref == NULL,
		"empty instance");
}

static void test_cli_args_list(void)
{
	json_t *a = json_array();

	assertf(args_append_list(a, "a,b,,c,"), "list");
	assertf(args_append_list(a, "d"), "single");
	assertf(json_array_size(a) == 4, "empty items skipped, size %zu", json_array_size(a));
	assertf(strcmp(json_string_value(json_array_get(a, 3)), "d") == 0, "appended");
	json_decref(a);
}

static void test_cli_args_resolve(void)
{
	const char *u1 = "11111111-1111-4111-8111-111111111111";
	const char *u2 = "22222222-2222-4222-8222-222222222222";
	const char *u3 = "33333333-3333-4333-8333-333333333333";
	json_t *list = json_pack("[{s:s,s:s,s:s},{s:s,s:s,s:s},{s:s,s:s,s:s}]", "id", u1,
				 "instance_id", "amcaaa111", "instance_name", "US Prod", "id", u2,
				 "instance_id", "amcbbb222", "instance_name", "EU Prod", "id", u3,
				 "instance_id", "amcccc333", "instance_name", "eu prod");
	char err[256] = "";
	const char *id;

	assertf(args_is_uuid(u1) && !args_is_uuid("1111") &&
			!args_is_uuid("11111111-1111-4111-8111-11111111111g"),
		"uuid shape");
	assertf((id = args_resolve_instance(list, u2, err, sizeof(err))) != NULL &&
			strcmp(id, u2) == 0,
		"by uuid");
	assertf((id = args_resolve_instance(list, "amcaaa111", err, sizeof(err))) != NULL &&
			strcmp(id, u1) == 0,
		"by AMC id");
	assertf((id = args_resolve_instance(list, "US Prod", err, sizeof(err))) != NULL &&
			strcmp(id, u1) == 0,
		"by name");
	assertf((id = args_resolve_instance(list, "us prod", err, sizeof(err))) != NULL &&
			strcmp(id, u1) == 0,
		"by name ignoring case");
	/* exact-case name wins over a case-insensitive tie */
	assertf((id = args_resolve_instance(list, "EU Prod", err, sizeof(err))) != NULL &&
			strcmp(id, u2) == 0,
		"exact case");
	assertf(args_resolve_instance(list, "Eu Prod", err, sizeof(err)) == NULL &&
			strstr(err, "matches 2") != NULL,
		"ambiguous, err='%s'", err);
	assertf(args_resolve_instance(list, "nope", err, sizeof(err)) == NULL &&
			strstr(err, "no instance") != NULL,
		"unknown, err='%s'", err);
	assertf(args_resolve_instance(list, "US Prd", err, sizeof(err)) == NULL &&
			strstr(err, "did you mean 'US Prod'?") != NULL,
		"near miss suggests, err='%s'", err);
	assertf(args_resolve_instance(list, "amcaaa11", err, sizeof(err)) == NULL &&
			strstr(err, "did you mean 'amcaaa111'?") != NULL,
		"near miss of an AMC id suggests, err='%s'", err);
	/* "EU Prd" is as near "EU Prod" as "eu prod": no guess */
	assertf(args_nearest_instance(list, "EU Prd") == NULL, "a tie suggests nothing");
	assertf(args_nearest_instance(list, "Japan Toys") == NULL, "a far name suggests nothing");
	assertf(args_nearest_instance(list, "US") == NULL, "too short to guess");
	assertf(args_nearest_instance(NULL, "US Prd") == NULL, "no list, no guess");
	id = args_resolve_instance(list, "44444444-4444-4444-8444-444444444444", err, sizeof(err));
	assertf(id != NULL && strcmp(id, "44444444-4444-4444-8444-444444444444") == 0,
		"unlisted uuid passes through");
	id = args_resolve_instance(NULL, u1, err, sizeof(err));
	assertf(id != NULL && strcmp(id, u1) == 0, "uuid without a list");
	json_decref(list);
}

/* --window TYPE[:N] and --lag-days: the body's window; the server judges types and ranges */
static void test_cli_args_resolve_by(void)
{
	const char *u1 = "11111111-1111-4111-8111-111111111111";
	json_t *users =
		json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "id", u1, "email", "ana@example.com",
			  "id", "22222222-2222-4222-8222-222222222222", "email", "Bo@example.com",
			  "id", "33333333-3333-4333-8333-333333333333", "email", "bo@example.com");
	char err[256] = "";
	const char *id;

	assertf((id = args_resolve_by(users, "email", "ANA@example.com", "user", err,
				      sizeof(err))) != NULL &&
			strcmp(id, u1) == 0,
		"by e-mail ignoring case");
	assertf((id = args_resolve_by(users, "email", "bo@example.com", "user", err,
				      sizeof(err))) != NULL &&
			id[0] == '3',
		"exact case first");
	assertf(args_resolve_by(users, "email", "BO@example.com", "user", err, sizeof(err)) ==
				NULL &&
			strstr(err, "matches 2 users") != NULL,
		"ambiguous, err='%s'", err);
	assertf(args_resolve_by(users, "email", "cy@example.com", "user", err, sizeof(err)) ==
				NULL &&
			strstr(err, "no user matches") != NULL,
		"unknown, err='%s'", err);
	json_decref(users);
}

static void test_cli_args_window(void)
{
	static const char *const bad[][2] = { { "", NULL },
					      { ":7", NULL },
					      { "last_n_days:", NULL },
					      { "last_n_days:x", NULL },
					      { "last_n_days:-1", NULL },
					      { "last_n_days:7:8", NULL },
					      { "previous week", NULL },
					      { "Previous_Week", NULL },
					      { "previous_week", "two" },
					      { "previous_week", "-2" },
					      { "last_n_days:1234567", NULL } };
	char err[256], *s;
	json_t *w;

	w = args_window("previous_week", NULL, err, sizeof(err));
	s = w != NULL ? json_dumps(w, JSON_COMPACT) : NULL;
	assertf(s != NULL && strcmp(s, "{\"type\":\"previous_week\"}") == 0, "type alone: %s",
		s != NULL ? s : err);
	free(s);
	json_decref(w);
	w = args_window("last_n_days:28", "0", err, sizeof(err));
	s = w != NULL ? json_dumps(w, JSON_COMPACT) : NULL;
	assertf(s != NULL && strcmp(s, "{\"type\":\"last_n_days\",\"n\":28,\"lag_days\":0}") == 0,
		"type, n and lag: %s", s != NULL ? s : err);
	free(s);
	json_decref(w);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		w = args_window(bad[i][0], bad[i][1], err, sizeof(err));
		assertf(w == NULL && err[0] != '\0', "--window '%s' --lag-days %s refused: %s",
			bad[i][0], bad[i][1] != NULL ? bad[i][1] : "(none)", err);
		json_decref(w);
	}
}

static void test_cli_args_on_failure(void)
{
	static const char *const good[][2] = {
		{ "continue", "\"continue\"" },
		{ "fail-fast", "\"fail_fast\"" },
		{ "fail_fast", "\"fail_fast\"" },
		{ "min-success=0.9", "{\"min_success_ratio\":0.9}" },
		{ "min-success=90%", "{\"min_success_ratio\":0.9}" },
		{ "min-success=1", "{\"min_success_ratio\":1.0}" },
	};
	static const char *const bad[] = { "",
					   "stop",
					   "min-success",
					   "min-success=",
					   "min-success=0",
					   "min-success=1.5",
					   "min-success=x",
					   "min-success=0.9x",
					   "min-success=150%",
					   "Fail-Fast" };
	char err[256], *s;
	json_t *p;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		p = args_on_failure(good[i][0], err, sizeof(err));
		s = p != NULL ? json_dumps(p,
					   JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))
			      : NULL;
		assertf(s != NULL && strcmp(s, good[i][1]) == 0, "--on-failure %s: %s", good[i][0],
			s != NULL ? s : err);
		free(s);
		json_decref(p);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		p = args_on_failure(bad[i], err, sizeof(err));
		assertf(p == NULL && err[0] != '\0', "--on-failure '%s' refused: %s", bad[i], err);
		json_decref(p);
	}
}

static void test_cli_args_idempotency_key(void)
{
	unsigned char rnd[16];
	char key[ARGS_IDEM_KEY_SIZE], big[300];

	for (int i = 0; i < 16; i++)
		rnd[i] = (unsigned char)(i * 17);
	args_idempotency_key_format(rnd, key);
	assertf(strcmp(key, "amcbatch-00112233445566778899aabbccddeeff") == 0, "format, got '%s'",
		key);
	assertf(args_idempotency_key_ok(key), "a generated key is valid");
	assertf(args_idempotency_key_ok("my-script/2025-01-31#1"), "printable ASCII");
	assertf(!args_idempotency_key_ok(""), "empty");
	assertf(!args_idempotency_key_ok("two words"), "blank");
	assertf(!args_idempotency_key_ok("a\r\nX-Evil: 1"), "CR LF");
	assertf(!args_idempotency_key_ok("caf\xc3\xa9"), "non-ASCII");
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assertf(!args_idempotency_key_ok(big), "too long");
	big[ARGS_IDEM_KEY_MAX] = '\0';
	assertf(args_idempotency_key_ok(big), "255 is fine");
}

int main(void)
{
	RUN_TEST(test_cli_args_json_number);
	RUN_TEST(test_cli_args_param_value);
	RUN_TEST(test_cli_args_set_kv);
	RUN_TEST(test_cli_args_window);
	RUN_TEST(test_cli_args_on_failure);
	RUN_TEST(test_cli_args_override);
	RUN_TEST(test_cli_args_list);
	RUN_TEST(test_cli_args_resolve);
	RUN_TEST(test_cli_args_resolve_by);
	RUN_TEST(test_cli_args_idempotency_key);
	return tap_done();
}
