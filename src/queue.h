/*
 * queue.h - the durable queue: messages kept on disk until every
 * recipient is done, with the state of each (qctl.h) beside them.
 *
 * Layout of the queue directory (config queue_dir):
 *   ID.d      the message in wire form, exactly as the intake spool
 *             holds it (CRLF, not dot-stuffed); created under this name
 *             and never replaced, so its flock(2) is the message's lock
 *   ID.c      the control file (qctl.h); its presence is what makes the
 *             message queued: it is written last and removed first
 *   tmp/      control files being written (then renamed into place)
 *   corrupt/  control files that did not parse, with their data files
 * Files are mode 0660 and tmp/ and corrupt/ 0770 (less the umask): the
 * queue belongs to sendmx's group when it is installed setgid, and a
 * message one user submitted must be readable by the sendmx another
 * user runs (mailq, -q).
 *
 * Writes are atomic: a control file is written under tmp/, fsync'd,
 * renamed over ID.c, and the directory fsync'd. A failed write (ENOSPC,
 * EDQUOT, EIO, EFBIG) leaves no file: the old control file, if any,
 * stays as it was.
 *
 * Status: ST_PERMFAIL from queue_open and queue_create means "cannot
 * create there" (missing directory, not a directory, permissions,
 * read-only file system): main exits EX_CANTCREAT (73). ST_TEMPFAIL is
 * transient (disk full, I/O error, too many open files, a lock held by
 * someone else): EX_TEMPFAIL. Every failure fills err with a message
 * naming the file or directory and the reason.
 *
 * Processes: any number may use one queue directory at once. Ids are
 * unique (O_EXCL); a message is worked on by whoever holds its lock.
 */
#ifndef SENDMX_QUEUE_H
#define SENDMX_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "qctl.h"
#include "status.h"

struct queue;

/*
 * Opens the queue directory dir, creating tmp/ and corrupt/ in it when
 * missing. Fails (see above) when dir is missing, not a directory or not
 * writable by us: "queue directory /var/spool/sendmx: Permission denied".
 */
enum status queue_open(const char *dir, struct queue **out, struct err *err);
void queue_close(struct queue *q);
const char *queue_path(const struct queue *q);

/*
 * Starts a new message: picks a fresh id (QUEUE_ID_LEN characters plus
 * NUL into id), creates ID.d exclusively (a clash retries with a new
 * id), and locks it. *data_fd is open read-write at offset 0: write the
 * message into it. The message is not queued until queue_commit; keep
 * data_fd open as long as the message is worked on: the lock belongs to
 * the open file, so it goes with the last descriptor closed (a forked
 * child that keeps data_fd keeps the lock). On a failed write of the
 * data, call queue_remove and close data_fd; a crashed writer's file is
 * removed by queue_cleanup. Returns ST_OK, ST_PERMFAIL or ST_TEMPFAIL
 * (see above).
 */
enum status queue_create(struct queue *q, char id[QUEUE_ID_LEN + 1],
			 int *data_fd, struct err *err);

/*
 * Makes the message c->id queued: writes its control file. With
 * durable, the data file, the control file and the directory are
 * fsync'd first, so the message survives a crash of the system: every
 * caller in sendmx passes true (a message delivered at once is never
 * written to the queue at all). Without it nothing is fsync'd, which
 * only a test or a throw-away queue may want. data_fd (from
 * queue_create) stays open and locked: deliver from it at once. Returns
 * ST_OK, ST_TEMPFAIL (I/O; no control file is then left: queue_remove
 * the data), or ST_PERMFAIL (c cannot be written: see qctl_format).
 */
enum status queue_commit(struct queue *q, const struct qctl *c, int data_fd,
			 bool durable, struct err *err);

/*
 * Replaces the control file of c->id atomically (tmp, fsync, rename,
 * fsync of the directory). The caller holds the message's lock. Returns
 * ST_OK; ST_TEMPFAIL on I/O errors (the old control file stays);
 * ST_PERMFAIL when c cannot be written or the message is not queued.
 */
enum status queue_update(struct queue *q, const struct qctl *c,
			 struct err *err);

/*
 * Removes a message: the control file first (from then on it is not
 * queued), then the data file. A missing file is not an error, so it
 * also drops an uncommitted message. The directory is not fsync'd: after
 * a system crash a removed message may come back and be delivered again
 * (at least once, never lost). ST_TEMPFAIL when a file cannot be
 * removed.
 */
enum status queue_remove(struct queue *q, const char *id, struct err *err);

/*
 * Locks a queued message for delivery: opens ID.d read-only and takes
 * flock(LOCK_EX|LOCK_NB) on it; *data_fd holds the lock until closed (a
 * crashed holder's lock goes away with it). Returns ST_OK; ST_TEMPFAIL
 * "ID: locked by another process" when held (or on I/O errors);
 * ST_PERMFAIL when the message is not (or no longer) queued.
 */
enum status queue_lock(struct queue *q, const char *id, int *data_fd,
		       struct err *err);

/*
 * Reads and parses ID.c into *out (free with qctl_free). The caller
 * should hold the lock. A control file that does not parse, names
 * another id, or has no data file is moved to corrupt/ with its data
 * file, logged with log_error, and ST_PERMFAIL returned ("control file
 * DIR/ID.c: line 7: rcpt: bad attempts count; moved to corrupt/").
 * ST_PERMFAIL also when the message is not queued (nothing moved);
 * ST_TEMPFAIL on I/O errors.
 */
enum status queue_load(struct queue *q, const char *id, struct qctl *out,
		       struct err *err);

/* Like queue_load, but moves nothing and logs nothing (for listings,
 * which may run without the lock or the right to move files): a bad
 * control file is ST_PERMFAIL "control file DIR/ID.c: line 3: ...". */
enum status queue_read(struct queue *q, const char *id, struct qctl *out,
		       struct err *err);

/* Whether another open file holds the message's lock (a delivery is
 * running). It tries a shared lock for an instant: a queue_lock at that
 * very moment fails with "locked" and is retried on the next run. */
bool queue_is_locked(struct queue *q, const char *id);

/*
 * The ids of all queued messages (those with a control file), sorted,
 * hence by arrival. *ids is an allocated array of *n allocated strings
 * (free with queue_free_ids). ST_TEMPFAIL when the directory cannot be
 * read.
 */
enum status queue_scan(struct queue *q, char ***ids, size_t *n,
		       struct err *err);
void queue_free_ids(char **ids, size_t n);

/*
 * Removes crash leftovers older than older_than_s seconds (by mtime):
 * files in tmp/, and data files without a control file that nobody has
 * locked (a message being written is locked by its writer). Each
 * removal is logged with log_warn. Returns how many files were removed.
 */
size_t queue_cleanup(struct queue *q, long long older_than_s);

/* Space a message takes on disk, data and control file (st_blocks * 512),
 * into *bytes. ST_PERMFAIL when not there, ST_TEMPFAIL on other errors. */
enum status queue_disk_bytes(struct queue *q, const char *id,
			     long long *bytes, struct err *err);

#endif
