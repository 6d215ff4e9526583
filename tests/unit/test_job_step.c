/* test_job_step.c - the table of legal job step changes (src/worker/job_step.c), walked pair
 * by pair against the changes the worker makes, written out again here by hand: a change
 * added to or dropped from the table must be added to or dropped from this list too. */
#include <string.h>

#include "job_step.h"
#include "../tap.h"

/* Every change between two different steps the worker makes (job.c, create.c, poller.c,
 * handback.c), and nothing else. */
static const struct {
	enum JobStep from, to;
} legal[] = {
	{ JOB_STARTING, JOB_CREATING },        { JOB_STARTING, JOB_ADOPTING },
	{ JOB_STARTING, JOB_FINISHING },       { JOB_STARTING, JOB_FAILING },
	{ JOB_STARTING, JOB_CANCELLING },      { JOB_STARTING, JOB_HANDING_BACK },
	{ JOB_STARTING, JOB_LEAVING },

	{ JOB_CREATING, JOB_ADOPTING },        { JOB_CREATING, JOB_POLLING },
	{ JOB_CREATING, JOB_FINISHING },       { JOB_CREATING, JOB_FAILING },
	{ JOB_CREATING, JOB_CANCELLING },      { JOB_CREATING, JOB_HANDING_BACK },
	{ JOB_CREATING, JOB_LEAVING },

	{ JOB_ADOPTING, JOB_CREATING },        { JOB_ADOPTING, JOB_FINISHING },
	{ JOB_ADOPTING, JOB_FAILING },         { JOB_ADOPTING, JOB_CANCELLING },
	{ JOB_ADOPTING, JOB_HANDING_BACK },    { JOB_ADOPTING, JOB_LEAVING },

	{ JOB_POLLING, JOB_DOWNLOADING },      { JOB_POLLING, JOB_FINISHING },
	{ JOB_POLLING, JOB_FAILING },          { JOB_POLLING, JOB_CANCELLING },
	{ JOB_POLLING, JOB_HANDING_BACK },     { JOB_POLLING, JOB_LEAVING },

	{ JOB_DOWNLOADING, JOB_ARCHIVING },    { JOB_DOWNLOADING, JOB_FINISHING },
	{ JOB_DOWNLOADING, JOB_FAILING },      { JOB_DOWNLOADING, JOB_CANCELLING },
	{ JOB_DOWNLOADING, JOB_HANDING_BACK }, { JOB_DOWNLOADING, JOB_LEAVING },

	{ JOB_ARCHIVING, JOB_DOWNLOADING },    { JOB_ARCHIVING, JOB_FINISHING },
	{ JOB_ARCHIVING, JOB_FAILING },        { JOB_ARCHIVING, JOB_CANCELLING },
	{ JOB_ARCHIVING, JOB_HANDING_BACK },   { JOB_ARCHIVING, JOB_LEAVING },

	{ JOB_FINISHING, JOB_CANCELLING },     { JOB_FINISHING, JOB_LEAVING },

	{ JOB_FAILING, JOB_FINISHING },        { JOB_FAILING, JOB_CANCELLING },
	{ JOB_FAILING, JOB_LEAVING },

	{ JOB_CANCELLING, JOB_LEAVING },

	{ JOB_HANDING_BACK, JOB_CANCELLING },  { JOB_HANDING_BACK, JOB_FAILING },
	{ JOB_HANDING_BACK, JOB_LEAVING },
};

static bool listed(enum JobStep from, enum JobStep to)
{
	for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
		if (legal[i].from == from && legal[i].to == to)
			return true;
	return false;
}

static void test_job_step_every_pair(void)
{
	for (int f = 0; f < JOB_STEP_COUNT; f++)
		for (int t = 0; t < JOB_STEP_COUNT; t++) {
			bool want = f == t || listed(f, t);
			assertf(job_step_allowed(f, t) == want, "%s -> %s: table says %s",
				job_step_name(f), job_step_name(t), want ? "refused" : "allowed");
		}
}

static void test_job_step_leaving_is_last(void)
{
	for (int t = 0; t < JOB_STEP_COUNT; t++)
		assertf(job_step_allowed(JOB_LEAVING, t) == (t == JOB_LEAVING), "leaving -> %s",
			job_step_name(t));
}

/* a job cannot go back to the start, nor skip from the start straight to results */
static void test_job_step_no_way_back(void)
{
	for (int f = 0; f < JOB_STEP_COUNT; f++)
		if (f != JOB_STARTING)
			assertf(!job_step_allowed(f, JOB_STARTING), "%s -> starting",
				job_step_name(f));
	assertf(!job_step_allowed(JOB_STARTING, JOB_POLLING), "starting -> polling");
	assertf(!job_step_allowed(JOB_STARTING, JOB_DOWNLOADING), "starting -> downloading");
	assertf(!job_step_allowed(JOB_POLLING, JOB_ARCHIVING), "polling -> archiving");
	assertf(!job_step_allowed(JOB_CANCELLING, JOB_FAILING), "cancelling -> failing");
}

static void test_job_step_out_of_range(void)
{
	assertf(!job_step_allowed(JOB_STEP_COUNT, JOB_LEAVING), "count -> leaving");
	assertf(!job_step_allowed(JOB_STARTING, JOB_STEP_COUNT), "starting -> count");
	assertf(!job_step_allowed((enum JobStep) - 1, (enum JobStep) - 1), "-1 -> -1");
	assertf(strcmp(job_step_name(JOB_STEP_COUNT), "?") == 0, "name of count");
}

static void test_job_step_names(void)
{
	for (int s = 0; s < JOB_STEP_COUNT; s++) {
		const char *n = job_step_name(s);
		assertf(n != NULL && strcmp(n, "?") != 0, "step %d has a name", s);
		for (int o = 0; o < s; o++)
			assertf(strcmp(n, job_step_name(o)) != 0, "steps %d and %d share %s", o, s,
				n);
	}
}

int main(void)
{
	RUN_TEST(test_job_step_every_pair);
	RUN_TEST(test_job_step_leaving_is_last);
	RUN_TEST(test_job_step_no_way_back);
	RUN_TEST(test_job_step_out_of_range);
	RUN_TEST(test_job_step_names);
	return tap_done();
}
