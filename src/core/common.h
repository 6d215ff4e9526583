/* common.h - tiny shared macros (no includes of other project headers). */
#ifndef AMCB_COMMON_H
#define AMCB_COMMON_H

#include <stdbool.h>
#include <stddef.h>

/* A fallible call returns bool (true = ok); ignoring it is a compile warning. */
#define MUST_CHECK __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
