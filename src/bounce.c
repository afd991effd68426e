/*
 * bounce.c - building a delivery status notification: RFC 3464 fields in
 * an RFC 6522 multipart/report, with RFC 3461 RET, ENVID and ORCPT.
 *
 * Everything that comes from elsewhere (addresses, server replies, the
 * ENVID) is cleaned before it reaches a header or a DSN field, and all
 * output goes through the buffered writer of bounce_text.c (bounce_int.h).
 * The original message is streamed in chunks, never held whole.
 */
#include "ac_config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "bounce.h"
#include "bounce_int.h"
#include "complete.h"
#include "util.h"

#define IO_CHUNK (64 * 1024)
#define BOUNDARY_TRIES 8
#define RANDOM_OCTETS 12

void (*bounce_random_hook)(unsigned char *p, size_t n);

/* What the first reading of the original found. */
struct orig_scan {
	off_t end;       /* octets of the original to return */
	bool eightbit;   /* among them an octet >= 0x80 */
	bool ends_lf;    /* they end with a line end (or are none) */
	bool clash;      /* they contain the boundary */
};

static bool is_digit(char c);
static size_t status_len(const char *s);
static bool is_reply(const char *s);
static void random_hex(char *out, size_t octets);
static enum status scan_original(int fd, off_t size, bool hdrs,
				 const char *boundary, struct orig_scan *sc,
				 struct err *err);
static void copy_original(struct out *o, int fd, off_t end);
static void write_headers(struct out *o, const struct bounce_info *b,
			  const char *host, const char *qid,
			  const char *boundary, bool any_failed, bool eightbit);
static void write_rcpt_text(struct out *o, const struct bounce_rcpt *r);
static void write_text_part(struct out *o, const struct bounce_info *b,
			    const char *host, const char *qid,
			    const char *boundary, bool any_failed,
			    bool attached, bool hdrs, bool text8);
static void write_status_part(struct out *o, const struct bounce_info *b,
			      const char *host, const char *boundary,
			      bool text8);

/* ---- status codes ----------------------------------------------------- */

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of the RFC 3463 status-code at s (class 4 or 5: a DSN reports
 * no success; subject and detail 1*3DIGIT without leading zeros, RFC 3464
 * 2.3.4), or 0 when there is none. */
static size_t status_len(const char *s)
{
	size_t i = 1, k, part;

	if (s[0] != '4' && s[0] != '5')
		return 0;
	for (part = 0; part < 2; part++) {
		if (s[i] != '.')
			return 0;
		i++;
		for (k = 0; k < 3 && is_digit(s[i + k]); k++)
			;
		if (k == 0 || (k > 1 && s[i] == '0'))
			return 0;
		i += k;
	}
	return is_digit(s[i]) ? 0 : i;
}

/* RFC 5321 4.2: a reply starts with a three-digit code and then a space,
 * a hyphen or its end. */
static bool is_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && is_digit(s[1]) &&
	       is_digit(s[2]) &&
	       (s[3] == ' ' || s[3] == '-' || s[3] == '\0');
}

void bounce_status(const struct bounce_rcpt *r, char out[16])
{
	const char *d = r->diagnostic, *p;
	size_t n;

	if (r->status != NULL && (n = status_len(r->status)) > 0 &&
	    n < 16 && r->status[n] == '\0') {
		memcpy(out, r->status, n + 1);
	} else if (d != NULL && is_reply(d) && (d[0] == '4' || d[0] == '5')) {
		for (p = d + 3; *p == ' ' || *p == '-'; p++)
			;
		n = status_len(p);
		/* RFC 2034 4: the enhanced class must agree with the reply's. */
		if (n > 0 && n < 16 && p[0] == d[0] &&
		    (p[n] == ' ' || p[n] == '\0')) {
			memcpy(out, p, n);
			out[n] = '\0';
		} else {
			snprintf(out, 16, "%c.0.0", d[0]);
		}
	} else {
		strcpy(out, r->failed ? "5.0.0" : "4.0.0");
	}
	/* Still trying means not permanent (RFC 3463 2): a 5yz that did not
	 * end the attempts keeps its subject and detail, class 4. */
	if (!r->failed)
		out[0] = '4';
}

