/*
 * log.c - the log sinks: an append-only file and syslog (facility mail).
 *
 * Each file line is written with a single write(2) on an O_APPEND
 * descriptor, so lines from concurrent sendmx processes never interleave.
 * Control characters (CR and LF above all: text from server replies ends
 * up here) are replaced by spaces, so that no one can forge a log line.
 */
#include "ac_config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static struct {
	int fd;              /* log file, or -1 */
	bool use_syslog;
	bool syslog_open;    /* openlog is done lazily, on the first line */
	char *user;          /* "user=alice: " prefix, or NULL */
} sink = { .fd = -1 };

static void log_line(int prio, const char *qid, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void write_file_line(const char *text);
static void write_syslog(int prio, const char *text);

void log_open(const char *log_file, bool use_syslog, const char *user)
{
	log_close();
	sink.use_syslog = use_syslog;
	if (user) {
		sink.user = xasprintf("user=%s: ", user);
		replace_controls(sink.user, strlen(sink.user), ' ');
	}
	if (log_file == NULL)
		return;
	sink.fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
		       O_NOCTTY, 0660);
	if (sink.fd < 0)
		/* Mail is not refused for a broken log: say so once. */
		fprintf(stderr, "sendmx: cannot open log file %s: %s\n",
			log_file, strerror(errno));
}

void log_close(void)
{
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = -1;
	if (sink.syslog_open)
		closelog();
	sink.syslog_open = false;
	sink.use_syslog = false;
	free(sink.user);
	sink.user = NULL;
}

void log_info(const char *qid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_INFO, qid, fmt, ap);
	va_end(ap);
}

void log_warn(const char *qid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_WARNING, qid, fmt, ap);
	va_end(ap);
}

void log_error(const char *qid, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_ERR, qid, fmt, ap);
	va_end(ap);
}

/* Builds "user=alice: QID: text" once; each sink adds its own prefix. */
static void log_line(int prio, const char *qid, const char *fmt, va_list ap)
{
	struct buf text;
	char *msg;

	if (sink.fd < 0 && !sink.use_syslog)
		return;
	buf_init(&text);
	if (sink.user)
		buf_appends(&text, sink.user);
	if (qid)
		buf_appendf(&text, "%s: ", qid);
	msg = xvasprintf(fmt, ap);
	buf_appends(&text, msg);
	free(msg);
	/* The qid is ours, but cleaning the whole line costs nothing. */
	replace_controls(text.data, text.len, ' ');
	if (sink.fd >= 0)
		write_file_line(text.data);
	if (sink.use_syslog)
		write_syslog(prio, text.data);
	buf_free(&text);
}

/* "2026-11-22T15:11:39+0000 sendmx[1234]: " + text + "\n", one write. */
static void write_file_line(const char *text)
{
	struct buf line;
	char stamp[64];
	struct tm tm;
	time_t now = time(NULL);
	size_t off = 0;
	ssize_t n;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S%z", &tm) == 0)
		memcpy(stamp, "-", 2);
	buf_init(&line);
	buf_appendf(&line, "%s sendmx[%ld]: %s\n", stamp, (long)getpid(), text);
	while (off < line.len) {
		n = write(sink.fd, line.data + off, line.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* a log that cannot be written must not stop mail */
		off += (size_t)n;
	}
	buf_free(&line);
}

static void write_syslog(int prio, const char *text)
{
	if (!sink.syslog_open) {
		openlog("sendmx", LOG_PID, LOG_MAIL);
		sink.syslog_open = true;
	}
	syslog(prio, "%s", text);
}
