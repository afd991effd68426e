/*
 * session.c - an SMTP client connection as a set of loop callbacks.
 *
 * step() is the whole driver: it does what the current phase needs
 * until something would block, then registers the one descriptor event
 * and the one deadline that can move it on, and returns. Every callback
 * (readiness, timeout) just calls step() again. The protocol is smtp.c;
 * this file moves bytes.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reply.h"
#include "session.h"
#include "util.h"

/* Body writes are built in chunks of about this size: big enough that
 * the per-syscall cost vanishes, small enough to keep memory flat. */
#define BODY_CHUNK (64 * 1024)
#define READ_CHUNK 16384

enum phase { P_CONNECT, P_TLS, P_RUN, P_DONE };

/* What an I/O attempt came to. */
enum io { IO_DONE, IO_WAIT, IO_FAIL };

struct session {
	struct session_params p;
	struct sockaddr_storage addr;
	char *peer;
	int fd;
	struct tls *tls;
	bool tls_implicit_pending; /* handshake before the greeting */
	bool tls_failed;
	bool greeted;
	struct smtp_session *smtp;
	enum phase phase;
	enum smtp_want want;
	bool want_fresh;          /* want was just taken: set its deadline */
	long long deadline;
	struct buf out;           /* bytes to write */
	size_t out_off;
	struct buf in;            /* bytes read, not yet consumed */
	size_t in_off;
	struct smtp_reply reply;
	off_t body_off;
	bool body_bol;
	bool body_end_queued;     /* ".\r\n" is in out */
	struct err err;
};

static void on_io(void *ctx, int fd, short revents);
static void on_timer(void *ctx);
static void step(struct session *s);
static void finish(struct session *s);
static void wait_for(struct session *s, short events);
static enum io do_connect(struct session *s);
static enum io do_tls(struct session *s);
static enum io do_run(struct session *s);
static void next_want(struct session *s);
static enum io flush_out(struct session *s);
static enum io read_reply(struct session *s);
static enum io fill_in(struct session *s);
static enum io pump_body(struct session *s);
static void io_failed(struct session *s, const char *what);
static void show(FILE *t, const char *prefix, const char *text);
static void show_line(struct session *s, const char *p, size_t n);
static char *clean_copy(const struct session *s, const char *p, size_t n);

struct session *session_start(const struct session_params *p)
{
	struct session *s = xcalloc(1, sizeof *s);

	s->p = *p;
	memcpy(&s->addr, p->addr, p->addrlen);
	s->p.addr = (const struct sockaddr *)&s->addr;
	s->peer = xstrdup(p->peer);
	s->p.peer = s->peer;
	s->p.smtp.peer = s->peer;
	s->fd = -1;
	s->tls_implicit_pending = p->smtp.tls == TLS_IMPLICIT;
	s->smtp = smtp_new(&s->p.smtp);
	s->phase = P_CONNECT;
	s->body_bol = true;
	buf_init(&s->out);
	buf_init(&s->in);
	reply_init(&s->reply);
	/* The first step runs from the loop, like every other: the owner
	 * never sees its done callback inside session_start. */
	loop_timer(p->loop, s, now_ms(), on_timer, s);
	return s;
}

enum status session_rcpt_status(const struct session *s, size_t i)
{
	return smtp_rcpt_status(s->smtp, i);
}

const char *session_rcpt_reply(const struct session *s, size_t i)
{
	return smtp_rcpt_reply(s->smtp, i);
}

const char *session_peer(const struct session *s)
{
	return s->peer;
}

bool session_greeted(const struct session *s)
{
	return s->greeted;
}

bool session_tls_failed(const struct session *s)
{
	return s->tls_failed;
}

void session_free(struct session *s)
{
	if (s == NULL)
		return;
	loop_timer(s->p.loop, s, -1, NULL, NULL);
	if (s->fd >= 0) {
		loop_unwatch(s->p.loop, s->fd);
		close(s->fd);
	}
	tls_close(s->tls);
	smtp_free(s->smtp);
	if (s->out.data)
		explicit_bzero(s->out.data, s->out.cap);  /* AUTH secrets */
	buf_free(&s->out);
	buf_free(&s->in);
	reply_free(&s->reply);
	free(s->peer);
	free(s);
}

static void on_io(void *ctx, int fd, short revents)
{
	(void)fd;
	(void)revents;
	step(ctx);
}

static void on_timer(void *ctx)
{
	struct session *s = ctx;

	/* The start timer, or a deadline: step() tells them apart. */
	step(s);
}

static void wait_for(struct session *s, short events)
{
	loop_watch(s->p.loop, s->fd, events, on_io, s);
	loop_timer(s->p.loop, s, s->deadline, on_timer, s);
}

