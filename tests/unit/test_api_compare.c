/* test_api_compare.c - compare_rank: ranks with ties, shares, Tukey's outliers, instances
 * without a value, and too few values to call an outlier. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "compare.h"
#include "../tap.h"

static CompareItem item(double v)
{
	return (CompareItem){ .has_value = true, .value = v };
}

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static void test_ranks_shares(void)
{
	CompareItem it[] = { item(10), item(30), item(30), { .has_value = false }, item(30) };
	CompareStats st;

	assertf(compare_rank(it, 5, &st), "ranked");
	assertf(near(st.total, 100) && st.counted == 4, "total %g over %zu values", st.total,
		st.counted);
	assertf(it[1].rank == 1 && it[2].rank == 1 && it[4].rank == 1 && it[0].rank == 4,
		"ties share a rank: %zu %zu %zu %zu", it[0].rank, it[1].rank, it[2].rank,
		it[4].rank);
	assertf(near(it[0].share, 0.1) && near(it[1].share, 0.3), "shares %g %g", it[0].share,
		it[1].share);
	assertf(it[3].rank == 0 && it[3].share == 0 && it[3].outlier == COMPARE_NONE,
		"no value: no rank");
}

static void test_outliers(void)
{
	/* quartiles of 1..8 and 100 (type 7): q1 = 3, q3 = 7, fences -3 and 13 */
	CompareItem it[9];
	CompareStats st;

	for (int i = 0; i < 8; i++)
		it[i] = item(i + 1);
	it[8] = item(100);
	assertf(compare_rank(it, 9, &st), "ranked");
	assertf(near(st.q1, 3) && near(st.q3, 7) && near(st.median, 5), "q1 %g median %g q3 %g",
		st.q1, st.median, st.q3);
	assertf(near(st.high_fence, 13) && near(st.low_fence, -3), "fences %g %g", st.low_fence,
		st.high_fence);
	assertf(it[8].outlier == COMPARE_HIGH && it[8].rank == 1, "100 is a high outlier");
	for (int i = 0; i < 8; i++)
		assertf(it[i].outlier == COMPARE_NONE, "%d is not an outlier", i + 1);
	it[0] = item(-50);
	assertf(compare_rank(it, 9, &st) && it[0].outlier == COMPARE_LOW, "-50 is a low outlier");
}

static void test_few(void)
{
	CompareItem it[] = { item(1), item(2), item(1000) };
	CompareStats st;

	assertf(compare_rank(it, 3, &st) && it[2].outlier == COMPARE_NONE,
		"three values: no outliers");
	assertf(compare_rank(it, 0, &st) && st.counted == 0 && st.total == 0, "nothing to rank");
	CompareItem zero[] = { item(0), item(0) };
	assertf(compare_rank(zero, 2, &st) && zero[0].share == 0 && zero[0].rank == 1,
		"a zero total");
}

int main(void)
{
	RUN_TEST(test_ranks_shares);
	RUN_TEST(test_outliers);
	RUN_TEST(test_few);
	return tap_done();
}
