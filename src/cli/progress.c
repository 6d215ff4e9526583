/* progress.c - progress bar text for `amcbatch status --watch`. Drawing (\r, clearing the
 * line) is the caller's business; this file only decides what the line says. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt.h"
#include "states.h"
#include "table.h"

/* Execution states go in lifecycle order (states.h, design.md state machine); others follow
 * as seen. */

static void add_item(Progress *p, const char *name, long long count)
{
	if (count <= 0 || p->n >= PROGRESS_MAX_ITEMS)
		return;
	snprintf(p->items[p->n].name, sizeof(p->items[p->n].name), "%s", name);
	p->items[p->n].count = count;
	p->n++;
}

void progress_from_status(Progress *p, const json_t *bs)
{
	const json_t *counts = json_object_get(bs, "status_counts");
	long long completed = fmt_json_int(json_object_get(bs, "completed_instances"), -1);
	long long failed = fmt_json_int(json_object_get(bs, "failed_instances"), -1);
	long long cancelled = fmt_json_int(json_object_get(bs, "cancelled_instances"), -1);

	memset(p, 0, sizeof(*p));
	p->total = fmt_json_int(json_object_get(bs, "total_instances"), 0);
	if (json_is_object(counts) && json_object_size(counts) > 0) {
		const char *key;
		json_t *v;
		size_t i;

		enum ExecState s;

		for (i = 0; i < EXEC_STATE_COUNT; i++)
			add_item(p, exec_state_names[i],
				 fmt_json_int(json_object_get(counts, exec_state_names[i]), 0));
		json_object_foreach ((json_t *)counts, key, v)
			if (!exec_state_parse(key, &s))
				add_item(p, key, fmt_json_int(v, 0));
	} else {
		add_item(p, exec_state_names[EXEC_STATE_PENDING],
			 fmt_json_int(json_object_get(bs, "pending_instances"), 0));
		add_item(p, exec_state_names[EXEC_STATE_RUNNING],
			 fmt_json_int(json_object_get(bs, "running_instances"), 0));
		add_item(p, exec_state_names[EXEC_STATE_COMPLETED], completed);
		add_item(p, exec_state_names[EXEC_STATE_FAILED], failed);
		add_item(p, exec_state_names[EXEC_STATE_CANCELLED], cancelled);
	}
	if (completed >= 0 || failed >= 0 || cancelled >= 0) {
		p->done = (completed > 0 ? completed : 0) + (failed > 0 ? failed : 0) +
			  (cancelled > 0 ? cancelled : 0);
	} else {
		/* no counters: count the terminal states of status_counts */
		for (size_t i = 0; i < p->n; i++)
			if (exec_state_name_is_final(p->items[i].name))
				p->done += p->items[i].count;
	}
	if (p->done > p->total)
		p->done = p->total;
}

int progress_percent(const Progress *p)
{
	long long pct;

	if (p->total <= 0)
		return 0;
	pct = (p->done * 200 + p->total) / (2 * p->total); /* rounded */
	if (pct >= 100 && p->done < p->total)
		pct = 99;
	return (int)pct;
}

size_t progress_render(const Progress *p, int bar_width, char *buf, size_t size)
{
	size_t len = 0;
	int n;

#define PUT(...) \
	do { \
		n = snprintf(buf + (len < size ? len : size), len < size ? size - len : 0, \
			     __VA_ARGS__); \
		len += n > 0 ? (size_t)n : 0; \
	} while (0)

	if (size)
		buf[0] = '\0';
	if (bar_width > 0) {
		int filled = p->total > 0 ? (int)(p->done * bar_width / p->total) : 0;

		PUT("[");
		for (int i = 0; i < bar_width; i++)
			PUT("%c", i < filled ? '#' : '-');
		PUT("] ");
	}
	PUT("%lld/%lld  %d%%", p->done, p->total, progress_percent(p));
	for (size_t i = 0; i < p->n; i++)
		PUT("%s%s %lld", i == 0 ? "  " : " \xc2\xb7 ", p->items[i].name, p->items[i].count);
#undef PUT
	return len;
}

void progress_render_fit(const Progress *p, size_t cols, char *buf, size_t size)
{
	static const int widths[] = { PROGRESS_BAR_WIDTH, PROGRESS_BAR_WIDTH / 2, 0 };
	char *cut;

	/* stay below the last column: writing it makes some terminals wrap, breaking \r */
	if (cols < 2)
		cols = 2;
	for (size_t i = 0; i < ARRAY_LEN(widths); i++) {
		progress_render(p, widths[i], buf, size);
		if (table_text_width(buf) < cols)
			return;
	}
	cut = table_cell(buf, cols - 1);
	if (cut != NULL) {
		snprintf(buf, size, "%s", cut);
		free(cut);
	}
}
