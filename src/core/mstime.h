/* mstime.h - milliseconds: the two clocks every program reads, and the one conversion to the
 * struct timeval that libevent's timers and hiredis's timeouts take. */
#ifndef AMCB_MSTIME_H
#define AMCB_MSTIME_H

#include <stdint.h>
#include <sys/time.h>

/* Wall-clock time (CLOCK_REALTIME), ms since the Unix epoch: what is stored, sent to Redis
 * and compared across processes and machines. */
int64_t mstime_wall(void);

/* Monotonic time (CLOCK_MONOTONIC), ms from an arbitrary start: for intervals and deadlines
 * within one process, which a clock step must not stretch or cut. */
int64_t mstime_mono(void);

/* ms as a struct timeval; a negative ms counts as 0 (a timer due now). */
struct timeval mstime_tv(int64_t ms);

#endif
