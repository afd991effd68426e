/*
 * net.c - TCP connections with deadlines and bounded line reads.
 *
 * Every socket is non-blocking from creation and every wait is a poll()
 * against a deadline, so a silent or slow peer costs at most the timeout
 * the caller chose, never a hung sendmail. A timeout_ms below zero means
 * no deadline.
 */
#include "ac_config.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "net.h"

/* How much one read asks for. The input buffer holds at most one
 * maximal line (with CR LF) plus one chunk: a peer that never sends LF
 * costs us a fixed amount of memory. */
#define NET_READ_CHUNK 16384
#define NET_IN_CAP (NET_MAX_LINE + 2 + NET_READ_CHUNK)

struct conn {
	int fd;
	struct tls *tls;
	char *host;
	char *peer;          /* "host[ip]:port" */
	char *in;            /* NET_IN_CAP bytes */
	size_t in_off;       /* start of unconsumed input */
	size_t in_len;       /* unconsumed bytes from in_off */
};

static void fmt_secs(char *out, size_t n, int timeout_ms);
static char *format_peer(const char *host, const struct sockaddr *sa,
			 socklen_t salen, int port);
static int connect_addr(const struct addrinfo *ai, int timeout_ms,
			int *fdp, const char **why, char *whybuf, size_t whylen);
static enum status fill_input(struct conn *c, long long deadline,
			      int timeout_ms, struct err *err);
static ssize_t read_plain(struct conn *c, void *p, size_t n,
			  long long deadline, struct err *err);
static ssize_t read_tls(struct conn *c, void *p, size_t n,
			long long deadline, struct err *err);
static ssize_t write_some(struct conn *c, const void *p, size_t n,
			  long long deadline, struct err *err);
static const char *find_lf(const struct conn *c);

long long net_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* "30" for whole seconds, "0.2" otherwise: short test timeouts stay readable. */
static void fmt_secs(char *out, size_t n, int timeout_ms)
{
	if (timeout_ms % 1000 == 0)
		snprintf(out, n, "%d", timeout_ms / 1000);
	else
		snprintf(out, n, "%.1f", timeout_ms / 1000.0);
}

