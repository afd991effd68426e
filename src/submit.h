/*
 * submit.h - the steps of taking a message in, shared by main.c's modes
 * (-bm, -bs, -bv): command-line recipients, intake options, alias
 * expansion, keeping what is deferred in the queue, the background
 * delivery of -odb, and the text that tells the caller what happened.
 * No sysexits here: main.c turns outcomes into exit codes.
 */
#ifndef SENDMX_SUBMIT_H
#define SENDMX_SUBMIT_H

#include <stddef.h>

#include "cli.h"
#include "config.h"
#include "deliver.h"
#include "intake.h"
#include "queue.h"
#include "rewrite.h"
#include "status.h"
#include "util.h"

/* What every mode works with, set up once by main(). */
struct run {
	const struct invocation *inv;
	const struct config *cfg;
	const char *login;
	const struct rewrite *rewrite;  /* NULL: senders stay as they are */
};

/* Parses each argv recipient (lists and display names allowed) into
 * out; 0, or -1 after saying on stderr and in the log what is wrong. */
int submit_parse_rcpts(const struct invocation *inv, struct address_list *out);

/* Intake options from the config and the caller. */
void submit_intake_options(const struct run *run, struct intake_opts *o);

/* Aliases and local names (expand.c): msg's recipients become the final
 * ones. A recipient that cannot be expanded is reported on stderr and
 * left out (*nrefused counts them); with none left, ST_PERMFAIL;
 * ST_TEMPFAIL when the aliases file cannot be read now. */
enum status submit_expand(const struct run *run, struct message *msg,
			  const char *qid, size_t *nrefused, struct err *err);

/* -od<x> when given, else the config's delivery_mode: 'i', 'b' or 'q'
 * ('d', sendmail's "deferred", queues like 'q'). */
char submit_delivery_mode(const struct run *run);

/* Puts the message (or what of it is still undelivered, by d's
 * outcomes; d NULL: all of it) in the queue, durably, under qid. */
enum status submit_keep(const struct run *run, struct queue *q,
			const char *qid, int data_fd,
			const struct message *msg, long long arrival,
			const struct delivery *d, struct err *err);

/* -odb: a detached child delivers the queued message; the caller's
 * process returns at once. A failed fork leaves it to the next run. */
void submit_background(const struct run *run, struct queue *q,
		       const char *qid, int data_fd);

/* Logs the arrival and delivers; d keeps the outcomes (free them with
 * delivery_free_outcomes). */
void submit_deliver(const struct run *run, struct message *msg,
		    const char *qid, long long arrival, struct delivery *d);

/* One line per recipient not delivered ("sendmx: <rcpt>: refused:
 * <why>", or "... deferred: <why>; queued as ID, will retry" when qid);
 * returns the number that were accepted. */
size_t submit_report_failures(const struct delivery *d, const char *qid,
			      struct buf *b);

/* expand.c's "sendmx: <rcpt>: refused: <why>" lines in -bv's form,
 * "<rcpt>: undeliverable: <why>", on stdout. */
void submit_print_refusals(const struct buf *refusals);

/* The envelope sender -bv routes with: -f, else the caller at hostname. */
const char *submit_verify_sender(const struct run *run);

#endif
