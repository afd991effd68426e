/*
 * verify.h - -bv: says, for each recipient, how it would be delivered
 * (relay or route with its addresses, or the MX hosts in the order they
 * would be tried), or why it cannot be. Looks things up; sends nothing.
 */
#ifndef SENDMX_VERIFY_H
#define SENDMX_VERIFY_H

#include <stdio.h>

#include "address.h"
#include "config.h"
#include "status.h"

/* One paragraph per recipient on out. Returns ST_OK when every
 * recipient is deliverable now, ST_TEMPFAIL when some is not for a
 * reason that may pass, else ST_PERMFAIL; ST_TEMPFAIL with err when the
 * resolver cannot start. */
enum status verify_recipients(const struct config *cfg, const char *sender,
			      const struct address_list *rcpts, FILE *out,
			      struct err *err);

#endif
