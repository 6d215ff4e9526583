/* admin.h - what the `amcbatch admin` files share: the parsed options, one function per
 * verb (cmd_admin_users.c, cmd_admin_data.c, cmd_admin.c), lookups of users, accounts and
 * instances by name, list tables and reporting a call. Blocking, like all of the CLI. */
#ifndef AMCB_CLI_ADMIN_H
#define AMCB_CLI_ADMIN_H

#include <jansson.h>

#include "cli.h"

/* Every option of `amcbatch admin` (borrowed from argv; NULL when not given). */
typedef struct AdminOpts {
	const char *role, *name, *expires;
	const char *advertiser, *marketplace, *region, *client_id;
	const char *refresh_file, *secret_file; /* credentials come from files or stdin ("-") */
	const char *instance_id, *account, *brands, *timezone;
	const char *user, *instances, *instance;
	int sandbox; /* -1 not given, 0 --no-sandbox, 1 --sandbox */
	bool ask;    /* --ask-credentials: prompt on the terminal */
	bool json_out;
} AdminOpts;

/* A verb: arg is its one positional argument (NULL for verbs without one). Returns the exit
 * code; h is open. */
typedef int (*AdminVerb)(ApiClient *h, const AdminOpts *o, const char *arg);

/* One column of a list table: header, member of each item, and how to show it: 's' text,
 * 'n' number (right-aligned), 'y' boolean as yes/no, 'd' boolean as disabled/enabled, 'l'
 * array joined by ", ". TABLE_* flags as table_flag takes them. */
typedef struct AdminCol {
	const char *head;
	const char *key;
	char kind;
	unsigned char flags;
} AdminCol;

/* Prints items (a JSON array) as a table and "N <noun>s"; the exit code. */
int admin_print_list(const json_t *items, const AdminCol *cols, size_t ncols, const char *noun);
/* apiclient_call that reports a failure; the exit code (*resp: caller decrefs). */
int admin_call(ApiClient *h, const char *method, const char *path, const json_t *body,
	       json_t **resp);
/* Prints resp as JSON when o asks for it (true: done, *rc set). */
bool admin_json(const AdminOpts *o, const json_t *resp, int *rc);
/* The UUID that ref names among the users (by email), accounts (by name) or instances (by
 * AMC id or name) of the admin lists; what: "user", "account" or "instance". NULL after
 * reporting why, with *rc set. *list keeps the fetched list (the result may point into it:
 * caller decrefs after use; NULL when ref is a UUID, which needs no lookup). */
const char *admin_resolve(ApiClient *h, const char *what, const char *ref, json_t **list, int *rc);
/* "/<a>/<escaped b><c>" into a malloc'ed string; NULL on OOM (reported). */
char *admin_path(ApiClient *h, const char *a, const char *b, const char *c);

/* users and their tokens (cmd_admin_users.c) */
int admin_users_list(ApiClient *h, const AdminOpts *o, const char *arg);
int admin_users_create(ApiClient *h, const AdminOpts *o, const char *email);
int admin_users_edit(ApiClient *h, const AdminOpts *o, const char *user);
int admin_users_disable(ApiClient *h, const AdminOpts *o, const char *user);
int admin_users_enable(ApiClient *h, const AdminOpts *o, const char *user);
int admin_tokens_list(ApiClient *h, const AdminOpts *o, const char *user);
int admin_tokens_create(ApiClient *h, const AdminOpts *o, const char *user);
int admin_tokens_revoke(ApiClient *h, const AdminOpts *o, const char *token_id);

/* accounts and instances (cmd_admin_data.c) */
int admin_accounts_list(ApiClient *h, const AdminOpts *o, const char *arg);
int admin_accounts_create(ApiClient *h, const AdminOpts *o, const char *arg);
int admin_accounts_edit(ApiClient *h, const AdminOpts *o, const char *account);
int admin_instances_list(ApiClient *h, const AdminOpts *o, const char *arg);
int admin_instances_create(ApiClient *h, const AdminOpts *o, const char *arg);
int admin_instances_edit(ApiClient *h, const AdminOpts *o, const char *instance);
int admin_instances_disable(ApiClient *h, const AdminOpts *o, const char *instance);
int admin_instances_enable(ApiClient *h, const AdminOpts *o, const char *instance);

#endif
