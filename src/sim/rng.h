/* rng.h - the simulator's fault dice: a small seedable generator (splitmix64) so that a run
 * with the same AMCSIM_SEED and the same request order injects the same faults. */
#ifndef AMCSIM_RNG_H
#define AMCSIM_RNG_H

#include <stdint.h>

#include "common.h"

typedef struct Rng {
	uint64_t state;
} Rng;

void rng_seed(Rng *r, uint64_t seed);
uint64_t rng_next(Rng *r);
/* uniform in [0, 1) */
double rng_unit(Rng *r);
/* true with probability rate (0 never draws, so rate 0 leaves the sequence untouched) */
bool rng_roll(Rng *r, double rate);

#endif
