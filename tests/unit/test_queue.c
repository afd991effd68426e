/*
 * test_queue.c - the queue directory: a private directory per test,
 * real files, real locks held by forked processes, a real write failure
 * (RLIMIT_FSIZE), and the exact mailq listing.
 */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "mailq.h"
#include "qctl.h"
#include "queue.h"
#include "util.h"

#define MSG "From: a@example.org\r\nSubject: hi\r\n\r\nbody\r\n"

struct fx {
	char dir[64];
	struct queue *q;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	struct err e;

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/test_queue.XXXXXX");
	if (mkdtemp(fx->dir) == NULL ||
	    queue_open(fx->dir, &fx->q, &e) != ST_OK) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	queue_close(fx->q);
	(void)nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static char *path_in(const struct fx *fx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static char *path_in(const struct fx *fx, const char *fmt, ...)
{
	va_list ap;
	char *rel, *p;

	va_start(ap, fmt);
	rel = xvasprintf(fmt, ap);
	va_end(ap);
	p = xasprintf("%s/%s", fx->dir, rel);
	free(rel);
	return p;
}

static bool file_exists(const struct fx *fx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool file_exists(const struct fx *fx, const char *fmt, ...)
{
	va_list ap;
	char *rel, *p;
	struct stat st;
	bool ok;

	va_start(ap, fmt);
	rel = xvasprintf(fmt, ap);
	va_end(ap);
	p = path_in(fx, "%s", rel);
	ok = lstat(p, &st) == 0;
	free(rel);
	free(p);
	return ok;
}

/* Entries in a subdirectory of the queue, "." and ".." excluded. */
static int count_entries(const struct fx *fx, const char *sub)
{
	char *p = path_in(fx, "%s", sub);
	DIR *d = opendir(p);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	free(p);
	return n;
}

static void fill(struct qctl *c, const char *id, const char *rcpt)
{
	qctl_init(c);
	memcpy(c->id, id, QUEUE_ID_LEN + 1);
	c->arrival = 1700671332;
	c->sender = xstrdup("alice@example.org");
	c->size = (long long)strlen(MSG);
	c->message_id = xstrdup("<m1@example.org>");
	qctl_add_rcpt(c, rcpt, NULL);
}

/* create + write + commit; returns the still locked data fd. */
static int enqueue(struct fx *fx, char id[QUEUE_ID_LEN + 1], bool durable)
{
	struct qctl c;
	struct err e;
	int fd;

	assert_int_equal(queue_create(fx->q, id, &fd, &e), ST_OK);
	assert_int_equal(write(fd, MSG, strlen(MSG)), (ssize_t)strlen(MSG));
	fill(&c, id, "bob@example.net");
	assert_int_equal(queue_commit(fx->q, &c, fd, durable, &e), ST_OK);
	qctl_free(&c);
	return fd;
}

/* The process umask (read without changing it for good). */
static mode_t test_umask(void)
{
	mode_t m = umask(0);

	umask(m);
	return m;
}

static void test_open_creates_subdirs(void **state)
{
	struct fx *fx = *state;
	char *p = path_in(fx, "tmp");
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* 0770 less the umask: the queue is shared with sendmx's group */
	assert_int_equal(st.st_mode & 0777, 0770 & ~test_umask());
	free(p);
	p = path_in(fx, "corrupt");
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	free(p);
	assert_string_equal(queue_path(fx->q), fx->dir);
}

static void test_open_failures(void **state)
{
	struct fx *fx = *state;
	struct queue *q = NULL;
	struct err e;
	char *p, *want;
	int fd;

	p = path_in(fx, "missing");
	assert_int_equal(queue_open(p, &q, &e), ST_PERMFAIL);
	assert_null(q);
	want = xasprintf("queue directory %s: No such file or directory", p);
	assert_string_equal(e.msg, want);
	free(want);
	free(p);

	/* A file where the directory should be. */
	p = path_in(fx, "afile");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(queue_open(p, &q, &e), ST_PERMFAIL);
	want = xasprintf("queue directory %s: Not a directory", p);
	assert_string_equal(e.msg, want);
	free(want);
	free(p);

	/* tmp is a file: the layout cannot be made. */
	p = path_in(fx, "q2");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	p = path_in(fx, "q2/tmp");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	free(p);
	p = path_in(fx, "q2");
	assert_int_equal(queue_open(p, &q, &e), ST_PERMFAIL);
	want = xasprintf("queue directory %s: tmp/: Not a directory", p);
	assert_string_equal(e.msg, want);
	free(want);
	free(p);
}

/* Not writable by us: as root, a child drops to nobody first. */
static void test_open_permission_denied(void **state)
{
	struct fx *fx = *state;
	char *p = path_in(fx, "ro");
	char *want = xasprintf("queue directory %s: Permission denied", p);
	int pfd[2];
	pid_t pid;
	int status;
	char got[1100] = "";
	ssize_t n;

	assert_int_equal(mkdir(p, 0755), 0);
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct queue *q = NULL;
		struct err e = { "" };
		enum status st;

		close(pfd[0]);
		if (geteuid() == 0) {
			if (setgid(65534) < 0 || setuid(65534) < 0)
				_exit(99);
		} else if (chmod(p, 0555) < 0) {
			_exit(98);
		}
		st = queue_open(p, &q, &e);
		(void)write(pfd[1], e.msg, strlen(e.msg));
		free(p);
		free(want);
		_exit(st == ST_PERMFAIL && q == NULL ? 0 : 1);
	}
	close(pfd[1]);
	n = read(pfd[0], got, sizeof got - 1);
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got, want);
	free(want);
	free(p);
}

static void test_create_commit_load_update_remove(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	struct qctl c, d;
	struct err e;
	char **ids;
	size_t n;
	struct stat st;
	char *p;
	int fd;
	long long bytes;

	assert_int_equal(queue_create(fx->q, id, &fd, &e), ST_OK);
	assert_true(qctl_valid_id(id));
	p = path_in(fx, "%s.d", id);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660 & ~test_umask());
	free(p);
	assert_false(file_exists(fx, "%s.c", id));
	/* Not queued until committed. */
	assert_int_equal(queue_scan(fx->q, &ids, &n, &e), ST_OK);
	assert_int_equal(n, 0);
	queue_free_ids(ids, n);

