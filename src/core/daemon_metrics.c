/* daemon_metrics.c - the start and stop of a daemon's metrics (daemon_metrics.h). It defines
 * no metric (the daemons' stats.c and conn_metrics.c do) and renders nothing (metrics.c). */
#include "daemon_metrics.h"

#include <string.h>

#include "conn_metrics.h"
#include "log.h"

bool daemon_metrics_start(DaemonMetrics *dm, Metric *const *defs, size_t n,
			  MetricsCollectFn collect, RConn *redis, PgPool *pg,
			  struct event_base *base, const char *listen)
{
	if ((dm->reg = metrics_new()) == NULL)
		goto fail;
	for (size_t i = 0; i < n; i++)
		if (!metrics_register(dm->reg, defs[i]))
			goto fail;
	if (!metrics_on_collect(dm->reg, collect, NULL) || !conn_metrics_attach(dm->reg, redis, pg))
		goto fail;
	if (listen[0] != '\0' && (dm->listener = metrics_http_new(base, listen, dm->reg)) == NULL)
		return false; /* logged */
	return true;
fail:
	log_error("metrics: cannot register (out of memory?)");
	return false;
}

void daemon_metrics_stop(DaemonMetrics *dm, RConn *redis, PgPool *pg)
{
	metrics_http_free(dm->listener);
	conn_metrics_detach(redis, pg);
	metrics_free(dm->reg);
	memset(dm, 0, sizeof(*dm));
}
