/* webhook.c - event names, URL and secret checks, the HMAC-SHA256 signature, the backoff and
 * the body (JSON or Slack) of a webhook delivery. Pure: it neither resolves nor sends. */
#include "webhook.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

const char *const webhook_events[] = {
	"batch.completed", "batch.partial",        "batch.failed",
	"batch.cancelled", "schedule.run_skipped", NULL,
};

bool webhook_event_valid(const char *name)
{
	for (int i = 0; name != NULL && webhook_events[i] != NULL; i++)
		if (strcmp(name, webhook_events[i]) == 0)
			return true;
	return false;
}

bool webhook_format_valid(const char *name)
{
	return name != NULL && (strcmp(name, "json") == 0 || strcmp(name, "slack") == 0);
}

static bool set_err(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return false;
}

bool webhook_url_check(const char *url, char *host, size_t hostlen, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *h = NULL, *user = NULL, *pass = NULL, *frag = NULL;
	bool ok = false;
	size_t n = strlen(url);

	if (n == 0 || n > WEBHOOK_URL_MAX)
		return set_err(err, errlen, "url must be 1..2048 bytes");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return set_err(
				err, errlen,
				"url must be ASCII without blanks or control characters (percent-encode the rest)");
	if ((u = curl_url()) == NULL)
		return set_err(err, errlen, "out of memory");
	/* no default scheme: "example.com/hook" is refused, not guessed */
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		set_err(err, errlen, "url is not an absolute URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0)) {
		set_err(err, errlen, "url must use http or https");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		set_err(err, errlen, "url must not hold a user name or password");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		set_err(err, errlen, "url must not have a fragment");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || h[0] == '\0') {
		set_err(err, errlen, "url has no host");
		goto out;
	}
	{
		const char *p = h;
		size_t len = strlen(h);

		if (p[0] == '[' && len >= 2 && p[len - 1] == ']') {
			p++;
			len -= 2;
		}
		if (len + 1 > hostlen) {
			set_err(err, errlen, "url host is too long");
			goto out;
		}
		for (size_t i = 0; i < len; i++)
			host[i] = (char)tolower((unsigned char)p[i]);
		host[len] = '\0';
		/* a trailing dot names the same host: compare without it */
		if (len > 1 && host[len - 1] == '.')
			host[len - 1] = '\0';
	}
	ok = true;
out:
	curl_free(scheme);
	curl_free(h);
	curl_free(user);
	curl_free(pass);
	curl_free(frag);
	curl_url_cleanup(u);
	return ok;
}

bool webhook_host_is_localhost(const char *host)
{
	size_t n = strlen(host);

	return strcmp(host, "localhost") == 0 ||
	       (n > 10 && strcmp(host + n - 10, ".localhost") == 0);
}

