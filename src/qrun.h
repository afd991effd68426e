/*
 * qrun.h - queue runs: delivers queued messages that are due (or those a
 * -qI/-qR/-qS selection names), records each recipient's outcome with
 * its next retry (backoff), expires messages past queue_lifetime, and
 * turns permanent failures into DSNs (bounce.c) queued to the sender.
 */
#ifndef SENDMX_QRUN_H
#define SENDMX_QRUN_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"
#include "queue.h"
#include "status.h"

/* Processes a queue run uses (qrun_opts.workers) when not told otherwise. */
#define QRUN_WORKERS 4

struct qrun_opts {
	char select;           /* 0: messages that are due; 'I', 'R', 'S':
				* those whose id, a pending recipient or the
				* sender contains match (case-insensitive),
				* due or not */
	const char *match;
	bool force;            /* every message, due or not */
	FILE *transcript;      /* -v: SMTP dialogue; NULL: none */
	int workers;           /* processes that share the run (each message
				* is delivered by whichever locks it first);
				* <= 1: this process alone */
};

struct qrun_stats {
	size_t messages;       /* messages attempted */
	size_t sent, deferred, bounced; /* recipients */
	size_t dsns;           /* DSNs queued */
};

/* One pass over the queue. ST_TEMPFAIL with err when the queue cannot be
 * read; single messages that fail are logged and skipped. */
enum status qrun_once(const struct config *cfg, struct queue *q,
		      const struct qrun_opts *o, struct qrun_stats *stats,
		      struct err *err);

/* Delivers one queued message whose lock the caller holds (data_fd, from
 * queue_create or queue_lock; closed here), due or not; then delivers the
 * DSNs it produced. For -odb's background child and for qrun_once. */
void qrun_message(const struct config *cfg, struct queue *q, const char *id,
		  int data_fd, FILE *transcript, struct qrun_stats *stats);

/* Seconds until retry number `attempts` (1 = the first retry) is due. */
long long qrun_backoff(const struct config *cfg, int attempts);

#endif
