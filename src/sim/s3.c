/* s3.c - URL signing only; serving the file is the route's job. The signature covers the
 * expiry, so a client cannot extend a URL's life by editing X-Amz-Expires. */
#include "s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ids.h"

struct S3 {
	unsigned char secret[32];
};

S3 *s3_new(void)
{
	S3 *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	if (!ids_random(s->secret, sizeof(s->secret))) {
		free(s);
		return NULL;
	}
	return s;
}

void s3_free(S3 *s)
{
	if (s != NULL)
		OPENSSL_cleanse(s->secret, sizeof(s->secret));
	free(s);
}

/* hex HMAC-SHA256 of "path\ndate\nexpires" into out (65 bytes) */
static bool sign(const S3 *s, const char *path, const char *date, const char *expires, char out[65])
{
	char msg[1024];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int n = snprintf(msg, sizeof(msg), "%s\n%s\n%s", path, date, expires);

	if (n < 0 || (size_t)n >= sizeof(msg))
		return false;
	if (HMAC(EVP_sha256(), s->secret, sizeof(s->secret), (unsigned char *)msg, (size_t)n, mac,
		 &maclen) == NULL ||
	    maclen != 32)
		return false;
	for (unsigned i = 0; i < maclen; i++)
		sprintf(out + 2 * i, "%02x", mac[i]);
	return true;
}

bool s3_url(const S3 *s, const char *host, const char *key, int64_t now_ms, int ttl_s, char *out,
	    size_t outlen)
{
	char path[512], date[20], expires[16], sig[65];
	time_t t = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(expires, sizeof(expires), "%d", ttl_s);
	if ((size_t)snprintf(path, sizeof(path), "/s3/%s", key) >= sizeof(path))
		return false;
	if (!sign(s, path, date, expires, sig))
		return false;
	int n = snprintf(out, outlen,
			 "http://%s%s?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AMCSIM%%2F"
			 "%.8s%%2Fus-east-1%%2Fs3%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=%s"
			 "&X-Amz-SignedHeaders=host&X-Amz-Signature=%s",
			 host, path, date, date, expires, sig);
	return n > 0 && (size_t)n < outlen;
}

static time_t parse_amz_date(const char *d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (d == NULL || strlen(d) != 16 ||
	    sscanf(d, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		return (time_t)-1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

enum S3Check s3_check(const S3 *s, const char *path, const char *query, int64_t now_ms)
{
	struct evkeyvalq q;
	const char *date, *expires, *given;
	char sig[65];
	enum S3Check res = S3_BAD_SIGNATURE;

	TAILQ_INIT(&q);
	if (query == NULL || evhttp_parse_query_str(query, &q) != 0)
		goto out;
	date = evhttp_find_header(&q, "X-Amz-Date");
	expires = evhttp_find_header(&q, "X-Amz-Expires");
	given = evhttp_find_header(&q, "X-Amz-Signature");
	if (date == NULL || expires == NULL || given == NULL || strlen(given) != 64 ||
	    !sign(s, path, date, expires, sig) || CRYPTO_memcmp(sig, given, 64) != 0)
		goto out;
	time_t t0 = parse_amz_date(date);
	if (t0 == (time_t)-1)
		goto out;
	res = now_ms / 1000 > (int64_t)t0 + atoll(expires) ? S3_EXPIRED : S3_OK;
out:
	evhttp_clear_headers(&q);
	return res;
}

char *s3_error_xml(enum S3Check c, const char *key)
{
	const char *code, *msg;
	char *out;
	unsigned char rid[8];
	char rids[17] = "0000000000000000";

	switch (c) {
	case S3_EXPIRED:
		code = "AccessDenied";
		msg = "Request has expired";
		break;
	case S3_BAD_SIGNATURE:
		code = "SignatureDoesNotMatch";
		msg = "The request signature we calculated does not match the signature you provided.";
		break;
	case S3_NO_SUCH_KEY:
	default:
		code = "NoSuchKey";
		msg = "The specified key does not exist.";
		break;
	}
	if (ids_random(rid, sizeof(rid)))
		for (int i = 0; i < 8; i++)
			sprintf(rids + 2 * i, "%02X", rid[i]);
	if (asprintf(&out,
		     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
		     "<Message>%s</Message><Key>%s</Key><RequestId>%s</RequestId></Error>\n",
		     code, msg, key != NULL ? key : "", rids) < 0)
		return NULL;
	return out;
}
