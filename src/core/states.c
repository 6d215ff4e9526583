/* states.c - the names of the execution and batch states (states.h). */
#include "states.h"

#include <string.h>

const char *const exec_state_names[EXEC_STATE_COUNT] = {
	[EXEC_STATE_PENDING] = "pending",     [EXEC_STATE_QUEUED] = "queued",
	[EXEC_STATE_RUNNING] = "running",     [EXEC_STATE_RETRY_WAIT] = "retry_wait",
	[EXEC_STATE_COMPLETED] = "completed", [EXEC_STATE_FAILED] = "failed",
	[EXEC_STATE_CANCELLED] = "cancelled",
};

const char *const batch_state_names[BATCH_STATE_COUNT] = {
	[BATCH_STATE_PENDING] = "pending",     [BATCH_STATE_RUNNING] = "running",
	[BATCH_STATE_COMPLETED] = "completed", [BATCH_STATE_PARTIAL] = "partial",
	[BATCH_STATE_FAILED] = "failed",       [BATCH_STATE_CANCELLED] = "cancelled",
};

const char *exec_state_name(enum ExecState s)
{
	return exec_state_names[s];
}

const char *batch_state_name(enum BatchState s)
{
	return batch_state_names[s];
}

/* The index of name in names[n], or -1. */
static int find(const char *const *names, int n, const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

bool exec_state_parse(const char *name, enum ExecState *out)
{
	int i = find(exec_state_names, EXEC_STATE_COUNT, name);

	if (i < 0)
		return false;
	*out = (enum ExecState)i;
	return true;
}

bool batch_state_parse(const char *name, enum BatchState *out)
{
	int i = find(batch_state_names, BATCH_STATE_COUNT, name);

	if (i < 0)
		return false;
	*out = (enum BatchState)i;
	return true;
}

bool exec_state_name_is_final(const char *name)
{
	return find(exec_state_names, EXEC_STATE_COUNT, name) >= EXEC_STATE_FIRST_FINAL;
}

bool batch_state_name_is_final(const char *name)
{
	return find(batch_state_names, BATCH_STATE_COUNT, name) >= BATCH_STATE_FIRST_FINAL;
}

bool exec_state_is(const char *name, enum ExecState s)
{
	return name != NULL && strcmp(name, exec_state_names[s]) == 0;
}

bool batch_state_is(const char *name, enum BatchState s)
{
	return name != NULL && strcmp(name, batch_state_names[s]) == 0;
}
