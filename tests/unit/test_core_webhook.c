/* test_core_webhook.c - the pure webhook parts: URL checks, generated and given secrets, the
 * signature against a known HMAC-SHA256 value, the backoff's growth, cap and jitter, and the
 * JSON and Slack bodies with links as paths or under public_url. */
#include "webhook.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "../tap.h"

static void test_webhook_url(void)
{
	char host[256], err[160];

	assertf(webhook_url_check("https://hooks.example.com/a?b=c", host, sizeof(host), err,
				  sizeof(err)) &&
			strcmp(host, "hooks.example.com") == 0,
		"https url: %s", err);
	assertf(webhook_url_check("http://[::1]:8080/x", host, sizeof(host), err, sizeof(err)) &&
			strcmp(host, "::1") == 0,
		"ipv6 host without brackets: %s", host);
	assertf(webhook_url_check("http://LocalHost./x", host, sizeof(host), err, sizeof(err)) &&
			strcmp(host, "localhost") == 0 && webhook_host_is_localhost(host),
		"localhost, case and dot");
	assertf(webhook_host_is_localhost("a.localhost") &&
			!webhook_host_is_localhost("notlocalhost"),
		"*.localhost");
	static const char *const bad[] = {
		"",
		"ftp://example.com/",
		"file:///etc/passwd",
		"example.com/hook",
		"gopher://x/",
		"https://user:pw@example.com/",
		"https://example.com/#frag",
		"https://exa mple.com/",
		"https://example.com/\n",
		"javascript:alert(1)",
		"http://",
		"https://:80/",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++)
		assertf(!webhook_url_check(bad[i], host, sizeof(host), err, sizeof(err)),
			"accepted %s", bad[i]);
	char *longurl = malloc(2100);
	strcpy(longurl, "https://example.com/");
	memset(longurl + 20, 'a', 2040);
	longurl[2060] = '\0';
	assertf(!webhook_url_check(longurl, host, sizeof(host), err, sizeof(err)),
		"2061-byte url accepted");
	longurl[2048] = '\0';
	assertf(webhook_url_check(longurl, host, sizeof(host), err, sizeof(err)),
		"2048-byte url: %s", err);
	free(longurl);
	assertf(webhook_event_valid("batch.partial") && !webhook_event_valid("batch.running") &&
			!webhook_event_valid(NULL),
		"event names");
	assertf(webhook_format_valid("slack") && !webhook_format_valid("xml"), "formats");
}

