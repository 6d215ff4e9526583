/* htab.h - a small string-keyed chained hash table: the simulator's in-memory state
 * (executions by id, instances by id, access tokens) and the refs a worker holds. Keys are
 * copied; values are borrowed (and never NULL: NULL is "absent"). */
#ifndef AMCB_HTAB_H
#define AMCB_HTAB_H

#include "common.h"

typedef struct HTab HTab;

HTab *htab_new(void);
/* values are not freed: the caller owns them (free them first, e.g. with htab_foreach) */
void htab_free(HTab *h);
void *htab_get(const HTab *h, const char *key);
/* inserts or replaces; false on allocation failure */
MUST_CHECK bool htab_put(HTab *h, const char *key, void *value);
/* returns the removed value or NULL */
void *htab_del(HTab *h, const char *key);
size_t htab_count(const HTab *h);
/* fn returns true to delete the entry after the call (the value is then the caller's) */
void htab_foreach (HTab *h, bool (*fn)(const char *key, void *value, void *priv), void *priv);

#endif
