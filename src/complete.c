/*
 * complete.c - the fields a submission agent adds to a header section,
 * and the ones it takes away.
 *
 * What goes into a generated field comes from the caller (login, -F
 * full name, host name): control characters are stripped from it and a
 * display name is always quoted, so that no value can end the field and
 * start another one.
 */
#include "ac_config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "complete.h"
#include "util.h"

static bool is_wsp(char c);
static char *strip_controls(const char *s);
static const char *host_name(const char *hostname);
static char *quote_display(const char *name);

/* ---- helpers ---------------------------------------------------------- */

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Drops CR, LF, NUL-free controls and DEL: what goes into a generated
 * header must not be able to end the field and start another one. */
static char *strip_controls(const char *s)
{
	char *r = xstrdup(s), *w = r;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != 0x7f)
			*w++ = (char)c;
	}
	*w = '\0';
	return r;
}

static const char *host_name(const char *hostname)
{
	return hostname && *hostname ? hostname : "localhost";
}

/* RFC 5322 3.2.4: a display name as one quoted-string, always valid
 * whatever it holds; controls were removed by the caller. */
static char *quote_display(const char *name)
{
	struct buf b;

	buf_init(&b);
	buf_append(&b, "\"", 1);
	for (; *name; name++) {
		if (*name == '"' || *name == '\\')
			buf_append(&b, "\\", 1);
		buf_append(&b, name, 1);
	}
	buf_append(&b, "\"", 1);
	return b.data;
}

/* ---- generated fields --------------------------------------------------- */

/* RFC 5322 3.3 date-time in local time with its numeric zone. Names are
 * spelled out here: strftime's %a and %b follow the locale. */
char *complete_date(time_t t)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
					 "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
					    "May", "Jun", "Jul", "Aug",
					    "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;
	char sign = '+';

	if (localtime_r(&t, &tm) == NULL) {
		gmtime_r(&t, &tm);
		tm.tm_gmtoff = 0;
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	return xasprintf("%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
			 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
			 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 sign, off / 60, off % 60);
}

/* RFC 5322 3.6.4: "<time.pid.random@host>": unique without state. */
char *complete_message_id(const char *hostname)
{
	static unsigned counter;
	uint64_t r = 0;
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
		r = ((uint64_t)ts.tv_nsec << 32) ^ (uint64_t)ts.tv_sec ^
		    ((uint64_t)++counter << 48);
	gmtime_r(&ts.tv_sec, &tm);
	return xasprintf("<%04d%02d%02d%02d%02d%02d.%ld.%016llx@%s>",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid(),
			 (unsigned long long)r, host_name(hostname));
}

char *complete_local_address(const char *login, const char *hostname)
{
	char *clean = strip_controls(login ? login : "nobody");
	char *addr = xasprintf("%s@%s", clean, host_name(hostname));

	free(clean);
	return addr;
}

char *complete_from(const struct originator *o)
{
	char *addr, *name, *quoted, *v;

	if (*o->sender != '\0')
		addr = xstrdup(o->sender);
	else
		addr = complete_local_address(o->login, o->hostname);
	name = strip_controls(o->full_name ? o->full_name : "");
	if (*name == '\0') {
		free(name);
		return addr;
	}
	quoted = quote_display(name);
	v = xasprintf("%s <%s>", quoted, addr);
	free(quoted);
	free(name);
	free(addr);
	return v;
}

/* ---- the header section ------------------------------------------------- */

char *complete_headers(struct header_block *h, const struct originator *o)
{
	char *message_id;
	long i;

	/* Blind copies stay blind: never written, with or without -t. */
	header_remove(h, "Bcc");
	header_remove(h, "Resent-Bcc");
	if (!header_has(h, "Date")) {
		char *d = complete_date(time(NULL));

		header_add(h, "Date", d, false);
		free(d);
	}
	i = header_find(h, "Message-ID", 0);
	if (i >= 0) {
		char *v = header_value(h, (size_t)i);
		size_t n = strlen(v);

		while (n > 0 && (is_wsp(v[n - 1]) || v[n - 1] == '\r' ||
				 v[n - 1] == '\n'))
			v[--n] = '\0';
		message_id = v;
	} else {
		message_id = complete_message_id(o->hostname);
		header_add(h, "Message-ID", message_id, false);
	}
	if (!header_has(h, "From")) {
		char *f = complete_from(o);

		header_add(h, "From", f, false);
		free(f);
	}
	return message_id;
}
