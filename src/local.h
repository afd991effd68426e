/*
 * local.h - delivery to a local user's mailbox: an mbox file in the mail
 * spool (/var/mail/<user>) or a Maildir under the user's home.
 *
 * The file work runs in a child process that has switched to the user's
 * uid and groups, so every file it creates (mailbox, lock, Maildir and
 * its entries) belongs to the user and no root-owned file ends up in a
 * user's place. The caller (the parent) only looks the user up, prepares
 * the group list and waits for the child's report. The child inherits
 * spool_fd (already open, read with pread: the offset is not moved).
 *
 * What the user gets: a "Return-Path: <sender>" line (RFC 5321 4.4: the
 * final delivery adds it; "<>" for the null sender) followed by the
 * message with its CRLF line ends turned into LF. mbox adds a
 * "From sender date" line before it (the null sender as MAILER-DAEMON,
 * the date in asctime form, local time, of arrival), quotes body lines
 * mboxrd-style (a line matching ">*From " gets one more ">") and ends the
 * message with a blank line.
 *
 * Privileges: when the process runs as root the child calls setgroups
 * (the user's groups from getgrouplist), setgid and setuid. For mbox,
 * when the spool directory is group-writable (Debian: /var/mail is
 * root:mail 2775) its group is added as a supplementary group, as
 * Debian's setgid-mail readers have it, so that the child can create
 * <user> and <user>.lock there; the child then runs only this module's
 * code and, having changed its credentials, is not dumpable (the user
 * cannot ptrace it). Without root, delivery works only to our own user
 * (the child keeps the process's groups, e.g. a setgid-mail binary's).
 */
#ifndef SENDMX_LOCAL_H
#define SENDMX_LOCAL_H

#include <sys/types.h>

#include "config.h"  /* enum local_delivery */
#include "status.h"

#define LOCAL_LOCK_TIMEOUT_MS 30000    /* default wait for the locks */
#define LOCAL_STALE_LOCK_SECONDS 300   /* a dotlock this old is removed */

struct local_target {
	const char *user;          /* login name */
	enum local_delivery how;   /* LOCAL_MBOX or LOCAL_MAILDIR */
	const char *mail_spool;    /* mbox directory, e.g. "/var/mail" */
	const char *home_override; /* maildir: this directory instead of the
				    * user's home from the password file
				    * (tests); NULL normally */
	long lock_timeout_ms;      /* mbox: total wait for the dotlock and the
				    * fcntl lock; 0: LOCAL_LOCK_TIMEOUT_MS */
};

/*
 * Delivers the message (spool_fd, size octets from offset 0, wire form:
 * CRLF lines, not dot-stuffed) from the envelope sender ("" for the null
 * sender) to t->user's mailbox; arrival (seconds since the epoch) dates
 * the mbox From_ line.
 *
 * mbox: t->mail_spool/<user>, created if missing (owned by the user, mode
 * 0600; an existing file must be a regular file owned by the user with
 * one link, and is never followed as a symlink). Locked with a dotlock
 * (<mbox>.lock, O_EXCL; one older than LOCAL_STALE_LOCK_SECONDS is
 * removed; retried with backoff) and then fcntl F_SETLKW, both within
 * lock_timeout_ms. The message is appended and fsync'ed; when a write or
 * the fsync fails the file is truncated back to its old size.
 *
 * maildir: <home>/Maildir/{tmp,new,cur} created if missing (0700); the
 * message is written to tmp/<name>, fsync'ed, linked into new/<name>
 * (renamed where hard links are not supported) and new/ fsync'ed. The
 * name is "<sec>.M<usec>P<pid>Q<n>.<host>", host being gethostname()
 * with "/" as "\057" and ":" as "\072".
 *
 * Returns ST_OK; ST_PERMFAIL with err "no such local user: X" (or for a
 * user name that cannot be a file name, or t->how LOCAL_NONE);
 * ST_TEMPFAIL with err for everything else: "cannot switch to user X:
 * not root" (not root and X is not us), I/O errors, a lock not had in
 * time, a full disk or quota (ENOSPC, EDQUOT), a child that died.
 */
enum status local_deliver(const struct local_target *t, int spool_fd,
			  off_t size, const char *sender, long long arrival,
			  struct err *err);

#endif