/* ---- the original message ---------------------------------------------- */

static void random_hex(char *out, size_t octets)
{
	static unsigned counter;
	unsigned char r[32];
	size_t got = 0, i;
	ssize_t k;

	if (octets > sizeof r)
		octets = sizeof r;
	if (bounce_random_hook != NULL) {
		bounce_random_hook(r, octets);
		got = octets;
	}
	while (got < octets) {
		k = getrandom(r + got, octets - got, GRND_NONBLOCK);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (got < octets) {
		/* No entropy yet (early boot): unpredictability is a nicety,
		 * the boundary is checked against the message anyway. */
		struct timespec ts;
		uint64_t x;

		clock_gettime(CLOCK_REALTIME, &ts);
		x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)getpid() << 40) ^ ++counter;
		for (i = got; i < octets; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			r[i] = (unsigned char)x;
		}
	}
	for (i = 0; i < octets; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/*
 * Reads what will be returned of the original (the header section for
 * hdrs: up to the first empty line; else all) to find its end, 8-bit
 * octets and the boundary, which a line of the original could otherwise
 * end the part with (RFC 2046 5.1.1). Errors: ST_TEMPFAIL.
 */
static enum status scan_original(int fd, off_t size, bool hdrs,
				 const char *boundary, struct orig_scan *sc,
				 struct err *err)
{
	size_t blen = strlen(boundary), carry = 0, take, keep, i;
	char *buf = xmalloc(IO_CHUNK + blen);
	bool bol = true, cr = false, done = false;
	unsigned char last = '\n', c;
	enum status st = ST_OK;
	off_t pos = 0, end;
	ssize_t r;

	sc->end = size;
	sc->eightbit = sc->clash = false;
	while (pos < size && !done) {
		r = pread(fd, buf + carry, size - pos > IO_CHUNK ?
			  IO_CHUNK : (size_t)(size - pos), pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, "cannot read the original message: %s",
				strerror(errno));
			st = ST_TEMPFAIL;
			goto out;
		}
		if (r == 0) {
			err_set(err, "the original message is shorter than "
				"%lld bytes", (long long)size);
			st = ST_TEMPFAIL;
			goto out;
		}
		take = (size_t)r;
		for (i = 0; hdrs && i < (size_t)r; i++) {
			c = (unsigned char)buf[carry + i];
			if (bol && c == '\n') {
				/* The empty line: a CR before it may lie in
				 * the chunk before; it is not returned. */
				end = pos + (off_t)i - (cr ? 1 : 0);
				sc->end = end;
				take = end > pos ? (size_t)(end - pos) : 0;
				done = true;
				break;
			} else if (bol && c == '\r' && !cr) {
				cr = true;
			} else {
				bol = c == '\n';
				cr = false;
			}
		}
		for (i = 0; i < take; i++)
			if ((unsigned char)buf[carry + i] >= 0x80)
				sc->eightbit = true;
		if (take > 0)
			last = (unsigned char)buf[carry + take - 1];
		if (memmem(buf, carry + take, boundary, blen) != NULL) {
			sc->clash = true;
			goto out;
		}
		/* Keep a tail so a boundary split between chunks is found. */
		keep = carry + take < blen - 1 ? carry + take : blen - 1;
		memmove(buf, buf + carry + take - keep, keep);
		carry = keep;
		pos += r;
	}
	/* For hdrs, an empty line found means the part ends in a line end
	 * (the one before it); last is that octet then, unless the CR of
	 * the empty line was the last of a chunk: bol says so. */
	sc->ends_lf = last == '\n' || (done && bol);
out:
	free(buf);
	return st;
}

/* Copies octets 0..end of the original. The buffer goes out first; the
 * chunks are written directly. */
static void copy_original(struct out *o, int fd, off_t end)
{
	char *buf = xmalloc(IO_CHUNK);
	off_t pos = 0;
	ssize_t r;

	bounce_out_flush(o);
	while (pos < end && o->st == ST_OK) {
		r = pread(fd, buf, end - pos > IO_CHUNK ? IO_CHUNK :
			  (size_t)(end - pos), pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			bounce_out_fail(o, ST_TEMPFAIL, "cannot read the "
					"original message: %s", r < 0 ?
					strerror(errno) : "it became shorter");
			break;
		}
		bounce_out_write(o, buf, (size_t)r);
		pos += r;
	}
	free(buf);
}

