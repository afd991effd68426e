/*
 * qctl.c - control file text: writing it and reading it back.
 *
 * The parser trusts nothing: a control file may be cut short by a disk
 * problem, edited by hand, or left by another version. Every field is
 * checked, and the first problem is reported with its line number, so
 * that queue.c can move the file aside and say why.
 */
#include "ac_config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qctl.h"

#define MAGIC "sendmx-queue"
#define NUM_DIGITS_MAX 18      /* < LLONG_MAX: no overflow check needed */

/* Header keys, each exactly once. */
enum key {
	K_ID, K_ARRIVAL, K_SENDER, K_SIZE, K_EIGHTBIT, K_MESSAGE_ID,
	K_DSN_RET, K_DSN_NOTIFY, K_ENVID, K_IS_BOUNCE, K_DELAY_NOTIFIED,
	K_COUNT
};

static const char *const key_names[K_COUNT] = {
	"id", "arrival", "sender", "size", "eightbit", "message-id",
	"dsn-ret", "dsn-notify", "envid", "is-bounce", "delay-notified"
};

static const char *const state_names[] = {
	"pending", "sent", "failed", "bounced"
};

static const char *const notify_names[] = {
	"never", "success", "failure", "delay"   /* bit 0, 1, 2, 3 */
};

struct parser {
	struct qctl *c;
	size_t line;             /* number of the line being parsed */
	bool seen[K_COUNT];
	struct err *err;
};