	assert_int_equal(write(fd, MSG, strlen(MSG)), (ssize_t)strlen(MSG));
	fill(&c, id, "bob@example.net");
	qctl_add_rcpt(&c, "carol@example.org", "rfc822;carol@example.org");
	assert_int_equal(queue_commit(fx->q, &c, fd, true, &e), ST_OK);
	assert_true(file_exists(fx, "%s.c", id));
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(queue_scan(fx->q, &ids, &n, &e), ST_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	queue_free_ids(ids, n);

	assert_int_equal(queue_load(fx->q, id, &d, &e), ST_OK);
	assert_string_equal(d.id, id);
	assert_string_equal(d.sender, "alice@example.org");
	assert_int_equal(d.size, strlen(MSG));
	assert_int_equal(d.nrcpts, 2);
	assert_string_equal(d.rcpts[1].orcpt, "rfc822;carol@example.org");
	qctl_free(&d);

	/* The data file holds the message as written. */
	{
		char buf[256];

		assert_int_equal(pread(fd, buf, sizeof buf, 0),
				 (ssize_t)strlen(MSG));
		assert_memory_equal(buf, MSG, strlen(MSG));
	}

	c.rcpts[0].state = QRCPT_SENT;
	c.rcpts[0].attempts = 1;
	c.rcpts[1].attempts = 1;
	c.rcpts[1].next_try = 1700672000;
	qrcpt_set_result(&c.rcpts[1], "451 try later", "mx[192.0.2.1]:25");
	assert_int_equal(queue_update(fx->q, &c, &e), ST_OK);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(queue_load(fx->q, id, &d, &e), ST_OK);
	assert_int_equal(d.rcpts[0].state, QRCPT_SENT);
	assert_string_equal(d.rcpts[1].last_error, "451 try later");
	assert_string_equal(d.rcpts[1].relay, "mx[192.0.2.1]:25");
	assert_int_equal(qctl_next_due(&d), 1700672000);
	qctl_free(&d);

	assert_int_equal(queue_disk_bytes(fx->q, id, &bytes, &e), ST_OK);
	{
		struct stat sd, sc;
		char *pd = path_in(fx, "%s.d", id), *pc = path_in(fx, "%s.c", id);

		assert_int_equal(stat(pd, &sd), 0);
		assert_int_equal(stat(pc, &sc), 0);
		assert_int_equal(bytes, (long long)(sd.st_blocks + sc.st_blocks)
				 * 512);
		free(pd);
		free(pc);
	}

	assert_int_equal(queue_remove(fx->q, id, &e), ST_OK);
	assert_false(file_exists(fx, "%s.c", id));
	assert_false(file_exists(fx, "%s.d", id));
	assert_int_equal(queue_scan(fx->q, &ids, &n, &e), ST_OK);
	assert_int_equal(n, 0);
	queue_free_ids(ids, n);
	/* Removing again is harmless; updating what is gone is not. */
	assert_int_equal(queue_remove(fx->q, id, &e), ST_OK);
	assert_int_equal(queue_update(fx->q, &c, &e), ST_PERMFAIL);
	assert_int_equal(queue_load(fx->q, id, &d, &e), ST_PERMFAIL);
	assert_int_equal(queue_disk_bytes(fx->q, id, &bytes, &e), ST_PERMFAIL);
	assert_int_equal(count_entries(fx, "corrupt"), 0);
	qctl_free(&c);
	close(fd);
}

static void test_fast_path_then_durable(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	struct queue *q2;
	struct qctl d;
	struct err e;
	char **ids;
	size_t n;
	int fd = enqueue(fx, id, false);

	/* The files are there for anyone else at once. */
	assert_int_equal(queue_open(fx->dir, &q2, &e), ST_OK);
	assert_int_equal(queue_scan(q2, &ids, &n, &e), ST_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	queue_free_ids(ids, n);
	assert_int_equal(queue_read(q2, id, &d, &e), ST_OK);
	assert_string_equal(d.rcpts[0].addr, "bob@example.net");
	qctl_free(&d);
	queue_close(q2);

	assert_int_equal(queue_remove(fx->q, id, &e), ST_OK);
	close(fd);
}

static void test_bad_ids_refused(void **state)
{
	struct fx *fx = *state;
	struct qctl c;
	struct err e;
	long long b;
	int fd;

	assert_int_equal(queue_remove(fx->q, "../../etc/passwd00", &e),
			 ST_PERMFAIL);
	assert_string_equal(e.msg, "bad queue id \"../../etc/passwd00\"");
	assert_int_equal(queue_lock(fx->q, "abc", &fd, &e), ST_PERMFAIL);
	assert_int_equal(fd, -1);
	assert_int_equal(queue_load(fx->q, "", &c, &e), ST_PERMFAIL);
	assert_int_equal(queue_disk_bytes(fx->q, "x", &b, &e), ST_PERMFAIL);
	assert_false(queue_is_locked(fx->q, "x"));
}

static void test_ids_unique_and_sorted(void **state)
{
	struct fx *fx = *state;
	enum { N = 1000 };
	char (*made)[QUEUE_ID_LEN + 1] = xcalloc(N, sizeof *made);
	struct err e;
	char **ids;
	size_t n;

	for (size_t i = 0; i < N; i++) {
		close(enqueue(fx, made[i], false));
		if (i > 0)
			assert_true(strcmp(made[i - 1], made[i]) < 0);
	}
	assert_int_equal(queue_scan(fx->q, &ids, &n, &e), ST_OK);
	assert_int_equal(n, N);
	for (size_t i = 0; i < N; i++)
		assert_string_equal(ids[i], made[i]);
	queue_free_ids(ids, n);
	free(made);
}

/* Four processes create at once; the ids of all are distinct. */
static void test_ids_unique_across_processes(void **state)
{
	struct fx *fx = *state;
	enum { PROCS = 4, EACH = 250 };
	int go[2];
	pid_t pids[PROCS];
	struct err e;
	char **ids;
	size_t n;

	assert_int_equal(pipe(go), 0);
	for (int p = 0; p < PROCS; p++) {
		pids[p] = fork();
		assert_true(pids[p] >= 0);
		if (pids[p] == 0) {
			struct queue *q;
			char c;

			close(go[1]);
			/* Start together: wait until the parent lets go. */
			if (read(go[0], &c, 1) != 0)
				_exit(3);
			if (queue_open(fx->dir, &q, &e) != ST_OK)
				_exit(2);
			for (int i = 0; i < EACH; i++) {
				char id[QUEUE_ID_LEN + 1];
				struct qctl qc;
				int fd;

				if (queue_create(q, id, &fd, &e) != ST_OK)
					_exit(1);
				fill(&qc, id, "bob@example.net");
				if (queue_commit(q, &qc, fd, false, &e) != ST_OK)
					_exit(1);
				qctl_free(&qc);
				close(fd);
			}
			queue_close(q);
			_exit(0);
		}
	}
	close(go[0]);
	close(go[1]);
	for (int p = 0; p < PROCS; p++) {
		int status;

		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	assert_int_equal(queue_scan(fx->q, &ids, &n, &e), ST_OK);
	assert_int_equal(n, PROCS * EACH);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	queue_free_ids(ids, n);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(count_entries(fx, "corrupt"), 0);
}

/* A child locks the message and waits; killed -9, its lock goes. */
static void test_lock_held_by_child(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	int ready[2], fd, status;
	struct err e;
	pid_t pid;
	char c;
	char *want;

	close(enqueue(fx, id, true));
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int lfd;

		close(ready[0]);
		if (queue_lock(fx->q, id, &lfd, &e) != ST_OK)
			_exit(1);
		(void)write(ready[1], "x", 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);

	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_TEMPFAIL);
	assert_int_equal(fd, -1);
	want = xasprintf("%s: locked by another process", id);
	assert_string_equal(e.msg, want);
	free(want);
	assert_true(queue_is_locked(fx->q, id));

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_false(queue_is_locked(fx->q, id));
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_OK);
	assert_true(fd >= 0);
	/* We hold it now: a second attempt (another open file) fails. */
	{
		int fd2;

		assert_int_equal(queue_lock(fx->q, id, &fd2, &e), ST_TEMPFAIL);
	}
	close(fd);
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_OK);
	/* Removed under the lock: the next one finds it not queued. */
	assert_int_equal(queue_remove(fx->q, id, &e), ST_OK);
	close(fd);
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_PERMFAIL);
}

