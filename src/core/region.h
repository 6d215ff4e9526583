/* region.h - the three AMC regions an account lives in (amc_accounts.region: NA, EU, FE) and
 * the API and Login-with-Amazon token URLs the configuration gives each. It does not decide
 * which region a job is in: the account's row does, carried with the job. */
#ifndef AMCB_REGION_H
#define AMCB_REGION_H

#include "common.h"
#include "config.h"

/* Spelled as amc_accounts.region, the API and amcsim spell them (region_name). */
typedef enum AmcRegion { REGION_NA, REGION_EU, REGION_FE, REGION__COUNT } AmcRegion;

extern const char *const region_name[REGION__COUNT];

/* s is exactly "NA", "EU" or "FE" (upper case, as stored); false otherwise (out untouched). */
MUST_CHECK bool region_parse(const char *s, AmcRegion *out);

/* The AMC API base URL and the LWA token URL of region r (borrowed from cfg): amc_base_url /
 * amc_token_url when set (non-empty: one host for every region, e.g. one local simulator),
 * else amc_base_url_<r> / amc_token_url_<r> (defaults: the real public hosts). */
const char *region_base_url(const Config *cfg, AmcRegion r);
const char *region_token_url(const Config *cfg, AmcRegion r);

#endif
