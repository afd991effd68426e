/*
 * test_local.c - local delivery into mbox files and Maildirs in private
 * temporary directories: exact content, owners and modes, locks, the
 * user switch, a real mail reader (bsd-mailx) on the result.
 *
 * Runs as root (CI does); the cases that switch to "nobody" or need a
 * user switch skip themselves otherwise. TZ is UTC so that the From_
 * line's date is fixed.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "local.h"
#include "util.h"

#define ARRIVAL 1767225600LL   /* Thu Jan  1 00:00:00 2026 UTC */
#define FROM_LINE(s) "From " s " Thu Jan  1 00:00:00 2026\n"

#define MSG1 "Subject: first\r\nFrom: a@example.org\r\n\r\n" \
	     "hello\r\nFrom here\r\n>From x\r\nFromage\r\nFrom\r\n" \
	     " From indented\r\n"
#define MSG1_LF "Subject: first\nFrom: a@example.org\n\n" \
		"hello\n>From here\n>>From x\nFromage\nFrom\n" \
		" From indented\n"
#define MSG1_MAILDIR "Subject: first\nFrom: a@example.org\n\n" \
		     "hello\nFrom here\n>From x\nFromage\nFrom\n" \
		     " From indented\n"
#define MSG2 "Subject: second\r\n\r\nbye\r\n"
#define MSG2_LF "Subject: second\n\nbye\n"

struct fx {
	char dir[64];       /* the spool directory, or the home */
	char mbox[128];
	struct local_target t;
	struct err e;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/test_local.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	fx->t.user = "root";
	fx->t.how = LOCAL_MBOX;
	fx->t.mail_spool = fx->dir;
	snprintf(fx->mbox, sizeof fx->mbox, "%s/root", fx->dir);
	*state = fx;
	return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
		  struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	int r = nftw(fx->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);

	free(fx);
	return r == 0 ? 0 : -1;
}

/* An unlinked spool file holding len bytes of wire text. */
static int spool_of(const char *text, size_t len)
{
	char path[] = "/tmp/test_local_spool.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	return fd;
}

static enum status deliver_n(struct fx *fx, const char *text, size_t len,
			     const char *sender)
{
	int fd = spool_of(text, len);
	enum status st;

	memset(&fx->e, 0, sizeof fx->e);
	st = local_deliver(&fx->t, fd, (off_t)len, sender, ARRIVAL, &fx->e);
	close(fd);
	return st;
}

static enum status deliver(struct fx *fx, const char *text,
			   const char *sender)
{
	return deliver_n(fx, text, strlen(text), sender);
}

static char *slurp(const char *path, size_t *len)
{
	struct stat sb;
	char *s;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	s = xmalloc((size_t)sb.st_size + 1);
	assert_int_equal(read(fd, s, (size_t)sb.st_size), sb.st_size);
	s[sb.st_size] = '\0';
	close(fd);
	if (len != NULL)
		*len = (size_t)sb.st_size;
	return s;
}

static void assert_file(const char *path, const char *want)
{
	char *got = slurp(path, NULL);

	assert_string_equal(got, want);
	free(got);
}

static bool exists(const char *path)
{
	struct stat sb;

	return lstat(path, &sb) == 0;
}

static bool need_root(void)
{
	if (geteuid() == 0)
		return true;
	print_message("# not root: cannot switch users\n");
	return false;
}

/* ---- mbox ------------------------------------------------------------- */

static void test_mbox_root(void **state)
{
	struct fx *fx = *state;
	char lock[160];
	struct stat sb;

	assert_int_equal(deliver(fx, MSG1, "alice@example.org"), ST_OK);
	assert_int_equal(deliver(fx, MSG2, ""), ST_OK);
	assert_file(fx->mbox,
		    FROM_LINE("alice@example.org")
		    "Return-Path: <alice@example.org>\n" MSG1_LF "\n"
		    FROM_LINE("MAILER-DAEMON")
		    "Return-Path: <>\n" MSG2_LF "\n");
	assert_int_equal(stat(fx->mbox, &sb), 0);
	assert_int_equal(sb.st_uid, 0);
	assert_int_equal(sb.st_mode & 07777, 0600);
	/* The dotlock is gone. */
	snprintf(lock, sizeof lock, "%s.lock", fx->mbox);
	assert_false(exists(lock));
}

/* Like Debian's /var/mail (root:mail 2775): the user's delivery process
 * creates its mailbox there through the spool's group. */
