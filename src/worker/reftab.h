/* reftab.h - the jobs a worker holds in memory, by ref `B:E`: one entry per ref, so a claim
 * that hands back a ref already held never makes a second Job for one execution, and the
 * heartbeat's reconciliation finds the refs Redis lists that memory does not know. */
#ifndef AMCB_REFTAB_H
#define AMCB_REFTAB_H

#include <stddef.h>

#include "common.h"

typedef struct RefTab RefTab;

RefTab *reftab_new(void);
void reftab_free(RefTab *t);		/* accepts NULL; the values are not freed (borrowed) */

/* Adds ref -> val (val borrowed, may be NULL: a ref held without a Job, the no-op executor's).
 * false when ref is already present (nothing changes) or out of memory. */
MUST_CHECK bool reftab_add(RefTab *t, const char *ref, void *val);
/* true and *val set when ref is present (val may be NULL) */
bool reftab_get(const RefTab *t, const char *ref, void **val);
/* removes ref if present */
void reftab_del(RefTab *t, const char *ref);
size_t reftab_count(const RefTab *t);

#endif
