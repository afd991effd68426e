/*
 * local.c - local delivery: the user lookup and the privilege switch in
 * a child process (the parent waits for its report), and the copy of the
 * message into a mailbox shared by the mbox and Maildir writers.
 *
 * Why a child: setuid is for the whole process, and a delivery must
 * create its files as the user (a root-owned mailbox or Maildir entry in
 * a user's place is a hole and a nuisance). The child reports its status
 * and message through a pipe and _exits; the parent never depends on
 * waitpid for the outcome, so a caller's SIGCHLD handling that reaps
 * children first does not lose it.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "local.h"
#include "local_int.h"
#include "util.h"

#define IO_CHUNK (64 * 1024)

/* What the parent found out before the fork. */
struct prep {
	uid_t uid;
	gid_t gid;
	char *home;
	gid_t *groups;      /* for setgroups when we are root */
	size_t ngroups;
	bool as_root;
};

/* The copier's output: buffered, with the first write error kept. */
struct out {
	int fd;
	char *buf;
	size_t len;
	int werrno;
};

static bool valid_user_name(const char *user);
static enum status lookup(const struct local_target *t, struct prep *p,
			  struct err *err);
static void collect_groups(const struct local_target *t, struct prep *p);
static enum status run_child(const struct local_target *t,
			     const struct prep *p, struct local_job *j,
			     struct err *err);
static enum status child_main(const struct local_target *t,
			      const struct prep *p,
			      const struct local_job *j, struct err *err);
static enum status wait_child(pid_t pid, int rd, const char *user,
			      struct err *err);
static void out_put(struct out *o, const char *p, size_t n);
static void out_flush(struct out *o);
static void out_putc(struct out *o, char c);
static void out_gts(struct out *o, size_t n);

/* Deliveries started by this process, for Maildir's Q<n>: counted in the
 * parent, since each child starts from the parent's copy. */
static unsigned long delivery_counter;

/* ---- the parent ------------------------------------------------------- */

enum status local_deliver(const struct local_target *t, int spool_fd,
			  off_t size, const char *sender, long long arrival,
			  struct err *err)
{
	struct prep p = { 0 };
	struct local_job j = { 0 };
	char *clean = NULL;
	enum status st;

	if (t->how != LOCAL_MBOX && t->how != LOCAL_MAILDIR) {
		err_set(err, "local delivery is off (local_delivery = none)");
		return ST_PERMFAIL;
	}
	st = lookup(t, &p, err);
	if (st != ST_OK)
		goto out;
	collect_groups(t, &p);

	/* Addresses are validated upstream; a control octet that got this
	 * far must still not split a line of the mailbox. */
	clean = xstrdup(sender != NULL ? sender : "");
	replace_controls(clean, strlen(clean), '?');

	j.user = t->user;
	j.uid = p.uid;
	j.mail_spool = t->mail_spool != NULL ? t->mail_spool : "/var/mail";
	j.home = t->home_override != NULL ? t->home_override : p.home;
	j.lock_timeout_ms = t->lock_timeout_ms > 0 ? t->lock_timeout_ms :
			    LOCAL_LOCK_TIMEOUT_MS;
	j.spool_fd = spool_fd;
	j.size = size;
	j.sender = clean;
	j.arrival = arrival;
	j.counter = ++delivery_counter;
	st = run_child(t, &p, &j, err);
out:
	free(clean);
	free(p.home);
	free(p.groups);
	return st;
}

/* A name that is safe as the last part of a path: the mbox name is the
 * login name itself. */
static bool valid_user_name(const char *user)
{
	return user != NULL && *user != '\0' && *user != '.' &&
	       strchr(user, '/') == NULL && !has_control_chars(user);
}

static enum status lookup(const struct local_target *t, struct prep *p,
			  struct err *err)
{
	struct passwd *pw;
	uid_t me = geteuid();

	if (!valid_user_name(t->user)) {
		err_set(err, "no such local user: %s",
			t->user != NULL ? t->user : "(none)");
		return ST_PERMFAIL;
	}
	errno = 0;
	pw = getpwnam(t->user);
	if (pw == NULL) {
		/* getpwnam(3): these mean "not found"; anything else (EIO,
		 * EMFILE, an NSS server away) may pass. */
		if (errno == 0 || errno == ENOENT || errno == ESRCH ||
		    errno == EBADF || errno == EPERM) {
			err_set(err, "no such local user: %s", t->user);
			return ST_PERMFAIL;
		}
		err_set(err, "cannot look up local user %s: %s", t->user,
			strerror(errno));
		return ST_TEMPFAIL;
	}
	if (me != 0 && me != pw->pw_uid) {
		err_set(err, "cannot switch to user %s: not root", t->user);
		return ST_TEMPFAIL;
	}
	p->uid = pw->pw_uid;
	p->gid = pw->pw_gid;
	p->home = xstrdup(pw->pw_dir != NULL ? pw->pw_dir : "");
	p->as_root = me == 0;
	return ST_OK;
}