/* The writer holds the lock from queue_create on; an uncommitted data
 * file nobody holds is not a queued message. */
static void test_lock_while_writing(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	struct qctl c;
	struct err e;
	int wfd, fd;
	char *want;

	assert_int_equal(queue_create(fx->q, id, &wfd, &e), ST_OK);
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_TEMPFAIL);
	fill(&c, id, "bob@example.net");
	assert_int_equal(queue_commit(fx->q, &c, wfd, true, &e), ST_OK);
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_TEMPFAIL);
	close(wfd);
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_OK);
	close(fd);
	qctl_free(&c);

	assert_int_equal(queue_create(fx->q, id, &wfd, &e), ST_OK);
	close(wfd);
	assert_int_equal(queue_lock(fx->q, id, &fd, &e), ST_PERMFAIL);
	want = xasprintf("%s: not queued", id);
	assert_string_equal(e.msg, want);
	free(want);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	struct buf b;
	char chunk[512];
	size_t n;

	assert_non_null(f);
	buf_init(&b);
	buf_appends(&b, "");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	return b.data;
}

static void test_corrupt_moved_aside(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1], id2[QUEUE_ID_LEN + 1];
	char id3[QUEUE_ID_LEN + 1];
	char *p, *want, *logp, *logged;
	struct qctl c;
	struct err e;
	char **ids;
	size_t n;

	logp = path_in(fx, "log");
	log_open(logp, false, NULL);
	close(enqueue(fx, id, true));
	p = path_in(fx, "%s.c", id);
	write_file(p, "sendmx-queue 1\nid 00\nsize x\n");
	free(p);
	/* queue_read reports without moving. */
	assert_int_equal(queue_read(fx->q, id, &c, &e), ST_PERMFAIL);
	want = xasprintf("control file %s/%s.c: line 2: bad id value",
			 fx->dir, id);
	assert_string_equal(e.msg, want);
	free(want);
	assert_true(file_exists(fx, "%s.c", id));

	assert_int_equal(queue_load(fx->q, id, &c, &e), ST_PERMFAIL);
	want = xasprintf("control file %s/%s.c: line 2: bad id value; "
			 "moved to corrupt/", fx->dir, id);
	assert_string_equal(e.msg, want);
	assert_false(file_exists(fx, "%s.c", id));
	assert_false(file_exists(fx, "%s.d", id));
	assert_true(file_exists(fx, "corrupt/%s.c", id));
	assert_true(file_exists(fx, "corrupt/%s.d", id));
	log_close();
	logged = read_file(logp);
	assert_non_null(strstr(logged, want));
	free(logged);
	free(want);
	free(logp);

	/* A control file naming another message. */
	close(enqueue(fx, id2, true));
	close(enqueue(fx, id3, true));
	{
		char *p2 = path_in(fx, "%s.c", id2), *p3 = path_in(fx, "%s.c", id3);
		char *text = read_file(p3);

		write_file(p2, text);
		free(text);
		free(p2);
		free(p3);
	}
	assert_int_equal(queue_load(fx->q, id2, &c, &e), ST_PERMFAIL);
	want = xasprintf("control file %s/%s.c: names another message, %s; "
			 "moved to corrupt/", fx->dir, id2, id3);
	assert_string_equal(e.msg, want);
	free(want);
	/* Its data file gone. */
	p = path_in(fx, "%s.d", id3);
	assert_int_equal(unlink(p), 0);
	free(p);
	assert_int_equal(queue_load(fx->q, id3, &c, &e), ST_PERMFAIL);
	want = xasprintf("control file %s/%s.c: its data file %s.d is missing; "
			 "moved to corrupt/", fx->dir, id3, id3);
	assert_string_equal(e.msg, want);
	free(want);
	assert_true(file_exists(fx, "corrupt/%s.c", id3));

	assert_int_equal(queue_scan(fx->q, &ids, &n, &e), ST_OK);
	assert_int_equal(n, 0);
	queue_free_ids(ids, n);
	assert_int_equal(count_entries(fx, "corrupt"), 5);
}

