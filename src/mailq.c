/*
 * mailq.c - the -bp listing. Reads control files without moving or
 * locking anything, so it can run beside deliveries.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailq.h"
#include "queue_int.h"
#include "util.h"

/* Postfix's columns, with our longer ids. */
#define HEAD_FORMAT "%-18s %8s %-20s %s\n"
#define INDENT (QUEUE_ID_LEN + 1 + 8 + 1 + 20 + 1)
#define REASON_WIDTH 76        /* "(reason)" ends in column 78 */

static void put_printable(FILE *out, const char *s);
static void arrival_text(long long t, char buf[21]);
static void print_message(FILE *out, const struct qctl *c, bool locked);

/* Addresses and errors come from strangers: no escape sequences on the
 * administrator's terminal. */
static void put_printable(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		(void)fputc(ch < 0x20 || ch == 0x7f ? '?' : ch, out);
	}
}

/* asctime's "Wed Nov 22 16:42:12 " (the year cut off, as Postfix does),
 * in English whatever the locale. */
static void arrival_text(long long t, char buf[21])
{
	static const char days[][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	time_t tt = (time_t)t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL) {
		(void)snprintf(buf, 21, "%-20s", "??");
		return;
	}
	(void)snprintf(buf, 21, "%s %s %2u %02u:%02u:%02u ",
		       days[tm.tm_wday % 7], months[tm.tm_mon % 12],
		       (unsigned)tm.tm_mday % 32, (unsigned)tm.tm_hour % 24,
		       (unsigned)tm.tm_min % 60, (unsigned)tm.tm_sec % 61);
}

static void print_message(FILE *out, const struct qctl *c, bool locked)
{
	const char *last = NULL;
	char when[21];

	arrival_text(c->arrival, when);
	fprintf(out, "%-18s%c%8lld %-20.20s ", c->id, locked ? '*' : ' ',
		c->size, when);
	put_printable(out, c->sender[0] ? c->sender : "MAILER-DAEMON");
	fputc('\n', out);
	/* Recipients with a reason first, like Postfix's defer log. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->nrcpts; i++) {
			const struct qrcpt *r = &c->rcpts[i];
			bool has_error = r->last_error != NULL;

			if (r->state != QRCPT_PENDING ||
			    has_error != (pass == 0))
				continue;
			if (has_error &&
			    (last == NULL || strcmp(last, r->last_error))) {
				int pad = REASON_WIDTH -
					  (int)strlen(r->last_error);

				fprintf(out, "%*s(", pad > 0 ? pad : 0, "");
				put_printable(out, r->last_error);
				fputs(")\n", out);
				last = r->last_error;
			}
			fprintf(out, "%*s", INDENT, "");
			put_printable(out, r->addr);
			fputc('\n', out);
		}
	}
}

enum status mailq_print(struct queue *q, FILE *out, struct err *err)
{
	char **ids;
	size_t n, count = 0;
	long long total = 0;
	enum status st;

	st = queue_scan(q, &ids, &n, err);
	if (st != ST_OK)
		return st;
	for (size_t i = 0; i < n; i++) {
		struct qctl c;
		struct err e;

		st = queue_read(q, ids[i], &c, &e);
		/* Delivered and removed since the scan: not in the queue. */
		if (st != ST_OK &&
		    !queue_exists(q->dirfd, qname(ids[i], 'c').s))
			continue;
		fputs(count == 0 ? "" : "\n", out);
		if (count == 0)
			fprintf(out, HEAD_FORMAT, "-Queue ID-", "--Size--",
				"----Arrival Time----",
				"-Sender/Recipient-------");
		count++;
		if (st != ST_OK) {
			fprintf(out, "%-18s (", ids[i]);
			put_printable(out, e.msg);
			fputs(")\n", out);
			continue;
		}
		print_message(out, &c, queue_is_locked(q, ids[i]));
		total += c.size;
		qctl_free(&c);
	}
	queue_free_ids(ids, n);
	if (count == 0)
		fputs("Mail queue is empty\n", out);
	else
		fprintf(out, "\n-- %lld Kbytes in %zu Request%s.\n",
			total / 1024, count, count == 1 ? "" : "s");
	if (fflush(out) != 0 || ferror(out)) {
		err_set(err, "cannot write the queue listing: %s",
			strerror(errno));
		return ST_TEMPFAIL;
	}
	return ST_OK;
}
