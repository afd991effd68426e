/*
 * log.h - the one log API. Lines go to the log file (each with date,
 * "sendmx[pid]", the calling user) and/or syslog (facility mail). Every
 * message line names the queue id. Secrets must never be passed in.
 */
#ifndef SENDMX_LOG_H
#define SENDMX_LOG_H

#include <stdbool.h>

/* Opens the sinks. log_file may be NULL; a log file that cannot be opened
 * is reported once on stderr and skipped (mail is not refused for it). */
void log_open(const char *log_file, bool use_syslog, const char *user);
void log_close(void);

/* qid may be NULL for lines not about one message. */
void log_info(const char *qid, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_warn(const char *qid, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_error(const char *qid, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
