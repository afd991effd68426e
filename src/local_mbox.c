/*
 * local_mbox.c - appending one message to an mbox file (mboxrd), in the
 * delivery child, as the user.
 *
 * Locking follows what mail readers on Debian do (liblockfile, mutt,
 * bsd-mailx): a dotlock <mbox>.lock created with O_EXCL, and an fcntl
 * write lock on the mailbox itself; both are taken, dotlock first, within
 * one deadline. A dotlock older than LOCAL_STALE_LOCK_SECONDS is taken
 * to be left by a crash and removed.
 *
 * A message is either appended whole or not at all: the old size is
 * noted under the locks and the file is cut back to it when a write or
 * the fsync fails (a full disk, a quota, a file size limit).
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "local.h"
#include "local_int.h"
#include "util.h"

#define BACKOFF_FIRST_MS 20
#define BACKOFF_MAX_MS 1000
#define ALARM_PERIOD_MS 50

static enum status take_dotlock(const char *lock, long long deadline,
				struct err *err);
static enum status open_mbox(const struct local_job *j, const char *path,
			     int *fdp, struct err *err);
static enum status take_fcntl(int fd, const char *path, long long deadline,
			      struct err *err);
static void on_alarm(int sig);
static void set_timer(long ms);
static void from_line(const struct local_job *j, struct buf *b);
static void separator(int fd, off_t size, struct buf *b);

enum status local_mbox_deliver(const struct local_job *j, struct err *err)
{
	char *path = xasprintf("%s/%s", j->mail_spool, j->user);
	char *lock = xasprintf("%s.lock", path);
	char *what = xasprintf("cannot write mailbox %s", path);
	long long deadline = now_ms() + j->lock_timeout_ms;
	bool locked = false;
	int fd = -1, werrno = 0;
	struct stat sb;
	struct buf b;
	off_t old = 0;
	enum status st;

	buf_init(&b);
	st = take_dotlock(lock, deadline, err);
	if (st != ST_OK)
		goto out;
	locked = true;
	st = open_mbox(j, path, &fd, err);
	if (st == ST_OK)
		st = take_fcntl(fd, path, deadline, err);
	if (st != ST_OK)
		goto out;
	if (fstat(fd, &sb) != 0) {
		st = local_io_fail(err, what, errno);
		goto out;
	}
	old = sb.st_size;
	separator(fd, old, &b);
	from_line(j, &b);
	if (!write_full(fd, b.data, b.len)) {
		werrno = errno;
		st = local_io_fail(err, what, werrno);
		goto cut;
	}
	st = local_copy(j, fd, true, what, &werrno, err);
	if (st != ST_OK)
		goto cut;
	/* mboxrd: a blank line ends each message. */
	if (!write_full(fd, "\n", 1) || fsync(fd) != 0) {
		st = local_io_fail(err, what, errno);
		goto cut;
	}
	goto out;
cut:
	if (ftruncate(fd, old) != 0) {
		size_t n = strlen(err->msg);

		snprintf(err->msg + n, sizeof err->msg - n,
			 "; cutting it back to %lld bytes failed too: %s",
			 (long long)old, strerror(errno));
	}
out:
	if (fd >= 0)
		close(fd);           /* releases the fcntl lock */
	if (locked)
		(void)unlink(lock);
	buf_free(&b);
	free(what);
	free(lock);
	free(path);
	return st;
}

static enum status take_dotlock(const char *lock, long long deadline,
				struct err *err)
{
	long wait = BACKOFF_FIRST_MS, left;
	struct stat sb;
	char pid[32];
	int fd, n;

	for (;;) {
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			  O_CLOEXEC, 0600);
		if (fd >= 0) {
			/* The pid is for people looking at a stuck lock. */
			n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
			(void)write_full(fd, pid, (size_t)n);
			close(fd);
			return ST_OK;
		}
		if (errno != EEXIST) {
			err_set(err, "cannot create lock file %s: %s", lock,
				strerror(errno));
			return ST_TEMPFAIL;
		}
		if (lstat(lock, &sb) == 0 &&
		    time(NULL) - sb.st_mtime >= LOCAL_STALE_LOCK_SECONDS) {
			if (unlink(lock) == 0 || errno == ENOENT)
				continue;
			err_set(err, "cannot remove stale lock file %s: %s",
				lock, strerror(errno));
			return ST_TEMPFAIL;
		}
		left = (long)(deadline - now_ms());
		if (left <= 0) {
			err_set(err, "mailbox is locked: %s exists", lock);
			return ST_TEMPFAIL;
		}
		(void)poll(NULL, 0, (int)(wait < left ? wait : left));
		wait = wait * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : wait * 2;
	}
}

