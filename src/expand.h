/*
 * expand.h - local recipients after intake: aliases expanded (aliases.c),
 * local names made mailboxes ("user@hostname", delivered by local.c) or,
 * with local_delivery = none, sent on as "user@masquerade_domain" (as
 * "user@hostname" when there is none: a null client's relay decides).
 *
 * The queue stores what comes out of here: a queued message never needs
 * the aliases file again.
 */
#ifndef SENDMX_EXPAND_H
#define SENDMX_EXPAND_H

#include <stdbool.h>
#include <stdio.h>

#include "address.h"
#include "config.h"
#include "status.h"
#include "util.h"

/* Is addr local (no domain, or hostname, or one of local_domains)? Its
 * local part into *localpart (allocated) when localpart is not NULL. */
bool expand_is_local(const struct config *cfg, const char *addr,
		     char **localpart);

/*
 * Expands every recipient of in into out (deduplicated). A recipient
 * that cannot be expanded (an alias loop, a refused or unsupported pipe
 * or file target) is left out and gets a
 * line "sendmx: <rcpt>: refused: <why>\n" in refusals; *nrefused counts
 * them. Returns ST_OK, or ST_TEMPFAIL with err when the aliases file
 * cannot be read now (then nothing is expanded); the file is only read
 * when some recipient is local.
 */
enum status expand_recipients(const struct config *cfg,
			      const struct address_list *in,
			      struct address_list *out, struct buf *refusals,
			      size_t *nrefused, struct err *err);

/* newaliases (-bi): checks the aliases file, each error on report as
 * "FILE:LINE: what"; returns the number of errors. */
size_t expand_check_aliases(const struct config *cfg, FILE *report);

#endif