static void step(struct session *s)
{
	for (;;) {
		enum io r;

		if (s->phase == P_DONE) {
			finish(s);
			return;
		}
		if (s->deadline > 0 && now_ms() >= s->deadline &&
		    s->phase != P_RUN) {
			err_set(&s->err, "timed out after %d s",
				(s->p.connect_timeout_ms + 999) / 1000);
			/* A stalled handshake is a TLS failure too:
			 * opportunistic TLS may retry without it. */
			if (s->phase == P_TLS) {
				s->tls_failed = true;
				err_set(&s->err, "TLS handshake timed out after "
					"%d s", (s->p.connect_timeout_ms + 999) /
						       1000);
				if (s->tls_implicit_pending)
					smtp_on_tls_error(s->smtp, s->err.msg);
				else
					smtp_on_tls(s->smtp, false, s->err.msg);
				s->phase = P_DONE;
				continue;
			}
			io_failed(s, NULL);
			continue;
		}
		if (s->phase == P_CONNECT)
			r = do_connect(s);
		else if (s->phase == P_TLS)
			r = do_tls(s);
		else
			r = do_run(s);
		if (r == IO_WAIT)
			return;
	}
}

/* Ends the session: no more callbacks, then the owner's. */
static void finish(struct session *s)
{
	loop_timer(s->p.loop, s, -1, NULL, NULL);
	if (s->fd >= 0) {
		loop_unwatch(s->p.loop, s->fd);
		close(s->fd);
		s->fd = -1;
	}
	s->p.done(s->p.ctx, s);
}

/* An I/O failure: the state machine fails every open recipient. */
static void io_failed(struct session *s, const char *what)
{
	if (what)
		err_set(&s->err, "%s", what);
	if (s->phase == P_CONNECT) {
		smtp_on_connect_error(s->smtp, s->err.msg);
	} else {
		smtp_on_io_error(s->smtp, s->err.msg);
	}
	s->phase = P_DONE;
}

static enum io do_connect(struct session *s)
{
	int one = 1, soerr = 0;
	socklen_t len = sizeof soerr;

	if (s->fd < 0) {
		s->deadline = now_ms() + s->p.connect_timeout_ms;
		s->fd = socket(s->addr.ss_family,
			       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (s->fd < 0) {
			io_failed(s, strerror(errno));
			return IO_FAIL;
		}
		if (connect(s->fd, s->p.addr, s->p.addrlen) < 0 &&
		    errno != EINPROGRESS) {
			io_failed(s, strerror(errno));
			return IO_FAIL;
		}
		wait_for(s, POLLOUT);
		return IO_WAIT;
	}
	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr == 0) {
		struct pollfd pfd = { s->fd, POLLOUT, 0 };

		/* A spurious wake-up: still connecting. */
		if (poll(&pfd, 1, 0) == 0) {
			wait_for(s, POLLOUT);
			return IO_WAIT;
		}
	}
	if (soerr != 0) {
		io_failed(s, strerror(soerr));
		return IO_FAIL;
	}
	/* SMTP writes whole commands or pipelined groups: Nagle would only
	 * hold back the last segment of each. */
	(void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (s->p.transcript)
		fprintf(s->p.transcript, "sendmx: connected to %s\n", s->peer);
	if (s->tls_implicit_pending) {
		s->phase = P_TLS;
		s->deadline = now_ms() + s->p.connect_timeout_ms;
	} else {
		s->phase = P_RUN;
		s->deadline = 0;
		next_want(s);
	}
	return IO_DONE;
}

/* The handshake, implicit (before the greeting) or after STARTTLS. */
static enum io do_tls(struct session *s)
{
	int r;

	if (s->tls == NULL &&
	    tls_begin(s->fd, &s->p.tls, &s->tls, &s->err) != ST_OK)
		r = -1;
	else
		r = tls_continue(s->tls, &s->err);
	if (r == -2) {
		wait_for(s, tls_wants_write(s->tls) ? POLLOUT : POLLIN);
		return IO_WAIT;
	}
	if (r == 1 && s->p.transcript)
		fprintf(s->p.transcript, "sendmx: TLS: %s\n",
			tls_describe(s->tls));
	if (r != 1)
		s->tls_failed = true;
	if (s->tls_implicit_pending) {
		s->tls_implicit_pending = false;
		if (r != 1) {
			smtp_on_tls_error(s->smtp, s->err.msg);
			s->phase = P_DONE;
			return IO_FAIL;
		}
	} else {
		smtp_on_tls(s->smtp, r == 1, r == 1 ? NULL : s->err.msg);
	}
	s->phase = P_RUN;
	s->deadline = 0;
	next_want(s);
	return IO_DONE;
}

/* Takes the state machine's next request; a write is copied out now
 * (its bytes are valid only until the next call). */
static void next_want(struct session *s)
{
	struct smtp_output o;

	s->want = smtp_next(s->smtp, &o);
	s->want_fresh = true;
	if (s->want == SMTP_WANT_WRITE) {
		show(s->p.transcript, ">>> ", o.display);
		buf_reset(&s->out);
		s->out_off = 0;
		buf_append(&s->out, o.data, o.len);
	} else if (s->want == SMTP_WANT_BODY) {
		/* From the start: a connection may carry several
		 * transactions of the same message. */
		show(s->p.transcript, ">>> ", "(message body)\r\n.");
		buf_reset(&s->out);
		s->out_off = 0;
		s->body_off = 0;
		s->body_bol = true;
		s->body_end_queued = false;
	}
}

static enum io do_run(struct session *s)
{
	enum io r;

