/* region.c - AMC region names and the per-region URLs of the configuration (precedence in
 * region.h and conf/amcbatch.conf.example). No I/O. */
#include "region.h"

#include <string.h>

const char *const region_name[REGION__COUNT] = {
	[REGION_NA] = "NA",
	[REGION_EU] = "EU",
	[REGION_FE] = "FE",
};

bool region_parse(const char *s, AmcRegion *out)
{
	if (s == NULL)
		return false;
	for (int r = 0; r < REGION__COUNT; r++)
		if (strcmp(s, region_name[r]) == 0) {
			*out = (AmcRegion)r;
			return true;
		}
	return false;
}

/* the override for every region when set, else the region's own key */
static const char *pick(const char *all, const char *na, const char *eu, const char *fe,
			AmcRegion r)
{
	if (all != NULL && *all)
		return all;
	switch (r) {
	case REGION_EU:
		return eu;
	case REGION_FE:
		return fe;
	case REGION_NA:
	case REGION__COUNT:
		break;
	}
	return na;
}

const char *region_base_url(const Config *cfg, AmcRegion r)
{
	return pick(cfg->amc_base_url, cfg->amc_base_url_na, cfg->amc_base_url_eu,
		    cfg->amc_base_url_fe, r);
}

const char *region_token_url(const Config *cfg, AmcRegion r)
{
	return pick(cfg->amc_token_url, cfg->amc_token_url_na, cfg->amc_token_url_eu,
		    cfg->amc_token_url_fe, r);
}
