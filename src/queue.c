/*
 * queue.c - the queue directory: creating, committing, updating,
 * locking, loading, listing and removing queued messages.
 *
 * Every file is reached through directory descriptors (openat and
 * friends), so a queue keeps working on the directory it opened, and
 * names are never longer than "ID.c".
 *
 * Why the data file is created under its final name: O_EXCL there makes
 * the id unique against every message in the queue (each has its data
 * file), and the writer's flock on it keeps the cleanup away while it
 * writes. The control file, renamed in last, is the commit point.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"
#include "queue_int.h"
#include "util.h"

#define CTL_SIZE_MAX (64L * 1024 * 1024) /* bound on a control file read */
#define CREATE_TRIES 1000

static enum status where_status(int e);
static bool check_id(const char *id, struct err *err);
static enum status open_subdir(struct queue *q, const char *name, int *fd,
			       struct err *err);
static void make_id(char id[QUEUE_ID_LEN + 1]);
static enum status write_control(struct queue *q, const struct qctl *c,
				 bool durable, struct err *err);
static enum status read_control(struct queue *q, const char *id,
				struct qctl *out, bool *corrupt,
				struct err *err);
static void move_corrupt(struct queue *q, const char *id,
			 const struct err *why, struct err *err);

/* ---- helpers ------------------------------------------------------------- */

/* "Cannot create there" (EX_CANTCREAT) or transient. */
static enum status where_status(int e)
{
	switch (e) {
	case EACCES: case EPERM: case EROFS: case ENOENT: case ENOTDIR:
	case ELOOP: case ENAMETOOLONG:
		return ST_PERMFAIL;
	default:
		return ST_TEMPFAIL;
	}
}

/* Ids come from callers and end up in file names: no "../" sneaks in. */
static bool check_id(const char *id, struct err *err)
{
	if (id != NULL && qctl_valid_id(id))
		return true;
	err_set(err, "bad queue id \"%.40s\"", id ? id : "(null)");
	return false;
}

/* 8 hex digits of seconds, 5 of microseconds, 5 of the pid. Each id this
 * process makes is at least a microsecond later than the one before, so
 * its ids are distinct and increasing even when the clock stands still
 * or steps back; other processes differ in the pid part, and O_EXCL
 * catches the rest. */
static void make_id(char id[QUEUE_ID_LEN + 1])
{
	static long long last_us = -1;
	struct timeval tv;
	long long us;

	gettimeofday(&tv, NULL);
	us = (long long)tv.tv_sec * 1000000 + tv.tv_usec;
	if (us <= last_us)
		us = last_us + 1;
	last_us = us;
	(void)snprintf(id, QUEUE_ID_LEN + 1, "%08llX%05llX%05lX",
		       (unsigned long long)(us / 1000000) & 0xFFFFFFFFull,
		       (unsigned long long)(us % 1000000),
		       (unsigned long)getpid() & 0xFFFFFul);
}

/* ---- open / close -------------------------------------------------------- */

static enum status open_subdir(struct queue *q, const char *name, int *fd,
			       struct err *err)
{
	if (mkdirat(q->dirfd, name, 0770) < 0 && errno != EEXIST) {
		int e = errno;

		err_set(err, "queue directory %s: cannot create %s/: %s",
			q->dir, name, strerror(e));
		return where_status(e);
	}
	*fd = openat(q->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		     O_NOFOLLOW);
	if (*fd < 0) {
		int e = errno;

		err_set(err, "queue directory %s: %s/: %s", q->dir, name,
			strerror(e));
		return where_status(e);
	}
	return ST_OK;
}

enum status queue_open(const char *dir, struct queue **out, struct err *err)
{
	struct queue *q = xcalloc(1, sizeof *q);
	enum status st;

	*out = NULL;
	q->dir = xstrdup(dir);
	q->tmpfd = q->corruptfd = -1;
	q->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dirfd < 0 ||
	    faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		int e = errno;

		err_set(err, "queue directory %s: %s", dir, strerror(e));
		st = where_status(e);
		goto fail;
	}
	st = open_subdir(q, "tmp", &q->tmpfd, err);
	if (st == ST_OK)
		st = open_subdir(q, "corrupt", &q->corruptfd, err);
	if (st == ST_OK) {
		*out = q;
		return ST_OK;
	}
fail:
	queue_close(q);
	return st;
}

void queue_close(struct queue *q)
{
	if (q == NULL)
		return;
	if (q->dirfd >= 0)
		close(q->dirfd);
	if (q->tmpfd >= 0)
		close(q->tmpfd);
	if (q->corruptfd >= 0)
		close(q->corruptfd);
	free(q->dir);
	free(q);
}

const char *queue_path(const struct queue *q)
{
	return q->dir;
}

/* ---- writing ------------------------------------------------------------- */

