/*
 * util.h - small helpers: allocation that never returns NULL, growable
 * byte buffers, string helpers.
 *
 * The x* allocators abort the process with a message on out-of-memory:
 * a mail submitter that cannot allocate a few bytes cannot do anything
 * sensible, and the caller sees a non-zero exit (the message was not taken).
 */
#ifndef SENDMX_UTIL_H
#define SENDMX_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array of nmemb elements of size bytes, checking overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf that aborts on failure. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#ifndef HAVE_STRLCPY
size_t strlcpy(char *dst, const char *src, size_t size);
#endif

/* A growable byte buffer; data is always NUL-terminated for convenience. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);              /* len = 0, keeps memory */
/* Makes room for extra more bytes (and the NUL) without changing len. */
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_appendf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ASCII case-insensitive helpers independent of locale. */
int ascii_strcasecmp(const char *a, const char *b);
int ascii_strncasecmp(const char *a, const char *b, size_t n);

/* True if s contains CR, LF, NUL-free control characters (< 0x20 or 0x7f).
 * Used to validate anything that reaches an SMTP command or header. */
bool has_control_chars(const char *s);

/* Makes text from elsewhere fit to show on a terminal, in a log or in a
 * reply, in place: each control (C0 with NUL, DEL, and the C1 controls
 * U+0080..U+009F) and each byte that is not part of valid UTF-8 becomes
 * `with` (one per byte); UTF-8 text stays as it is. */
void replace_controls(char *p, size_t n, char with);

/* "90", "90s", "15m", "1h", "5d", "2w" -> seconds in *out (0 .. INT_MAX).
 * false for anything else. */
bool parse_duration(const char *s, long *out);

/* Writes all n bytes to fd (a file: no short writes but the last),
 * retrying on EINTR; false with errno set (EIO for a write of 0). */
bool write_full(int fd, const void *p, size_t n);

/* Monotonic clock in milliseconds. */
long long now_ms(void);

/* Waits until fd is ready for events (POLLIN/POLLOUT) or the deadline
 * (a now_ms() value; < 0: none) passes, retrying on EINTR.
 * Returns 1 ready (an error or hangup pending counts: the next I/O call
 * reports it), 0 deadline passed, -1 poll failed (errno set). */
int poll_fd(int fd, short events, long long deadline);

#endif
