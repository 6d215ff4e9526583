/* progress.h - the text of `status --watch` progress: counts taken from a batch_status object
 * and rendered as "[#####-----] 8/12  67%  running 3 · completed 7 · failed 1". Pure. */
#ifndef AMCB_CLI_PROGRESS_H
#define AMCB_CLI_PROGRESS_H

#include <jansson.h>

#include "common.h"

#define PROGRESS_MAX_ITEMS 16
#define PROGRESS_BAR_WIDTH 20

typedef struct ProgressItem {
	char name[24];
	long long count;
} ProgressItem;

typedef struct Progress {
	long long done; /* executions in a terminal state */
	long long total;
	size_t n;
	ProgressItem items[PROGRESS_MAX_ITEMS]; /* non-zero counts, in lifecycle order */
} Progress;

/* Fills p from the API's batch_status object (borrowed). */
void progress_from_status(Progress *p, const json_t *batch_status);
/* done/total in percent, rounded, but 100 only when everything is done. */
int progress_percent(const Progress *p);
/* Writes the line into buf (always NUL-terminated); bar_width 0 leaves the bar out.
 * Returns the length the full line has, like snprintf. */
size_t progress_render(const Progress *p, int bar_width, char *buf, size_t size);
/* The widest rendering shorter than cols display columns: a 20-wide bar, else 10, else no
 * bar, else the bar-less line cut with "…". */
void progress_render_fit(const Progress *p, size_t cols, char *buf, size_t size);

#endif