	if (s->want_fresh) {
		s->want_fresh = false;
		s->deadline = now_ms() + smtp_reply_timeout_ms(s->smtp);
	}
	if (now_ms() >= s->deadline && s->want != SMTP_WANT_CLOSE &&
	    s->want != SMTP_WANT_TLS) {
		char secs[32];
		int ms = smtp_reply_timeout_ms(s->smtp);

		snprintf(secs, sizeof secs, "%.*f", ms % 1000 ? 1 : 0,
			 ms / 1000.0);
		err_set(&s->err, s->want == SMTP_WANT_READ
			? "timed out after %s s waiting for reply"
			: "timed out after %s s sending data", secs);
		io_failed(s, NULL);
		return IO_FAIL;
	}
	switch (s->want) {
	case SMTP_WANT_WRITE:
		r = flush_out(s);
		break;
	case SMTP_WANT_READ:
		r = read_reply(s);
		break;
	case SMTP_WANT_BODY:
		r = pump_body(s);
		if (r == IO_DONE)
			smtp_body_done(s->smtp);
		break;
	case SMTP_WANT_TLS:
		/* RFC 3207 / CVE-2011-0411: bytes after the 220 were sent in
		 * the clear and must not be taken as TLS-protected. */
		if (s->in.len > s->in_off) {
			smtp_on_tls(s->smtp, false, "data after STARTTLS reply "
				    "(possible command injection)");
			r = IO_DONE;
			break;
		}
		s->phase = P_TLS;
		s->deadline = now_ms() + s->p.connect_timeout_ms;
		return IO_DONE;
	case SMTP_WANT_CLOSE:
	default:
		s->phase = P_DONE;
		return IO_DONE;
	}
	if (r == IO_FAIL) {
		io_failed(s, NULL);
		return IO_FAIL;
	}
	if (r == IO_DONE)
		next_want(s);
	return r;
}

static enum io flush_out(struct session *s)
{
	while (s->out_off < s->out.len) {
		const char *p = s->out.data + s->out_off;
		size_t n = s->out.len - s->out_off;
		ssize_t w;

		if (s->tls) {
			w = tls_write(s->tls, p, n, &s->err);
			if (w == -2) {
				wait_for(s, tls_wants_write(s->tls) ? POLLOUT
								    : POLLIN);
				return IO_WAIT;
			}
			if (w <= 0) {
				if (w == 0)
					err_set(&s->err,
						"connection closed by peer");
				return IO_FAIL;
			}
		} else {
			w = send(s->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				wait_for(s, POLLOUT);
				return IO_WAIT;
			}
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				err_set(&s->err, "write error: %s",
					strerror(errno));
				return IO_FAIL;
			}
		}
		s->out_off += (size_t)w;
		/* Progress restarts the clock (RFC 5321 4.5.3.2.5: the
		 * data block timeout is per write). */
		s->deadline = now_ms() + smtp_reply_timeout_ms(s->smtp);
	}
	return IO_DONE;
}

