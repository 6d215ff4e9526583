/* create.h - getting an execution exactly one AMC execution (create.c): the create with its
 * durable intent, adoption of an announced one, and the record of its id; then poller.c. */
#ifndef AMCB_CREATE_H
#define AMCB_CREATE_H

#include "worker.h"

void create_start(Job *job); /* intent, then POST (or adopt when an intent exists) */
/* After start: poll a known id, adopt an intent, or create. Wired as w->job_begin (job.c
 * runs it once the claim is registered and the job holds a token). */
void create_resume(Job *job);
/* The AMC id of this execution is known (created, adopted, or read from PostgreSQL):
 * record it in Redis and PostgreSQL, then poll. */
void create_record(Job *job);

#endif