/* Sets a file's times to age seconds ago. */
static void set_age(const struct fx *fx, const char *name, time_t age)
{
	char *p = path_in(fx, "%s", name);
	struct timespec ts[2];

	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	free(p);
}

static void set_age_id(const struct fx *fx, const char *id, char ext,
		       time_t age)
{
	char *name = xasprintf("%s.%c", id, ext);

	set_age(fx, name, age);
	free(name);
}

static void test_cleanup(void **state)
{
	struct fx *fx = *state;
	char orphan[QUEUE_ID_LEN + 1], writing[QUEUE_ID_LEN + 1];
	char queued[QUEUE_ID_LEN + 1], young[QUEUE_ID_LEN + 1];
	struct err e;
	char *p;
	int wfd, fd;

	p = path_in(fx, "tmp/old.c");
	write_file(p, "x");
	free(p);
	set_age(fx, "tmp/old.c", 7200);
	p = path_in(fx, "tmp/new.c");
	write_file(p, "x");
	free(p);

	/* Writer crashed: unlocked, no control file. */
	assert_int_equal(queue_create(fx->q, orphan, &fd, &e), ST_OK);
	close(fd);
	set_age_id(fx, orphan, 'd', 7200);
	/* Writer still at it: locked. */
	assert_int_equal(queue_create(fx->q, writing, &wfd, &e), ST_OK);
	set_age_id(fx, writing, 'd', 7200);
	/* Queued long ago: not a leftover. */
	close(enqueue(fx, queued, true));
	set_age_id(fx, queued, 'd', 7200);
	set_age_id(fx, queued, 'c', 7200);
	/* Crashed, but recently. */
	assert_int_equal(queue_create(fx->q, young, &fd, &e), ST_OK);
	close(fd);

	assert_int_equal(queue_cleanup(fx->q, 3600), 2);
	assert_false(file_exists(fx, "tmp/%s", "old.c"));
	assert_true(file_exists(fx, "tmp/%s", "new.c"));
	assert_false(file_exists(fx, "%s.d", orphan));
	assert_true(file_exists(fx, "%s.d", writing));
	assert_true(file_exists(fx, "%s.d", queued));
	assert_true(file_exists(fx, "%s.c", queued));
	assert_true(file_exists(fx, "%s.d", young));
	assert_int_equal(queue_cleanup(fx->q, 3600), 0);
	close(wfd);
	assert_int_equal(queue_cleanup(fx->q, 3600), 1);
	assert_false(file_exists(fx, "%s.d", writing));
	set_age(fx, "tmp/new.c", 10);
	set_age_id(fx, young, 'd', 10);
	assert_int_equal(queue_cleanup(fx->q, 5), 2);
	assert_false(file_exists(fx, "tmp/%s", "new.c"));
	assert_false(file_exists(fx, "%s.d", young));
	assert_true(file_exists(fx, "%s.c", queued));
}

