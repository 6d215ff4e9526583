/* test_core_htab.c - the string-keyed table the simulator and the worker (the refs it holds)
 * share: entries found after many puts and deletes, values kept, growth, and churn that must
 * not degrade it. */
#include "htab.h"

#include <stdio.h>
#include <string.h>

#include "../tap.h"

static bool count_odd(const char *key, void *value, void *priv)
{
	(*(int *)priv) += (*(int *)value) % 2;
	return false;
}

static void test_htab_put_get_del(void)
{
	HTab *t = htab_new();
	char ref[64];
	static int vals[5000];
	int odd = 0;

	assertf(t != NULL, "new");
	for (int i = 0; i < 5000; i++) {
		vals[i] = i;
		snprintf(ref, sizeof(ref), "batch_%08x:exec_%08x", i / 100, i);
		assertf(htab_put(t, ref, &vals[i]), "put %s", ref);
	}
	assertf(htab_count(t) == 5000, "5000 held");
	for (int i = 0; i < 5000; i += 2) {
		snprintf(ref, sizeof(ref), "batch_%08x:exec_%08x", i / 100, i);
		assertf(htab_del(t, ref) == &vals[i], "del %s gives its value back", ref);
	}
	assertf(htab_count(t) == 2500, "2500 after deleting every second");
	for (int i = 0; i < 5000; i++) {
		snprintf(ref, sizeof(ref), "batch_%08x:exec_%08x", i / 100, i);
		void *v = htab_get(t, ref);
		assertf((v != NULL) == (i % 2 == 1), "%s %s", ref, v != NULL ? "held" : "gone");
		if (v != NULL)
			assertf(v == &vals[i], "%s keeps its value", ref);
	}
	/* churn: adds and deletes must leave the held entries alone */
	for (int r = 0; r < 20000; r++) {
		snprintf(ref, sizeof(ref), "batch_ffffffff:exec_%08x", r);
		assertf(htab_put(t, ref, &vals[0]), "churn put %d", r);
		htab_del(t, ref);
	}
	assertf(htab_count(t) == 2500 && htab_get(t, "batch_00000000:exec_00000001") == &vals[1],
		"the held entries survive the churn");
	htab_foreach (t, count_odd, &odd)
		;
	assertf(odd == 2500, "foreach sees every entry once (%d)", odd);
	assertf(htab_del(t, "batch_x:exec_y") == NULL && htab_get(t, "batch_x:exec_y") == NULL,
		"an absent key is NULL");
	htab_free(t);
}

int main(void)
{
	RUN_TEST(test_htab_put_get_del);
	return tap_done();
}