static void test_mbox_nobody(void **state)
{
	struct fx *fx = *state;
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("mail");
	char lock[160];
	struct stat sb;

	if (!need_root() || pw == NULL || gr == NULL) {
		print_message("# needs root, user nobody and group mail\n");
		skip();
	}
	assert_int_equal(chown(fx->dir, 0, gr->gr_gid), 0);
	assert_int_equal(chmod(fx->dir, 02775), 0);
	fx->t.user = "nobody";
	snprintf(fx->mbox, sizeof fx->mbox, "%s/nobody", fx->dir);
	assert_int_equal(deliver(fx, MSG1, "alice@example.org"), ST_OK);
	assert_int_equal(deliver(fx, MSG2, "bob@example.org"), ST_OK);
	assert_file(fx->mbox,
		    FROM_LINE("alice@example.org")
		    "Return-Path: <alice@example.org>\n" MSG1_LF "\n"
		    FROM_LINE("bob@example.org")
		    "Return-Path: <bob@example.org>\n" MSG2_LF "\n");
	assert_int_equal(stat(fx->mbox, &sb), 0);
	assert_int_equal(sb.st_uid, pw->pw_uid);
	assert_int_equal(sb.st_mode & 07777, 0600);
	snprintf(lock, sizeof lock, "%s.lock", fx->mbox);
	assert_false(exists(lock));

	/* A spool that only root may write: nobody's process cannot. */
	assert_int_equal(unlink(fx->mbox), 0);
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(deliver(fx, MSG1, "alice@example.org"), ST_TEMPFAIL);
	assert_non_null(strstr(fx->e.msg, "cannot create lock file"));
	assert_false(exists(fx->mbox));
}

static void test_no_such_user(void **state)
{
	struct fx *fx = *state;

	fx->t.user = "no-such-user-sendmx";
	assert_int_equal(deliver(fx, MSG1, "a@b"), ST_PERMFAIL);
	assert_string_equal(fx->e.msg, "no such local user: no-such-user-sendmx");
	fx->t.user = "../etc/passwd";
	assert_int_equal(deliver(fx, MSG1, "a@b"), ST_PERMFAIL);
	assert_non_null(strstr(fx->e.msg, "no such local user"));
	fx->t.user = "root";
	fx->t.how = LOCAL_NONE;
	assert_int_equal(deliver(fx, MSG1, "a@b"), ST_PERMFAIL);
	assert_false(exists(fx->mbox));
}

static void test_dotlock_held(void **state)
{
	struct fx *fx = *state;
	char lock[160];
	long long t0, ms;
	int fd;

	snprintf(lock, sizeof lock, "%s.lock", fx->mbox);
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	fx->t.lock_timeout_ms = 300;
	t0 = now_ms();
	assert_int_equal(deliver(fx, MSG1, "a@b"), ST_TEMPFAIL);
	ms = now_ms() - t0;
	assert_true(ms >= 300);
	assert_true(ms < 5000);
	assert_non_null(strstr(fx->e.msg, "locked"));
	assert_non_null(strstr(fx->e.msg, lock));
	/* Someone else's lock stays; no mailbox was touched. */
	assert_true(exists(lock));
	assert_false(exists(fx->mbox));
}

static void test_stale_lock(void **state)
{
	struct fx *fx = *state;
	struct timespec ts[2];
	char lock[160];
	int fd;

	snprintf(lock, sizeof lock, "%s.lock", fx->mbox);
	fd = open(lock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - LOCAL_STALE_LOCK_SECONDS - 60;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, lock, ts, 0), 0);
	fx->t.lock_timeout_ms = 300;
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
	assert_false(exists(lock));
	assert_file(fx->mbox, FROM_LINE("a@b") "Return-Path: <a@b>\n"
		    MSG2_LF "\n");
}

/* An fcntl lock held by another process (this one: the delivery runs in
 * a child) makes the delivery wait, then give up; its dotlock goes. */
static void test_fcntl_held(void **state)
{
	struct fx *fx = *state;
	struct flock fl;
	sigset_t alrm, old;
	char lock[160];
	long long t0, ms;
	enum status st;
	int fd;

	fd = open(fx->mbox, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	assert_int_equal(fcntl(fd, F_SETLK, &fl), 0);
	fx->t.lock_timeout_ms = 300;
	/* The wait ends even when the caller blocks SIGALRM. */
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &alrm, &old), 0);
	t0 = now_ms();
	st = deliver(fx, MSG1, "a@b");
	ms = now_ms() - t0;
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	assert_int_equal(st, ST_TEMPFAIL);
	assert_true(ms >= 300);
	assert_true(ms < 5000);
	assert_non_null(strstr(fx->e.msg, "locked by another process"));
	snprintf(lock, sizeof lock, "%s.lock", fx->mbox);
	assert_false(exists(lock));
	assert_file(fx->mbox, "");
	close(fd);
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
}

