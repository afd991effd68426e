/*
 * main.c - wires the stages (cli -> config -> intake -> deliver) and maps
 * the final status to a sysexits code. The only place that exits.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sysexits.h>
#include <unistd.h>

#include "address.h"
#include "cli.h"
#include "config.h"
#include "deliver.h"
#include "expand.h"
#include "intake.h"
#include "log.h"
#include "mailq.h"
#include "qrun.h"
#include "queue.h"
#include "recipients.h"
#include "smtpd.h"
#include "submit.h"
#include "verify.h"
#include "util.h"


static int open_std_fds(void);
static void no_core_dumps(void);
static int drop_group_for_chosen_config(const struct invocation *inv);
static const char *caller_login(void);
static int open_queue(const struct run *run, struct queue **q);
static int mode_print_queue(const struct run *run);
static int mode_newaliases(const struct run *run);
static int mode_queue_run(const struct run *run);
static int exit_code(enum status st);
static int mode_deliver(const struct run *run);
static int mode_verify(const struct run *run);
static int mode_smtp(const struct run *run);
static enum status smtp_message(void *ctx, struct message *msg,
				struct err *err);

int main(int argc, char **argv)
{
	struct invocation inv;
	struct config *cfg = NULL;
	struct rewrite *rewrite = NULL;
	struct run run = { 0 };
	struct err err;
	int rc = EX_SOFTWARE;

	if (open_std_fds() != 0)
		return EX_OSERR;
	/* A vanished reader of -bs output must not kill us mid-delivery. */
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit must fail a write (EFBIG, reported), not kill
	 * us silently halfway through writing the queue. */
	signal(SIGXFSZ, SIG_IGN);
	/* The resolver (c-ares) reads these; the caller's environment must
	 * not choose where mail goes. */
	unsetenv("HOSTALIASES");
	unsetenv("LOCALDOMAIN");
	unsetenv("RES_OPTIONS");
	no_core_dumps();
	/* Queue files are 0660 for sendmx's group; nothing for others. */
	umask(007);

	if (cli_parse(argc, argv, &inv, &err) != ST_OK) {
		fprintf(stderr, "sendmx: %s\n%s", err.msg, cli_usage());
		return EX_USAGE;
	}
	if (inv.mode == MODE_VERSION) {
		printf("sendmx %s\n", PACKAGE_VERSION);
		cli_free(&inv);
		return EX_OK;
	}
	if (drop_group_for_chosen_config(&inv) != 0) {
		fprintf(stderr, "sendmx: cannot give up the setgid group: %s\n",
			strerror(errno));
		cli_free(&inv);
		return EX_OSERR;
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
	if (rewrite_load(cfg, &rewrite, &err) != ST_OK) {
		fprintf(stderr, "sendmx: sender_map: %s\n", err.msg);
		log_error(NULL, "sender_map: %s", err.msg);
		log_close();
		config_free(cfg);
		cli_free(&inv);
		return EX_CONFIG;
	}
	run.rewrite = rewrite;
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
		rc = mode_print_queue(&run);
		break;
	case MODE_QUEUE_RUN:
		rc = mode_queue_run(&run);
		break;
	case MODE_NEWALIASES:
		rc = mode_newaliases(&run);
		break;
	case MODE_VERSION:
		rc = EX_OK;
		break;
	}
	rewrite_free(rewrite);
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

/* Relay passwords and AUTH exchanges live in this process's memory: a
 * core file (or a ptrace by the same user) must not carry them off. */
static void no_core_dumps(void)
{
	struct rlimit none = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &none);
}

/*
 * Installed setgid (configure --with-group), sendmx's group reaches the
 * queue and the relay secrets. A config file the caller chose (-C) could
 * point password_file at those secrets and relay at the caller's own
 * server: so, as sendmail does, a caller other than root who names a
 * config runs without the group, for good (real, effective and saved
 * group ids). Returns 0, or -1 with errno.
 */