static char *format_peer(const char *host, const struct sockaddr *sa,
			 socklen_t salen, int port)
{
	char ip[NI_MAXHOST];

	if (getnameinfo(sa, salen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(ip, sizeof ip, "?");
	return xasprintf("%s[%s]:%d", host, ip, port);
}

/* 0 with *fdp connected, or -1 with *why set (whybuf may back it). */
static int connect_addr(const struct addrinfo *ai, int timeout_ms,
			int *fdp, const char **why, char *whybuf, size_t whylen)
{
	int fd, soerr = 0, one = 1, r;
	socklen_t len = sizeof soerr;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			*why = strerror(errno);
			goto fail;
		}
		r = poll_fd(fd, POLLOUT, net_deadline(timeout_ms));
		if (r <= 0) {
			if (r == 0) {
				char secs[32];

				fmt_secs(secs, sizeof secs, timeout_ms);
				snprintf(whybuf, whylen, "timed out after %s s", secs);
				*why = whybuf;
			} else {
				*why = strerror(errno);
			}
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			soerr = errno;
		if (soerr != 0) {
			*why = strerror(soerr);
			goto fail;
		}
	}
	/* SMTP writes whole commands or pipelined batches: Nagle would only
	 * hold back the last segment of each. Failure is harmless. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	*fdp = fd;
	return 0;
fail:
	close(fd);
	return -1;
}

enum status net_connect(const char *host, int port, int timeout_ms,
			struct conn **out, struct err *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct buf why;
	struct conn *c;
	char service[16], whybuf[64];
	const char *reason;
	enum status st = ST_TEMPFAIL;
	int r, fd = -1;

	*out = NULL;
	buf_init(&why);
	if (port <= 0 || port > 65535) {
		err_set(err, "connect to %s: invalid port %d", host, port);
		return ST_PERMFAIL;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(service, sizeof service, "%d", port);
	r = getaddrinfo(host, service, &hints, &res);
	if (r != 0) {
		/* Every resolver failure is temporary: a relay name that does
		 * not resolve now (DNS down, NXDOMAIN during a change) must
		 * leave the message for a later try, never bounce it. */
		err_set(err, "cannot resolve %s: %s", host,
			r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return ST_TEMPFAIL;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		char *peer = format_peer(host, ai->ai_addr, ai->ai_addrlen, port);

		if (connect_addr(ai, timeout_ms, &fd, &reason, whybuf,
				 sizeof whybuf) == 0) {
			c = xcalloc(1, sizeof *c);
			c->fd = fd;
			c->host = xstrdup(host);
			c->peer = peer;
			c->in = xmalloc(NET_IN_CAP);
			*out = c;
			st = ST_OK;
			goto out;
		}
		buf_appendf(&why, "%sconnect to %s: %s", why.len ? "; " : "",
			    peer, reason);
		free(peer);
	}
	if (why.len == 0)
		buf_appendf(&why, "connect to %s:%d: no addresses", host, port);
	err_set(err, "%s", why.data);
out:
	freeaddrinfo(res);
	buf_free(&why);
	return st;
}

const char *net_peer(const struct conn *c)
{
	return c->peer;
}

enum status net_start_tls(struct conn *c, const struct tls_params *p,
			  int timeout_ms, struct err *err)
{
	struct tls_params params = *p;

	if (c->tls != NULL) {
		err_set(err, "TLS already active with %s", c->peer);
		return ST_TEMPFAIL;
	}
	/* RFC 3207 section 6, CVE-2011-0411: anything that arrived before
	 * the handshake was sent in clear text by someone who could be a
	 * man in the middle; it must not be read as if it came over TLS. */
	if (c->in_len != 0) {
		err_set(err, "data after STARTTLS reply from %s", c->peer);
		return ST_TEMPFAIL;
	}
	if (params.servername == NULL)
		params.servername = c->host;
	return tls_handshake(c->fd, &params, timeout_ms, &c->tls, err);
}

bool net_tls_active(const struct conn *c)
{
	return c->tls != NULL;
}

const char *net_tls_describe(const struct conn *c)
{
	return c->tls != NULL ? tls_describe(c->tls) : "no TLS";
}

static ssize_t read_plain(struct conn *c, void *p, size_t n,
			  long long deadline, struct err *err)
{
	ssize_t r;
	int w;

	for (;;) {
		r = recv(c->fd, p, n, 0);
		if (r >= 0)
			return r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			err_set(err, "read error: %s", strerror(errno));
			return -1;
		}
		w = poll_fd(c->fd, POLLIN, deadline);
		if (w == 0)
			return -2;
		if (w < 0) {
			err_set(err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

static ssize_t read_tls(struct conn *c, void *p, size_t n,
			long long deadline, struct err *err)
{
	ssize_t r;
	int w;

	for (;;) {
		/* Try first: OpenSSL may hold decrypted bytes (tls_pending)
		 * that no poll() on the socket would announce. */
		r = tls_read(c->tls, p, n, err);
		if (r != -2)
			return r;
		if (tls_pending(c->tls))
			continue;
		w = poll_fd(c->fd, tls_wants_write(c->tls) ? POLLOUT : POLLIN,
			    deadline);
		if (w == 0)
			return -2;
		if (w < 0) {
			err_set(err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

/* Reads one chunk into the input buffer. */
static enum status fill_input(struct conn *c, long long deadline,
			      int timeout_ms, struct err *err)
{
	size_t room;
	ssize_t r;
	char secs[32];

	if (c->in_off > 0) {
		memmove(c->in, c->in + c->in_off, c->in_len);
		c->in_off = 0;
	}
	room = NET_IN_CAP - c->in_len;
	if (room > NET_READ_CHUNK)
		room = NET_READ_CHUNK;
	if (c->tls != NULL)
		r = read_tls(c, c->in + c->in_len, room, deadline, err);
	else
		r = read_plain(c, c->in + c->in_len, room, deadline, err);
	if (r > 0) {
		c->in_len += (size_t)r;
		return ST_OK;
	}
	if (r == 0) {
		err_set(err, "connection closed by peer");
	} else if (r == -2) {
		fmt_secs(secs, sizeof secs, timeout_ms);
		err_set(err, "timed out after %s s waiting for reply", secs);
	}
	return ST_TEMPFAIL;
}

static const char *find_lf(const struct conn *c)
{
	return memchr(c->in + c->in_off, '\n', c->in_len);
}

enum status net_read_line(struct conn *c, struct buf *line, int timeout_ms,
			  struct err *err)
{
	return net_read_line_until(c, line, net_deadline(timeout_ms),
				   timeout_ms, err);
}

enum status net_read_line_until(struct conn *c, struct buf *line,
				long long deadline, int timeout_ms,
				struct err *err)
{
	const char *start, *lf;
	size_t len;
	enum status st;

	buf_reset(line);
	for (;;) {
		start = c->in + c->in_off;
		lf = find_lf(c);
		if (lf != NULL)
			break;
		/* No LF yet and already more than a maximal line plus its
		 * CR: whatever follows, the line is too long. */
		if (c->in_len > NET_MAX_LINE + 1)
			goto too_long;
		st = fill_input(c, deadline, timeout_ms, err);
		if (st != ST_OK)
			return st;
	}
	len = (size_t)(lf - start);
	if (len > 0 && start[len - 1] == '\r')
		len--;
	if (len > NET_MAX_LINE)
		goto too_long;
	buf_append(line, start, len);
	c->in_off += (size_t)(lf - start) + 1;
	c->in_len -= (size_t)(lf - start) + 1;
	if (c->in_len == 0)
		c->in_off = 0;
	return ST_OK;
too_long:
	err_set(err, "reply line too long (more than %d bytes)", NET_MAX_LINE);
	return ST_TEMPFAIL;
}

bool net_line_buffered(const struct conn *c)
{
	return find_lf(c) != NULL;
}

/* Writes once what the socket takes; -2 on deadline. */
static ssize_t write_some(struct conn *c, const void *p, size_t n,
			  long long deadline, struct err *err)
{
	ssize_t r;
	int w;
	short ev;

	for (;;) {
		if (c->tls != NULL) {
			r = tls_write(c->tls, p, n, err);
			if (r == -1)
				return -1;
			if (r == 0) {
				err_set(err, "connection closed by peer");
				return -1;
			}
			if (r > 0)
				return r;
			ev = tls_wants_write(c->tls) ? POLLOUT : POLLIN;
		} else {
			/* MSG_NOSIGNAL: a peer that hung up must give us EPIPE,
			 * not kill sendmail with SIGPIPE. */
			r = send(c->fd, p, n, MSG_NOSIGNAL);
			if (r >= 0)
				return r;
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				err_set(err, "write error: %s", strerror(errno));
				return -1;
			}
			ev = POLLOUT;
		}
		w = poll_fd(c->fd, ev, deadline);
		if (w == 0)
			return -2;
		if (w < 0) {
			err_set(err, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

enum status net_write(struct conn *c, const void *p, size_t n, int timeout_ms,
		      struct err *err)
{
	long long deadline = net_deadline(timeout_ms);
	const char *s = p;
	ssize_t r;
	char secs[32];

	while (n > 0) {
		r = write_some(c, s, n, deadline, err);
		if (r == -2) {
			fmt_secs(secs, sizeof secs, timeout_ms);
			err_set(err, "timed out after %s s sending data", secs);
			return ST_TEMPFAIL;
		}
		if (r < 0)
			return ST_TEMPFAIL;
		s += r;
		n -= (size_t)r;
	}
	return ST_OK;
}

void net_close(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->tls != NULL)
		tls_close(c->tls);
	if (c->fd >= 0)
		close(c->fd);
	free(c->host);
	free(c->peer);
	free(c->in);
	free(c);
}