/* A write that fails half-way (here: a file size limit) leaves the
 * mailbox as it was. */
static void test_write_error_truncates(void **state)
{
	struct fx *fx = *state;
	struct rlimit old, lim;
	size_t big_len = 200000, i, before_len;
	char *big = xmalloc(big_len), *before;
	enum status st;
	int fd;

	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
	before = slurp(fx->mbox, &before_len);
	for (i = 0; i < big_len; i++)
		big[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'x';
	fd = spool_of(big, big_len);   /* before the limit */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)before_len + 1000;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	st = local_deliver(&fx->t, fd, (off_t)big_len, "a@b", ARRIVAL,
			   &fx->e);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	close(fd);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(st, ST_TEMPFAIL);
	assert_non_null(strstr(fx->e.msg, "cannot write mailbox"));
	assert_non_null(strstr(fx->e.msg, strerror(EFBIG)));
	assert_file(fx->mbox, before);
	free(before);
	free(big);
}

/* A spool file shorter than announced: nothing of it stays. */
static void test_short_spool(void **state)
{
	struct fx *fx = *state;
	int fd;

	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
	fd = spool_of(MSG1, strlen(MSG1));
	assert_int_equal(local_deliver(&fx->t, fd, (off_t)strlen(MSG1) + 100,
				       "a@b", ARRIVAL, &fx->e), ST_TEMPFAIL);
	close(fd);
	assert_string_equal(fx->e.msg, "cannot read the spool file: "
			    "shorter than expected");
	assert_file(fx->mbox, FROM_LINE("a@b") "Return-Path: <a@b>\n"
		    MSG2_LF "\n");
}

/* A mailbox that does not end in a blank line gets one before the next
 * From_ line; an empty one gets none. */
static void test_mbox_separator(void **state)
{
	struct fx *fx = *state;
	int fd;

	fd = open(fx->mbox, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "From x Thu Jan  1 00:00:00 2026\nbody", 36),
			 36);
	close(fd);
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
	assert_file(fx->mbox, "From x Thu Jan  1 00:00:00 2026\nbody\n\n"
		    FROM_LINE("a@b") "Return-Path: <a@b>\n" MSG2_LF "\n");
}

/* Names planted in the spool: a symlink, another user's file. */
static void test_mbox_refuses(void **state)
{
	struct fx *fx = *state;
	char target[160];
	int fd;

	snprintf(target, sizeof target, "%s/elsewhere", fx->dir);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(symlink(target, fx->mbox), 0);
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_TEMPFAIL);
	assert_non_null(strstr(fx->e.msg, "symbolic link"));
	assert_file(target, "");
	assert_int_equal(unlink(fx->mbox), 0);

	if (geteuid() != 0)
		return;
	fd = open(fx->mbox, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, 65534, 65534), 0);
	close(fd);
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_TEMPFAIL);
	assert_non_null(strstr(fx->e.msg, "belongs to uid 65534"));
	assert_file(fx->mbox, "");
}

/* The reference conversion: CRLF -> LF, mboxrd quoting, line by line. */
static void reference(const char *in, size_t n, struct buf *out)
{
	size_t i = 0, e, k;

	while (i < n) {
		for (e = i; e + 1 < n && !(in[e] == '\r' && in[e + 1] == '\n');
		     e++)
			;
		if (e + 1 >= n)
			e = n;
		for (k = i; k < e && in[k] == '>'; k++)
			;
		if (e - k >= 5 && memcmp(in + k, "From ", 5) == 0)
			buf_append(out, ">", 1);
		buf_append(out, in + i, e - i);
		buf_append(out, "\n", 1);
		i = e + 2;
	}
}

/* Lines across the 64 KiB read chunks: a CRLF split between two reads,
 * a ">From " split between two reads. */
