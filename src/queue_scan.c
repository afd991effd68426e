/*
 * queue_scan.c - looking over the whole queue directory: the list of
 * queued messages, who holds a lock, the space a message takes, and
 * the removal of what crashed writers left behind.
 */
#include "ac_config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "queue.h"
#include "queue_int.h"
#include "util.h"

static int cmp_ids(const void *a, const void *b);
static DIR *open_dir_at(int dirfd);
static size_t clean_tmp(struct queue *q, time_t cutoff);
static size_t clean_orphans(struct queue *q, time_t cutoff);

bool queue_is_locked(struct queue *q, const char *id)
{
	int fd;
	bool locked = false;

	if (!qctl_valid_id(id))
		return false;
	fd = openat(q->dirfd, qname(id, 'd').s, O_RDONLY | O_CLOEXEC |
		    O_NOFOLLOW);
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0)
		locked = errno == EWOULDBLOCK;
	close(fd);                  /* releases the shared lock, if taken */
	return locked;
}

static int cmp_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

enum status queue_scan(struct queue *q, char ***ids, size_t *n,
		       struct err *err)
{
	DIR *d = open_dir_at(q->dirfd);
	struct dirent *de;

	*ids = NULL;
	*n = 0;
	if (d == NULL) {
		err_set(err, "cannot read queue directory %s: %s", q->dir,
			strerror(errno));
		return ST_TEMPFAIL;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len != QUEUE_ID_LEN + 2 ||
		    strcmp(de->d_name + QUEUE_ID_LEN, ".c") != 0)
			continue;
		de->d_name[QUEUE_ID_LEN] = '\0';
		if (!qctl_valid_id(de->d_name))
			continue;
		*ids = xreallocarray(*ids, *n + 1, sizeof **ids);
		(*ids)[(*n)++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		err_set(err, "cannot read queue directory %s: %s", q->dir,
			strerror(errno));
		closedir(d);
		queue_free_ids(*ids, *n);
		*ids = NULL;
		*n = 0;
		return ST_TEMPFAIL;
	}
	closedir(d);
	if (*n > 1)
		qsort(*ids, *n, sizeof **ids, cmp_ids);
	return ST_OK;
}

void queue_free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

enum status queue_disk_bytes(struct queue *q, const char *id,
			     long long *bytes, struct err *err)
{
	static const char exts[] = { 'd', 'c' };
	struct stat st;

	*bytes = 0;
	if (!qctl_valid_id(id)) {
		err_set(err, "bad queue id \"%.40s\"", id);
		return ST_PERMFAIL;
	}
	for (size_t i = 0; i < sizeof exts; i++) {
		if (fstatat(q->dirfd, qname(id, exts[i]).s, &st,
			    AT_SYMLINK_NOFOLLOW) < 0) {
			int e = errno;

			err_set(err, "cannot stat %s/%s.%c: %s", q->dir, id,
				exts[i], strerror(e));
			return e == ENOENT ? ST_PERMFAIL : ST_TEMPFAIL;
		}
		*bytes += (long long)st.st_blocks * 512;
	}
	return ST_OK;
}

/* ---- cleanup ------------------------------------------------------------- */

/* A directory stream on a fresh descriptor of dirfd (closedir closes
 * that one, not dirfd); NULL when it cannot be opened. */
static DIR *open_dir_at(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;

	if (d == NULL && fd >= 0)
		close(fd);
	return d;
}

/* Anything in tmp/ older than cutoff: a writer renames or unlinks its
 * file within one call, so an old one is a crash leftover. */
static size_t clean_tmp(struct queue *q, time_t cutoff)
{
	DIR *d = open_dir_at(q->tmpfd);
	struct dirent *de;
	struct stat st;
	size_t removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (fstatat(q->tmpfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0 || S_ISDIR(st.st_mode) ||
		    st.st_mtime >= cutoff)
			continue;
		if (unlinkat(q->tmpfd, de->d_name, 0) == 0) {
			removed++;
			log_warn(NULL, "removed leftover %s/tmp/%s", q->dir,
				 de->d_name);
		}
	}
	closedir(d);
	return removed;
}

/* Data files without a control file, older than cutoff and unlocked:
 * their writer died before committing. */
static size_t clean_orphans(struct queue *q, time_t cutoff)
{
	DIR *d = open_dir_at(q->dirfd);
	struct dirent *de;
	struct stat st;
	size_t removed = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		char id[QUEUE_ID_LEN + 1];
		int dfd;

		if (strlen(de->d_name) != QUEUE_ID_LEN + 2 ||
		    strcmp(de->d_name + QUEUE_ID_LEN, ".d") != 0)
			continue;
		memcpy(id, de->d_name, QUEUE_ID_LEN);
		id[QUEUE_ID_LEN] = '\0';
		if (!qctl_valid_id(id) ||
		    queue_exists(q->dirfd, qname(id, 'c').s) ||
		    fstatat(q->dirfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtime >= cutoff)
			continue;
		dfd = openat(q->dirfd, de->d_name, O_RDONLY | O_CLOEXEC |
			     O_NOFOLLOW);
		if (dfd < 0)
			continue;
		/* Under the lock, look again: the writer may just have
		 * committed and let go. */
		if (flock(dfd, LOCK_EX | LOCK_NB) == 0 &&
		    !queue_exists(q->dirfd, qname(id, 'c').s) &&
		    unlinkat(q->dirfd, de->d_name, 0) == 0) {
			removed++;
			log_warn(id, "removed uncommitted data file %s/%s",
				 q->dir, de->d_name);
		}
		close(dfd);
	}
	closedir(d);
	return removed;
}

size_t queue_cleanup(struct queue *q, long long older_than_s)
{
	time_t cutoff = time(NULL) - (time_t)older_than_s;

	return clean_tmp(q, cutoff) + clean_orphans(q, cutoff);
}
