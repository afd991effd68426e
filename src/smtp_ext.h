/*
 * smtp_ext.h - the service extensions a server lists in its EHLO reply
 * (RFC 5321 4.1.1.1), as the SMTP client needs them.
 *
 * Pure: it reads reply text and fills a struct, nothing else.
 */
#ifndef SENDMX_SMTP_EXT_H
#define SENDMX_SMTP_EXT_H

#include <stdbool.h>

#include "reply.h"
#include "util.h"

struct smtp_ext {
	bool pipelining;       /* RFC 2920 */
	bool eightbitmime;     /* RFC 6152 */
	bool enhanced;         /* RFC 2034 ENHANCEDSTATUSCODES */
	bool starttls;         /* RFC 3207 */
	bool size;             /* RFC 1870 */
	long long size_max;    /* 0: none declared (RFC 1870 4) */
	bool auth;             /* RFC 4954 */
	struct buf auth_mechs; /* space-separated; "" without AUTH */
};

/* Nothing offered. Pair with smtp_ext_free. */
void smtp_ext_init(struct smtp_ext *e);

/* Forgets every extension (after HELO, or after STARTTLS: RFC 3207
 * 4.2); keeps the memory of auth_mechs. */
void smtp_ext_clear(struct smtp_ext *e);

void smtp_ext_free(struct smtp_ext *e);

/*
 * Adds what a 2xx EHLO reply lists to e (call smtp_ext_clear first for a
 * fresh set). The first line of the reply is the server's greeting and is
 * skipped; each further line is "keyword [params]". Keywords are matched
 * without regard to case; unknown ones are ignored. Several AUTH lines
 * (and the old "AUTH=..." form) add to one list. SIZE without a positive
 * number leaves size_max 0. Never fails.
 */
void smtp_ext_parse(struct smtp_ext *e, const struct smtp_reply *r);

#endif
