/*
 * spool.c - writing the message's wire form into its private spool file.
 *
 * The public functions share one sticky status: the internal writers
 * below do nothing once it is set, so a caller can issue a sequence of
 * writes and look at the outcome once, and the first failure is the one
 * reported.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "util.h"

#define IO_CHUNK (64 * 1024)
#define LINE_OCTETS 998                   /* RFC 5322 2.1.1 */

static void fail(struct spool *s, enum status st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static enum status outcome(const struct spool *s, struct err *err);
static bool is_wsp(char c);
static bool flush(struct spool *s);
static void put(struct spool *s, const void *p, size_t n);
static size_t fold_point(const char *p, size_t len, size_t room, size_t keep);
static void put_header_line(struct spool *s, const char *p, size_t len,
			    size_t keep);

/* ---- helpers ---------------------------------------------------------- */

static void fail(struct spool *s, enum status st, const char *fmt, ...)
{
	va_list ap;

	if (s->st != ST_OK)
		return;
	s->st = st;
	va_start(ap, fmt);
	err_vset(&s->err, fmt, ap);
	va_end(ap);
}

/* What a public function returns: the sticky status, its message in err. */
static enum status outcome(const struct spool *s, struct err *err)
{
	if (s->st != ST_OK && err != NULL)
		*err = s->err;
	return s->st;
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool flush(struct spool *s)
{
	size_t off = 0;

	while (off < s->len) {
		ssize_t w = write(s->fd, s->buf + off, s->len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			fail(s, ST_TEMPFAIL, "cannot write the spool file: %s",
			     w < 0 ? strerror(errno) : "short write");
			return false;
		}
		off += (size_t)w;
	}
	s->len = 0;
	return true;
}

static void put(struct spool *s, const void *p, size_t n)
{
	const char *c = p;

	if (s->st != ST_OK)
		return;
	if (s->max_size > 0 && s->size + (off_t)n > s->max_size) {
		fail(s, ST_PERMFAIL, "message larger than %ld bytes",
		     s->max_size);
		s->too_big = true;
		return;
	}
	s->size += (off_t)n;
	while (n > 0) {
		size_t k;

		if (s->len == IO_CHUNK && !flush(s))
			return;
		k = IO_CHUNK - s->len;
		if (k > n)
			k = n;
		memcpy(s->buf + s->len, c, k);
		s->len += k;
		c += k;
		n -= k;
	}
}

/* ---- file --------------------------------------------------------------- */

void spool_init(struct spool *s, long max_size)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->buf = xmalloc(IO_CHUNK);
	s->max_size = max_size;
	s->st = ST_OK;
}

void spool_free(struct spool *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	free(s->buf);
	s->buf = NULL;
}

enum status spool_open(struct spool *s, const char *dir, struct err *err)
{
	char *path;

	if (dir == NULL)
		dir = "/tmp";
	path = xasprintf("%s/sendmx-XXXXXX", dir);
	s->fd = mkstemp(path);
	if (s->fd < 0) {
		fail(s, ST_TEMPFAIL, "cannot create a spool file in %s: %s",
		     dir, strerror(errno));
		goto out;
	}
	if (unlink(path) < 0) {
		fail(s, ST_TEMPFAIL, "cannot unlink spool file %s: %s", path,
		     strerror(errno));
		goto out;
	}
	(void)fcntl(s->fd, F_SETFD, FD_CLOEXEC);
out:
	free(path);
	return outcome(s, err);
}

enum status spool_flush(struct spool *s, struct err *err)
{
	if (s->st == ST_OK)
		(void)flush(s);
	return outcome(s, err);
}

enum status spool_rewind(struct spool *s, struct err *err)
{
	if (s->st == ST_OK && lseek(s->fd, 0, SEEK_SET) < 0)
		fail(s, ST_TEMPFAIL, "cannot rewind the spool file: %s",
		     strerror(errno));
	return outcome(s, err);
}

int spool_release(struct spool *s)
{
	int fd = s->fd;

	s->fd = -1;
	return fd;
}

/* ---- body -------------------------------------------------------------- */

enum status spool_write(struct spool *s, const void *p, size_t n,
			struct err *err)
{
	put(s, p, n);
	return outcome(s, err);
}

enum status spool_write_body(struct spool *s, const char *p, size_t n,
			     struct err *err)
{
	while (n > 0) {
		size_t k;

		if (s->col == LINE_OCTETS) {
			put(s, "\r\n", 2);
			s->col = 0;
		}
		k = LINE_OCTETS - s->col;
		if (k > n)
			k = n;
		put(s, p, k);
		s->col += k;
		p += k;
		n -= k;
	}
	return outcome(s, err);
}

enum status spool_end_body_line(struct spool *s, struct err *err)
{
	put(s, "\r\n", 2);
	s->col = 0;
	return outcome(s, err);
}

/* ---- header fields ----------------------------------------------------- */

/* Where to fold a line that is too long: the last WSP at or before room
 * that has something other than WSP before it (RFC 5322 3.2.2: a folded
 * line must not be only white space), and not within the first keep
 * octets. 0 when there is none. */
static size_t fold_point(const char *p, size_t len, size_t room, size_t keep)
{
	size_t first = 0, k;

	while (first < len && is_wsp(p[first]))
		first++;
	for (k = room < len - 1 ? room : len - 1; k > first && k >= keep;
	     k--) {
		if (is_wsp(p[k]))
			return k;
	}
	return 0;
}

/* One physical line, folded (RFC 5322 2.2.3) so that no output line is
 * longer than 998 octets. The first keep octets stay on the first output
 * line: a field's name and colon, or the fold would leave a line that is
 * neither a field nor a continuation (intake makes sure they fit). */
static void put_header_line(struct spool *s, const char *p, size_t len,
			    size_t keep)
{
	size_t col = 0, i;

	for (i = 0; i < len; i++)
		s->hi |= (unsigned char)p[i];
	while (col + len > LINE_OCTETS) {
		size_t room = LINE_OCTETS - col;
		size_t k = fold_point(p, len, room, keep);

		keep = 0;
		if (k > 0) {
			put(s, p, k);
			put(s, "\r\n", 2);
			col = 0;
		} else {
			k = room;
			put(s, p, k);
			put(s, "\r\n ", 3);
			col = 1;
		}
		p += k;
		len -= k;
		s->header_lines++;
	}
	put(s, p, len);
	put(s, "\r\n", 2);
	s->header_lines++;
}

enum status spool_write_field(struct spool *s, const char *raw,
			      struct err *err)
{
	const char *nl, *colon = strchr(raw, ':');
	size_t keep = colon ? (size_t)(colon - raw) + 1 : 0;

	while ((nl = strstr(raw, "\r\n")) != NULL) {
		put_header_line(s, raw, (size_t)(nl - raw),
				colon && colon < nl ? keep : 0);
		colon = NULL;
		raw = nl + 2;
	}
	put_header_line(s, raw, strlen(raw), colon ? keep : 0);
	return outcome(s, err);
}
