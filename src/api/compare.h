/* compare.h - ranks, shares and outliers of one metric across a batch's instances (the
 * portfolio comparison, routes_compare.c). */
#ifndef AMCB_API_COMPARE_H
#define AMCB_API_COMPARE_H

#include <stdbool.h>
#include <stddef.h>

enum CompareOutlier { COMPARE_NONE, COMPARE_LOW, COMPARE_HIGH };

typedef struct CompareItem {
	bool has_value; /* false: the instance has no value (missing, no rows) */
	double value;
	/* set by compare_rank */
	size_t rank;  /* 1 = largest; 0 without a value */
	double share; /* of the total of the values */
	enum CompareOutlier outlier;
} CompareItem;

typedef struct CompareStats {
	size_t counted; /* items with a value */
	double total, q1, median, q3, low_fence, high_fence;
} CompareStats;

/* Fills every item's rank, share and outlier (Tukey's fences, from 4 values on) and st.
 * False on OOM (items then half filled). */
bool compare_rank(CompareItem *items, size_t n, CompareStats *st);

#endif
