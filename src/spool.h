/*
 * spool.h - the file that holds one message while it is taken in,
 * written in its final wire form: every line ends in CRLF and no line
 * is longer than 998 octets (RFC 5322 2.1.1).
 *
 * The file is private from the start (mkstemp, mode 0600) and unlinked
 * at once, so nobody else can open it by name and it disappears however
 * the process exits. Writes go through a 64 KiB buffer.
 *
 * Failures are sticky: once a write has failed, every later write does
 * nothing and returns the same status and message.
 */
#ifndef SENDMX_SPOOL_H
#define SENDMX_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "status.h"

/* The fields are the module's; callers may read size, header_lines and
 * hi, and change nothing. */
struct spool {
	int fd;                 /* -1 until spool_open succeeds */
	char *buf;              /* write buffer */
	size_t len;             /* bytes waiting in buf */
	off_t size;             /* bytes written (buffered or not) */
	long max_size;          /* bound on size; 0: unlimited */
	size_t col;             /* octets on the current body line */
	size_t header_lines;    /* lines written by spool_write_field */
	unsigned char hi;       /* OR of header octets written: bit 7 means
				 * 8-bit data in the header section */
	bool too_big;           /* refused for max_size */
	enum status st;         /* first failure */
	struct err err;         /* its message */
};

/* Prepares s (no file yet); max_size bounds the message, 0: unlimited. */
void spool_init(struct spool *s, long max_size);
/* Closes the file if still held and frees the buffer. */
void spool_free(struct spool *s);

/*
 * Creates the file in dir ("/tmp" when NULL) and unlinks it.
 * Returns ST_OK, or ST_TEMPFAIL with err ("cannot create a spool file in
 * DIR: ...", "cannot unlink spool file PATH: ...").
 */
enum status spool_open(struct spool *s, const char *dir, struct err *err);

/*
 * Appends n bytes as they are. Returns ST_OK; ST_PERMFAIL with err
 * ("message larger than N bytes") when the message would grow beyond
 * max_size (nothing of these bytes is written then); ST_TEMPFAIL with
 * err ("cannot write the spool file: ...") when the file cannot be
 * written (disk full, ...).
 */
enum status spool_write(struct spool *s, const void *p, size_t n,
			struct err *err);

/*
 * Writes octets of a body line (no CR or LF among them), breaking the
 * line with CRLF after 998 octets: that changes it, but a relay would
 * refuse it whole. Errors as spool_write.
 */
enum status spool_write_body(struct spool *s, const char *p, size_t n,
			     struct err *err);
/* Ends the current body line with CRLF. Errors as spool_write. */
enum status spool_end_body_line(struct spool *s, struct err *err);

/*
 * Writes one header field, raw as held in a struct header_field
 * ("Name: value", lines joined with CRLF, no final CRLF), followed by
 * CRLF. Lines over 998 octets are folded at white space (RFC 5322
 * 2.2.3); where there is none, broken with CRLF SP (which adds a space
 * to the value but keeps the message deliverable). Counts the lines
 * written in header_lines and the octets in hi. Errors as spool_write.
 */
enum status spool_write_field(struct spool *s, const char *raw,
			      struct err *err);

/* Writes out the buffer. Errors as spool_write's ST_TEMPFAIL. */
enum status spool_flush(struct spool *s, struct err *err);

/* Moves the file offset back to the start, for the reader of the
 * message. Returns ST_OK, or ST_TEMPFAIL with err ("cannot rewind the
 * spool file: ..."); a failure from before is returned as it was. */
enum status spool_rewind(struct spool *s, struct err *err);

/* Hands the descriptor over to the caller, who closes it; s no longer
 * holds it. -1 when there is none. */
int spool_release(struct spool *s);

#endif
