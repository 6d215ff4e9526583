/* control.c - handlers of /sim/profiles, /sim/stats, /sim/reset-stats, /sim/seed and
 * /sim/reload, and the dispatch of /sim/executions to ledger.c (docs/amcsim.md lists them
 * with examples). Errors are {"code":"400","details":"..."} like the AMC endpoints'. */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "httpd.h"
#include "ledger.h"
#include "log.h"

#define CONTROL_BODY_MAX (64 * 1024)

static void error(struct evhttp_request *req, int status, const char *details)
{
	char code[8];

	snprintf(code, sizeof(code), "%d", status);
	httpd_reply_json(req, status, json_pack("{s:s, s:s}", "code", code, "details", details));
}

static void reply(struct evhttp_request *req, json_t *o)
{
	if (o == NULL)
		error(req, 500, "out of memory");
	else
		httpd_reply_json(req, 200, o);
}

/* the request body as JSON (caller decrefs), or NULL after answering 400 */
static json_t *body_json(struct evhttp_request *req)
{
	bool too_big = false;
	char *body = httpd_body(req, CONTROL_BODY_MAX, &too_big);
	json_t *o = body != NULL ? json_loads(body, 0, NULL) : NULL;

	free(body);
	if (o == NULL)
		error(req, too_big ? 413 : 400,
		      too_big ? "body too large" : "the body must be JSON");
	return o;
}

bool control_reload(Sim *sim, char *err, size_t errlen)
{
	if (sim->profiles_path == NULL) {
		snprintf(err, errlen, "AMCSIM_PROFILES is not set");
		return false;
	}
	if (!profiles_load_file(sim->profiles, sim->profiles_path, err, errlen))
		return false;
	executions_pump_all(sim->execs);
	log_info("profiles reloaded from %s", sim->profiles_path);
	return true;
}

/* rest: after "profiles" ("", "/default" or "/<instanceId>") */
static void handle_profiles(Sim *sim, struct evhttp_request *req, const char *rest)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	const char *name = *rest == '/' ? rest + 1 : NULL;
	const char *inst = name != NULL && strcmp(name, "default") != 0 ? name : NULL;
	char err[300];
	json_t *o;

	if (*rest && (name == NULL || !*name)) {
		error(req, 404, "unknown control path");
		return;
	}
	if (inst != NULL && !data_instance_id_valid(inst)) {
		error(req, 400, "not a valid instance id");
		return;
	}
	if (name == NULL) {
		if (m == EVHTTP_REQ_GET) {
			reply(req, profiles_json(sim->profiles));
		} else if (m == EVHTTP_REQ_DELETE) {
			profiles_reset(sim->profiles);
			executions_pump_all(sim->execs);
			log_info("profiles reset to the start-up state");
			reply(req, profiles_json(sim->profiles));
		} else {
			error(req, 405, "use GET or DELETE");
		}
		return;
	}
	switch (m) {
	case EVHTTP_REQ_GET:
		reply(req, profiles_effective_json(sim->profiles, inst));
		break;
	case EVHTTP_REQ_PUT:
		if ((o = body_json(req)) == NULL)
			return;
		if (!profiles_put(sim->profiles, inst, o, err, sizeof(err))) {
			json_decref(o);
			error(req, 400, err);
			return;
		}
		json_decref(o);
		/* a higher running limit starts queued executions at once */
		executions_pump_all(sim->execs);
		log_info("profile %s changed", name);
		reply(req, profiles_effective_json(sim->profiles, inst));
		break;
	case EVHTTP_REQ_DELETE:
		if (!profiles_delete(sim->profiles, inst)) {
			error(req, 404, "no profile for this instance");
			return;
		}
		executions_pump_all(sim->execs);
		log_info("profile %s removed", name);
		reply(req, profiles_effective_json(sim->profiles, inst));
		break;
	default:
		error(req, 405, "use GET, PUT or DELETE");
	}
}

void control_handle(Sim *sim, struct evhttp_request *req, const char *rest)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char err[300];
	json_t *o;

	if (strncmp(rest, "profiles", 8) == 0 && (rest[8] == '\0' || rest[8] == '/')) {
		handle_profiles(sim, req, rest + 8);
	} else if (strcmp(rest, "stats") == 0) {
		if (m == EVHTTP_REQ_GET)
			reply(req, stats_json(sim->stats));
		else
			error(req, 405, "use GET");
	} else if (strcmp(rest, "executions") == 0) {
		ledger_handle(sim, req);
	} else if (strcmp(rest, "reset-stats") == 0) {
		if (m == EVHTTP_REQ_POST) {
			stats_reset(sim->stats);
			reply(req, json_object());
		} else {
			error(req, 405, "use POST");
		}
	} else if (strcmp(rest, "seed") == 0) {
		if (m != EVHTTP_REQ_PUT) {
			error(req, 405, "use PUT");
			return;
		}
		if ((o = body_json(req)) == NULL)
			return;
		json_t *v = json_object_get(o, "seed");
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			json_decref(o);
			error(req, 400, "seed must be a non-negative integer");
			return;
		}
		faults_seed(sim->faults, (uint64_t)json_integer_value(v));
		json_decref(o);
		reply(req, json_object());
	} else if (strcmp(rest, "reload") == 0) {
		if (m != EVHTTP_REQ_POST)
			error(req, 405, "use POST");
		else if (!control_reload(sim, err, sizeof(err)))
			error(req, 400, err);
		else
			reply(req, profiles_json(sim->profiles));
	} else {
		error(req, 404, "unknown control path");
	}
}