static bool is_xchar(unsigned char ch);
static void put_xtext(struct buf *b, const char *s);
static bool get_xtext(const char *tok, char **out);
static bool get_number(const char *s, long long max, long long *out);
static bool get_bool(const char *s, bool *out);
static void put_notify(struct buf *b, unsigned notify);
static bool get_notify(const char *s, unsigned *out);
static size_t cut_utf8(const char *s, size_t n, size_t max);
static size_t longest_line(const char *s, size_t n);
static bool fail(struct parser *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static bool parse_header(struct parser *p, const char *key, const char *val);
static bool parse_rcpt(struct parser *p, char *rest);
static bool parse_line(struct parser *p, char *line);

/* ---- small pieces ------------------------------------------------------ */

/* RFC 3461 4: xchar is "!".."~" except "+" and "=". */
static bool is_xchar(unsigned char ch)
{
	return ch >= '!' && ch <= '~' && ch != '+' && ch != '=';
}

static void put_xtext(struct buf *b, const char *s)
{
	if (s == NULL || *s == '\0') {
		buf_appends(b, "-");
		return;
	}
	if (strcmp(s, "-") == 0) {
		buf_appends(b, "+2D");
		return;
	}
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (is_xchar(*p))
			buf_append(b, p, 1);
		else
			buf_appendf(b, "+%02X", *p);
	}
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* "-" gives NULL; otherwise the decoded string, without NUL octets. */
static bool get_xtext(const char *tok, char **out)
{
	struct buf b;

	*out = NULL;
	if (*tok == '\0')
		return false;
	if (strcmp(tok, "-") == 0)
		return true;
	buf_init(&b);
	for (const char *p = tok; *p; p++) {
		if (*p == '+') {
			int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
			char ch;

			if (lo < 0 || (hi == 0 && lo == 0)) {
				buf_free(&b);
				return false;
			}
			ch = (char)(hi * 16 + lo);
			buf_append(&b, &ch, 1);
			p += 2;
		} else if (is_xchar((unsigned char)*p)) {
			buf_append(&b, p, 1);
		} else {
			buf_free(&b);
			return false;
		}
	}
	*out = b.data;
	return true;
}

static bool get_number(const char *s, long long max, long long *out)
{
	long long v = 0;
	size_t n = 0;

	for (; s[n] >= '0' && s[n] <= '9'; n++) {
		if (n == NUM_DIGITS_MAX)
			return false;
		v = v * 10 + (s[n] - '0');
	}
	if (n == 0 || s[n] != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

static bool get_bool(const char *s, bool *out)
{
	if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
		return false;
	*out = s[0] == '1';
	return true;
}

static void put_notify(struct buf *b, unsigned notify)
{
	const char *sep = "";

	if (notify == 0) {
		buf_appends(b, "-");
		return;
	}
	for (size_t i = 0; i < 4; i++) {
		if (notify & (1u << i)) {
			buf_appendf(b, "%s%s", sep, notify_names[i]);
			sep = ",";
		}
	}
}

static bool get_notify(const char *s, unsigned *out)
{
	unsigned v = 0;

	if (strcmp(s, "-") == 0) {
		*out = 0;
		return true;
	}
	while (*s) {
		size_t len = strcspn(s, ",");
		size_t i;

		for (i = 0; i < 4; i++)
			if (strlen(notify_names[i]) == len &&
			    strncmp(s, notify_names[i], len) == 0)
				break;
		if (i == 4 || (v & (1u << i)))
			return false;
		v |= 1u << i;
		s += len;
		if (*s == ',' && *++s == '\0')
			return false;       /* trailing comma */
	}
	if ((v & QDSN_NOTIFY_NEVER) && v != QDSN_NOTIFY_NEVER)
		return false;               /* RFC 3461 4.1 */
	*out = v;
	return true;
}

/* Length of s[0..n) cut to at most max octets, not inside a UTF-8
 * sequence: a cut character would make the rest of the text invalid. */
static size_t cut_utf8(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	n = max;
	/* Back over at most the 3 continuation octets a UTF-8 character
	 * can have: a longer run is not UTF-8, and must not eat the text. */
	for (int k = 0; k < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80;
	     k++)
		n--;
	return n;
}

/* The number of the first line of s[0..n) over QCTL_LINE_MAX; 0: none. */
static size_t longest_line(const char *s, size_t n)
{
	size_t line = 1, ls = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\n')
			continue;
		if (i - ls > QCTL_LINE_MAX)
			return line;
		line++;
		ls = i + 1;
	}
	return 0;
}

/* ---- formatting ---------------------------------------------------------- */

enum status qctl_format(const struct qctl *c, struct buf *out,
			struct err *err)
{
	size_t start, line;

	if (!qctl_valid_id(c->id)) {
		err_set(err, "control file: bad queue id");
		return ST_PERMFAIL;
	}
	if (c->sender == NULL || c->nrcpts == 0 || c->arrival < 0 ||
	    c->size < 0 || (unsigned)c->dsn_ret > QDSN_RET_HDRS ||
	    c->dsn_notify > 0xFu ||
	    ((c->dsn_notify & QDSN_NOTIFY_NEVER) &&
	     c->dsn_notify != QDSN_NOTIFY_NEVER)) {
		err_set(err, "control file %s: missing sender or recipients, "
			"or a bad number or DSN value", c->id);
		return ST_PERMFAIL;
	}
	start = out->len;
	buf_appendf(out, MAGIC " %d\nid %s\narrival %lld\nsender ",
		    QCTL_VERSION, c->id, c->arrival);
	put_xtext(out, c->sender);
	buf_appendf(out, "\nsize %lld\neightbit %d\nmessage-id ", c->size,
		    c->eightbit);
	put_xtext(out, c->message_id);
	buf_appendf(out, "\ndsn-ret %s\ndsn-notify ",
		    c->dsn_ret == QDSN_RET_FULL ? "full" :
		    c->dsn_ret == QDSN_RET_HDRS ? "hdrs" : "-");
	put_notify(out, c->dsn_notify);
	buf_appends(out, "\nenvid ");
	put_xtext(out, c->envid);
	buf_appendf(out, "\nis-bounce %d\ndelay-notified %d\n", c->is_bounce,
		    c->delay_notified);
	for (size_t i = 0; i < c->nrcpts; i++) {
		const struct qrcpt *r = &c->rcpts[i];

		if (r->addr == NULL || (unsigned)r->state > QRCPT_BOUNCED ||
		    r->attempts < 0 || r->next_try < 0 || r->last_try < 0) {
			err_set(err, "control file %s: recipient %zu has no "
				"address or a bad state or number", c->id,
				i + 1);
			return ST_PERMFAIL;
		}
		buf_appendf(out, "rcpt %s %d %lld %lld ",
			    state_names[r->state], r->attempts, r->next_try,
			    r->last_try);
		put_xtext(out, r->orcpt);
		buf_appends(out, " ");
		put_xtext(out, r->addr);
		buf_appends(out, " ");
		put_xtext(out, r->relay);
		if (r->last_error != NULL && r->last_error[0] != '\0') {
			size_t n = cut_utf8(r->last_error,
					    strlen(r->last_error),
					    QCTL_ERROR_MAX);
			size_t at = out->len + 1;

			buf_appends(out, " ");
			buf_append(out, r->last_error, n);
			replace_controls(out->data + at, n, ' ');
		}
		buf_appends(out, "\n");
	}
	buf_appends(out, "end\n");
	line = longest_line(out->data + start, out->len - start);
	if (line > 0) {
		err_set(err, "control file %s: line %zu is longer than %d "
			"octets (an address or value too long)", c->id, line,
			QCTL_LINE_MAX);
		return ST_PERMFAIL;
	}
	return ST_OK;
}

/* ---- parsing ------------------------------------------------------------- */

static bool fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	char what[512];

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	err_set(p->err, "line %zu: %s", p->line, what);
	return false;
}

static bool parse_header(struct parser *p, const char *key, const char *val)
{
	struct qctl *c = p->c;
	size_t k;
	bool ok = true;

	for (k = 0; k < K_COUNT; k++)
		if (strcmp(key, key_names[k]) == 0)
			break;
	if (k == K_COUNT)
		return fail(p, "unknown key \"%.40s\"", key);
	if (p->seen[k])
		return fail(p, "duplicate key \"%s\"", key);
	p->seen[k] = true;

	switch ((enum key)k) {
	case K_ID:
		ok = qctl_valid_id(val);
		if (ok)
			memcpy(c->id, val, QUEUE_ID_LEN + 1);
		break;
	case K_ARRIVAL:
		ok = get_number(val, LLONG_MAX, &c->arrival);
		break;
	case K_SENDER:
		ok = get_xtext(val, &c->sender);
		if (ok && c->sender == NULL)
			c->sender = xstrdup("");     /* "-": null sender */
		break;
	case K_SIZE:
		ok = get_number(val, LLONG_MAX, &c->size);
		break;
	case K_EIGHTBIT:
		ok = get_bool(val, &c->eightbit);
		break;
	case K_MESSAGE_ID:
		ok = get_xtext(val, &c->message_id);
		break;
	case K_DSN_RET:
		if (strcmp(val, "-") == 0)
			c->dsn_ret = QDSN_RET_UNSET;
		else if (strcmp(val, "full") == 0)
			c->dsn_ret = QDSN_RET_FULL;
		else if (strcmp(val, "hdrs") == 0)
			c->dsn_ret = QDSN_RET_HDRS;
		else
			ok = false;
		break;
	case K_DSN_NOTIFY:
		ok = get_notify(val, &c->dsn_notify);
		break;
	case K_ENVID:
		ok = get_xtext(val, &c->envid);
		break;
	case K_IS_BOUNCE:
		ok = get_bool(val, &c->is_bounce);
		break;
	case K_DELAY_NOTIFIED:
		ok = get_bool(val, &c->delay_notified);
		break;
	case K_COUNT:
		break;
	}
	if (!ok)
		return fail(p, "bad %s value", key);
	return true;
}

/* rest: "STATE ATTEMPTS NEXT LAST ORCPT ADDR RELAY[ ERROR]". */
static bool parse_rcpt(struct parser *p, char *rest)
{
	static const char *const names[] = {
		"state", "attempts count", "next try time", "last try time",
		"orcpt", "address", "relay"
	};
	char *tok[7];
	struct qrcpt r = { 0 };
	long long v;
	size_t i;

	for (i = 0; i < 7; i++) {
		char *sp = strchr(rest, ' ');

		tok[i] = rest;
		if (sp != NULL) {
			*sp = '\0';
			rest = sp + 1;
		} else {
			rest = NULL;
		}
		if (*tok[i] == '\0')
			return fail(p, "rcpt: empty %s", names[i]);
		if (rest == NULL && i < 6)
			return fail(p, "rcpt: missing %s", names[i + 1]);
	}
	for (i = 0; i < 4; i++)
		if (strcmp(tok[0], state_names[i]) == 0)
			break;
	if (i == 4)
		return fail(p, "rcpt: bad state \"%.20s\"", tok[0]);
	r.state = (enum qrcpt_state)i;
	if (!get_number(tok[1], INT_MAX, &v))
		return fail(p, "rcpt: bad attempts count");
	r.attempts = (int)v;
	if (!get_number(tok[2], LLONG_MAX, &r.next_try))
		return fail(p, "rcpt: bad next try time");
	if (!get_number(tok[3], LLONG_MAX, &r.last_try))
		return fail(p, "rcpt: bad last try time");
	if (!get_xtext(tok[4], &r.orcpt))
		return fail(p, "rcpt: bad orcpt");
	if (!get_xtext(tok[5], &r.addr) || r.addr == NULL) {
		free(r.orcpt);
		return fail(p, "rcpt: bad address");
	}
	if (!get_xtext(tok[6], &r.relay)) {
		free(r.orcpt);
		free(r.addr);
		return fail(p, "rcpt: bad relay");
	}
	if (rest != NULL && *rest != '\0')
		r.last_error = xstrdup(rest);
	p->c->rcpts = xreallocarray(p->c->rcpts, p->c->nrcpts + 1,
				    sizeof *p->c->rcpts);
	p->c->rcpts[p->c->nrcpts++] = r;
	return true;
}

static bool parse_line(struct parser *p, char *line)
{
	char *sp = strchr(line, ' ');

	if (sp == NULL)
		return fail(p, "no value for \"%.40s\"", line);
	*sp = '\0';
	if (strcmp(line, "rcpt") == 0)
		return parse_rcpt(p, sp + 1);
	return parse_header(p, line, sp + 1);
}

enum status qctl_parse(const char *text, size_t n, struct qctl *out,
		       struct err *err)
{
	struct parser p = { .c = out, .err = err };
	char *line = xmalloc(QCTL_LINE_MAX + 1);
	size_t off = 0;
	bool ended = false, ok = true;

	qctl_init(out);
	while (ok && off < n) {
		const char *nl = memchr(text + off, '\n', n - off);
		size_t len = nl ? (size_t)(nl - (text + off)) : n - off;

		p.line++;
		if (ended) {
			ok = fail(&p, "text after end");
			break;
		}
		if (nl == NULL) {
			ok = fail(&p, "last line has no newline");
			break;
		}
		if (len > QCTL_LINE_MAX) {
			ok = fail(&p, "line too long");
			break;
		}
		memcpy(line, text + off, len);
		line[len] = '\0';
		off += len + 1;
		for (size_t i = 0; i < len; i++) {
			unsigned char ch = (unsigned char)line[i];

			if (ch < 0x20 || ch == 0x7f) {
				ok = fail(&p, "control character");
				break;
			}
		}
		if (!ok)
			break;
		if (p.line == 1) {
			long long v;

			if (strncmp(line, MAGIC " ", sizeof MAGIC) != 0)
				ok = fail(&p, "not a sendmx control file");
			else if (!get_number(line + sizeof MAGIC, INT_MAX, &v))
				ok = fail(&p, "bad version");
			else if (v != QCTL_VERSION)
				ok = fail(&p, "unsupported version %lld", v);
			else
				out->version = (int)v;
		} else if (strcmp(line, "end") == 0) {
			ended = true;
		} else {
			ok = parse_line(&p, line);
		}
	}
	if (ok && p.line == 0) {
		p.line = 1;
		ok = fail(&p, "empty control file");
	}
	if (ok && !ended) {
		p.line++;
		ok = fail(&p, "missing end line (file cut short?)");
	}
	for (size_t k = 0; ok && k < K_COUNT; k++)
		if (!p.seen[k])
			ok = fail(&p, "missing key \"%s\" before end",
				  key_names[k]);
	if (ok && out->nrcpts == 0)
		ok = fail(&p, "no recipient before end");
	free(line);
	if (!ok) {
		qctl_free(out);
		return ST_PERMFAIL;
	}
	return ST_OK;
}

/* ---- the struct ---------------------------------------------------------- */

void qctl_init(struct qctl *c)
{
	memset(c, 0, sizeof *c);
}

void qctl_free(struct qctl *c)
{
	for (size_t i = 0; i < c->nrcpts; i++) {
		free(c->rcpts[i].addr);
		free(c->rcpts[i].orcpt);
		free(c->rcpts[i].last_error);
		free(c->rcpts[i].relay);
	}
	free(c->rcpts);
	free(c->sender);
	free(c->message_id);
	free(c->envid);
	qctl_init(c);
}

struct qrcpt *qctl_add_rcpt(struct qctl *c, const char *addr,
			    const char *orcpt)
{
	struct qrcpt *r;

	c->rcpts = xreallocarray(c->rcpts, c->nrcpts + 1, sizeof *c->rcpts);
	r = &c->rcpts[c->nrcpts++];
	memset(r, 0, sizeof *r);
	r->state = QRCPT_PENDING;
	r->addr = xstrdup(addr);
	r->orcpt = orcpt ? xstrdup(orcpt) : NULL;
	return r;
}

void qrcpt_set_result(struct qrcpt *r, const char *error, const char *relay)
{
	free(r->last_error);
	free(r->relay);
	r->last_error = error ? xstrdup(error) : NULL;
	if (r->last_error)
		replace_controls(r->last_error, strlen(r->last_error), ' ');
	r->relay = relay ? xstrdup(relay) : NULL;
}

const char *qrcpt_state_name(enum qrcpt_state s)
{
	return (unsigned)s <= QRCPT_BOUNCED ? state_names[s] : "?";
}

bool qctl_valid_id(const char *id)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'A' && id[i] <= 'F')))
			return false;
	return id[i] == '\0';
}

long long qctl_next_due(const struct qctl *c)
{
	long long due = -1;

	for (size_t i = 0; i < c->nrcpts; i++)
		if (c->rcpts[i].state == QRCPT_PENDING &&
		    (due < 0 || c->rcpts[i].next_try < due))
			due = c->rcpts[i].next_try;
	return due;
}
