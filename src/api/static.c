/* static.c - serves the web UI: GET / is web_root/index.html, GET /{name} a file directly in
 * web_root. Names are one path segment of [A-Za-z0-9._-] not starting with '.', with a known
 * extension, so nothing outside web_root (nor any dot-file) can be reached. Files revalidate
 * by ETag/Last-Modified; anything else gets the API's JSON 404. */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "log.h"

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
	{ ".json", "application/json" },
	{ ".txt", "text/plain; charset=utf-8" },
};

/* The page's scripts and styles are our own files; the API is the only thing it talks to. */
static const char csp[] =
	"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
	"connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot != NULL && i < ARRAY_LEN(types); i++)
		if (strcasecmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

static bool safe_name(const char *s)
{
	if (s[0] == '.' || strlen(s) > 100)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

/* The directory: web_root when it holds the UI, else the source tree's web/ (an
 * uninstalled build run from its build directory). Decided once. */
static const char *web_dir(const Api *api)
{
	static const char *dir;
	char probe[4096];

	if (dir != NULL)
		return dir;
	dir = api->cfg.web_root;
	snprintf(probe, sizeof(probe), "%s/index.html", dir);
#ifdef AMCB_SRC_WEBDIR
	if (access(probe, R_OK) != 0) {
		log_info("web UI: %s has no index.html, serving %s", dir, AMCB_SRC_WEBDIR);
		dir = AMCB_SRC_WEBDIR;
	}
#endif
	return dir;
}

void static_get(Req *r)
{
	const char *name = r->nsegs == 0 ? "index.html" : r->segs[0];
	const char *type = r->nsegs <= 1 && safe_name(name) ? type_of(name) : NULL;
	struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
	const char *inm, *ims;
	char path[4096], etag[64], lastmod[64];
	struct evbuffer *buf;
	struct stat st;
	struct tm tm;
	int fd;

	if (type == NULL) {
		req_fail(r, 404, "not_found", NULL, "no such endpoint: %s",
			 evhttp_request_get_uri(r->req));
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", web_dir(r->api), name);
	/* a local file of a few kB: this open/fstat is not the network or database I/O the
	 * loop must never wait for, and the bytes go out by sendfile/mmap from the fd */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		else if (errno != ENOENT)
			log_warn("web UI: cannot open %s: %s", path, strerror(errno));
		req_fail(r, 404, "not_found", NULL, "no such file: %s", name);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
	if (gmtime_r(&st.st_mtim.tv_sec, &tm) == NULL ||
	    strftime(lastmod, sizeof(lastmod), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		lastmod[0] = '\0';
	evhttp_add_header(out, "Content-Type", type);
	evhttp_add_header(out, "ETag", etag);
	if (lastmod[0] != '\0')
		evhttp_add_header(out, "Last-Modified", lastmod);
	/* revalidate every time: a new release must reach the browser at once */
	evhttp_add_header(out, "Cache-Control", "no-cache");
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	if (strcmp(name, "index.html") == 0) {
		evhttp_add_header(out, "Content-Security-Policy", csp);
		evhttp_add_header(out, "Referrer-Policy", "no-referrer");
	}
	inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
	ims = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-Modified-Since");
	if ((inm != NULL && strstr(inm, etag) != NULL) ||
	    (inm == NULL && ims != NULL && lastmod[0] != '\0' && strcmp(ims, lastmod) == 0)) {
		close(fd);
		r->access.status = 304;
		evhttp_send_reply(r->req, 304, "Not Modified", NULL);
		req_release(r);
		return;
	}
	buf = evbuffer_new();
	if (buf == NULL || (st.st_size > 0 && evbuffer_add_file(buf, fd, 0, st.st_size) != 0)) {
		/* evbuffer_add_file closes fd even when it fails */
		if (buf == NULL)
			close(fd);
		if (buf != NULL)
			evbuffer_free(buf);
		req_fail(r, 500, "internal", NULL, "cannot read %s", name);
		return;
	}
	if (st.st_size == 0)
		close(fd);
	r->access.status = 200;
	r->access.bytes = (size_t)st.st_size;
	evhttp_send_reply(r->req, 200, "OK", buf);
	evbuffer_free(buf);
	req_release(r);
}