/* A control file write that fails (EFBIG under RLIMIT_FSIZE, as ENOSPC
 * would) leaves no file, and an update leaves the old control file. Run
 * in a child so that the limit touches nothing else. */
static int limited_child(struct fx *fx, const struct qctl *c, bool update,
			 int out)
{
	struct rlimit rl = { 64, 64 };
	struct err e = { "" };
	enum status st;

	signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		return 99;
	st = update ? queue_update(fx->q, c, &e)
		    : queue_commit(fx->q, c, -1, false, &e);
	(void)write(out, e.msg, strlen(e.msg));
	return st == ST_TEMPFAIL ? 0 : 1;
}

static void run_limited(struct fx *fx, const struct qctl *c, bool update,
			const char *want)
{
	int pfd[2], status;
	char got[1100];
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(pfd[0]);
		_exit(limited_child(fx, c, update, pfd[1]));
	}
	close(pfd[1]);
	n = read(pfd[0], got, sizeof got - 1);
	close(pfd[0]);
	assert_true(n > 0);
	got[n] = '\0';
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(got, want);
}

static void test_write_failure_leaves_no_file(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	struct qctl c, d;
	struct err e;
	char *want, *p, *before, *after;
	int fd;

	assert_int_equal(queue_create(fx->q, id, &fd, &e), ST_OK);
	fill(&c, id, "bob@example.net");
	want = xasprintf("cannot write control file %s/tmp/%s.c: "
			 "File too large", fx->dir, id);
	run_limited(fx, &c, false, want);
	assert_false(file_exists(fx, "%s.c", id));
	assert_int_equal(count_entries(fx, "tmp"), 0);

	/* Committed for real, then an update that fails. */
	assert_int_equal(queue_commit(fx->q, &c, fd, true, &e), ST_OK);
	p = path_in(fx, "%s.c", id);
	before = read_file(p);
	c.rcpts[0].attempts = 5;
	qrcpt_set_result(&c.rcpts[0], "451 later", NULL);
	run_limited(fx, &c, true, want);
	after = read_file(p);
	assert_string_equal(before, after);
	assert_int_equal(count_entries(fx, "tmp"), 0);
	assert_int_equal(queue_load(fx->q, id, &d, &e), ST_OK);
	assert_int_equal(d.rcpts[0].attempts, 0);
	qctl_free(&d);
	free(before);
	free(after);
	free(p);
	free(want);
	qctl_free(&c);
	close(fd);
}

