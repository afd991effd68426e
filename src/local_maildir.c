/*
 * local_maildir.c - delivery into a Maildir, in the delivery child, as
 * the user.
 *
 * The Maildir protocol (cr.yp.to/proto/maildir.html) needs no locks: the
 * message is written under a unique name in tmp/, synced, and then
 * linked into new/, where a reader sees it complete or not at all. The
 * unique name is "<sec>.M<usec>P<pid>Q<n>.<host>" (the modern form of
 * djb's rules; Q<n> counts this process's deliveries, M the microseconds),
 * with "/" and ":" of the host name written as "\057" and "\072"
 * (":" starts a name's info part, "/" would be a directory).
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "local_int.h"
#include "util.h"

#define NAME_TRIES 3

static enum status make_dirs(const char *md, struct err *err);
static void host_part(struct buf *b);
static char *unique_name(const struct local_job *j, const char *host);
static enum status sync_dir(const char *dir, struct err *err);

enum status local_maildir_deliver(const struct local_job *j, struct err *err)
{
	char *md = xasprintf("%s/Maildir", j->home);
	char *newdir = xasprintf("%s/new", md);
	char *name = NULL, *tmp = NULL, *dst = NULL, *what = NULL;
	bool created = false;
	int fd = -1, werrno, tries;
	struct buf host;
	enum status st;

	buf_init(&host);
	st = make_dirs(md, err);
	if (st != ST_OK)
		goto out;
	host_part(&host);
	for (tries = 0; tries < NAME_TRIES; tries++) {
		free(name);
		free(tmp);
		name = unique_name(j, host.data);
		tmp = xasprintf("%s/tmp/%s", md, name);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			  O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		err_set(err, "cannot create %s: %s", tmp, strerror(errno));
		st = ST_TEMPFAIL;
		goto out;
	}
	created = true;
	what = xasprintf("cannot write %s", tmp);
	st = local_copy(j, fd, false, what, &werrno, err);
	if (st != ST_OK)
		goto out;
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		st = local_io_fail(err, what, errno);
		goto out;
	}
	fd = -1;
	dst = xasprintf("%s/%s", newdir, name);
	/* link, not rename: rename would replace a message of the same name
	 * in new/; rename only where the file system has no hard links. */
	if (link(tmp, dst) != 0) {
		if ((errno != EPERM && errno != ENOSYS) ||
		    rename(tmp, dst) != 0) {
			err_set(err, "cannot move %s to %s: %s", tmp, dst,
				strerror(errno));
			st = ST_TEMPFAIL;
			goto out;
		}
		created = false;
	}
	st = sync_dir(newdir, err);
	if (st != ST_OK)
		(void)unlink(dst);
out:
	if (fd >= 0)
		close(fd);
	if (created)
		(void)unlink(tmp);
	buf_free(&host);
	free(what);
	free(dst);
	free(tmp);
	free(name);
	free(newdir);
	free(md);
	return st;
}

/* Maildir and its tmp, new and cur, each made when missing (0700 with
 * the child's umask). */
static enum status make_dirs(const char *md, struct err *err)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	enum status st = ST_OK;
	struct stat sb;
	size_t i;
	char *d;

	for (i = 0; i < sizeof sub / sizeof sub[0] && st == ST_OK; i++) {
		d = xasprintf("%s%s", md, sub[i]);
		if (mkdir(d, 0700) != 0 && errno != EEXIST) {
			err_set(err, "cannot create %s: %s", d,
				strerror(errno));
			st = ST_TEMPFAIL;
		} else if (stat(d, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			err_set(err, "%s is not a directory", d);
			st = ST_TEMPFAIL;
		}
		free(d);
	}
	return st;
}

static void host_part(struct buf *b)
{
	char host[256];
	const char *p;

	if (gethostname(host, sizeof host) != 0 || host[0] == '\0')
		strlcpy(host, "localhost", sizeof host);
	host[sizeof host - 1] = '\0';  /* truncated names lack the NUL */
	for (p = host; *p != '\0'; p++) {
		if (*p == '/')
			buf_appends(b, "\\057");
		else if (*p == ':')
			buf_appends(b, "\\072");
		else
			buf_append(b, p, 1);
	}
}

static char *unique_name(const struct local_job *j, const char *host)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return xasprintf("%lld.M%ldP%ldQ%lu.%s", (long long)tv.tv_sec,
			 (long)tv.tv_usec, (long)getpid(), j->counter, host);
}

/* The new entry is durable only once its directory is synced. */
static enum status sync_dir(const char *dir, struct err *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) != 0) {
		err_set(err, "cannot sync %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return ST_TEMPFAIL;
	}
	close(fd);
	return ST_OK;
}
