/* ids.h - random identifiers: batch_XXXXXXXX, exec_XXXXXXXX, UUID v4. */
#ifndef AMCB_IDS_H
#define AMCB_IDS_H

#include "common.h"

#define IDS_BATCH_LEN 14 /* "batch_" + 8 hex */
#define IDS_EXEC_LEN 13  /* "exec_" + 8 hex */
#define IDS_UUID_LEN 36

/* Fill buf (at least n bytes) with random bytes from getrandom(); false on failure. */
MUST_CHECK bool ids_random(void *buf, size_t n);
/* out must hold LEN+1 bytes */
MUST_CHECK bool ids_batch(char out[IDS_BATCH_LEN + 1]);
MUST_CHECK bool ids_exec(char out[IDS_EXEC_LEN + 1]);
MUST_CHECK bool ids_uuid(char out[IDS_UUID_LEN + 1]);
/* syntax checks for ids arriving from outside (so Redis keys are built only from valid ids) */
bool ids_is_batch(const char *s);
bool ids_is_exec(const char *s);
bool ids_is_uuid(const char *s);
/* Splits a job ref "B:E" (as the claim script hands it out) into its valid batch and exec
 * ids; false, with the outputs unspecified, if ref is not one. */
MUST_CHECK bool ids_split_ref(const char *ref, char batch_id[IDS_BATCH_LEN + 1],
			      char exec_id[IDS_EXEC_LEN + 1]);

#endif
