/*
 * smtpd.h - "sendmx -bs": the server side of SMTP on stdin/stdout
 * (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, VRFY, HELP), feeding
 * each message into the same intake and delivery pipeline.
 */
#ifndef SENDMX_SMTPD_H
#define SENDMX_SMTPD_H

#include <stdio.h>

#include "intake.h"
#include "rewrite.h"
#include "status.h"

/* Called for each message taken in. Returns ST_OK when every recipient
 * was delivered (reply 250), ST_TEMPFAIL (451) or ST_PERMFAIL (554);
 * err's text goes into the reply. */
typedef enum status (*smtpd_message_fn)(void *ctx, struct message *msg,
					struct err *err);

struct smtpd_opts {
	const char *hostname;     /* in the greeting and EHLO reply */
	const char *login;        /* calling user */
	const char *spool_dir;
	long max_size;            /* SIZE advertised and enforced; 0: none */
	const struct rewrite *rewrite; /* for intake (intake.h); NULL: none */
};

/* Runs until QUIT or EOF. A message refused before fn is called (intake
 * refused it: too big, bad data) is logged here, fn's outcome by fn.
 * Returns ST_OK after QUIT, ST_TEMPFAIL on EOF or a write error (a
 * client that vanished mid-dialogue). */
enum status smtpd_run(FILE *in, FILE *out, const struct smtpd_opts *opts,
		      smtpd_message_fn fn, void *ctx);

#endif
