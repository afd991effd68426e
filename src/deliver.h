/*
 * deliver.h - routes a message's recipients, resolves every next hop at
 * once (c-ares), groups recipients that share a host into one connection,
 * runs the connections in parallel (at most max_connections) with
 * fallback over each destination's hosts and addresses, and folds the
 * results into one outcome per recipient. Logs one line per recipient
 * per attempt. Decides no exit code.
 */
#ifndef SENDMX_DELIVER_H
#define SENDMX_DELIVER_H

#include <stdio.h>

#include "config.h"
#include "intake.h"
#include "status.h"

struct rcpt_outcome {
	enum status status;
	char *reply;   /* server reply summary or our error text */
	char *relay;   /* "host[ip]:port" that answered, or NULL */
};

struct delivery {
	const struct config *cfg;
	const struct message *msg;
	const char *queue_id;
	FILE *transcript;        /* -v: SMTP dialogue goes here; NULL: none */
	long long arrival_ms;    /* now_ms() when intake began, for delay= */
	long long deadline;      /* now_ms() value after which whatever is
				  * still under way is abandoned as TEMPFAIL
				  * (submit_timeout); <= 0: none */
	struct rcpt_outcome *outcomes; /* msg->rcpts.n entries, filled by deliver_message */
	/* Optional, for many messages in a row (queue runs): an event loop
	 * and a resolver on it to use instead of making new ones. */
	struct loop *loop;
	struct dns *dns;
};

/* Delivers msg to every recipient; returns deliver_fold(d). */
enum status deliver_message(struct delivery *d);

/* The message's status from its outcomes: TEMPFAIL if any recipient is
 * TEMPFAIL, else PERMFAIL if any is, else OK. */
enum status deliver_fold(const struct delivery *d);

void delivery_free_outcomes(struct delivery *d);

#endif