/* One complete reply from the buffered input, reading as needed. */
static enum io read_reply(struct session *s)
{
	for (;;) {
		char *start = s->in.data ? s->in.data + s->in_off : NULL;
		size_t avail = s->in.len - s->in_off;
		char *nl = avail ? memchr(start, '\n', avail) : NULL;
		enum reply_feed f;
		size_t len;

		if (nl == NULL) {
			enum io r;

			/* The line may end in CR, its LF still to come. */
			if (avail > SESSION_MAX_LINE + 1) {
				err_set(&s->err, "reply line too long (more "
					"than %d bytes)", SESSION_MAX_LINE);
				return IO_FAIL;
			}
			r = fill_in(s);
			if (r != IO_DONE)
				return r;
			continue;
		}
		len = (size_t)(nl - start);
		s->in_off += len + 1;
		if (len > 0 && start[len - 1] == '\r')
			len--;
		if (len > SESSION_MAX_LINE) {
			err_set(&s->err, "reply line too long (more than %d "
				"bytes)", SESSION_MAX_LINE);
			return IO_FAIL;
		}
		show_line(s, start, len);
		f = reply_feed_line(&s->reply, start, len);
		if (f == REPLY_COMPLETE) {
			s->greeted = true;
			smtp_on_reply(s->smtp, &s->reply);
			reply_reset(&s->reply);
			return IO_DONE;
		}
		if (f == REPLY_BAD) {
			/* Show the line: it tells a POP3 or HTTP server on the
			 * wrong port from a garbled reply. */
			char *text = clean_copy(s, start, len);

			err_set(&s->err, "malformed reply line \"%.120s%s\"",
				text, len > 120 ? "..." : "");
			explicit_bzero(text, len);
			free(text);
			return IO_FAIL;
		}
		if (f == REPLY_TOO_BIG) {
			err_set(&s->err, "reply longer than %d lines or %d "
				"bytes", REPLY_MAX_LINES, REPLY_MAX_BYTES);
			return IO_FAIL;
		}
	}
}

/* Reads what the peer has sent into the input buffer (compacted first,
 * so it never holds more than one partial line and one read). */
static enum io fill_in(struct session *s)
{
	ssize_t n;

	if (s->in_off > 0) {
		size_t rest = s->in.len - s->in_off;

		memmove(s->in.data, s->in.data + s->in_off, rest);
		s->in.len = rest;
		s->in_off = 0;
	}
	buf_reserve(&s->in, READ_CHUNK);
	if (s->tls) {
		n = tls_read(s->tls, s->in.data + s->in.len, READ_CHUNK,
			     &s->err);
		if (n == -2) {
			wait_for(s, tls_wants_write(s->tls) ? POLLOUT : POLLIN);
			return IO_WAIT;
		}
		if (n < 0)
			return IO_FAIL;
	} else {
		n = recv(s->fd, s->in.data + s->in.len, READ_CHUNK, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
			      errno == EINTR)) {
			wait_for(s, POLLIN);
			return IO_WAIT;
		}
		if (n < 0) {
			err_set(&s->err, "read error: %s", strerror(errno));
			return IO_FAIL;
		}
	}
	if (n == 0) {
		err_set(&s->err, "connection closed by peer");
		return IO_FAIL;
	}
	s->in.len += (size_t)n;
	s->in.data[s->in.len] = '\0';
	return IO_DONE;
}

/*
 * Streams the spool file dot-stuffed (RFC 5321 4.5.2), ending with
 * ".\r\n" in the same write as the last data so the end of DATA never
 * sits alone in a small packet.
 */
static enum io pump_body(struct session *s)
{
	static char chunk[BODY_CHUNK];

	for (;;) {
		enum io r = flush_out(s);
		ssize_t n;

		if (r != IO_DONE)
			return r;
		if (s->body_end_queued)
			return IO_DONE;
		buf_reset(&s->out);
		s->out_off = 0;
		n = pread(s->p.spool_fd, chunk, sizeof chunk, s->body_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(&s->err, "reading the spool file: %s",
				strerror(errno));
			return IO_FAIL;
		}
		s->body_off += n;
		smtp_dot_stuff(chunk, (size_t)n, &s->body_bol, &s->out);
		if (n == 0 || s->body_off >= s->p.smtp.size) {
			/* The spool ends in CRLF; guard anyway. */
			if (!s->body_bol)
				buf_appends(&s->out, "\r\n");
			buf_appends(&s->out, ".\r\n");
			s->body_end_queued = true;
		}
	}
}

/* Writes text line by line to the transcript, each with the prefix. */
static void show(FILE *t, const char *prefix, const char *text)
{
	const char *p = text;

	if (t == NULL || text == NULL)
		return;
	while (*p) {
		size_t len = strcspn(p, "\r\n");

		fprintf(t, "%s%.*s\n", prefix, (int)len, p);
		p += len;
		while (*p == '\r' || *p == '\n')
			p++;
	}
}

/* One reply line for the transcript: control bytes as '?', so that a
 * hostile server cannot drive the terminal of whoever runs -v; secrets
 * it quotes back masked (smtp_redact). */
static void show_line(struct session *s, const char *p, size_t n)
{
	char *copy;

	if (s->p.transcript == NULL)
		return;
	copy = clean_copy(s, p, n);
	fprintf(s->p.transcript, "<<< %s\n", copy);
	explicit_bzero(copy, n);
	free(copy);
}

static char *clean_copy(const struct session *s, const char *p, size_t n)
{
	char *copy = xmalloc(n + 1);

	memcpy(copy, p, n);
	copy[n] = '\0';
	smtp_redact(s->smtp, copy, n);
	replace_controls(copy, n, '?');
	return copy;
}