static void test_mbox_chunks(void **state)
{
	struct fx *fx = *state;
	struct buf in, want;
	char *got;
	size_t got_len;

	buf_init(&in);
	buf_init(&want);
	buf_appends(&in, "Subject: big\r\n\r\n");
	while (in.len < 65536 - 3 - 80)
		buf_appends(&in, "0123456789012345678901234567890123456789\r\n");
	while (in.len < 65536 - 3 - 2)
		buf_appends(&in, "y");
	buf_appends(&in, "\r\n>>From split\r\n");   /* ">>F" | "rom ..." */
	while (in.len < 2 * 65536 - 1)
		buf_appends(&in, "z");
	buf_appends(&in, "\r\nFrom crlf split\r\n");  /* "\r" | "\n" */
	assert_int_equal(in.data[65536 - 3], '>');
	assert_int_equal(in.data[2 * 65536 - 1], '\r');
	buf_appends(&want, FROM_LINE("a@b") "Return-Path: <a@b>\n");
	reference(in.data, in.len, &want);
	buf_appends(&want, "\n");
	assert_int_equal(deliver_n(fx, in.data, in.len, "a@b"), ST_OK);
	got = slurp(fx->mbox, &got_len);
	assert_int_equal(got_len, want.len);
	assert_memory_equal(got, want.data, want.len);
	assert_non_null(strstr(got, "\n>>>From split\n"));
	assert_non_null(strstr(got, "\n>From crlf split\n"));
	free(got);
	buf_free(&in);
	buf_free(&want);
}

/* Octets the wire form should not hold still arrive sensibly: a bare CR
 * stays, a missing final line end is added. */
static void test_mbox_odd_input(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(deliver(fx, "Subject: x\r\n\r\na\rb\r\n>From", "a b@c"),
			 ST_OK);
	assert_file(fx->mbox, FROM_LINE("a_b@c") "Return-Path: <a b@c>\n"
		    "Subject: x\n\na\rb\n>From\n\n");
}

/* The user switch needs root: another user's delivery fails plainly. */
static void test_not_root(void **state)
{
	struct fx *fx = *state;
	int ws = 0;
	pid_t pid;

	if (!need_root())
		skip();
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct err e = { { 0 } };
		int fd = spool_of(MSG2, strlen(MSG2)), code = 0;

		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
		    setuid(65534) != 0)
			_exit(10);
		if (local_deliver(&fx->t, fd, (off_t)strlen(MSG2), "a@b",
				  ARRIVAL, &e) != ST_TEMPFAIL)
			code = 11;
		else if (strcmp(e.msg, "cannot switch to user root: "
				"not root") != 0)
			code = 12;
		_exit(code);
	}
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_false(exists(fx->mbox));
}

/* bsd-mailx reads the mailbox: two messages (the quoted "From here" did
 * not start a third), bodies as written. */
static void test_mail_reader(void **state)
{
	struct fx *fx = *state;
	struct buf out;
	char cmd[512], chunk[4096];
	size_t n;
	FILE *p;

	if (access("/usr/bin/mail", X_OK) != 0) {
		print_message("# /usr/bin/mail not installed (Debian: "
			      "apt-get install bsd-mailx): not checked\n");
		skip();
	}
	assert_int_equal(deliver(fx, MSG1, "alice@example.org"), ST_OK);
	assert_int_equal(deliver(fx, MSG2, ""), ST_OK);
	snprintf(cmd, sizeof cmd, "printf 'p 1\\np 2\\nx\\n' | "
		 "MAILRC=/dev/null HOME=%s /usr/bin/mail -N -f %s 2>&1",
		 fx->dir, fx->mbox);
	p = popen(cmd, "r");
	assert_non_null(p);
	buf_init(&out);
	while ((n = fread(chunk, 1, sizeof chunk, p)) > 0)
		buf_append(&out, chunk, n);
	assert_int_equal(pclose(p), 0);
	assert_non_null(strstr(out.data, "2 messages"));
	assert_non_null(strstr(out.data, "Subject: first\n"));
	assert_non_null(strstr(out.data,
			       "hello\n>From here\n>>From x\nFromage\n"));
	assert_non_null(strstr(out.data, "Message 2:\n"
			       FROM_LINE("MAILER-DAEMON")));
	assert_non_null(strstr(out.data, "Subject: second\n\nbye\n"));
	assert_null(strstr(out.data, "Message 3:"));
	buf_free(&out);
}

/* ---- maildir ---------------------------------------------------------- */

