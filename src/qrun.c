/*
 * qrun.c - one queue run, and the delivery of one queued message.
 *
 * The data file's lock (queue_lock) makes a runner the only one working
 * on a message; whatever it learns goes into the control file with an
 * atomic replace before the lock is let go, so a crash at any point
 * leaves the message queued with its last recorded state (a recipient
 * may then get it twice, never zero times).
 */
#include "ac_config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bounce.h"
#include "deliver.h"
#include "dns.h"
#include "loop.h"
#include "intake.h"
#include "log.h"
#include "qrun.h"
#include "util.h"

/* A run removes crash leftovers older than this (a writer holds its
 * lock meanwhile, so this only guards against clock trouble). */
#define LEFTOVER_AGE_S 300

static bool selected(const struct qctl *c, const struct qrun_opts *o,
		     long long now);
static bool contains_ci(const char *hay, const char *needle);
static void apply_outcomes(const struct config *cfg, struct qctl *c,
			   const size_t *map, const struct delivery *d,
			   long long now);
static void expire(const struct config *cfg, struct qctl *c, long long now);
static bool all_done(const struct qctl *c);
static void send_dsn(const struct config *cfg, struct queue *q,
		     struct qctl *c, int data_fd, char *dsn_id,
		     struct qrun_stats *stats);
static bool wants_dsn(const struct qctl *c, unsigned kind);
static void run_ids(const struct config *cfg, struct queue *q,
		    const struct qrun_opts *o, char **ids, size_t n,
		    size_t first, struct qrun_stats *stats);
static void run_workers(const struct config *cfg, struct queue *q,
			const struct qrun_opts *o, char **ids, size_t n,
			struct qrun_stats *stats);
static void add_stats(struct qrun_stats *to, const struct qrun_stats *from);

/* One event loop and resolver for all the messages of a run (reading
 * resolv.conf and starting c-ares per message was most of the cost of a
 * queue run); NULL outside one: qrun_message then makes its own. */
static struct loop *run_loop;
static struct dns *run_dns;
static const char *server_reply(const struct qrcpt *r, char **mta);

long long qrun_backoff(const struct config *cfg, int attempts)
{
	size_t k = attempts < 1 ? 0 : (size_t)(attempts - 1);

	if (k >= cfg->nretry_intervals)
		k = cfg->nretry_intervals - 1;
	return cfg->retry_intervals[k];
}

static bool contains_ci(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay; hay++)
		if (ascii_strncasecmp(hay, needle, n) == 0)
			return true;
	return n == 0;
}

static bool selected(const struct qctl *c, const struct qrun_opts *o,
		     long long now)
{
	if (o->select == 'I')
		return contains_ci(c->id, o->match);
	if (o->select == 'S')
		return contains_ci(c->sender, o->match);
	if (o->select == 'R') {
		for (size_t i = 0; i < c->nrcpts; i++)
			if (c->rcpts[i].state == QRCPT_PENDING &&
			    contains_ci(c->rcpts[i].addr, o->match))
				return true;
		return false;
	}
	if (o->force)
		return true;
	for (size_t i = 0; i < c->nrcpts; i++)
		if (c->rcpts[i].state == QRCPT_PENDING &&
		    c->rcpts[i].next_try <= now)
			return true;
	/* Failed recipients whose DSN is not out yet are due too. */
	for (size_t i = 0; i < c->nrcpts; i++)
		if (c->rcpts[i].state == QRCPT_FAILED)
			return true;
	return false;
}

enum status qrun_once(const struct config *cfg, struct queue *q,
		      const struct qrun_opts *o, struct qrun_stats *stats,
		      struct err *err)
{
	char **ids = NULL;
	size_t n = 0;
	enum status st;

	queue_cleanup(q, LEFTOVER_AGE_S);
	st = queue_scan(q, &ids, &n, err);
	if (st != ST_OK)
		return st;
	if (o->workers > 1 && n > 1)
		run_workers(cfg, q, o, ids, n, stats);
	else
		run_ids(cfg, q, o, ids, n, 0, stats);
	queue_free_ids(ids, n);
	return ST_OK;
}

