/* config_sighup.h - SIGHUP (systemctl reload) for a long-running program: a libevent signal
 * event that calls config_reload on the program's Config, then the program's hook for the
 * few reloadable keys it copied into other state at start. */
#ifndef AMCB_CONFIG_SIGHUP_H
#define AMCB_CONFIG_SIGHUP_H

#include <event2/event.h>

#include "config.h"

typedef struct ConfigSighup ConfigSighup;
/* Runs on the loop thread after a reload that applied at least one key: cfg holds the new
 * values. */
typedef void (*ConfigAppliedFn)(void *arg);

/* Adds the SIGHUP event to base. cfg (the live config) and path (the -c file; NULL: the
 * environment only) are borrowed and must outlive the result; applied may be NULL. NULL on
 * failure (logged). The caller owns the result: config_sighup_free. */
ConfigSighup *config_sighup_new(struct event_base *base, Config *cfg, const char *path,
				ConfigAppliedFn applied, void *arg);
void config_sighup_free(ConfigSighup *h);

#endif