enum status queue_create(struct queue *q, char id[QUEUE_ID_LEN + 1],
			 int *data_fd, struct err *err)
{
	int fd = -1, e = 0;

	*data_fd = -1;
	for (int i = 0; fd < 0 && i < CREATE_TRIES; i++) {
		make_id(id);
		fd = openat(q->dirfd, qname(id, 'd').s, O_RDWR | O_CREAT |
			    O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0660);
		e = errno;
		if (fd < 0 && e != EEXIST && e != EINTR) {
			err_set(err, "cannot create a queue file in %s: %s",
				q->dir, strerror(e));
			return where_status(e);
		}
	}
	if (fd < 0) {
		err_set(err, "cannot create a queue file in %s: no free id "
			"after %d tries", q->dir, CREATE_TRIES);
		return ST_TEMPFAIL;
	}
	/* Fresh and ours alone: only a broken flock fails here. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		close(fd);
		(void)unlinkat(q->dirfd, qname(id, 'd').s, 0);
		err_set(err, "cannot lock %s/%s.d: %s", q->dir, id,
			strerror(e));
		return ST_TEMPFAIL;
	}
	*data_fd = fd;
	return ST_OK;
}

/* tmp/ID.c, (fsync), rename to ID.c. On failure no tmp file is left and
 * the old ID.c, if any, is untouched. */
static enum status write_control(struct queue *q, const struct qctl *c,
				 bool durable, struct err *err)
{
	struct qname n = qname(c->id, 'c');
	struct buf text;
	const char *what = "write";
	enum status st;
	int fd = -1;

	buf_init(&text);
	st = qctl_format(c, &text, err);
	if (st != ST_OK)
		goto out;
	st = ST_TEMPFAIL;
	fd = openat(q->tmpfd, n.s, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0660);
	if (fd < 0) {
		what = "create";
		goto io;
	}
	if (!write_full(fd, text.data, text.len))
		goto io;
	what = "sync";
	if (durable && fsync(fd) < 0)
		goto io;
	what = "close";
	if (close(fd) < 0) {    /* NFS reports late write errors here */
		fd = -1;
		goto io;
	}
	fd = -1;
	what = "rename";
	if (renameat(q->tmpfd, n.s, q->dirfd, n.s) < 0)
		goto io;
	st = ST_OK;
	goto out;
io:
	err_set(err, "cannot %s control file %s/tmp/%s: %s", what, q->dir,
		n.s, strerror(errno));
	if (fd >= 0)
		close(fd);
	(void)unlinkat(q->tmpfd, n.s, 0);
out:
	buf_free(&text);
	return st;
}

enum status queue_commit(struct queue *q, const struct qctl *c, int data_fd,
			 bool durable, struct err *err)
{
	enum status st;

	if (!check_id(c->id, err))
		return ST_PERMFAIL;
	if (durable && fsync(data_fd) < 0) {
		err_set(err, "cannot sync %s/%s.d: %s", q->dir, c->id,
			strerror(errno));
		return ST_TEMPFAIL;
	}
	st = write_control(q, c, durable, err);
	if (st != ST_OK || !durable)
		return st;
	if (fsync(q->dirfd) < 0) {
		/* Queued but not safe: take it back, as the caller will
		 * report the message as not accepted. */
		err_set(err, "cannot sync queue directory %s: %s", q->dir,
			strerror(errno));
		(void)unlinkat(q->dirfd, qname(c->id, 'c').s, 0);
		return ST_TEMPFAIL;
	}
	return ST_OK;
}

enum status queue_update(struct queue *q, const struct qctl *c,
			 struct err *err)
{
	enum status st;

	if (!check_id(c->id, err))
		return ST_PERMFAIL;
	if (!queue_exists(q->dirfd, qname(c->id, 'd').s) ||
	    !queue_exists(q->dirfd, qname(c->id, 'c').s)) {
		err_set(err, "%s: not queued", c->id);
		return ST_PERMFAIL;
	}
	st = write_control(q, c, true, err);
	if (st == ST_OK && fsync(q->dirfd) < 0) {
		err_set(err, "cannot sync queue directory %s: %s", q->dir,
			strerror(errno));
		st = ST_TEMPFAIL;
	}
	return st;
}

enum status queue_remove(struct queue *q, const char *id, struct err *err)
{
	static const char exts[] = { 'c', 'd' };   /* control first */

	if (!check_id(id, err))
		return ST_PERMFAIL;
	for (size_t i = 0; i < sizeof exts; i++) {
		if (unlinkat(q->dirfd, qname(id, exts[i]).s, 0) < 0 &&
		    errno != ENOENT) {
			err_set(err, "cannot remove %s/%s.%c: %s", q->dir, id,
				exts[i], strerror(errno));
			return ST_TEMPFAIL;
		}
	}
	return ST_OK;
}

/* ---- reading ------------------------------------------------------------- */

enum status queue_lock(struct queue *q, const char *id, int *data_fd,
		       struct err *err)
{
	struct stat st;
	int fd;

	*data_fd = -1;
	if (!check_id(id, err))
		return ST_PERMFAIL;
	fd = openat(q->dirfd, qname(id, 'd').s, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	if (fd < 0) {
		int e = errno;

		err_set(err, "%s: cannot open %s/%s.d: %s", id, q->dir, id,
			strerror(e));
		return e == ENOENT ? ST_PERMFAIL : ST_TEMPFAIL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK) {
			err_set(err, "%s: locked by another process", id);
		} else {
			err_set(err, "%s: cannot lock %s/%s.d: %s", id, q->dir,
				id, strerror(e));
		}
		return ST_TEMPFAIL;
	}
	/* Removed (or never committed) between our open and the lock. */
	if (fstat(fd, &st) < 0 || st.st_nlink == 0 ||
	    !queue_exists(q->dirfd, qname(id, 'c').s)) {
		close(fd);
		err_set(err, "%s: not queued", id);
		return ST_PERMFAIL;
	}
	*data_fd = fd;
	return ST_OK;
}

/* ST_PERMFAIL with *corrupt false: not queued; with *corrupt true: the
 * file is there but bad (err says why, without a prefix). */
static enum status read_control(struct queue *q, const char *id,
				struct qctl *out, bool *corrupt,
				struct err *err)
{
	struct buf text;
	struct stat st;
	enum status ret = ST_TEMPFAIL;
	char chunk[8192];
	int fd;

	*corrupt = false;
	qctl_init(out);
	buf_init(&text);
	fd = openat(q->dirfd, qname(id, 'c').s, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) < 0) {
		int e = errno;

		err_set(err, "%s: cannot open %s/%s.c: %s", id, q->dir, id,
			strerror(e));
		ret = e == ENOENT ? ST_PERMFAIL : ST_TEMPFAIL;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > CTL_SIZE_MAX) {
		err_set(err, "not a regular file of at most %ld bytes",
			CTL_SIZE_MAX);
		*corrupt = true;
		ret = ST_PERMFAIL;
		goto out;
	}
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof chunk);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_set(err, "%s: cannot read %s/%s.c: %s", id, q->dir,
				id, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		buf_append(&text, chunk, (size_t)r);
		if (text.len > CTL_SIZE_MAX) {
			err_set(err, "larger than %ld bytes", CTL_SIZE_MAX);
			*corrupt = true;
			ret = ST_PERMFAIL;
			goto out;
		}
	}
	ret = qctl_parse(text.data ? text.data : "", text.len, out, err);
	if (ret == ST_OK && strcmp(out->id, id) != 0) {
		err_set(err, "names another message, %s", out->id);
		ret = ST_PERMFAIL;
	} else if (ret == ST_OK && !queue_exists(q->dirfd, qname(id, 'd').s)) {
		err_set(err, "its data file %s.d is missing", id);
		ret = ST_PERMFAIL;
	}
	if (ret != ST_OK) {
		*corrupt = true;
		qctl_free(out);
	}