/* Each message whose turn it is, starting at ids[first] and wrapping
 * round: workers start at different places so that their locks seldom
 * meet. */
static void run_ids(const struct config *cfg, struct queue *q,
		    const struct qrun_opts *o, char **ids, size_t n,
		    size_t first, struct qrun_stats *stats)
{
	long long now = (long long)time(NULL);
	size_t *locked = xcalloc(n ? n : 1, sizeof *locked), nlocked = 0;
	struct err e;

	run_loop = loop_new();
	if (dns_new(run_loop, cfg, &run_dns, &e) != ST_OK)
		run_dns = NULL;   /* each message tries again and says why */
	for (size_t step = 0; step < n; step++) {
		size_t k = (first + step) % n;
		struct qctl c;
		enum status st;
		int fd = -1;
		bool pick;

		/* Read first: a message that is not due costs no lock. */
		qctl_init(&c);
		if (queue_read(q, ids[k], &c, &e) != ST_OK) {
			qctl_free(&c);
			/* Corrupt: queue_load moves it aside under the lock. */
			st = queue_lock(q, ids[k], &fd, &e);
			if (st == ST_OK) {
				if (queue_load(q, ids[k], &c, &e) == ST_OK)
					qrun_message(cfg, q, ids[k], fd,
						     o->transcript, stats);
				else
					close(fd);
			} else if (st == ST_PERMFAIL) {
				/* No data file to lock. It is created before
				 * the control file and removed after it, so
				 * a control file still there without one is
				 * corrupt, not being worked on: move it. */
				(void)queue_load(q, ids[k], &c, &e);
			}
			qctl_free(&c);
			continue;
		}
		pick = selected(&c, o, now);
		qctl_free(&c);
		if (!pick)
			continue;
		if (queue_lock(q, ids[k], &fd, &e) != ST_OK) {
			/* Another runner has it, or one that was just killed
			 * still does: a second look at the end. */
			locked[nlocked++] = k;
			continue;
		}
		qrun_message(cfg, q, ids[k], fd, o->transcript, stats);
	}
	if (nlocked > 0) {
		struct timespec pause = { 0, 100 * 1000000L };

		nanosleep(&pause, NULL);
		for (size_t j = 0; j < nlocked; j++) {
			int fd;

			if (queue_lock(q, ids[locked[j]], &fd, &e) == ST_OK)
				qrun_message(cfg, q, ids[locked[j]], fd,
					     o->transcript, stats);
		}
	}
	free(locked);
	dns_free(run_dns);
	loop_free(run_loop);
	run_dns = NULL;
	run_loop = NULL;
}

/* Delivery is mostly waiting (network, the disk): o->workers processes
 * over one queue keep more of it in flight. The flock on each data file
 * is what keeps two of them off one message. Each worker reports its
 * counts through a pipe. */
static void run_workers(const struct config *cfg, struct queue *q,
			const struct qrun_opts *o, char **ids, size_t n,
			struct qrun_stats *stats)
{
	size_t w = (size_t)o->workers < n ? (size_t)o->workers : n;
	pid_t parent = getpid();
	pid_t *pids = xcalloc(w, sizeof *pids);
	int *fds = xcalloc(w, sizeof *fds);

