/* status.c - the shared status vocabulary. */
#include "ac_config.h"

#include <stdio.h>

#include "status.h"

void err_vset(struct err *e, const char *fmt, va_list ap)
{
	if (e == NULL)
		return;
	/* Truncation is acceptable: the text is ours and only informative. */
	(void)vsnprintf(e->msg, sizeof e->msg, fmt, ap);
}

void err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vset(e, fmt, ap);
	va_end(ap);
}

