/* worker.c - the Worker context's own set-up: its identity (id, host, start time) and its
 * private spool directory. What the worker does on events (connect, stop, a job's end) is
 * lifecycle.c's; this file calls nothing above the context. */
#include "worker.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "mstime.h"

void worker_identify(Worker *w)
{
	w->prefix = w->cfg.redis_prefix;
	w->started_ms = mstime_wall();
	if (gethostname(w->host, sizeof(w->host)) != 0)
		snprintf(w->host, sizeof(w->host), "worker");
	w->host[sizeof(w->host) - 1] = '\0';
	if (w->cfg.worker_id != NULL && *w->cfg.worker_id)
		snprintf(w->id, sizeof(w->id), "%s", w->cfg.worker_id);
	else
		snprintf(w->id, sizeof(w->id), "%s-%ld", w->host, (long)getpid());
}

/* The worker's own spool directory, <spool_dir>/amcbatch-<worker id>, mode 0700 and ours:
 * nobody else can plant or read a result file there. Files an earlier run of this worker id
 * left are removed (their jobs were reclaimed and start their downloads anew). */
bool worker_spool_open(Worker *w, const char *base)
{
	char name[sizeof(w->id)];
	struct stat st;
	DIR *d;
	struct dirent *de;
	size_t i;

	for (i = 0; w->id[i]; i++) {
		char c = w->id[i];
		name[i] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
					  (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
				  ? c
				  : '_';
	}
	name[i] = '\0';
	if ((size_t)snprintf(w->spool_dir, sizeof(w->spool_dir), "%s/amcbatch-%s", base, name) >=
	    sizeof(w->spool_dir)) {
		errno = ENAMETOOLONG;
		return false;
	}
	if (mkdir(w->spool_dir, 0700) != 0 && errno != EEXIST)
		return false;
	if (lstat(w->spool_dir, &st) != 0)
		return false;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		errno = EPERM;
		return false;
	}
	if ((d = opendir(w->spool_dir)) == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		char path[sizeof(w->spool_dir) + 300];
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".csv") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", w->spool_dir, de->d_name);
		if (unlink(path) != 0)
			log_warn("cannot remove the old spool file %s: %s", path, strerror(errno));
	}
	closedir(d);
	return true;
}