	fflush(NULL);
	for (size_t k = 0; k < w; k++) {
		int p[2];

		fds[k] = -1;
		if (pipe(p) < 0 || (pids[k] = fork()) < 0) {
			log_warn(NULL, "queue run: cannot start worker %zu: %s",
				 k + 1, strerror(errno));
			pids[k] = 0;
			continue;
		}
		if (pids[k] == 0) {
			struct qrun_stats mine = { 0 };

			/* Killing the run (kill -9 of sendmx -q) kills its
			 * workers: none goes on holding locks behind the
			 * back of the next run. */
			(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != parent)
				_exit(1);
			close(p[0]);
			run_ids(cfg, q, o, ids, n, k * n / w, &mine);
			free(pids);
			free(fds);
			if (write(p[1], &mine, sizeof mine) < 0)
				_exit(1);
			/* A worker is a forked copy: it ends here, leaving
			 * the parent's buffers and exit path alone. */
			_exit(0);
		}
		close(p[1]);
		fds[k] = p[0];
	}
	for (size_t k = 0; k < w; k++) {
		struct qrun_stats theirs;

		if (fds[k] >= 0) {
			if (read(fds[k], &theirs, sizeof theirs) ==
			    (ssize_t)sizeof theirs)
				add_stats(stats, &theirs);
			close(fds[k]);
		}
		if (pids[k] > 0)
			while (waitpid(pids[k], NULL, 0) < 0 && errno == EINTR)
				;
	}
	/* Workers that could not start leave their share to this process. */
	for (size_t k = 0; k < w; k++)
		if (pids[k] == 0)
			run_ids(cfg, q, o, ids, n, k * n / w, stats);
	free(pids);
	free(fds);
}

static void add_stats(struct qrun_stats *to, const struct qrun_stats *from)
{
	to->messages += from->messages;
	to->sent += from->sent;
	to->deferred += from->deferred;
	to->bounced += from->bounced;
	to->dsns += from->dsns;
}

void qrun_message(const struct config *cfg, struct queue *q, const char *id,
		  int data_fd, FILE *transcript, struct qrun_stats *stats)
{
	struct qctl c;
	struct message msg;
	struct delivery d = { 0 };
	struct err err;
	size_t *map = NULL;
	long long now = (long long)time(NULL);
	char dsn_id[QUEUE_ID_LEN + 1] = "";

	qctl_init(&c);
	message_init(&msg);
	if (queue_load(q, id, &c, &err) != ST_OK) {
		log_error(id, "cannot load the queued message: %s", err.msg);
		close(data_fd);
		return;
	}
	msg.spool_fd = data_fd;
	msg.size = (off_t)c.size;
	msg.eightbit = c.eightbit;
	msg.sender = xstrdup(c.sender);
	map = xcalloc(c.nrcpts ? c.nrcpts : 1, sizeof *map);
	for (size_t i = 0; i < c.nrcpts; i++)
		if (c.rcpts[i].state == QRCPT_PENDING) {
			map[msg.rcpts.n] = i;
			address_list_add(&msg.rcpts, NULL, c.rcpts[i].addr);
		}
	if (msg.rcpts.n > 0) {
		if (stats)
			stats->messages++;
		d.cfg = cfg;
		d.msg = &msg;
		d.queue_id = id;
		d.transcript = transcript;
		d.arrival_ms = now_ms() - (now - c.arrival) * 1000;
		d.loop = run_loop;
		d.dns = run_dns;
		deliver_message(&d);
		apply_outcomes(cfg, &c, map, &d, (long long)time(NULL));
		if (stats)
			for (size_t j = 0; j < msg.rcpts.n; j++) {
				enum status s = d.outcomes[j].status;

				if (s == ST_OK)
					stats->sent++;
				else if (s == ST_TEMPFAIL)
					stats->deferred++;
				else
					stats->bounced++;
			}
		delivery_free_outcomes(&d);
	}
	expire(cfg, &c, (long long)time(NULL));
	send_dsn(cfg, q, &c, data_fd, dsn_id, stats);
	if (all_done(&c)) {
		if (queue_remove(q, id, &err) != ST_OK)
			log_error(id, "%s", err.msg);
		else
			log_info(id, "removed");
	} else if (queue_update(q, &c, &err) != ST_OK) {
		log_error(id, "cannot record the delivery state: %s", err.msg);
	}
	msg.spool_fd = -1;    /* closed below: it holds the lock */
	message_free(&msg);
	close(data_fd);
	qctl_free(&c);
	free(map);
	if (dsn_id[0] != '\0') {
		int fd;

		if (queue_lock(q, dsn_id, &fd, &err) == ST_OK)
			qrun_message(cfg, q, dsn_id, fd, transcript, stats);
	}
}