/* ---- the parts -------------------------------------------------------- */

static void write_headers(struct out *o, const struct bounce_info *b,
			  const char *host, const char *qid,
			  const char *boundary, bool any_failed, bool eightbit)
{
	char rnd[2 * RANDOM_OCTETS + 1], stamp[32];
	char *to = bounce_clean_addr(b->orig_sender), *v;
	time_t now = (time_t)b->now;
	struct tm tm;

	bounce_out_printf(o, "From: MAILER-DAEMON@%s (Mail Delivery "
			  "System)\r\n", host);
	v = xasprintf("<%s>", to);
	bounce_out_field(o, "To", v);
	free(v);
	bounce_out_field(o, "Subject", any_failed ?
			 "Undelivered Mail Returned to Sender" :
			 "Delayed Mail (still being retried)");
	bounce_out_date_field(o, "Date", b->now);
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm) == 0)
		strcpy(stamp, "0");
	random_hex(rnd, 8);
	bounce_out_printf(o, "Message-ID: <%s.%s%s%s@%s>\r\n", stamp, rnd,
			  *qid != '\0' ? "." : "", qid, host);
	bounce_out_puts(o, "MIME-Version: 1.0\r\n");
	/* RFC 3834 5: keeps responders from answering the DSN. */
	bounce_out_puts(o, "Auto-Submitted: auto-replied\r\n");
	bounce_out_printf(o, "Content-Type: multipart/report; "
			  "report-type=delivery-status;\r\n"
			  "\tboundary=\"%s\"\r\n", boundary);
	if (eightbit)
		bounce_out_puts(o, "Content-Transfer-Encoding: 8bit\r\n");
	bounce_out_puts(o, "\r\nThis is a MIME-formatted delivery status "
			"notification (RFC 3464).\r\n");
	free(to);
}

static void write_rcpt_text(struct out *o, const struct bounce_rcpt *r)
{
	char *a = bounce_clean_addr(r->addr), *d, *t, *line;

	line = xasprintf("<%s>", a);
	bounce_out_wrap(o, "", line, "  ", false);
	free(line);
	if (r->diagnostic != NULL && *r->diagnostic != '\0') {
		d = bounce_clean_text(r->diagnostic);
		t = r->remote_mta != NULL ?
		    bounce_clean_name(r->remote_mta, "") : NULL;
		line = t != NULL ? xasprintf("%s said: %s", t, d) : xstrdup(d);
		bounce_out_wrap(o, "    ", line, "    ", false);
		free(line);
		free(t);
		free(d);
	}
	if (!r->failed && r->retry_until > 0) {
		d = complete_date((time_t)r->retry_until);
		bounce_out_printf(o, "    (still trying until %s)\r\n", d);
		free(d);
	}
	free(a);
}

