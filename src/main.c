/*
 * main.c - wires the stages (cli -> config -> intake -> deliver) and maps
 * the final status to a sysexits code. The only place that exits.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sysexits.h>
#include <unistd.h>

#include "address.h"
#include "cli.h"
#include "config.h"
#include "deliver.h"
#include "intake.h"
#include "log.h"
#include "recipients.h"
#include "smtpd.h"
#include "verify.h"
#include "util.h"

struct run {
	const struct invocation *inv;
	const struct config *cfg;
	const char *login;
};

static int open_std_fds(void);
static const char *caller_login(void);
static void make_queue_id(char *id, size_t size);
static int parse_cmdline_rcpts(const struct invocation *inv,
			       struct address_list *out);
static enum status deliver_taken(const struct run *run, struct message *msg,
				 const char *qid, long long arrival,
				 struct buf *failures, size_t *nsent);
static size_t report_failures(const struct delivery *d, struct buf *b);
static int exit_code(enum status st);
static int mode_deliver(const struct run *run);
static int mode_verify(const struct run *run);
static const char *verify_sender(const struct run *run);
static int mode_smtp(const struct run *run);
static enum status smtp_message(void *ctx, struct message *msg,
				struct err *err);
static void intake_options(const struct run *run, struct intake_opts *o);

int main(int argc, char **argv)
{
	struct invocation inv;
	struct config *cfg = NULL;
	struct run run;
	struct err err;
	int rc = EX_SOFTWARE;

	if (open_std_fds() != 0)
		return EX_OSERR;
	/* A vanished reader of -bs output must not kill us mid-delivery. */
	signal(SIGPIPE, SIG_IGN);

	if (cli_parse(argc, argv, &inv, &err) != ST_OK) {
		fprintf(stderr, "sendmx: %s\n%s", err.msg, cli_usage());
		return EX_USAGE;
	}
	if (inv.mode == MODE_VERSION) {
		printf("sendmx %s\n", PACKAGE_VERSION);
		cli_free(&inv);
		return EX_OK;
	}
	if (config_load(inv.config_path, &cfg, &err) != ST_OK) {
		fprintf(stderr, "sendmx: %s\n", err.msg);
		cli_free(&inv);
		return EX_CONFIG;
	}
	run.inv = &inv;
	run.cfg = cfg;
	run.login = caller_login();
	log_open(cfg->log_file, cfg->syslog, run.login);
	if (inv.verbose)
		for (size_t i = 0; i < inv.nignored; i++)
			fprintf(stderr, "sendmx: %s\n", inv.ignored[i]);

	switch (inv.mode) {
	case MODE_DELIVER:
		rc = mode_deliver(&run);
		break;
	case MODE_VERIFY:
		rc = mode_verify(&run);
		break;
	case MODE_SMTP:
		rc = mode_smtp(&run);
		break;
	case MODE_PRINT_QUEUE:
		/* The durable queue comes with the queue issue; until then
		 * nothing is ever left behind to list. */
		printf("Mail queue is empty (sendmx keeps no queue yet: "
		       "every message is delivered or refused at once)\n");
		rc = EX_OK;
		break;
	case MODE_QUEUE_RUN:
		fprintf(stderr, "sendmx: no queue yet: nothing to do\n");
		rc = EX_OK;
		break;
	case MODE_NEWALIASES:
		fprintf(stderr, "sendmx: aliases are not supported yet: "
				"nothing to do\n");
		rc = EX_OK;
		break;
	case MODE_VERSION:
		rc = EX_OK;
		break;
	}
	log_close();
	config_free(cfg);
	cli_free(&inv);
	return rc;
}

/*
 * A caller may start us with 0, 1 or 2 closed (cron jobs and daemons
 * do). The next file opened would then get that number: the spool
 * file as fd 2 would take -v's transcript and error messages into the
 * message while it is being sent. sendmail and Postfix put /dev/null
 * there first; so do we. Returns 0, or -1 when /dev/null cannot be
 * opened (nothing can be said: stderr may be the missing one).
 */
static int open_std_fds(void)
{
	int fd;

	for (fd = 0; fd <= 2; fd++) {
		int n;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		/* Lower numbers are open by now: open() returns fd. */
		n = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
		if (n < 0)
			return -1;
		if (n != fd) {
			if (dup2(n, fd) < 0) {
				close(n);
				return -1;
			}
			close(n);
		}
	}
	return 0;
}