static void test_webhook_secret(void)
{
	char a[64], b[64];

	assertf(webhook_secret_new(a, sizeof(a)) && webhook_secret_new(b, sizeof(b)), "generate");
	assertf(strlen(a) == WEBHOOK_SECRET_GEN_LEN && strncmp(a, "whsec_", 6) == 0, "shape %s", a);
	assertf(strcmp(a, b) != 0, "two secrets differ");
	assertf(strspn(a + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
			43,
		"base64url alphabet: %s", a);
	assertf(webhook_secret_valid(a), "a generated secret is valid");
	assertf(!webhook_secret_valid("short") && !webhook_secret_valid("has a blank in it!!") &&
			!webhook_secret_valid("caf\xc3\xa9-caf\xc3\xa9-caf\xc3\xa9-x"),
		"bad secrets refused");
	assertf(!webhook_secret_new(a, WEBHOOK_SECRET_GEN_LEN), "too small a buffer");
}

static void test_webhook_signature(void)
{
	char hex[WEBHOOK_SIG_HEX + 1], hdr[128];
	const char *body = "{\"a\":1}";

	/* python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test_secret_123",
	 *             b"1700000000.{\"a\":1}",hashlib.sha256).hexdigest())' */
	assertf(webhook_sign("whsec_test_secret_123", 1700000000, body, strlen(body), hex), "sign");
	assertf(strcmp(hex, "e89dcbfdce3392fb275033fb083d8c81e095a63bf687d9a2cd50e7d5f55e21f6") ==
			0,
		"known HMAC: %s", hex);
	assertf(webhook_signature("whsec_test_secret_123", 1700000000, body, strlen(body), hdr,
				  sizeof(hdr)) &&
			strcmp(hdr,
			       "t=1700000000,v1=e89dcbfdce3392fb275033fb083d8c81e095a63bf687d9a2cd50e7d5f55e21f6") ==
				0,
		"header %s", hdr);
	assertf(!webhook_signature("k", 1, body, strlen(body), hdr, 20), "header cut off refused");
}

static void test_webhook_backoff(void)
{
	/* middle jitter (rnd 2^31) is exactly 1.0 */
	assertf(webhook_backoff_ms(1, 1000, 3600000, 1u << 31) == 1000, "first");
	assertf(webhook_backoff_ms(2, 1000, 3600000, 1u << 31) == 2000, "second");
	assertf(webhook_backoff_ms(5, 1000, 3600000, 1u << 31) == 16000, "fifth");
	assertf(webhook_backoff_ms(40, 1000, 3600000, 0xffffffffu) == 3600000,
		"capped, jitter too");
	assertf(webhook_backoff_ms(1000000, 1000, 5000, 0) == 3750,
		"huge attempt counts stay bounded");
	assertf(webhook_backoff_ms(1, 1000, 3600000, 0) == 750, "low jitter");
	long hi = webhook_backoff_ms(3, 1000, 3600000, 0xffffffffu);
	assertf(hi >= 4999 && hi < 5000, "high jitter %ld", hi);
}

static const char batch_data[] =
	"{\"batch\":{\"batch_id\":\"batch_0123abcd\",\"name\":\"weekly <report> & co\",\"status\":\"partial\","
	"\"total_instances\":3,\"completed\":2,\"failed\":1,\"cancelled\":0}}";

static void test_webhook_body(void)
{
	char *s =
		webhook_body("e1", "batch.partial", "2026-12-01T00:00:00Z", batch_data, "", "json");
	json_t *j = s != NULL ? json_loads(s, 0, NULL) : NULL;

	assertf(j != NULL, "json body parses: %s", s != NULL ? s : "(null)");
	assertf(strcmp(json_string_value(json_object_get(j, "id")), "e1") == 0 &&
			strcmp(json_string_value(json_object_get(j, "type")), "batch.partial") ==
				0 &&
			strcmp(json_string_value(json_object_get(j, "created_at")),
			       "2026-12-01T00:00:00Z") == 0,
		"envelope");
	json_t *links =
		json_object_get(json_object_get(json_object_get(j, "data"), "batch"), "links");
	assertf(links != NULL && strcmp(json_string_value(json_object_get(links, "results_csv")),
					"/workflows/batch/batch_0123abcd/results.csv") == 0,
		"links are paths");
	json_decref(j);
	free(s);

	s = webhook_body("e1", "batch.partial", "t", batch_data, "https://amc.example.com/",
			 "json");
	assertf(s != NULL &&
			strstr(s,
			       "\"status\":\"https://amc.example.com/workflows/batch/batch_0123abcd/status\"") !=
				NULL,
		"links under public_url: %s", s);
	free(s);

	s = webhook_body("e1", "batch.partial", "t", batch_data, "https://x.test", "slack");
	j = s != NULL ? json_loads(s, 0, NULL) : NULL;
	const char *text = json_string_value(json_object_get(j, "text"));
	assertf(j != NULL && json_object_size(j) == 1 && text != NULL, "slack body is {text}: %s",
		s);
	assertf(text != NULL && strstr(text, "weekly &lt;report&gt; &amp; co") != NULL &&
			strstr(text, "partial") != NULL &&
			strstr(text, "2 of 3 instances completed, 1 failed") != NULL &&
			strstr(text, "https://x.test/workflows/batch/batch_0123abcd/results") !=
				NULL,
		"slack text: %s", text);
	json_decref(j);
	free(s);

	s = webhook_body(
		"e2", "schedule.run_skipped", "t",
		"{\"schedule_id\":\"s\",\"schedule_name\":\"Monday\",\"scheduled_for\":\"2026-12-07T06:00:00Z\","
		"\"reason\":\"previous run still going\"}",
		"", "slack");
	assertf(s != NULL && strstr(s, "Monday") != NULL &&
			strstr(s, "previous run still going") != NULL,
		"schedule slack: %s", s);
	free(s);
	s = webhook_body("e2", "schedule.run_skipped", "t", "{\"schedule_id\":\"s\"}", "", "json");
	assertf(s != NULL && strstr(s, "links") == NULL, "no links without a batch: %s", s);
	free(s);
	assertf(webhook_body("e", "t", "t", "not json", "", "json") == NULL, "bad data refused");
	assertf(webhook_body("e", "t", "t", "[1]", "", "json") == NULL, "non-object data refused");
}

int main(void)
{
	RUN_TEST(test_webhook_url);
	RUN_TEST(test_webhook_secret);
	RUN_TEST(test_webhook_signature);
	RUN_TEST(test_webhook_backoff);
	RUN_TEST(test_webhook_body);
	return tap_done();
}