/*
 * Opens the mailbox for appending, creating it (mode 0600 with the
 * child's umask 077). Never through a symlink, never a file with other
 * names or another owner: the child may hold the spool's group, so a
 * name planted in the spool must not lead it to another user's mail.
 */
static enum status open_mbox(const struct local_job *j, const char *path,
			     int *fdp, struct err *err)
{
	struct stat sb;
	int fd;

	/* O_NONBLOCK: a FIFO planted under the name must not hang us; it
	 * does nothing for a regular file. */
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
		  O_NONBLOCK, 0600);
	if (fd < 0) {
		if (errno == ELOOP)
			err_set(err, "mailbox %s is a symbolic link", path);
		else
			err_set(err, "cannot open mailbox %s: %s", path,
				strerror(errno));
		return ST_TEMPFAIL;
	}
	if (fstat(fd, &sb) != 0) {
		err_set(err, "cannot stat mailbox %s: %s", path,
			strerror(errno));
		goto fail;
	}
	if (!S_ISREG(sb.st_mode)) {
		err_set(err, "mailbox %s is not a regular file", path);
		goto fail;
	}
	if (sb.st_uid != j->uid) {
		err_set(err, "mailbox %s belongs to uid %ld, not to %s", path,
			(long)sb.st_uid, j->user);
		goto fail;
	}
	if (sb.st_nlink != 1) {
		err_set(err, "mailbox %s has %ld links", path,
			(long)sb.st_nlink);
		goto fail;
	}
	*fdp = fd;
	return ST_OK;
fail:
	close(fd);
	return ST_TEMPFAIL;
}

static void on_alarm(int sig)
{
	(void)sig;
}

static void set_timer(long ms)
{
	struct itimerval it;

	memset(&it, 0, sizeof it);
	it.it_value.tv_sec = ms / 1000;
	it.it_value.tv_usec = (ms % 1000) * 1000;
	it.it_interval = it.it_value;
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

/*
 * F_SETLKW interrupted by a repeating timer (a handler without
 * SA_RESTART): a single alarm could fire before fcntl starts to wait
 * and leave it waiting for ever; a repeating one only delays the check.
 */
static enum status take_fcntl(int fd, const char *path, long long deadline,
			      struct err *err)
{
	struct flock fl;
	struct sigaction sa, old;
	enum status st = ST_OK;
	int r, e;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return ST_OK;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;
	(void)sigaction(SIGALRM, &sa, &old);
	set_timer(ALARM_PERIOD_MS);
	for (;;) {
		r = fcntl(fd, F_SETLKW, &fl);
		e = errno;
		if (r == 0)
			break;
		if (e != EINTR) {
			err_set(err, "cannot lock mailbox %s: %s", path,
				strerror(e));
			st = ST_TEMPFAIL;
			break;
		}
		if (now_ms() >= deadline) {
			err_set(err, "mailbox %s is locked by another process",
				path);
			st = ST_TEMPFAIL;
			break;
		}
	}
	set_timer(0);
	(void)sigaction(SIGALRM, &old, NULL);
	return st;
}

/* Before a message, the file must end in a blank line (or be empty), or
 * the new From_ line would not start a message for strict readers. */
static void separator(int fd, off_t size, struct buf *b)
{
	char tail[2] = { '\n', '\n' };
	ssize_t r;

	if (size == 0)
		return;
	r = pread(fd, tail + (size == 1), size == 1 ? 1 : 2,
		  size == 1 ? 0 : size - 2);
	if (r < 0)
		return;  /* the append below reports a real I/O problem */
	if (tail[1] != '\n')
		buf_appends(b, "\n\n");
	else if (tail[0] != '\n')
		buf_appends(b, "\n");
}

/*
 * "From sender Www Mmm dd hh:mm:ss yyyy": the date as asctime(3) writes
 * it, in local time, with C-locale names whatever the locale. White space
 * in the sender (a quoted local part) becomes '_': readers split the line
 * at spaces.
 */
static void from_line(const struct local_job *j, struct buf *b)
{
	static const char days[7][4] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char months[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	time_t t = (time_t)j->arrival;
	struct tm tm;
	size_t i, start;

	tzset();
	if (localtime_r(&t, &tm) == NULL) {
		memset(&tm, 0, sizeof tm);
		tm.tm_mday = 1;
		tm.tm_year = 70;
		tm.tm_wday = 4;
	}
	buf_appends(b, "From ");
	start = b->len;
	buf_appends(b, *j->sender != '\0' ? j->sender : "MAILER-DAEMON");
	for (i = start; i < b->len; i++)
		if (b->data[i] == ' ' || b->data[i] == '\t')
			b->data[i] = '_';
	buf_appendf(b, " %s %s %2d %02d:%02d:%02d %d\n", days[tm.tm_wday],
		    months[tm.tm_mon], tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, tm.tm_year + 1900);
}
