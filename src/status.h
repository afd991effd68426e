/*
 * status.h - the one status vocabulary shared by every layer.
 *
 * Every operation that can fail returns an enum status and, on failure,
 * fills a struct err with a human-readable message (host:port, stage,
 * server reply where they apply). Only main.c turns a status into a
 * sysexits code.
 */
#ifndef SENDMX_STATUS_H
#define SENDMX_STATUS_H

#include <stdarg.h>
#include <stddef.h>

enum status {
	ST_OK = 0,       /* done */
	ST_TEMPFAIL = 1, /* not done now; may work later (4xx, timeout, no connection) */
	ST_PERMFAIL = 2  /* will never work as given (5xx, bad input) */
};

/* A failure message owned by the caller; libraries fill it, never print. */
struct err {
	char msg[1024];
};

/* Sets e->msg from a printf format. Truncates silently: the message is
 * ours, and a cut diagnostic is better than none. e may be NULL. */
void err_set(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Like err_set, with a va_list. */
void err_vset(struct err *e, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

#endif