/* Writes a control file with a chosen id (and its data file), so that
 * the listing can be compared with fixed text. */
static void put_message(struct fx *fx, const struct qctl *c)
{
	char *p = path_in(fx, "%s.d", c->id);
	struct err e;

	write_file(p, MSG);
	free(p);
	assert_int_equal(queue_commit(fx->q, c, -1, false, &e), ST_OK);
}

static char *listing(struct fx *fx)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct err e;

	assert_non_null(f);
	assert_int_equal(mailq_print(fx->q, f, &e), ST_OK);
	fclose(f);
	return text;
}

static void test_mailq(void **state)
{
	struct fx *fx = *state;
	struct qctl a, b;
	struct qrcpt *r;
	char *text;
	struct err e;
	int fd;
	const char *refused =
		"connect to mx.example.net[192.0.2.7]:25: Connection refused";

	setenv("TZ", "UTC", 1);
	tzset();
	text = listing(fx);
	assert_string_equal(text, "Mail queue is empty\n");
	free(text);

	qctl_init(&a);
	memcpy(a.id, "6560F3A40A2B100F2A", QUEUE_ID_LEN + 1);
	a.arrival = 1700671332;
	a.sender = xstrdup("alice@example.org");
	a.size = 1234;
	r = qctl_add_rcpt(&a, "dave@example.com", NULL);     /* not tried */
	r = qctl_add_rcpt(&a, "bob@example.net", NULL);
	r->attempts = 1;
	qrcpt_set_result(r, refused, NULL);
	r = qctl_add_rcpt(&a, "carol@example.net", NULL);
	r->attempts = 1;
	qrcpt_set_result(r, refused, NULL);
	r = qctl_add_rcpt(&a, "erin@example.org", NULL);
	r->state = QRCPT_SENT;
	r = qctl_add_rcpt(&a, "frank@example.org", NULL);
	r->state = QRCPT_FAILED;
	qrcpt_set_result(r, "550 no such user", NULL);
	put_message(fx, &a);

	qctl_init(&b);
	memcpy(b.id, "6560F3B10000100F2B", QUEUE_ID_LEN + 1);
	b.arrival = 1700675000;
	b.sender = xstrdup("");
	b.size = 2900;
	b.is_bounce = true;
	r = qctl_add_rcpt(&b, "x\x1by@example.org", NULL);
	qrcpt_set_result(r, "451 4.7.1 Greylisted", NULL);
	put_message(fx, &b);

	text = listing(fx);
	assert_string_equal(text,
"-Queue ID-         --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
"6560F3A40A2B100F2A     1234 Wed Nov 22 16:42:12  alice@example.org\n"
"                 (connect to mx.example.net[192.0.2.7]:25: Connection refused)\n"
"                                                 bob@example.net\n"
"                                                 carol@example.net\n"
"                                                 dave@example.com\n"
"\n"
"6560F3B10000100F2B     2900 Wed Nov 22 17:43:20  MAILER-DAEMON\n"
"                                                        (451 4.7.1 Greylisted)\n"
"                                                 x?y@example.org\n"
"\n"
"-- 4 Kbytes in 2 Requests.\n");
	free(text);

	/* A running delivery shows as "*"; one message is one Request. */
	assert_int_equal(queue_lock(fx->q, b.id, &fd, &e), ST_OK);
	assert_int_equal(queue_remove(fx->q, a.id, &e), ST_OK);
	text = listing(fx);
	assert_string_equal(text,
"-Queue ID-         --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
"6560F3B10000100F2B*    2900 Wed Nov 22 17:43:20  MAILER-DAEMON\n"
"                                                        (451 4.7.1 Greylisted)\n"
"                                                 x?y@example.org\n"
"\n"
"-- 2 Kbytes in 1 Request.\n");
	free(text);
	close(fd);
	qctl_free(&a);
	qctl_free(&b);
}

