/* strict.h - the optional AMC-dialect checker (config sim_strict): a lexical pass over the
 * SQL that rejects what AMC's compiler rejects, with AMC-style "From line L, column C" text. */
#ifndef AMCSIM_STRICT_H
#define AMCSIM_STRICT_H

#include "common.h"

/* true if sql passes; else msg holds "From line L, column C to line L, column C: what" */
bool strict_check(const char *sql, char *msg, size_t msglen);

#endif