/* The caller's identity comes from the real uid, never the environment. */
static const char *caller_login(void)
{
	static char name[64];
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && pw->pw_name != NULL && !has_control_chars(pw->pw_name) &&
	    strlen(pw->pw_name) < sizeof name) {
		strlcpy(name, pw->pw_name, sizeof name);
	} else {
		snprintf(name, sizeof name, "uid%lu", (unsigned long)getuid());
	}
	return name;
}

/* Seconds, microseconds and pid, in hex: unique per process and sortable
 * by time, in the spirit of Postfix queue ids. */
static void make_queue_id(char *id, size_t size)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	snprintf(id, size, "%08lX%05lX%05lX", (unsigned long)tv.tv_sec,
		 (unsigned long)tv.tv_usec, (unsigned long)getpid() & 0xFFFFF);
}

/* Each argv recipient may be a list with display names. */
static int parse_cmdline_rcpts(const struct invocation *inv,
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

static void intake_options(const struct run *run, struct intake_opts *o)
{
	memset(o, 0, sizeof *o);
	o->hostname = run->cfg->hostname;
	o->login = run->login;
	o->spool_dir = run->cfg->temp_dir;
	o->max_size = run->cfg->max_message_size;
}

static int mode_deliver(const struct run *run)
{
	const struct invocation *inv = run->inv;
	struct address_list cmdline;
	struct intake_opts o;
	struct message msg;
	struct err err;
	struct buf failures;
	size_t nsent = 0;
	char qid[32];
	char *sender = NULL;
	long long arrival = now_ms();
	enum status st;
	int rc;

	address_list_init(&cmdline);
	message_init(&msg);
	buf_init(&failures);
	make_queue_id(qid, sizeof qid);
	if (parse_cmdline_rcpts(inv, &cmdline) != 0) {
		rc = EX_DATAERR;
		goto out;
	}
	if (inv->sender != NULL && inv->sender[0] != '\0') {
		if (address_parse_envelope(inv->sender, &sender, &err) !=
		    ST_OK) {
			fprintf(stderr, "sendmx: bad sender address: %s\n",
				err.msg);
			log_error(qid, "refused: bad sender address: %s",
				  err.msg);
			rc = EX_DATAERR;
			goto out;
		}
	}

	intake_options(run, &o);
	o.dots = inv->ignore_dots ? DOT_IGNORE : DOT_ENDS;
	o.extract_recipients = inv->extract_recipients;
	o.sender = inv->sender == NULL ? NULL : sender ? sender : "";
	o.full_name = inv->full_name;
	st = intake_read(stdin, &o, &cmdline, &msg, &err);
	if (st != ST_OK) {
		fprintf(stderr, "sendmx: message not taken: %s\n", err.msg);
		log_error(qid, "refused: %s", err.msg);
		rc = st == ST_PERMFAIL ? EX_DATAERR : EX_TEMPFAIL;
		goto out;
	}

	st = deliver_taken(run, &msg, qid, arrival, &failures, &nsent);
	if (failures.len > 0)
		fputs(failures.data, stderr);
	/* "not sent" only when it is true: a caller that retries after a
	 * partial success sends the accepted recipients a second copy. */
	if (st == ST_TEMPFAIL && nsent == 0)
		fprintf(stderr, "sendmx: message not sent: temporary failure; "
				"it was not queued, try again later\n");
	else if (st == ST_TEMPFAIL)
		fprintf(stderr, "sendmx: message sent to %zu of %zu "
				"recipients; it was not queued for the deferred "
				"ones: try again later for them only\n",
			nsent, msg.rcpts.n);
	rc = exit_code(st);
out:
	free(sender);
	buf_free(&failures);
	message_free(&msg);
	address_list_free(&cmdline);
	return rc;
}

/* Logs the arrival, delivers, appends one line per failed recipient
 * to failures ("sendmx: <rcpt>: <why>\n"): a buffer, not a struct err,
 * whose 1 KiB would silently drop every refused recipient after the
 * first few; *nsent is the number of recipients accepted. */
static enum status deliver_taken(const struct run *run, struct message *msg,
				 const char *qid, long long arrival,
				 struct buf *failures, size_t *nsent)
{
	struct delivery d = { 0 };
	enum status st;

	log_info(qid, "from=<%s>, size=%lld, nrcpt=%zu, msgid=%s",
		 msg->sender, (long long)msg->size, msg->rcpts.n,
		 msg->message_id ? msg->message_id : "none");
	d.cfg = run->cfg;
	d.msg = msg;
	d.queue_id = qid;
	d.transcript = run->inv->verbose ? stderr : NULL;
	d.arrival_ms = arrival;
	st = deliver_message(&d);
	*nsent = report_failures(&d, failures);
	delivery_free_outcomes(&d);
	return st;
}

/* Returns the number of recipients that were accepted. */
static size_t report_failures(const struct delivery *d, struct buf *b)
{
	size_t nsent = 0;

	for (size_t i = 0; i < d->msg->rcpts.n; i++) {
		const struct rcpt_outcome *o = &d->outcomes[i];

		if (o->status == ST_OK) {
			nsent++;
			continue;
		}
		buf_appendf(b, "sendmx: %s: %s%s\n",
			    d->msg->rcpts.items[i].mailbox,
			    o->status == ST_TEMPFAIL ? "deferred: "
						     : "refused: ",
			    o->reply ? o->reply : "");
	}
	return nsent;
}

/* The one mapping from status to sysexits (STYLE 3). */
static int exit_code(enum status st)
{
	switch (st) {
	case ST_OK:
		return EX_OK;
	case ST_TEMPFAIL:
		return EX_TEMPFAIL;
	case ST_PERMFAIL:
		return EX_UNAVAILABLE;
	}
	return EX_SOFTWARE;
}

static int mode_verify(const struct run *run)
{
	struct address_list rcpts, qualified;
	struct err err;
	enum status st;
	int rc = EX_OK;

	address_list_init(&rcpts);
	address_list_init(&qualified);
	if (parse_cmdline_rcpts(run->inv, &rcpts) != 0) {
		rc = EX_DATAERR;
		goto out;
	}
	if (rcpts.n == 0) {
		fprintf(stderr, "sendmx: -bv: no recipients given\n");
		rc = EX_DATAERR;
		goto out;
	}
	for (size_t i = 0; i < rcpts.n; i++) {
		const char *m = rcpts.items[i].mailbox;

		/* The check and qualification intake applies: what -bm would
		 * refuse (exit 65) is not "deliverable". */
		if (recipients_add(&qualified, NULL, m, run->cfg->hostname, "",
				   &err) != ST_OK) {
			printf("%s: undeliverable: %s\n", m, err.msg);
			rc = EX_DATAERR;
		}
	}
	err.msg[0] = '\0';
	st = verify_recipients(run->cfg, verify_sender(run), &qualified,
			       stdout, &err);
	if (err.msg[0])
		fprintf(stderr, "sendmx: %s\n", err.msg);
	if (rc == EX_OK && st != ST_OK)
		rc = exit_code(st);
out:
	address_list_free(&qualified);
	address_list_free(&rcpts);
	return rc;
}

/* The envelope sender -bv routes with (sender_route): -f, else the
 * caller at hostname, as intake would make it. */
static const char *verify_sender(const struct run *run)
{
	static char buf[512];

	if (run->inv->sender)
		return run->inv->sender;
	snprintf(buf, sizeof buf, "%s@%s", run->login, run->cfg->hostname);
	return buf;
}

struct smtp_ctx {
	const struct run *run;
};

/* -bs: each message taken in by smtpd is delivered now; the SMTP reply
 * after DATA carries the outcome. */
static enum status smtp_message(void *ctx, struct message *msg,
				struct err *err)
{
	const struct smtp_ctx *c = ctx;
	struct buf failures;
	size_t nsent;
	enum status st;
	char qid[32];

	make_queue_id(qid, sizeof qid);
	buf_init(&failures);
	st = deliver_taken(c->run, msg, qid, now_ms(), &failures, &nsent);
	/* Cut to fit: the reply line is bounded anyway, and the log has
	 * a line for every recipient. One reply covers them all, so it
	 * says when some did get the message. */
	if (st != ST_OK && nsent > 0)
		err_set(err, "sent to %zu of %zu recipients only: %s", nsent,
			msg->rcpts.n, failures.data ? failures.data : "");
	else if (st != ST_OK)
		err_set(err, "%s", failures.data ? failures.data : "");
	buf_free(&failures);
	return st;
}

static int mode_smtp(const struct run *run)
{
	struct smtpd_opts o = { 0 };
	struct smtp_ctx ctx = { run };
	enum status st;

	o.hostname = run->cfg->hostname;
	o.login = run->login;
	o.spool_dir = run->cfg->temp_dir;
	o.max_size = run->cfg->max_message_size;
	st = smtpd_run(stdin, stdout, &o, smtp_message, &ctx);
	/* Each message already got its own reply; a client that leaves
	 * without QUIT lost nothing it was told was taken. */
	if (st != ST_OK)
		fprintf(stderr, "sendmx: -bs: the client left without QUIT\n");
	return EX_OK;
}