/* A control file that cannot be read is listed with the reason. */
static void test_mailq_unreadable(void **state)
{
	struct fx *fx = *state;
	char id[QUEUE_ID_LEN + 1];
	char *p, *text, *want;

	close(enqueue(fx, id, true));
	p = path_in(fx, "%s.c", id);
	write_file(p, "garbage\n");
	free(p);
	text = listing(fx);
	want = xasprintf(
"-Queue ID-         --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
"%s (control file %s/%s.c: line 1: not a sendmx control file)\n"
"\n"
"-- 0 Kbytes in 1 Request.\n", id, fx->dir, id);
	assert_string_equal(text, want);
	/* Listing moves nothing. */
	assert_true(file_exists(fx, "%s.c", id));
	free(text);
	free(want);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_creates_subdirs),
		T(test_open_failures),
		T(test_open_permission_denied),
		T(test_create_commit_load_update_remove),
		T(test_fast_path_then_durable),
		T(test_bad_ids_refused),
		T(test_ids_unique_and_sorted),
		T(test_ids_unique_across_processes),
		T(test_lock_held_by_child),
		T(test_lock_while_writing),
		T(test_corrupt_moved_aside),
		T(test_cleanup),
		T(test_write_failure_leaves_no_file),
		T(test_mailq),
		T(test_mailq_unreadable),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
