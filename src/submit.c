/*
 * submit.c - taking a message in: the steps main.c's modes share (see
 * submit.h). Talks to the caller on stderr; decides no exit code.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "enqueue.h"
#include "expand.h"
#include "log.h"
#include "qrun.h"
#include "submit.h"

/* Each argv recipient may be a list with display names. */
int submit_parse_rcpts(const struct invocation *inv,
			       struct address_list *out)
{
	struct err err;

	for (size_t i = 0; i < inv->nrecipients; i++) {
		const char *r = inv->recipients[i];

		if (strchr(r, '\r') || strchr(r, '\n')) {
			fprintf(stderr, "sendmx: recipient contains CR or LF: "
					"refused\n");
			log_error(NULL, "refused: recipient contains CR or LF");
			return -1;
		}
		if (address_parse_list(r, out, &err) != ST_OK) {
			fprintf(stderr, "sendmx: bad recipient address: %s\n",
				err.msg);
			log_error(NULL, "refused: bad recipient address: %s",
				  err.msg);
			return -1;
		}
	}
	return 0;
}

void submit_intake_options(const struct run *run, struct intake_opts *o)
{
	memset(o, 0, sizeof *o);
	o->hostname = run->cfg->hostname;
	o->login = run->login;
	o->spool_dir = run->cfg->temp_dir;
	o->max_size = run->cfg->max_message_size;
	o->rewrite = run->rewrite;
}

/* Aliases and local names (expand.c): msg's recipients become the final
 * ones. A recipient that cannot be expanded is reported on stderr (the
 * caller learns it at once, as of a refusal) and left out; with none
 * left, ST_PERMFAIL. */
enum status submit_expand(const struct run *run, struct message *msg,
				  const char *qid, size_t *nrefused,
				  struct err *err)
{
	struct address_list out;
	struct buf refusals;
	enum status st;

	address_list_init(&out);
	buf_init(&refusals);
	st = expand_recipients(run->cfg, &msg->rcpts, &out, &refusals,
			       nrefused, err);
	if (st == ST_OK) {
		if (refusals.len) {
			fputs(refusals.data, stderr);
			log_warn(qid, "%.*s", (int)refusals.len - 1,
				 refusals.data);
		}
		address_list_free(&msg->rcpts);
		msg->rcpts = out;
		address_list_init(&out);
		if (msg->rcpts.n == 0) {
			err_set(err, "no recipient left after alias expansion");
			st = ST_PERMFAIL;
		}
	}
	address_list_free(&out);
	buf_free(&refusals);
	return st;
}

/* -od<x> when given, else the config's delivery_mode: 'i', 'b' or 'q'
 * ('d', sendmail's "deferred", queues like 'q'). */
char submit_delivery_mode(const struct run *run)
{
	char m = run->inv->delivery_mode;

	if (m == 'd')
		return 'q';
	if (m)
		return m;
	switch (run->cfg->delivery_mode) {
	case DELIVER_BACKGROUND:
		return 'b';
	case DELIVER_QUEUE:
		return 'q';
	default:
		return 'i';
	}
}

/* Puts the message (or what of it is still undelivered) in the queue,
 * durably, under the id queue_create gave it. */
enum status submit_keep(const struct run *run, struct queue *q,
				 const char *qid, int data_fd,
				 const struct message *msg, long long arrival,
				 const struct delivery *d, struct err *err)
{
	struct qctl dsn;
	long long arrival_s = (long long)time(NULL) -
			      (now_ms() - arrival) / 1000;
	enum status st;

	qctl_init(&dsn);
	enqueue_dsn_from_cli(run->inv, &dsn);
	st = enqueue_message(run->cfg, q, qid, data_fd, msg, arrival_s,
			     d ? d->outcomes : NULL, &dsn, err);
	qctl_free(&dsn);
	return st;
}

/* -odb: a detached child delivers the queued message; the caller's
 * process returns at once. A failed fork leaves it to the next run. */
void submit_background(const struct run *run, struct queue *q,
				const char *qid, int data_fd)
{
	pid_t pid;
	int null;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		log_warn(qid, "cannot fork for background delivery: %s; the "
			 "next queue run delivers it", strerror(errno));
		return;
	}
	if (pid > 0)
		return;
	/* The child: no terminal, no caller's pipes held open. */
	(void)setsid();
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
	qrun_message(run->cfg, q, qid, dup(data_fd), NULL, NULL);
}

/* Logs the arrival and delivers; d keeps the outcomes (the caller
 * frees them with delivery_free_outcomes). */
void submit_deliver(const struct run *run, struct message *msg,
			  const char *qid, long long arrival,
			  struct delivery *d)
{
	log_info(qid, "from=<%s>, size=%lld, nrcpt=%zu, msgid=%s",
		 msg->sender, (long long)msg->size, msg->rcpts.n,
		 msg->message_id ? msg->message_id : "none");
	d->cfg = run->cfg;
	d->msg = msg;
	d->queue_id = qid;
	d->transcript = run->inv->verbose ? stderr : NULL;
	d->arrival_ms = arrival;
	deliver_message(d);
}

/* Appends one line per recipient not delivered to b ("sendmx: <rcpt>:
 * refused: <why>" or "... deferred: <why>; queued as ID") - a buffer,
 * not a struct err, whose 1 KiB would drop every refused recipient
 * after the first few. Returns the number that were accepted. */
size_t submit_report_failures(const struct delivery *d, const char *qid,
			      struct buf *b)
{
	size_t nsent = 0;

	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		const struct rcpt_outcome *o = &d->outcomes[i];

		if (o->status == ST_OK) {
			nsent++;
			continue;
		}
		buf_appendf(b, "sendmx: %s: %s%s", d->msg->rcpts.items[i].mailbox,
			    o->status == ST_TEMPFAIL ? "deferred: "
						     : "refused: ",
			    o->reply ? o->reply : "");
		if (o->status == ST_TEMPFAIL && qid)
			buf_appendf(b, "; queued as %s, will retry", qid);
		buf_appends(b, "\n");
	}
	return nsent;
}

/* expand.c's "sendmx: <rcpt>: refused: <why>" lines in -bv's form,
 * "<rcpt>: undeliverable: <why>". */
void submit_print_refusals(const struct buf *refusals)
{
	const char *l = refusals->data;

	while (l && *l) {
		const char *nl = strchr(l, '\n');
		const char *mark = strstr(l, ": refused: ");
		int len = (int)(nl ? nl - l : (long)strlen(l));

		if (strncmp(l, "sendmx: ", 8) == 0 && mark && mark < l + len)
			printf("%.*s: undeliverable: %.*s\n",
			       (int)(mark - l - 8), l + 8,
			       (int)(l + len - mark - 11), mark + 11);
		l = nl ? nl + 1 : NULL;
	}
}

/* The envelope sender -bv routes with (sender_route): -f, else the
 * caller at hostname, as intake would make it. */
const char *submit_verify_sender(const struct run *run)
{
	static char buf[512];
	char *r;

	if (run->inv->sender)
		snprintf(buf, sizeof buf, "%s", run->inv->sender);
	else
		snprintf(buf, sizeof buf, "%s@%s", run->login,
			 run->cfg->hostname);
	/* As intake would make it: sender_map, masquerade_domain. */
	r = rewrite_envelope_sender(run->rewrite, buf);
	if (r) {
		snprintf(buf, sizeof buf, "%s", r);
		free(r);
	}
	return buf;
}
