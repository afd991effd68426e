/*
 * cli.h - the sendmail command line, parsed into one immutable
 * struct invocation. No file is read here.
 *
 * Program name decides the default mode: "mailq" means -bp, "newaliases"
 * means -bi, anything else (sendmx, sendmail) means -bm.
 */
#ifndef SENDMX_CLI_H
#define SENDMX_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"

enum mode {
	MODE_DELIVER,     /* -bm (default): read a message on stdin and deliver it */
	MODE_VERIFY,      /* -bv: print how each recipient would be routed */
	MODE_SMTP,        /* -bs: SMTP server dialogue on stdin/stdout */
	MODE_PRINT_QUEUE, /* -bp, mailq */
	MODE_QUEUE_RUN,   /* -q[...] */
	MODE_NEWALIASES,  /* -bi, newaliases */
	MODE_VERSION      /* --version */
};

struct invocation {
	enum mode mode;
	const char *progname;      /* basename of argv[0] */
	const char *config_path;   /* -C; NULL: the default path */
	const char *sender;        /* -f / -r; NULL: not given; "" : null sender (-f '<>') */
	const char *full_name;     /* -F; NULL: not given */
	bool extract_recipients;   /* -t */
	bool ignore_dots;          /* -i, -oi: a lone "." does not end the message */
	bool verbose;              /* -v */
	const char *queue_arg;     /* text after -q (may be ""), for MODE_QUEUE_RUN */
	char delivery_mode;        /* -od<c>: 'i', 'b', 'q', 'd' (sendmail's
				    * "deferred", queues like 'q') as given,
				    * or 0 when not given */

	const char *dsn_notify;    /* -N: "never" or "success,failure,delay"
				    * (validated); NULL: not given */
	const char *dsn_ret;       /* -R: "full" or "hdrs"; NULL: not given */
	const char *envid;         /* -V: RFC 3461 envelope id; NULL: none */

	/* Recipients exactly as given on the command line: each entry may
	 * still be a comma-separated list with display names; the address
	 * parser splits them later. */
	char **recipients;
	size_t nrecipients;

	/* One line per accepted-but-ignored option ("ignoring -B 8BITMIME
	 * (body type is detected from the message)"), printed by main
	 * under -v. */
	char **ignored;
	size_t nignored;
};

/*
 * Parses argv. Returns ST_OK and fills *inv (which must later be given
 * to cli_free), or ST_PERMFAIL with err set for a usage error (unknown
 * flag, missing argument, a mode sendmx does not have); main prints the
 * usage text and exits EX_USAGE. argv must outlive *inv: strings point
 * into it where possible.
 */
enum status cli_parse(int argc, char **argv, struct invocation *inv,
		      struct err *err);

void cli_free(struct invocation *inv);

/* The usage text, for stderr. */
const char *cli_usage(void);

#endif
