/*
 * line_reader.h - the message as a stream of lines: reads it from a
 * FILE, ends lines at LF, CRLF or a bare CR alike, and applies the dot
 * rule of the caller. What the lines hold goes to a sink; the reader
 * keeps nothing of it, so memory does not depend on message size.
 */
#ifndef SENDMX_LINE_READER_H
#define SENDMX_LINE_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "status.h"

enum dot_rule {
	DOT_ENDS,    /* default sendmail: a line "." ends the message */
	DOT_IGNORE,  /* -i / -oi: "." is data; only EOF ends the message */
	DOT_SMTP     /* -bs DATA: "." ends, leading dots are un-stuffed
		      * (RFC 5321 4.5.2); EOF before "." is an error */
};

/*
 * Where the lines go. data receives the octets of the current line
 * (never CR or LF; NUL and 8-bit octets as they came), possibly in
 * several pieces; eol says the current line has ended. Every line ends
 * with eol, including a last line that had no line end in the input
 * (SMTP data excepted: there EOF is an error). The line that ends the
 * message (".") is not passed on; in SMTP data the stuffed dot of a
 * line is removed before it is. Both get ctx.
 */
struct line_sink {
	void (*data)(void *ctx, const char *p, size_t n);
	void (*eol)(void *ctx);
	void *ctx;
};

struct line_reader;

/*
 * A reader of in under the dot rule dots, feeding sink (copied). Whether
 * it may read ahead of the message's end is decided here, once: with
 * DOT_IGNORE, or DOT_ENDS on a regular file, it reads whole blocks;
 * otherwise it never consumes a byte after the line that ends the
 * message (the next SMTP command in -bs, a terminal that stays open).
 * Never fails (allocation failure aborts, as everywhere).
 */
struct line_reader *line_reader_new(FILE *in, enum dot_rule dots,
				    const struct line_sink *sink);
/* Frees the reader; in stays open. r may be NULL. */
void line_reader_free(struct line_reader *r);

/*
 * Reads the next piece of input (at most 64 KiB) and feeds it to the
 * sink. At EOF the message ends: a pending line gets its missing line
 * end, and line_reader_ended() becomes true.
 *
 * Call it while line_reader_ended() is false (and callers that do not
 * want the rest may stop at any time). The caller is expected to hold
 * the FILE's lock (flockfile): input is read with getc_unlocked.
 *
 * Returns ST_OK; ST_TEMPFAIL with err ("cannot read the message: ...")
 * on a read error; ST_PERMFAIL with err ("SMTP data ended by EOF before
 * the final '.'") when DOT_SMTP input ends without its "." line. After
 * a failure the reader must not be called again.
 */
enum status line_reader_read(struct line_reader *r, struct err *err);

/* True once the message has ended: by its "." line or at EOF. */
bool line_reader_ended(const struct line_reader *r);

/* True if any octet of the message read so far had bit 7 set. */
bool line_reader_eightbit(const struct line_reader *r);

#endif
