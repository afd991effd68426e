/*
 * intake.h - the message as taken in: stdin (or an SMTP DATA stream) is
 * streamed into a spool file in its final wire form.
 *
 * What the spool file holds: the completed header section (Date,
 * Message-ID, From added when missing; Bcc/Resent-Bcc removed), the
 * blank line, and the body; every line ends in CRLF, no line is longer
 * than 998 octets (see the man page: long header lines are folded, long
 * body lines are broken), and there is NO dot-stuffing (the SMTP sender
 * stuffs while streaming). Memory use does not depend on body size.
 */
#ifndef SENDMX_INTAKE_H
#define SENDMX_INTAKE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "address.h"
#include "line_reader.h"  /* enum dot_rule */
#include "rewrite.h"
#include "status.h"

struct intake_opts {
	enum dot_rule dots;
	bool extract_recipients;   /* -t */
	const char *hostname;      /* for Message-ID, the generated From, and
				    * to qualify bare local parts */
	const char *sender;        /* envelope sender from -f; NULL: not given */
	const char *full_name;     /* -F, for a generated From; NULL: none */
	const char *login;         /* calling user's login name (from the real uid) */
	const char *spool_dir;     /* where the temporary spool file goes, e.g. "/tmp" */
	long max_size;             /* refuse bigger messages; 0: unlimited */
	long max_header_bytes;     /* bound on the header section; 0: default 1 MiB */
	const struct rewrite *rewrite; /* sender_map, masquerade_domain,
				    * sender_rewrite (rewrite.h); NULL: none */
};

struct message {
	int spool_fd;              /* open, positioned anywhere; readable */
	char *spool_path;          /* already unlinked when NULL */
	off_t size;                /* bytes in the spool file */
	bool eightbit;             /* some byte >= 0x80 seen */
	char *sender;              /* envelope sender; "" for the null sender */
	char *message_id;          /* "<...>" as in the header */
	struct address_list rcpts; /* envelope recipients, deduplicated */
	size_t header_lines;       /* lines in the header section (for bounds) */
	bool too_big;              /* refused for max_size (set on failure too):
				    * -bs answers it with 552, RFC 1870 */
};

void message_init(struct message *m);
/* Closes and unlinks the spool file, frees everything. */
void message_free(struct message *m);

/*
 * Reads one message from in into a new spool file.
 *
 * Envelope sender: opts->sender when given, else login@hostname.
 * Envelope recipients: cmdline (already parsed, may be empty) plus, with
 * opts->extract_recipients, those of To/Cc/Bcc (or Resent-To/Cc/Bcc when
 * any Resent- header is present). A bare local part, as sender or
 * recipient, is qualified with @hostname (when hostname is set) before
 * duplicates are removed.
 *
 * Returns ST_OK; ST_PERMFAIL with err for bad input (no recipients, an
 * address in a header that does not parse, a message over max_size, a
 * header section over its bound, SMTP data ended by EOF); ST_TEMPFAIL
 * when the spool file cannot be written (disk full, permissions).
 */
enum status intake_read(FILE *in, const struct intake_opts *opts,
			const struct address_list *cmdline,
			struct message *msg, struct err *err);

#endif