/*
 * The child's supplementary groups when we are root: the user's own, and
 * for mbox the spool directory's group when that may write there
 * (Debian: /var/mail root:mail 2775), so that the user's process can
 * create the mailbox and its dotlock, as setgid-mail readers can.
 */
static void collect_groups(const struct local_target *t, struct prep *p)
{
	const char *spool = t->mail_spool != NULL ? t->mail_spool : "/var/mail";
	int n = 16, want;
	struct stat sb;
	size_t i;

	if (!p->as_root)
		return;
	for (;;) {
		p->groups = xreallocarray(p->groups, (size_t)n + 1,
					  sizeof *p->groups);
		want = n;
		if (getgrouplist(t->user, p->gid, p->groups, &want) >= 0) {
			p->ngroups = (size_t)want;
			break;
		}
		if (want <= n) {
			/* Not growing: keep just the primary group. */
			p->groups[0] = p->gid;
			p->ngroups = 1;
			break;
		}
		n = want;
	}
	if (t->how != LOCAL_MBOX || stat(spool, &sb) != 0 ||
	    !S_ISDIR(sb.st_mode) || (sb.st_mode & S_IWGRP) == 0)
		return;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == sb.st_gid)
			return;
	p->groups[p->ngroups++] = sb.st_gid;  /* room: n + 1 above */
}

static enum status run_child(const struct local_target *t,
			     const struct prep *p, struct local_job *j,
			     struct err *err)
{
	int fds[2];
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		err_set(err, "cannot deliver to %s: pipe: %s", t->user,
			strerror(errno));
		return ST_TEMPFAIL;
	}
	pid = fork();
	if (pid < 0) {
		err_set(err, "cannot deliver to %s: fork: %s", t->user,
			strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return ST_TEMPFAIL;
	}
	if (pid == 0) {
		struct err e = { { 0 } };
		unsigned char st;

		close(fds[0]);
		st = (unsigned char)child_main(t, p, j, &e);
		/* One write of at most 1 + sizeof e.msg bytes; a pipe takes
		 * PIPE_BUF (4096) at once. */
		{
			char rep[1 + sizeof e.msg];
			size_t n = strnlen(e.msg, sizeof e.msg - 1);

			rep[0] = (char)st;
			memcpy(rep + 1, e.msg, n);
			(void)write_full(fds[1], rep, 1 + n);
		}
		_exit(0);
	}
	close(fds[1]);
	return wait_child(pid, fds[0], t->user, err);
}

/* In the child: become the user, then do the file work. */
static enum status child_main(const struct local_target *t,
			      const struct prep *p,
			      const struct local_job *j, struct err *err)
{
	struct sigaction sa;
	sigset_t alrm;

	/* The mbox lock wait relies on SIGALRM reaching us, whatever the
	 * caller had done with it. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGALRM, &sa, NULL);
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	(void)sigprocmask(SIG_UNBLOCK, &alrm, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	umask(077);
	if (p->as_root) {
		if (setgroups(p->ngroups, p->groups) != 0 ||
		    setgid(p->gid) != 0 || setuid(p->uid) != 0) {
			err_set(err, "cannot switch to user %s: %s", t->user,
				strerror(errno));
			return ST_TEMPFAIL;
		}
		/* setuid as root sets real, effective and saved uid: there
		 * must be no way back. */
		if (p->uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
			err_set(err, "cannot switch to user %s: root "
				"privilege still held", t->user);
			return ST_TEMPFAIL;
		}
	}
	if (t->how == LOCAL_MBOX)
		return local_mbox_deliver(j, err);
	return local_maildir_deliver(j, err);
}

static enum status wait_child(pid_t pid, int rd, const char *user,
			      struct err *err)
{
	char rep[1 + sizeof err->msg];
	size_t got = 0;
	ssize_t r;
	int ws = 0;
	pid_t w;
	enum status st;