static void apply_outcomes(const struct config *cfg, struct qctl *c,
			   const size_t *map, const struct delivery *d,
			   long long now)
{
	for (size_t j = 0; j < d->msg->rcpts.n; j++) {
		struct qrcpt *r = &c->rcpts[map[j]];
		const struct rcpt_outcome *o = &d->outcomes[j];

		r->attempts++;
		r->last_try = now;
		qrcpt_set_result(r, o->reply, o->relay);
		if (o->status == ST_OK)
			r->state = QRCPT_SENT;
		else if (o->status == ST_PERMFAIL)
			r->state = QRCPT_FAILED;
		else
			r->next_try = now + qrun_backoff(cfg, r->attempts);
	}
}

/* RFC 5321 4.5.4.1: give up after queue_lifetime. */
static void expire(const struct config *cfg, struct qctl *c, long long now)
{
	if (now - c->arrival < cfg->queue_lifetime)
		return;
	for (size_t i = 0; i < c->nrcpts; i++) {
		struct qrcpt *r = &c->rcpts[i];
		char *why, *relay;

		if (r->state != QRCPT_PENDING)
			continue;
		why = xasprintf("gave up after %d attempts in %lld s "
				"(queue_lifetime); last error: %s",
				r->attempts, now - c->arrival,
				r->last_error ? r->last_error : "none");
		/* A copy: qrcpt_set_result frees r->relay before it copies
		 * the new one. */
		relay = r->relay ? xstrdup(r->relay) : NULL;
		qrcpt_set_result(r, why, relay);
		free(relay);
		free(why);
		r->state = QRCPT_FAILED;
		log_info(c->id, "to=<%s>, status=expired (%s)", r->addr,
			 r->last_error);
	}
}

static bool all_done(const struct qctl *c)
{
	for (size_t i = 0; i < c->nrcpts; i++)
		if (c->rcpts[i].state == QRCPT_PENDING ||
		    c->rcpts[i].state == QRCPT_FAILED)
			return false;
	return true;
}

/* RFC 3461 4.1: no NOTIFY means failures (and maybe delays) only;
 * NEVER means none. */
static bool wants_dsn(const struct qctl *c, unsigned kind)
{
	if (c->dsn_notify & QDSN_NOTIFY_NEVER)
		return false;
	if (c->dsn_notify == 0)
		return kind == QDSN_NOTIFY_FAILURE;
	return (c->dsn_notify & kind) != 0;
}

/*
 * A server's refusal is recorded as "host[ip]:port at RCPT: 550 5.1.1
 * ...". The DSN wants the reply alone, so that its enhanced code becomes
 * the Status and the Diagnostic-Code is typed smtp (RFC 3464 2.3.4,
 * 2.3.6), and the host as Remote-MTA (2.3.5). Returns the reply and sets
 * *mta (allocated); for our own errors (connect failures, expiry) the
 * whole text and *mta NULL.
 */
static const char *server_reply(const struct qrcpt *r, char **mta)
{
	const char *e = r->last_error, *p;
	size_t n;

	*mta = NULL;
	if (e == NULL || r->relay == NULL)
		return e;
	n = strlen(r->relay);
	if (strncmp(e, r->relay, n) != 0 || strncmp(e + n, " at ", 4) != 0 ||
	    (p = strstr(e + n + 4, ": ")) == NULL)
		return e;
	p += 2;
	if (!((p[0] == '4' || p[0] == '5') && p[1] >= '0' && p[1] <= '9' &&
	      p[2] >= '0' && p[2] <= '9' &&
	      (p[3] == ' ' || p[3] == '-' || p[3] == '\0')))
		return e;
	*mta = xstrndup(r->relay, strcspn(r->relay, "["));
	return p;
}

