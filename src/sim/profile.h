/* profile.h - fault-injection profiles: one default profile (start-up values from config and
 * environment, then the AMCSIM_PROFILES file, then PUT /sim/profiles/default) and partial
 * per-instance overrides on top of it. See docs/amcsim.md for every field. */
#ifndef AMCSIM_PROFILE_H
#define AMCSIM_PROFILE_H

#include <stdint.h>

#include <jansson.h>

#include "common.h"

/* the endpoints request faults (429, 5xx, hang) can apply to; also the stats columns */
enum Endpoint { EP_CREATE, EP_GET, EP_LIST, EP_CANCEL, EP_URLS, EP_DOWNLOAD, EP_TOKEN, EP__COUNT };
extern const char *const endpoint_name[EP__COUNT];
#define EP_MASK(e) (1u << (e))
/* by default faults hit the AMC endpoints, not the S3 bucket nor the token endpoint */
#define EP_DEFAULT_MASK \
	(EP_MASK(EP_CREATE) | EP_MASK(EP_GET) | EP_MASK(EP_LIST) | EP_MASK(EP_CANCEL) | \
	 EP_MASK(EP_URLS))

#define PROFILE_REASON_MAX 2048 /* AMC's failure reasons can be long (and not ASCII) */
#define PROFILE_CODES_MAX 8
#define PROFILE_SPLIT_MAX 32
#define PROFILE_ANY_REGION (-1) /* Profile.region of an instance not bound to a region */

typedef struct Profile {
	uint64_t set; /* bit per field (profile.c's table order) present here */
	int latency_ms, pending_ms;
	double rate_429;
	int retry_after_s;
	bool retry_after_date; /* Retry-After as an HTTP-date instead of seconds */
	int burst_429;         /* state: how many of the next requests still get 429 */
	double rate_5xx;
	int codes_5xx[PROFILE_CODES_MAX];
	int ncodes_5xx;
	double hang_rate;
	int hang_ms;
	double lost_create_rate;
	int not_found_after_create_ms;
	double fail_rate;
	char fail_reason[PROFILE_REASON_MAX];
	int token_ttl_s, url_ttl_s;
	bool url_403_first;
	double truncate_rate;
	bool no_final_newline; /* result files end without a line break */
	bool multipart_etag;   /* ETags as for objects uploaded in parts: not the MD5 */
	int split_files;
	int max_running, account_max_running, daily_quota;
	unsigned endpoints; /* EP_MASK bits the request faults apply to */
	int region;         /* AmcRegion: the one host (listener) that serves the
					 * instance, another region's host refuses it (403);
					 * PROFILE_ANY_REGION: every host serves it */
} Profile;

typedef struct ProfileStore ProfileStore;

/* base: the complete start-up default (every field meaningful); copied */
ProfileStore *profiles_new(const Profile *base);
void profiles_free(ProfileStore *ps);
/* a Profile with the built-in values (used to build the base in main) */
void profiles_builtin(Profile *out);
/* Replaces everything with base + the file: {"default":{...},"instances":{"id":{...}}}.
 * On error nothing changes and err says why. */
MUST_CHECK bool profiles_load_file(ProfileStore *ps, const char *path, char *err, size_t errlen);
/* the default overlaid with inst's override (inst NULL or unknown: the default) */
void profiles_effective(const ProfileStore *ps, const char *inst, Profile *out);
/* merges the fields of obj into inst's override (NULL: the default); all or nothing */
MUST_CHECK bool profiles_put(ProfileStore *ps, const char *inst, json_t *obj, char *err,
			     size_t errlen);
/* drops inst's override; inst NULL restores the start-up default (base + file). false if
 * there was no such override */
bool profiles_delete(ProfileStore *ps, const char *inst);
/* start-up state: default = base + file, file overrides only */
void profiles_reset(ProfileStore *ps);
/* {"default":{every field},"instances":{"id":{the fields set}}}; NULL on OOM */
json_t *profiles_json(const ProfileStore *ps);
/* the effective profile of inst (NULL: the default) with every field; NULL on OOM */
json_t *profiles_effective_json(const ProfileStore *ps, const char *inst);
/* one request's share of a 429 burst: the instance's own burst first, then the default's */
bool profiles_take_burst(ProfileStore *ps, const char *inst);
/* the longest token lifetime any profile gives (bounds how long tokens are remembered) */
int profiles_max_token_ttl(const ProfileStore *ps);

#endif
