/*
 * enqueue.c - a taken message into the queue.
 *
 * The spool file is copied (copy_file_range, falling back to read and
 * write) rather than renamed: it lives in temp_dir, maybe on another file
 * system, and was unlinked at once so that no crash leaves it behind.
 * The copy only happens for messages that are not delivered at once.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "enqueue.h"
#include "util.h"

static enum status copy_spool(int from, int to, off_t size, const char *to_path,
			      struct err *err);

void enqueue_dsn_from_cli(const struct invocation *inv, struct qctl *c)
{
	if (inv->dsn_ret)
		c->dsn_ret = ascii_strcasecmp(inv->dsn_ret, "full") == 0
				     ? QDSN_RET_FULL
				     : QDSN_RET_HDRS;
	if (inv->dsn_notify) {
		char *copy = xstrdup(inv->dsn_notify), *save = NULL, *tok;

		for (tok = strtok_r(copy, ",", &save); tok;
		     tok = strtok_r(NULL, ",", &save)) {
			if (ascii_strcasecmp(tok, "never") == 0)
				c->dsn_notify |= QDSN_NOTIFY_NEVER;
			else if (ascii_strcasecmp(tok, "success") == 0)
				c->dsn_notify |= QDSN_NOTIFY_SUCCESS;
			else if (ascii_strcasecmp(tok, "failure") == 0)
				c->dsn_notify |= QDSN_NOTIFY_FAILURE;
			else if (ascii_strcasecmp(tok, "delay") == 0)
				c->dsn_notify |= QDSN_NOTIFY_DELAY;
		}
		free(copy);
	}
	if (inv->envid) {
		free(c->envid);
		c->envid = xstrdup(inv->envid);
	}
}

/* to_path names the queue file in errors: a full disk must say which. */
static enum status copy_spool(int from, int to, off_t size, const char *to_path,
			      struct err *err)
{
	static char chunk[64 * 1024];
	off_t in = 0, out = 0;

	while (in < size) {
		ssize_t n = copy_file_range(from, &in, to, &out,
					    (size_t)(size - in), 0);

		if (n > 0)
			continue;
		if (n == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
		    errno != EOPNOTSUPP) {
			err_set(err, "cannot write the queue file %s: %s",
				to_path, strerror(errno));
			return ST_TEMPFAIL;
		}
		/* Not supported here: plain reads and writes. */
		for (;;) {
			ssize_t r = pread(from, chunk, sizeof chunk, in);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				err_set(err, "cannot read the spool file: %s",
					strerror(errno));
				return ST_TEMPFAIL;
			}
			if (r == 0)
				break;
			for (ssize_t done = 0; done < r;) {
				ssize_t w = pwrite(to, chunk + done,
						   (size_t)(r - done), out);

				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0) {
					err_set(err, "cannot write the queue "
						"file %s: %s", to_path,
						strerror(errno));
					return ST_TEMPFAIL;
				}
				done += w;
				out += w;
			}
			in += r;
		}
		break;
	}
	if (in != size) {
		err_set(err, "cannot copy the message into the queue file "
			"%s: short copy (%lld of %lld bytes)", to_path,
			(long long)in, (long long)size);
		return ST_TEMPFAIL;
	}
	return ST_OK;
}

enum status enqueue_message(const struct config *cfg, struct queue *q,
			    const char *id, int data_fd,
			    const struct message *msg, long long arrival_s,
			    const struct rcpt_outcome *outcomes,
			    const struct qctl *dsn, struct err *err)
{
	struct qctl c;
	long long now = (long long)time(NULL);
	char *path = xasprintf("%s/%s.d", queue_path(q), id);
	enum status st;

	st = copy_spool(msg->spool_fd, data_fd, msg->size, path, err);
	free(path);
	if (st != ST_OK)
		return st;
	qctl_init(&c);
	snprintf(c.id, sizeof c.id, "%s", id);
	c.arrival = arrival_s;
	c.sender = xstrdup(msg->sender);
	c.size = msg->size;
	c.eightbit = msg->eightbit;
	c.message_id = msg->message_id ? xstrdup(msg->message_id) : NULL;
	if (dsn) {
		c.dsn_ret = dsn->dsn_ret;
		c.dsn_notify = dsn->dsn_notify;
		c.envid = dsn->envid ? xstrdup(dsn->envid) : NULL;
	}
	for (size_t i = 0; i < msg->rcpts.n; i++) {
		struct qrcpt *r = qctl_add_rcpt(&c, msg->rcpts.items[i].mailbox,
						NULL);
		const struct rcpt_outcome *o = outcomes ? &outcomes[i] : NULL;

		if (o == NULL)
			continue;
		r->attempts = 1;
		r->last_try = now;
		qrcpt_set_result(r, o->reply, o->relay);
		if (o->status == ST_OK)
			r->state = QRCPT_SENT;
		else if (o->status == ST_PERMFAIL)
			r->state = QRCPT_BOUNCED;
		else
			r->next_try = now + cfg->retry_intervals[0];
	}
	st = queue_commit(q, &c, data_fd, true, err);
	qctl_free(&c);
	return st;
}
