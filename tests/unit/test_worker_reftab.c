/* test_worker_reftab.c - the worker's table of held refs: one entry per ref, found after many
 * adds and deletes (tombstones, growth), values kept. */
#include "reftab.h"

#include <stdio.h>
#include <string.h>

#include "../tap.h"

static void test_reftab_add_get_del(void)
{
	RefTab *t = reftab_new();
	char ref[64];
	void *v = NULL;
	int vals[5000];

	assertf(t != NULL, "new");
	for (int i = 0; i < 5000; i++) {
		snprintf(ref, sizeof ref, "batch_%08x:exec_%08x", i / 100, i);
		assertf(reftab_add(t, ref, &vals[i]), "add %s", ref);
	}
	assertf(!reftab_add(t, "batch_00000000:exec_00000000", NULL), "a ref is held once");
	assertf(reftab_count(t) == 5000, "5000 held");
	for (int i = 0; i < 5000; i += 2) {
		snprintf(ref, sizeof ref, "batch_%08x:exec_%08x", i / 100, i);
		reftab_del(t, ref);
	}
	assertf(reftab_count(t) == 2500, "2500 after deleting every second");
	for (int i = 0; i < 5000; i++) {
		snprintf(ref, sizeof ref, "batch_%08x:exec_%08x", i / 100, i);
		bool got = reftab_get(t, ref, &v);
		assertf(got == (i % 2 == 1), "%s %s", ref, got ? "held" : "gone");
		if (got)
			assertf(v == &vals[i], "%s keeps its value", ref);
	}
	/* churn: tombstones must not fill the table */
	for (int r = 0; r < 20000; r++) {
		snprintf(ref, sizeof ref, "batch_ffffffff:exec_%08x", r);
		assertf(reftab_add(t, ref, NULL), "churn add %d", r);
		reftab_del(t, ref);
	}
	assertf(reftab_count(t) == 2500 && reftab_get(t, "batch_00000000:exec_00000001", NULL),
		"the held refs survive the churn");
	assertf(reftab_add(t, "batch_x:exec_y", NULL) && reftab_get(t, "batch_x:exec_y", &v) && v == NULL,
		"a NULL value (no-op job) is held too");
	reftab_free(t);
	reftab_free(NULL);
}

int main(void)
{
	RUN_TEST(test_reftab_add_get_del);
	return tap_done();
}
