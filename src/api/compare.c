/* compare.c - the portfolio arithmetic of GET /workflows/batch/{b}/compare: each instance's
 * value of a metric, its share of the total and its rank, and the outliers by Tukey's fences
 * (beyond 1.5 interquartile ranges from the quartiles). Pure functions, unit-tested. */
#include "compare.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The p-quantile of sorted[0..n-1] by linear interpolation between closest ranks (the
 * "type 7" of R and NumPy's default, so an analyst's spreadsheet agrees). */
static double quantile(const double *sorted, size_t n, double p)
{
	double h = (double)(n - 1) * p;
	size_t lo = (size_t)floor(h);

	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + (h - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

bool compare_rank(CompareItem *items, size_t n, CompareStats *st)
{
	double *v;
	size_t k = 0;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < n; i++) {
		items[i].rank = 0;
		items[i].share = 0;
		items[i].outlier = COMPARE_NONE;
		if (items[i].has_value) {
			st->total += items[i].value;
			k++;
		}
	}
	st->counted = k;
	if (k == 0)
		return true;
	if ((v = malloc(k * sizeof(*v))) == NULL)
		return false;
	k = 0;
	for (size_t i = 0; i < n; i++)
		if (items[i].has_value)
			v[k++] = items[i].value;
	qsort(v, k, sizeof(*v), cmp_double);
	st->q1 = quantile(v, k, 0.25);
	st->median = quantile(v, k, 0.5);
	st->q3 = quantile(v, k, 0.75);
	st->low_fence = st->q1 - 1.5 * (st->q3 - st->q1);
	st->high_fence = st->q3 + 1.5 * (st->q3 - st->q1);
	free(v);
	for (size_t i = 0; i < n; i++) {
		if (!items[i].has_value)
			continue;
		/* rank 1 is the largest; equal values share a rank (1, 2, 2, 4) */
		items[i].rank = 1;
		for (size_t j = 0; j < n; j++)
			if (items[j].has_value && items[j].value > items[i].value)
				items[i].rank++;
		items[i].share = st->total != 0 ? items[i].value / st->total : 0;
		/* four values are too few for quartiles to call anything unusual */
		if (st->counted >= 4) {
			if (items[i].value > st->high_fence)
				items[i].outlier = COMPARE_HIGH;
			else if (items[i].value < st->low_fence)
				items[i].outlier = COMPARE_LOW;
		}
	}
	return true;
}