/* The one file in dir/sub; NULL when there is none (fails on more). */
static char *only_entry(const char *dir, const char *sub, int *count)
{
	char *path = xasprintf("%s/Maildir/%s", dir, sub), *cmd, line[512];
	char *found = NULL;
	FILE *p;

	cmd = xasprintf("ls -1 %s", path);
	p = popen(cmd, "r");
	assert_non_null(p);
	*count = 0;
	while (fgets(line, sizeof line, p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		(*count)++;
		free(found);
		found = xstrdup(line);
	}
	pclose(p);
	free(cmd);
	free(path);
	return found;
}

static void check_name(const char *name)
{
	char host[256], enc[1024];
	const char *host_part;
	size_t i, k = 0;
	regex_t re;

	assert_int_equal(gethostname(host, sizeof host), 0);
	host[sizeof host - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++) {
		if (host[i] == '/') {
			memcpy(enc + k, "\\057", 4);
			k += 4;
		} else if (host[i] == ':') {
			memcpy(enc + k, "\\072", 4);
			k += 4;
		} else {
			enc[k++] = host[i];
		}
	}
	enc[k] = '\0';
	assert_int_equal(regcomp(&re, "^[0-9]+\\.M[0-9]+P[0-9]+Q[0-9]+\\.",
				 REG_EXTENDED | REG_NOSUB), 0);
	assert_int_equal(regexec(&re, name, 0, NULL, 0), 0);
	regfree(&re);
	host_part = strchr(strchr(name, '.') + 1, '.') + 1;
	assert_string_equal(host_part, enc);
	assert_null(strchr(name, '/'));
	assert_null(strchr(name, ':'));
}

static void check_maildir(struct fx *fx, uid_t uid)
{
	static const char *const sub[] = { "", "/tmp", "/new", "/cur" };
	char *first, *second, *path;
	struct stat sb;
	int count;
	size_t i;

	for (i = 0; i < 4; i++) {
		path = xasprintf("%s/Maildir%s", fx->dir, sub[i]);
		assert_int_equal(stat(path, &sb), 0);
		assert_true(S_ISDIR(sb.st_mode));
		assert_int_equal(sb.st_mode & 07777, 0700);
		assert_int_equal(sb.st_uid, uid);
		free(path);
	}
	assert_null(only_entry(fx->dir, "tmp", &count));
	assert_int_equal(deliver(fx, MSG1, "alice@example.org"), ST_OK);
	first = only_entry(fx->dir, "new", &count);
	assert_int_equal(count, 1);
	assert_non_null(first);
	check_name(first);
	path = xasprintf("%s/Maildir/new/%s", fx->dir, first);
	assert_file(path, "Return-Path: <alice@example.org>\n" MSG1_MAILDIR);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_uid, uid);
	assert_int_equal(sb.st_mode & 07777, 0600);
	assert_int_equal(unlink(path), 0);
	free(path);
	assert_int_equal(deliver(fx, MSG2, ""), ST_OK);
	second = only_entry(fx->dir, "new", &count);
	assert_int_equal(count, 1);
	check_name(second);
	assert_string_not_equal(first, second);
	path = xasprintf("%s/Maildir/new/%s", fx->dir, second);
	assert_file(path, "Return-Path: <>\n" MSG2_LF);
	free(path);
	assert_null(only_entry(fx->dir, "tmp", &count));
	assert_int_equal(count, 0);
	free(first);
	free(second);
}

static void test_maildir_root(void **state)
{
	struct fx *fx = *state;

	fx->t.how = LOCAL_MAILDIR;
	fx->t.home_override = fx->dir;
	/* Created on first use; check_maildir then checks the dirs. */
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
	{
		char *cmd = xasprintf("rm -f %s/Maildir/new/*", fx->dir);

		assert_int_equal(system(cmd), 0);
		free(cmd);
	}
	check_maildir(fx, 0);
}

static void test_maildir_nobody(void **state)
{
	struct fx *fx = *state;
	char *cmd, *ro;

	if (!need_root() || getpwnam("nobody") == NULL)
		skip();
	assert_int_equal(chown(fx->dir, 65534, 65534), 0);
	fx->t.user = "nobody";
	fx->t.how = LOCAL_MAILDIR;
	fx->t.home_override = fx->dir;
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_OK);
	cmd = xasprintf("rm -f %s/Maildir/new/*", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	check_maildir(fx, 65534);

	/* A home nobody cannot write: a temporary failure, nothing made. */
	ro = xasprintf("%s/ro", fx->dir);
	assert_int_equal(mkdir(ro, 0755), 0);
	fx->t.home_override = ro;
	assert_int_equal(deliver(fx, MSG2, "a@b"), ST_TEMPFAIL);
	assert_non_null(strstr(fx->e.msg, "cannot create"));
	assert_non_null(strstr(fx->e.msg, "/ro/Maildir: Permission denied"));
	free(ro);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_mbox_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mbox_nobody, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_such_user, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_dotlock_held, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stale_lock, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fcntl_held, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_write_error_truncates,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_spool, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mbox_separator, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mbox_refuses, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mbox_chunks, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mbox_odd_input, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_not_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mail_reader, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_maildir_root, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_maildir_nobody, setup,
						teardown),
	};

	setenv("TZ", "UTC0", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