out:
	if (fd >= 0)
		close(fd);
	buf_free(&text);
	return ret;
}

enum status queue_read(struct queue *q, const char *id, struct qctl *out,
		       struct err *err)
{
	struct err why;
	bool corrupt;
	enum status st;

	qctl_init(out);
	if (!check_id(id, err))
		return ST_PERMFAIL;
	st = read_control(q, id, out, &corrupt, &why);
	if (corrupt)
		err_set(err, "control file %s/%s.c: %s", q->dir, id, why.msg);
	else if (st != ST_OK && err != NULL)
		*err = why;
	return st;
}

/* Moves ID.c and ID.d to corrupt/ and says so in the log and in err;
 * why is the reason. */
static void move_corrupt(struct queue *q, const char *id,
			 const struct err *why, struct err *err)
{
	const char *moved = "moved to corrupt/";
	struct err e;

	if (renameat(q->dirfd, qname(id, 'c').s, q->corruptfd,
		     qname(id, 'c').s) < 0)
		moved = "could not be moved to corrupt/";
	(void)renameat(q->dirfd, qname(id, 'd').s, q->corruptfd,
		       qname(id, 'd').s);
	err_set(&e, "control file %s/%s.c: %s; %s", q->dir, id, why->msg,
		moved);
	log_error(id, "%s", e.msg);
	if (err != NULL)
		*err = e;
}

enum status queue_load(struct queue *q, const char *id, struct qctl *out,
		       struct err *err)
{
	struct err why;
	bool corrupt;
	enum status st;

	qctl_init(out);
	if (!check_id(id, err))
		return ST_PERMFAIL;
	st = read_control(q, id, out, &corrupt, &why);
	if (corrupt)
		move_corrupt(q, id, &why, err);
	else if (st != ST_OK && err != NULL)
		*err = why;
	return st;
}