static void write_text_part(struct out *o, const struct bounce_info *b,
			    const char *host, const char *qid,
			    const char *boundary, bool any_failed,
			    bool attached, bool hdrs, bool text8)
{
	size_t i, ndelayed = 0;
	char *s;

	bounce_out_printf(o, "--%s\r\nContent-Description: Notification\r\n"
			  "Content-Type: text/plain; charset=%s\r\n%s\r\n",
			  boundary, text8 ? "utf-8" : "us-ascii",
			  text8 ? "Content-Transfer-Encoding: 8bit\r\n" : "");
	s = xasprintf("This is the mail delivery system at %s.", host);
	bounce_out_wrap(o, "", s, "", false);
	free(s);
	bounce_out_puts(o, "\r\n");
	s = xasprintf("%s%s", any_failed ?
		      "Your message could not be delivered to one or more of "
		      "its recipients. The mail system has given up on them; "
		      "the reasons are listed below." :
		      "Your message has not reached one or more of its "
		      "recipients yet. The mail system keeps trying, so there "
		      "is no need to send it again; you will be told if it "
		      "has to give up.",
		      !attached ? "" : hdrs ? " The header of your message is "
		      "attached." : " Your message is attached.");
	bounce_out_wrap(o, "", s, "", false);
	free(s);
	bounce_out_puts(o, "\r\n");
	s = xasprintf("If you need help, forward this report with its "
		      "attachments to the postmaster of your mail service%s%s.",
		      *qid != '\0' ? "; the message's queue id here was " : "",
		      qid);
	bounce_out_wrap(o, "", s, "", false);
	free(s);
	if (any_failed) {
		bounce_out_puts(o, "\r\nDelivery failed for:\r\n");
		for (i = 0; i < b->n; i++) {
			if (!b->rcpts[i].failed) {
				ndelayed++;
				continue;
			}
			bounce_out_puts(o, "\r\n");
			write_rcpt_text(o, &b->rcpts[i]);
		}
		if (ndelayed == 0)
			return;
		bounce_out_puts(o, "\r\n");
		bounce_out_wrap(o, "", "Delivery is delayed for the following; "
				"the mail system is still trying:", "", false);
	} else {
		bounce_out_puts(o, "\r\nDelivery is delayed for:\r\n");
	}
	for (i = 0; i < b->n; i++) {
		if (b->rcpts[i].failed)
			continue;
		bounce_out_puts(o, "\r\n");
		write_rcpt_text(o, &b->rcpts[i]);
	}
}

/* RFC 3464 2.2 and 2.3: per-message fields, then a group per recipient,
 * each after an empty line. */
static void write_status_part(struct out *o, const struct bounce_info *b,
			      const char *host, const char *boundary,
			      bool text8)
{
	const struct bounce_rcpt *r;
	char status[16], *v, *a, *t;
	size_t i;

	bounce_out_printf(o, "\r\n--%s\r\nContent-Description: Delivery "
			  "report\r\nContent-Type: message/delivery-status"
			  "\r\n%s\r\n", boundary, text8 ?
			  "Content-Transfer-Encoding: 8bit\r\n" : "");
	if (b->envid != NULL && *b->envid != '\0') {
		v = bounce_clean_text(b->envid);
		bounce_out_field(o, "Original-Envelope-Id", v);
		free(v);
	}
	bounce_out_printf(o, "Reporting-MTA: dns; %s\r\n", host);
	if (b->arrival > 0)
		bounce_out_date_field(o, "Arrival-Date", b->arrival);
	for (i = 0; i < b->n; i++) {
		r = &b->rcpts[i];
		bounce_out_puts(o, "\r\n");
		if (r->orcpt != NULL && *r->orcpt != '\0') {
			a = bounce_clean_addr(r->orcpt);
			v = strchr(a, ';') != NULL ? xstrdup(a) :
			    xasprintf("rfc822;%s", a);
			bounce_out_field(o, "Original-Recipient", v);
			free(v);
			free(a);
		}
		a = bounce_clean_addr(r->addr);
		v = xasprintf("rfc822; %s", a);
		bounce_out_field(o, "Final-Recipient", v);
		free(v);
		free(a);
		bounce_out_printf(o, "Action: %s\r\n",
				  r->failed ? "failed" : "delayed");
		bounce_status(r, status);
		bounce_out_printf(o, "Status: %s\r\n", status);
		if (r->remote_mta != NULL && *r->remote_mta != '\0') {
			t = bounce_clean_name(r->remote_mta, "");
			bounce_out_printf(o, "Remote-MTA: dns; %s\r\n", t);
			free(t);
		}
		if (r->diagnostic != NULL && *r->diagnostic != '\0') {
			t = bounce_clean_text(r->diagnostic);
			/* RFC 3464 2.3.6: the type says whose code it is. */
			v = xasprintf("%s; %s", is_reply(t) ? "smtp" :
				      "X-Sendmx", t);
			bounce_out_field(o, "Diagnostic-Code", v);
			free(v);
			free(t);
		}
		if (r->last_attempt > 0)
			bounce_out_date_field(o, "Last-Attempt-Date",
					      r->last_attempt);
		/* RFC 3464 2.3.9: only in delay reports. */
		if (!r->failed && r->retry_until > 0)
			bounce_out_date_field(o, "Will-Retry-Until",
					      r->retry_until);
	}
}

