/* config_sighup.c - the SIGHUP event every long-running program registers once: re-read the
 * config (config_reload logs each key it applies or leaves for a restart), then call the
 * program's hook. A file that does not load changes nothing and says why. */
#include "config_sighup.h"

#include <signal.h>
#include <stdlib.h>

#include "log.h"

struct ConfigSighup {
	struct event *ev;
	Config *cfg;      /* borrowed */
	const char *path; /* borrowed */
	ConfigAppliedFn applied;
	void *arg;
};

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	ConfigSighup *h = arg;
	ConfigReloadResult res;
	char err[512];

	(void)sig;
	(void)what;
	if (!config_reload(h->cfg, h->path, &res, err, sizeof(err))) {
		log_error("SIGHUP: config not reloaded, the old one stays in force: %s", err);
		return;
	}
	log_info("SIGHUP: config reloaded from %s: %d key(s) applied, %d need a restart",
		 h->path != NULL ? h->path : "the environment", res.applied, res.need_restart);
	if (res.applied > 0 && h->applied != NULL)
		h->applied(h->arg);
}

ConfigSighup *config_sighup_new(struct event_base *base, Config *cfg, const char *path,
				ConfigAppliedFn applied, void *arg)
{
	ConfigSighup *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		log_error("out of memory for the SIGHUP handler");
		return NULL;
	}
	h->cfg = cfg;
	h->path = path;
	h->applied = applied;
	h->arg = arg;
	h->ev = evsignal_new(base, SIGHUP, on_sighup, h);
	if (h->ev == NULL || evsignal_add(h->ev, NULL) != 0) {
		log_error("cannot install the SIGHUP handler");
		config_sighup_free(h);
		return NULL;
	}
	return h;
}

void config_sighup_free(ConfigSighup *h)
{
	if (h == NULL)
		return;
	if (h->ev != NULL)
		event_free(h->ev);
	free(h);
}
