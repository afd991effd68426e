/*
 * local_int.h - what local.c shares with local_mbox.c and local_maildir.c.
 * Everything here runs in the delivery child, already switched to the
 * user; nothing here prints, exits or looks up names (NSS is done in the
 * parent, before the fork).
 */
#ifndef SENDMX_LOCAL_INT_H
#define SENDMX_LOCAL_INT_H

#include <stdbool.h>
#include <sys/types.h>

#include "status.h"

/* One delivery, as the child sees it. */
struct local_job {
	const char *user;
	uid_t uid;
	const char *mail_spool;    /* mbox */
	const char *home;          /* maildir */
	long lock_timeout_ms;
	int spool_fd;
	off_t size;
	const char *sender;        /* "" for the null sender; no controls */
	long long arrival;
	unsigned long counter;     /* maildir Q<n>: deliveries by this process */
};

/*
 * Writes the Return-Path line and the message (CRLF -> LF; with mboxrd,
 * ">*From " lines quoted with one more ">") to fd, and makes sure the
 * output ends with LF. Returns ST_OK, or ST_TEMPFAIL with err naming
 * `what` (the file written); *werrno is the errno of a failed write (0
 * when the spool file could not be read).
 */
enum status local_copy(const struct local_job *j, int fd, bool mboxrd,
		       const char *what, int *werrno, struct err *err);


/* The status for a failed write to a mailbox: always ST_TEMPFAIL; fills
 * err with "what: reason", naming quota and full disks plainly. */
enum status local_io_fail(struct err *err, const char *what, int e);

enum status local_mbox_deliver(const struct local_job *j, struct err *err);
enum status local_maildir_deliver(const struct local_job *j,
				  struct err *err);

#endif