static int drop_group_for_chosen_config(const struct invocation *inv)
{
	gid_t g = getgid();

	if (getegid() == g || inv->config_path == NULL || getuid() == 0)
		return 0;
	return setresgid(g, g, g);
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



static int mode_deliver(const struct run *run)
{
	const struct invocation *inv = run->inv;
	struct address_list cmdline;
	struct intake_opts o;
	struct message msg;
	struct delivery d = { 0 };
	struct queue *q = NULL;
	struct err err;
	struct buf failures;
	size_t refusals = 0;
	char qid[QUEUE_ID_LEN + 1];
	char *sender = NULL;
	long long arrival = now_ms();
	bool queued = false;
	int data_fd = -1;
	enum status st;
	int rc;

	address_list_init(&cmdline);
	message_init(&msg);
	buf_init(&failures);
	/* Nothing is accepted unless it can be kept: the queue first. */
	rc = open_queue(run, &q);
	if (rc != EX_OK)
		goto out;
	st = queue_create(q, qid, &data_fd, &err);
	if (st != ST_OK) {
		fprintf(stderr, "sendmx: message not taken: %s\n", err.msg);
		log_error(NULL, "refused: %s", err.msg);
		rc = st == ST_PERMFAIL ? EX_CANTCREAT : EX_TEMPFAIL;
		goto out;
	}
	if (submit_parse_rcpts(inv, &cmdline) != 0) {
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

	submit_intake_options(run, &o);
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

	st = submit_expand(run, &msg, qid, &refusals, &err);
	if (st != ST_OK) {
		fprintf(stderr, "sendmx: message not taken: %s\n", err.msg);
		log_error(qid, "refused: %s", err.msg);
		rc = st == ST_PERMFAIL ? EX_UNAVAILABLE : EX_TEMPFAIL;
		goto out;
	}

	if (submit_delivery_mode(run) != 'i') {
		/* -odb / -odq: durable first; -odb then delivers in a
		 * detached child while the caller goes on. */
		log_info(qid, "from=<%s>, size=%lld, nrcpt=%zu, msgid=%s",
			 msg.sender, (long long)msg.size, msg.rcpts.n,
			 msg.message_id ? msg.message_id : "none");
		st = submit_keep(run, q, qid, data_fd, &msg, arrival, NULL,
				   &err);
		if (st != ST_OK) {
			fprintf(stderr, "sendmx: message not taken: %s\n",
				err.msg);
			log_error(qid, "not queued: %s", err.msg);
			rc = EX_TEMPFAIL;
			goto out;
		}
		queued = true;
		log_info(qid, "queued");
		if (inv->verbose)
			fprintf(stderr, "sendmx: queued as %s\n", qid);
		if (submit_delivery_mode(run) == 'b')
			submit_background(run, q, qid, data_fd);
		rc = refusals ? EX_UNAVAILABLE : EX_OK;
		goto out;
	}

	d.deadline = now_ms() + run->cfg->submit_timeout * 1000LL;
	submit_deliver(run, &msg, qid, arrival, &d);
	if (deliver_fold(&d) == ST_TEMPFAIL) {
		st = submit_keep(run, q, qid, data_fd, &msg, arrival,
				   &d, &err);
		if (st != ST_OK) {
			/* The caller must learn it: it has to send again
			 * (the recipients that got it will get it twice). */
			fprintf(stderr, "sendmx: the deferred recipients "
				"could not be queued: %s\n", err.msg);
			log_error(qid, "not queued: %s", err.msg);
			submit_report_failures(&d, NULL, &failures);
			fputs(failures.data ? failures.data : "", stderr);
			rc = EX_TEMPFAIL;
			goto out;
		}
		queued = true;
	}
	submit_report_failures(&d, queued ? qid : NULL, &failures);
	if (failures.len > 0)
		fputs(failures.data, stderr);
	/* Deferred recipients are safe in the queue: only refusals make
	 * the exit non-zero (-odi reports them instead of a bounce). */
	rc = refusals ? EX_UNAVAILABLE : EX_OK;
	for (size_t i = 0; i < msg.rcpts.n; i++)
		if (d.outcomes[i].status == ST_PERMFAIL)
			rc = EX_UNAVAILABLE;
out:
	if (d.outcomes)
		delivery_free_outcomes(&d);
	if (data_fd >= 0) {
		/* A message not queued leaves no file behind. */
		if (!queued && queue_remove(q, qid, &err) != ST_OK)
			log_error(qid, "%s", err.msg);
		close(data_fd);
	}
	queue_close(q);
	free(sender);
	buf_free(&failures);
	message_free(&msg);
	address_list_free(&cmdline);
	return rc;
}


/* Opens queue_dir; EX_OK, or the exit code after saying why. */
static int open_queue(const struct run *run, struct queue **q)
{
	struct err err;
	enum status st = queue_open(run->cfg->queue_dir, q, &err);

	if (st == ST_OK)
		return EX_OK;
	fprintf(stderr, "sendmx: %s\n", err.msg);
	log_error(NULL, "%s", err.msg);
	*q = NULL;
	return st == ST_PERMFAIL ? EX_CANTCREAT : EX_TEMPFAIL;
}




/* -bi, newaliases: sendmx reads the text file on every run, so there is
 * nothing to build; it checks the file and says what is wrong. */
static int mode_newaliases(const struct run *run)
{
	size_t errors = expand_check_aliases(run->cfg, stderr);

	if (errors == 0) {
		printf("%s: no errors\n", run->cfg->aliases);
		return EX_OK;
	}
	fprintf(stderr, "sendmx: %s: %zu error%s\n", run->cfg->aliases,
		errors, errors == 1 ? "" : "s");
	return EX_DATAERR;
}

/* -bp, mailq. */
static int mode_print_queue(const struct run *run)
{
	struct queue *q;
	struct err err;
	int rc = open_queue(run, &q);

	if (rc != EX_OK)
		return rc;
	if (mailq_print(q, stdout, &err) != ST_OK) {
		fprintf(stderr, "sendmx: %s\n", err.msg);
		rc = EX_TEMPFAIL;
	}
	queue_close(q);
	return rc;
}

/*
 * -q: one run over what is due. -qI<part>, -qR<part>, -qS<part>: the
 * messages whose id, a pending recipient or the sender contains part,
 * due or not. -q<interval> (-q15m): runs every interval, in the
 * foreground, until killed (for a service manager).
 */
static int mode_queue_run(const struct run *run)
{
	const char *arg = run->inv->queue_arg ? run->inv->queue_arg : "";
	struct qrun_opts o = { 0 };
	struct qrun_stats stats = { 0 };
	struct queue *q;
	struct err err;
	long interval = 0;
	int rc;

	if (*arg == 'I' || *arg == 'R' || *arg == 'S') {
		o.select = *arg;
		o.match = arg + 1;
	} else if (*arg == 'f') {
		o.force = true;    /* sendmail's -qf: everything, now */
	} else if (*arg != '\0' &&
		   (!parse_duration(arg, &interval) || interval <= 0)) {
		fprintf(stderr, "sendmx: -q%s: expected -q, -q<interval> "
			"(15m), -qI<id>, -qR<recipient> or -qS<sender>\n", arg);
		return EX_USAGE;
	}
	o.transcript = run->inv->verbose ? stderr : NULL;
	/* Parallel workers, unless -v: one dialogue at a time is readable. */
	o.workers = o.transcript ? 1 : QRUN_WORKERS;
	rc = open_queue(run, &q);
	if (rc != EX_OK)
		return rc;
	for (;;) {
		if (qrun_once(run->cfg, q, &o, &stats, &err) != ST_OK) {
			fprintf(stderr, "sendmx: queue run: %s\n", err.msg);
			log_error(NULL, "queue run: %s", err.msg);
			rc = EX_TEMPFAIL;
		}
		if (run->inv->verbose)
			fprintf(stderr, "sendmx: queue run: %zu messages, %zu "
				"recipients sent, %zu deferred, %zu bounced\n",
				stats.messages, stats.sent, stats.deferred,
				stats.bounced);
		if (interval == 0)
			break;
		sleep((unsigned)interval);
		memset(&stats, 0, sizeof stats);
	}
	queue_close(q);
	return rc;
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
	if (submit_parse_rcpts(run->inv, &rcpts) != 0) {
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
	{
		struct address_list expanded;
		struct buf refusals;
		size_t nrefused = 0;

		address_list_init(&expanded);
		buf_init(&refusals);
		if (expand_recipients(run->cfg, &qualified, &expanded,
				      &refusals, &nrefused, &err) != ST_OK) {
			printf("aliases: %s\n", err.msg);
			rc = EX_TEMPFAIL;
		}
		submit_print_refusals(&refusals);
		if (nrefused && rc == EX_OK)
			rc = EX_UNAVAILABLE;
		address_list_free(&qualified);
		qualified = expanded;
		buf_free(&refusals);
	}
	err.msg[0] = '\0';
	st = verify_recipients(run->cfg, submit_verify_sender(run), &qualified,
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



struct smtp_ctx {
	const struct run *run;
	struct queue *q;
};

/* -bs: each message taken in by smtpd is delivered now; what is
 * deferred is queued, and the reply after DATA says the message was
 * taken (250) unless a recipient was refused or it cannot be queued. */
static enum status smtp_message(void *ctx, struct message *msg,
				struct err *err)
{
	const struct smtp_ctx *c = ctx;
	struct delivery d = { 0 };
	struct buf failures;
	char qid[QUEUE_ID_LEN + 1];
	size_t nsent, nrefused = 0;
	int data_fd = -1;
	bool queued = false;
	enum status st;

	st = queue_create(c->q, qid, &data_fd, err);
	if (st != ST_OK) {
		log_error(NULL, "refused: %s", err->msg);
		return ST_TEMPFAIL;
	}
	buf_init(&failures);
	st = submit_expand(c->run, msg, qid, &nrefused, err);
	if (st != ST_OK) {
		log_error(qid, "refused: %s", err->msg);
		goto out;
	}
	d.deadline = now_ms() + c->run->cfg->submit_timeout * 1000LL;
	submit_deliver(c->run, msg, qid, now_ms(), &d);
	st = deliver_fold(&d);
	if (st == ST_TEMPFAIL) {
		st = submit_keep(c->run, c->q, qid, data_fd, msg, now_ms(),
				   &d, err);
		if (st != ST_OK) {
			log_error(qid, "not queued: %s", err->msg);
			st = ST_TEMPFAIL;
			goto out;
		}
		queued = true;
		/* Refusals still fail the reply; deferrals are safe now. */
		for (size_t i = 0; i < msg->rcpts.n; i++)
			if (d.outcomes[i].status == ST_TEMPFAIL)
				d.outcomes[i].status = ST_OK;
		st = deliver_fold(&d);
	}
	nsent = submit_report_failures(&d, NULL, &failures);
	/* Recipients that alias expansion refused were accepted at RCPT:
	 * the reply after DATA must not say all went well. */
	if (nrefused > 0) {
		buf_appendf(&failures, "%zu recipient%s refused by alias "
			    "expansion (see the log)", nrefused,
			    nrefused == 1 ? "" : "s");
		if (st == ST_OK)
			st = ST_PERMFAIL;
	}
	/* Cut to fit: the reply line is bounded anyway, and the log has
	 * a line for every recipient. One reply covers them all, so it
	 * says when some did get the message. */
	if (st != ST_OK && nsent > 0)
		err_set(err, "sent to %zu of %zu recipients only: %s", nsent,
			msg->rcpts.n, failures.data ? failures.data : "");
	else if (st != ST_OK)
		err_set(err, "%s", failures.data ? failures.data : "");
out:
	if (!queued)
		(void)queue_remove(c->q, qid, err);
	close(data_fd);
	delivery_free_outcomes(&d);
	buf_free(&failures);
	return st;
}

static int mode_smtp(const struct run *run)
{
	struct smtpd_opts o = { 0 };
	struct smtp_ctx ctx = { run, NULL };
	enum status st;
	int rc = open_queue(run, &ctx.q);

	if (rc != EX_OK)
		return rc;
	o.hostname = run->cfg->hostname;
	o.login = run->login;
	o.spool_dir = run->cfg->temp_dir;
	o.max_size = run->cfg->max_message_size;
	o.rewrite = run->rewrite;
	st = smtpd_run(stdin, stdout, &o, smtp_message, &ctx);
	/* Each message already got its own reply; a client that leaves
	 * without QUIT lost nothing it was told was taken. */
	if (st != ST_OK)
		fprintf(stderr, "sendmx: -bs: the client left without QUIT\n");
	queue_close(ctx.q);
	return EX_OK;
}
