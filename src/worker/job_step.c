/* job_step.c - the table of legal step changes of a job, after pgbouncer's
 * change_client_state(): written once, here, and checked on every change (job_set_step). It
 * changes nothing itself. */
#include "job_step.h"

#include <stddef.h>

static const char *const names[JOB_STEP_COUNT] = {
	[JOB_STARTING] = "starting",       [JOB_CREATING] = "creating",
	[JOB_ADOPTING] = "adopting",       [JOB_POLLING] = "polling",
	[JOB_DOWNLOADING] = "downloading", [JOB_ARCHIVING] = "archiving",
	[JOB_FINISHING] = "finishing",     [JOB_FAILING] = "failing",
	[JOB_CANCELLING] = "cancelling",   [JOB_HANDING_BACK] = "handing_back",
	[JOB_LEAVING] = "leaving",
};

#define BIT(s) (1u << (s))
/* Every working step can end: PostgreSQL may show a final state another claim wrote (taken
 * over: finishing, failing or cancelling), a failure, a cancel, a hand-back (retry, release
 * at SIGTERM), or the job is lost to another claim. */
#define ENDS \
	(BIT(JOB_FINISHING) | BIT(JOB_FAILING) | BIT(JOB_CANCELLING) | BIT(JOB_HANDING_BACK) | \
	 BIT(JOB_LEAVING))

/* allowed[from] = the steps a job in `from` may go to next (besides `from` itself) */
static const unsigned allowed[JOB_STEP_COUNT] = {
	/* registered: create, or adopt an announced create (an AMC id known is recorded
	 * through the creating step) */
	[JOB_STARTING] = BIT(JOB_CREATING) | BIT(JOB_ADOPTING) | ENDS,
	/* an answer lost: adopt; the id recorded: poll */
	[JOB_CREATING] = BIT(JOB_ADOPTING) | BIT(JOB_POLLING) | ENDS,
	/* found (recorded through creating) or surely not created (create) */
	[JOB_ADOPTING] = BIT(JOB_CREATING) | ENDS,
	[JOB_POLLING] = BIT(JOB_DOWNLOADING) | ENDS,
	[JOB_DOWNLOADING] = BIT(JOB_ARCHIVING) | ENDS,
	/* a bad result file is downloaded again */
	[JOB_ARCHIVING] = BIT(JOB_DOWNLOADING) | ENDS,
	/* the finish script answered cancelled, not running, or another owner */
	[JOB_FINISHING] = BIT(JOB_CANCELLING) | BIT(JOB_LEAVING),
	/* PostgreSQL holds another final state (completed, cancelled) or a newer claim */
	[JOB_FAILING] = BIT(JOB_FINISHING) | BIT(JOB_CANCELLING) | BIT(JOB_LEAVING),
	[JOB_CANCELLING] = BIT(JOB_LEAVING),
	/* the hand-back found the batch cancelled, another claim, or could not be sent */
	[JOB_HANDING_BACK] = BIT(JOB_CANCELLING) | BIT(JOB_FAILING) | BIT(JOB_LEAVING),
	[JOB_LEAVING] = 0,
};

const char *job_step_name(enum JobStep step)
{
	return (unsigned)step < JOB_STEP_COUNT ? names[step] : "?";
}

bool job_step_allowed(enum JobStep from, enum JobStep to)
{
	if ((unsigned)from >= JOB_STEP_COUNT || (unsigned)to >= JOB_STEP_COUNT)
		return false;
	return from == to || (allowed[from] & BIT(to)) != 0;
}
