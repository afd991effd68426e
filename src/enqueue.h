/*
 * enqueue.h - puts a message that was taken in (intake) into the queue:
 * its bytes into the data file that queue_create made, and a control
 * file with each recipient's state, made durable before anyone is told
 * the message is safe.
 */
#ifndef SENDMX_ENQUEUE_H
#define SENDMX_ENQUEUE_H

#include "cli.h"
#include "config.h"
#include "deliver.h"
#include "intake.h"
#include "qctl.h"
#include "queue.h"

/* The DSN options of the command line (-N, -R, -V) in qctl form. */
void enqueue_dsn_from_cli(const struct invocation *inv, struct qctl *c);

/*
 * Copies msg's spool file into data_fd (a fresh queue_create file), and
 * commits the control file durably (fsync of data, control, directory).
 * outcomes (NULL: every recipient pending, due now) gives each
 * recipient's state after an attempt made already: OK -> sent,
 * PERMFAIL -> bounced (the caller was told; no DSN), TEMPFAIL -> pending
 * with its error, one attempt counted, due after the first retry
 * interval. dsn: -N/-R/-V as qctl fields (may be NULL).
 * Returns ST_OK, or ST_TEMPFAIL with err (disk full, I/O): nothing is
 * then queued under id.
 */
enum status enqueue_message(const struct config *cfg, struct queue *q,
			    const char *id, int data_fd,
			    const struct message *msg, long long arrival_s,
			    const struct rcpt_outcome *outcomes,
			    const struct qctl *dsn, struct err *err);

#endif