	while (got < sizeof rep) {
		r = read(rd, rep + got, sizeof rep - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(rd);
	do
		w = waitpid(pid, &ws, 0);
	while (w < 0 && errno == EINTR);

	if (got == 0 || (unsigned char)rep[0] > ST_PERMFAIL) {
		if (w == pid && WIFSIGNALED(ws))
			err_set(err, "delivery process for %s killed by "
				"signal %d", user, WTERMSIG(ws));
		else
			err_set(err, "delivery process for %s ended without "
				"a report", user);
		return ST_TEMPFAIL;
	}
	st = (enum status)(unsigned char)rep[0];
	if (st != ST_OK && err != NULL) {
		size_t n = got - 1 < sizeof err->msg - 1 ? got - 1 :
			   sizeof err->msg - 1;

		memcpy(err->msg, rep + 1, n);
		err->msg[n] = '\0';
	}
	return st;
}

/* ---- shared by the writers (in the child) ----------------------------- */

enum status local_io_fail(struct err *err, const char *what, int e)
{
	if (e == EDQUOT)
		err_set(err, "%s: over quota (%s)", what, strerror(e));
	else if (e == ENOSPC)
		err_set(err, "%s: file system full (%s)", what, strerror(e));
	else
		err_set(err, "%s: %s", what, strerror(e));
	return ST_TEMPFAIL;
}

static void out_flush(struct out *o)
{
	if (o->werrno == 0 && o->len > 0 &&
	    !write_full(o->fd, o->buf, o->len))
		o->werrno = errno;
	o->len = 0;
}

static void out_put(struct out *o, const char *p, size_t n)
{
	size_t k;

	while (n > 0 && o->werrno == 0) {
		if (o->len == IO_CHUNK)
			out_flush(o);
		k = IO_CHUNK - o->len < n ? IO_CHUNK - o->len : n;
		memcpy(o->buf + o->len, p, k);
		o->len += k;
		p += k;
		n -= k;
	}
}

static void out_putc(struct out *o, char c)
{
	out_put(o, &c, 1);
}

static void out_gts(struct out *o, size_t n)
{
	while (n-- > 0)
		out_putc(o, '>');
}

/*
 * The copy is a byte-wise state machine so that a CR at the end of one
 * chunk and its LF at the start of the next, or a ">>From " split over
 * two chunks, are handled without holding lines: at the start of a line
 * the '>'s are only counted and the "From " letters matched, then
 * written out (with one more '>' for a match: mboxrd).
 */
enum status local_copy(const struct local_job *j, int fd, bool mboxrd,
		       const char *what, int *werrno, struct err *err)
{
	static const char from[] = "From ";
	struct out o = { fd, NULL, 0, 0 };
	char *chunk = xmalloc(IO_CHUNK);
	bool bol = mboxrd, cr = false;
	size_t gts = 0, nfrom = 0, i;
	char last = '\n';       /* last octet written; '\0': not a line end */
	enum status st = ST_OK;
	off_t pos = 0;
	ssize_t r;

	o.buf = xmalloc(IO_CHUNK);
	*werrno = 0;
	out_put(&o, "Return-Path: <", 14);
	out_put(&o, j->sender, strlen(j->sender));
	out_put(&o, ">\n", 2);
	while (pos < j->size && o.werrno == 0) {
		r = pread(j->spool_fd, chunk, j->size - pos > IO_CHUNK ?
			  IO_CHUNK : (size_t)(j->size - pos), pos);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err_set(err, "cannot read the spool file: %s",
				r < 0 ? strerror(errno) :
				"shorter than expected");
			st = ST_TEMPFAIL;
			goto out;
		}
		pos += r;
		for (i = 0; i < (size_t)r; i++) {
			char c = chunk[i];

			if (bol) {
				if (nfrom == 0 && c == '>') {
					gts++;
					continue;
				}
				if (c == from[nfrom]) {
					if (++nfrom < sizeof from - 1)
						continue;
					out_gts(&o, gts + 1);
					out_put(&o, from, nfrom);
					last = '\0';
					bol = false;
					continue;
				}
				out_gts(&o, gts);
				out_put(&o, from, nfrom);
				if (gts + nfrom > 0)
					last = '\0';
				bol = false;
			}
			if (cr && c != '\n') {
				out_putc(&o, '\r');
				last = '\r';
			}
			cr = c == '\r';
			if (cr)
				continue;
			out_putc(&o, c);
			last = c;
			if (c == '\n' && mboxrd) {
				bol = true;
				gts = nfrom = 0;
			}
		}
	}
	if (bol) {
		out_gts(&o, gts);
		out_put(&o, from, nfrom);
		if (gts + nfrom > 0)
			last = '\0';
	}
	if (cr) {
		out_putc(&o, '\r');
		last = '\r';
	}
	if (last != '\n')
		out_putc(&o, '\n');
	out_flush(&o);
out:
	if (st == ST_OK && o.werrno != 0) {
		*werrno = o.werrno;
		st = local_io_fail(err, what, o.werrno);
	}
	free(chunk);
	free(o.buf);
	return st;
}
