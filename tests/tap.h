/* tap.h - minimal test reporting shared by every C test binary: one "ok"/"not ok" line per
 * check (TAP style), a summary, exit status 1 on any failure, 77 when skipped.
 * scripts/test counts the ok/not ok/# SKIP lines of every test program. */
#ifndef AMCB_TAP_H
#define AMCB_TAP_H

#include <stdio.h>
#include <stdlib.h>

#ifdef TAP_SHARED_COUNTERS /* a program of several files (tests/lua): one defines them */
extern int tap_passed, tap_failed;
#else
static int tap_passed, tap_failed;
#endif

#define assertf(cond, ...) \
	do { \
		if (cond) { \
			tap_passed++; \
		} else { \
			tap_failed++; \
			printf("# FAIL %s:%d: ", __FILE__, __LINE__); \
			printf(__VA_ARGS__); \
			printf("\n"); \
		} \
	} while (0)

/* Run one named test function; a test is ok if it added no failure. scripts/test counts
 * only these "ok - " / "not ok - " lines (assertf failures print "# FAIL" details). */
#define RUN_TEST(fn) \
	do { \
		int before_ = tap_failed; \
		fn(); \
		printf("%s - %s\n", tap_failed == before_ ? "ok" : "not ok", #fn); \
		fflush(stdout); \
	} while (0)

#define TAP_SKIP_ALL(reason) \
	do { \
		printf("ok - # SKIP %s\n", reason); \
		exit(77); \
	} while (0)

static inline int tap_done(void)
{
	printf("# %d checks passed, %d failed\n", tap_passed, tap_failed);
	return tap_failed ? 1 : 0;
}

#endif