bool webhook_secret_new(char *out, size_t outlen)
{
	static const char b64url[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t raw[33]; /* 32 random bytes, padded to a multiple of 3 */
	size_t o = 0;

	if (outlen < WEBHOOK_SECRET_GEN_LEN + 1)
		return false;
	memset(raw, 0, sizeof(raw));
	if (RAND_bytes(raw, 32) != 1)
		return false;
	memcpy(out, "whsec_", 6);
	o = 6;
	for (size_t i = 0; i < 33; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	/* 32 bytes are 43 base64 characters; the 44th came from the padding byte */
	o = WEBHOOK_SECRET_GEN_LEN;
	out[o] = '\0';
	OPENSSL_cleanse(raw, sizeof(raw));
	return true;
}

bool webhook_secret_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < WEBHOOK_SECRET_MIN || n > WEBHOOK_SECRET_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

bool webhook_sign(const char *secret, long long t, const char *body, size_t n, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *msg = malloc(n + 32); /* "<t>." + body, freed below */
	int tl;
	bool ok;

	if (msg == NULL)
		return false;
	tl = snprintf(msg, 32, "%lld.", t);
	memcpy(msg + tl, body, n);
	/* the one-shot HMAC() (the HMAC_CTX calls are deprecated in OpenSSL 3) */
	ok = HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg,
		  (size_t)tl + n, mac, &maclen) != NULL &&
	     maclen == WEBHOOK_SIG_HEX / 2;
	free(msg);
	if (!ok)
		return false;
	for (unsigned int i = 0; i < maclen; i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	hex[2 * maclen] = '\0';
	return true;
}

bool webhook_signature(const char *secret, long long t, const char *body, size_t n, char *out,
		       size_t outlen)
{
	char hex[WEBHOOK_SIG_HEX + 1];
	int w;

	if (!webhook_sign(secret, t, body, n, hex))
		return false;
	w = snprintf(out, outlen, "t=%lld,v1=%s", t, hex);
	return w > 0 && (size_t)w < outlen;
}

long webhook_backoff_ms(int failed, long base_ms, long cap_ms, uint32_t rnd)
{
	double d = (double)base_ms;

	for (int i = 1; i < failed && d < (double)cap_ms; i++)
		d *= 2;
	if (d > (double)cap_ms)
		d = (double)cap_ms;
	d *= 0.75 + 0.5 * ((double)rnd / 4294967296.0);
	if (d > (double)cap_ms)
		d = (double)cap_ms;
	return d < 1 ? 1 : (long)d;
}

/* Slack mrkdwn: &, < and > must be escaped in text. Appends s to buf (size n). */
static void slack_append(char *buf, size_t n, const char *s)
{
	size_t o = strlen(buf);

	for (; s != NULL && *s != '\0' && o + 6 < n; s++) {
		const char *rep = *s == '&'   ? "&amp;"
				  : *s == '<' ? "&lt;"
				  : *s == '>' ? "&gt;"
					      : NULL;
		if (rep != NULL) {
			memcpy(buf + o, rep, strlen(rep));
			o += strlen(rep);
		} else if ((unsigned char)*s >= 0x20) {
			buf[o++] = *s;
		}
	}
	buf[o] = '\0';
}

static json_t *slack_text(const char *type, json_t *data)
{
	char text[2048] = "";
	json_t *b = json_object_get(data, "batch");
	json_t *s = json_object_get(data, "schedule_name");

	if (json_is_object(b)) {
		const char *name = json_string_value(json_object_get(b, "name"));
		const char *id = json_string_value(json_object_get(b, "batch_id"));
		const char *status = json_string_value(json_object_get(b, "status"));
		json_t *links = json_object_get(b, "links");
		char counts[160];

		snprintf(counts, sizeof(counts),
			 ": %lld of %lld instances completed, %lld failed, %lld cancelled. ",
			 json_integer_value(json_object_get(b, "completed")),
			 json_integer_value(json_object_get(b, "total_instances")),
			 json_integer_value(json_object_get(b, "failed")),
			 json_integer_value(json_object_get(b, "cancelled")));
		slack_append(text, sizeof(text), "amcbatch: batch ");
		if (name != NULL && *name != '\0') {
			slack_append(text, sizeof(text), "\"");
			slack_append(text, sizeof(text), name);
			slack_append(text, sizeof(text), "\" (");
			slack_append(text, sizeof(text), id);
			slack_append(text, sizeof(text), ")");
		} else {
			slack_append(text, sizeof(text), id);
		}
		slack_append(text, sizeof(text), " ");
		slack_append(text, sizeof(text), status);
		slack_append(text, sizeof(text), counts);
		slack_append(text, sizeof(text),
			     json_string_value(json_object_get(links, "results")));
	} else if (json_is_string(s) || strcmp(type, "schedule.run_skipped") == 0) {
		slack_append(text, sizeof(text), "amcbatch: schedule \"");
		slack_append(text, sizeof(text), json_string_value(s));
		slack_append(text, sizeof(text), "\" skipped the run of ");
		slack_append(text, sizeof(text),
			     json_string_value(json_object_get(data, "scheduled_for")));
		slack_append(text, sizeof(text), ": ");
		/* the words when the event has them (schedule_fire.c), else the reason's code */
		slack_append(text, sizeof(text),
			     json_string_value(json_object_get(data, "message")) != NULL
				     ? json_string_value(json_object_get(data, "message"))
				     : json_string_value(json_object_get(data, "reason")));
	} else {
		slack_append(text, sizeof(text), "amcbatch: ");
		slack_append(text, sizeof(text), type);
	}
	return json_pack("{s:s}", "text", text);
}

/* Adds links {status, results, results_csv} to a batch object. */
static bool add_links(json_t *b, const char *public_url)
{
	const char *id = json_string_value(json_object_get(b, "batch_id"));
	char base[2200], status[2300], results[2300], csv[2300];
	size_t n;

	if (id == NULL)
		return true;
	snprintf(base, sizeof(base), "%s", public_url != NULL ? public_url : "");
	n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
	snprintf(status, sizeof(status), "%s/workflows/batch/%s/status", base, id);
	snprintf(results, sizeof(results), "%s/workflows/batch/%s/results", base, id);
	snprintf(csv, sizeof(csv), "%s/workflows/batch/%s/results.csv", base, id);
	return json_object_set_new(b, "links",
				   json_pack("{s:s,s:s,s:s}", "status", status, "results", results,
					     "results_csv", csv)) == 0;
}

char *webhook_body(const char *event_id, const char *type, const char *created_at,
		   const char *data_json, const char *public_url, const char *format)
{
	json_t *data = json_loads(data_json, JSON_REJECT_DUPLICATES, NULL);
	json_t *out = NULL, *b;
	char *text = NULL;

	if (!json_is_object(data))
		goto out;
	b = json_object_get(data, "batch");
	if (json_is_object(b) && !add_links(b, public_url))
		goto out;
	if (format != NULL && strcmp(format, "slack") == 0)
		out = slack_text(type, data);
	else
		out = json_pack("{s:s,s:s,s:s,s:O}", "id", event_id, "type", type, "created_at",
				created_at, "data", data);
	if (out != NULL)
		text = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(out);
	json_decref(data);
	return text;
}