/* ---- the DSN ---------------------------------------------------------- */

enum status bounce_write(int out_fd, const struct bounce_info *b,
			 int orig_fd, off_t orig_size, off_t *written,
			 struct err *err)
{
	struct out o = { .fd = out_fd, .st = ST_OK };
	struct orig_scan sc = { .end = 0, .ends_lf = true };
	char *host = NULL, *qid = NULL, *boundary = NULL;
	char rnd[2 * RANDOM_OCTETS + 1];
	bool any_failed = false, hdrs, text8 = false;
	enum status st = ST_OK;
	size_t i;
	int tries;

	buf_init(&o.b);
	if (b->orig_sender == NULL || *b->orig_sender == '\0') {
		/* RFC 5321 6.1: never a bounce to the null reverse-path. */
		err_set(err, "no DSN for the null sender");
		st = ST_PERMFAIL;
		goto out;
	}
	if (b->n == 0 || b->rcpts == NULL) {
		err_set(err, "no recipients to report");
		st = ST_PERMFAIL;
		goto out;
	}
	for (i = 0; i < b->n; i++) {
		if (b->rcpts[i].addr == NULL) {
			err_set(err, "recipient %zu of the DSN has no address",
				i + 1);
			st = ST_PERMFAIL;
			goto out;
		}
		any_failed |= b->rcpts[i].failed;
		text8 |= bounce_has_8bit(b->rcpts[i].addr) ||
			 (b->rcpts[i].orcpt != NULL &&
			  bounce_has_8bit(b->rcpts[i].orcpt));
	}
	host = bounce_clean_name(b->hostname, "localhost");
	qid = bounce_clean_name(b->queue_id, "");
	if (strlen(qid) > 24)
		qid[24] = '\0';    /* RFC 2046 5.1.1: boundaries <= 70 */
	hdrs = b->ret == DSN_RET_HDRS ||
	       (b->full_limit > 0 && orig_size > b->full_limit);
	for (tries = 0;; tries++) {
		random_hex(rnd, RANDOM_OCTETS);
		free(boundary);
		/* "=_" cannot occur in quoted-printable or base64 text. */
		boundary = xasprintf("=_dsn_%s%s%s", qid, *qid != '\0' ?
				     "_" : "", rnd);
		if (orig_fd < 0)
			break;
		st = scan_original(orig_fd, orig_size, hdrs, boundary, &sc,
				   err);
		if (st != ST_OK)
			goto out;
		if (!sc.clash)
			break;
		if (tries + 1 >= BOUNDARY_TRIES) {
			err_set(err, "cannot find a MIME boundary that does "
				"not occur in the message");
			st = ST_TEMPFAIL;
			goto out;
		}
	}

	write_headers(&o, b, host, qid, boundary, any_failed,
		      text8 || sc.eightbit);
	write_text_part(&o, b, host, qid, boundary, any_failed, orig_fd >= 0,
			hdrs, text8);
	write_status_part(&o, b, host, boundary, text8);
	if (orig_fd >= 0) {
		bounce_out_printf(&o, "\r\n--%s\r\nContent-Description: %s"
				  "\r\nContent-Type: %s\r\n%s\r\n", boundary,
				  any_failed ? "Undelivered Message" :
				  "Delayed Message",
				  hdrs ? "text/rfc822-headers" :
				  "message/rfc822",
				  sc.eightbit ?
				  "Content-Transfer-Encoding: 8bit\r\n" : "");
		copy_original(&o, orig_fd, sc.end);
		if (!sc.ends_lf)
			bounce_out_puts(&o, "\r\n");
	}
	bounce_out_printf(&o, "\r\n--%s--\r\n", boundary);
	bounce_out_flush(&o);
	st = o.st;
	if (st != ST_OK && err != NULL)
		*err = o.err;
out:
	if (written != NULL)
		*written = o.written;
	buf_free(&o.b);
	free(boundary);
	free(host);
	free(qid);
	return st;
}