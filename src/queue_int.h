/*
 * queue_int.h - what queue.c and queue_scan.c share: the queue handle
 * and file names. Not for other modules.
 */
#ifndef SENDMX_QUEUE_INT_H
#define SENDMX_QUEUE_INT_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#include "qctl.h"

struct queue {
	char *dir;       /* as given to queue_open, for messages */
	int dirfd;       /* the queue directory */
	int tmpfd;       /* tmp/ */
	int corruptfd;   /* corrupt/ */
};

/* A file name in the queue: "ID.c" or "ID.d". */
struct qname {
	char s[QUEUE_ID_LEN + 3];
};

static inline struct qname qname(const char *id, char ext)
{
	struct qname n;

	(void)snprintf(n.s, sizeof n.s, "%s.%c", id, ext);
	return n;
}

/* Whether name exists in dirfd (a symlink counts, unfollowed). */
static inline bool queue_exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

#endif
