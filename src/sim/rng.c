/* rng.c - splitmix64: tiny, fast, good enough for choosing which request fails; not for
 * anything secret (tokens and URL signatures use ids_random). */
#include "rng.h"

void rng_seed(Rng *r, uint64_t seed)
{
	r->state = seed;
}

uint64_t rng_next(Rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double rng_unit(Rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

bool rng_roll(Rng *r, double rate)
{
	if (rate <= 0.0)
		return false;
	if (rate >= 1.0)
		return true;
	return rng_unit(r) < rate;
}