/*
 * Queues one DSN for the recipients that failed for good and have had
 * none yet, then marks them BOUNCED. A bounce never bounces: for a
 * null-sender message the failure is logged and dropped (or reported
 * to postmaster, unless the message is itself a bounce). dsn_id gets the
 * new message's id ("" when none was queued).
 */
static void send_dsn(const struct config *cfg, struct queue *q,
		     struct qctl *c, int data_fd, char *dsn_id,
		     struct qrun_stats *stats)
{
	struct bounce_rcpt *br = xcalloc(c->nrcpts ? c->nrcpts : 1, sizeof *br);
	char **mtas = xcalloc(c->nrcpts ? c->nrcpts : 1, sizeof *mtas);
	struct bounce_info bi = { 0 };
	const char *to = c->sender;
	struct qctl dc;
	struct err err;
	size_t n = 0;
	off_t written = 0;
	int fd = -1;

	for (size_t i = 0; i < c->nrcpts; i++) {
		struct qrcpt *r = &c->rcpts[i];

		if (r->state != QRCPT_FAILED)
			continue;
		br[n].addr = r->addr;
		br[n].failed = true;
		br[n].diagnostic = server_reply(r, &mtas[n]);
		br[n].remote_mta = mtas[n];
		br[n].last_attempt = r->last_try;
		n++;
		r->state = QRCPT_BOUNCED;
	}
	if (n == 0 || !wants_dsn(c, QDSN_NOTIFY_FAILURE))
		goto out;
	if (to[0] == '\0' || c->is_bounce) {
		if (c->is_bounce || cfg->postmaster == NULL) {
			log_warn(c->id, "undeliverable %s with the null "
				 "sender: dropped", c->is_bounce ? "bounce"
								  : "message");
			goto out;
		}
		to = cfg->postmaster;
	}
	bi.hostname = cfg->hostname;
	bi.queue_id = c->id;
	bi.orig_sender = to;
	bi.envid = c->envid;
	bi.arrival = c->arrival;
	bi.ret = c->dsn_ret == QDSN_RET_FULL ? DSN_RET_FULL : DSN_RET_HDRS;
	bi.rcpts = br;
	bi.n = n;
	bi.now = (long long)time(NULL);
	qctl_init(&dc);
	if (queue_create(q, dsn_id, &fd, &err) != ST_OK ||
	    bounce_write(fd, &bi, data_fd, (off_t)c->size, &written, &err) !=
		    ST_OK) {
		log_error(c->id, "cannot queue a DSN to <%s>: %s", to, err.msg);
		goto fail;
	}
	snprintf(dc.id, sizeof dc.id, "%s", dsn_id);
	dc.arrival = bi.now;
	dc.sender = xstrdup("");
	dc.size = written;
	dc.eightbit = false;
	dc.is_bounce = true;
	qctl_add_rcpt(&dc, to, NULL);
	if (queue_commit(q, &dc, fd, true, &err) != ST_OK) {
		log_error(c->id, "cannot queue a DSN to <%s>: %s", to, err.msg);
		goto fail;
	}
	log_info(c->id, "sender non-delivery notification: %s", dsn_id);
	if (stats)
		stats->dsns++;
	close(fd);
	qctl_free(&dc);
	goto out;
fail:
	/* The failed recipients stay FAILED: the next run tries the DSN
	 * again, never a second one for what this one covers. */
	for (size_t i = 0; i < c->nrcpts; i++)
		for (size_t k = 0; k < n; k++)
			if (br[k].addr == c->rcpts[i].addr)
				c->rcpts[i].state = QRCPT_FAILED;
	if (dsn_id[0])
		(void)queue_remove(q, dsn_id, &err);
	dsn_id[0] = '\0';
	if (fd >= 0)
		close(fd);
	qctl_free(&dc);
out:
	for (size_t k = 0; k < n; k++)
		free(mtas[k]);
	free(mtas);
	free(br);
}
