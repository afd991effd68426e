/*
 * fuzz_smtp.c - libFuzzer target: the SMTP reply parser (reply.c) and
 * the client state machine (smtp*.c, auth.c) driven by a hostile
 * server's replies, as session.c drives them but without a socket.
 *
 * Input: four parameter octets, then reply lines separated by LF (one
 * CR before it dropped, as session.c does). Parameter octets:
 *   0: bits 0-1 TLS mode (none, STARTTLS, implicit, opportunistic),
 *      bit 2 AUTH user and password, bit 3 allow_plaintext_auth,
 *      bit 4 8-bit body, bit 5 one fixed timeout, bit 6 null sender,
 *      bit 7 auth_mechanisms "PLAIN LOGIN" only
 *   1: bits 0-2 recipients - 1, bits 3-4 max_rcpt_per_txn (0: all)
 *   2: TLS handshake results, one bit per handshake (1: fails)
 *   3: bits 0-1: SIZE of the message (0, 1234, 10^6, 2^40)
 * When the lines run out the connection "breaks" (smtp_on_io_error); a
 * line reply_feed_line refuses does the same, as in session.c.
 *
 * Checked besides memory errors: every write is whole CRLF lines with no
 * other CR, LF or NUL (no command injection from a reply); what goes to
 * the transcript never shows the password or an AUTH response; the
 * session ends (SMTP_WANT_CLOSE) within a bounded number of steps; every
 * recipient ends with a status and a reply text free of control
 * characters (it goes to logs and bounces).
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "fuzz.h"
#include "reply.h"
#include "smtp.h"
#include "status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define USER "fuzz-user@example.org"
#define PASSWORD "Fuzz-S3cret-pw"
#define MAX_STEPS 100000

static const char *const rcpts[] = {
	"r1@example.net", "r2@example.net", "r3@example.net",
	"r4@example.org", "r5@example.org", "r6@example.com",
	"r7@example.com", "r8@example.com"
};

struct secrets {
	char *b64_pass;
	char *plain;
};

static void check_write(const struct smtp_output *o, const struct secrets *sec)
{
	size_t i;

	FUZZ_CHECK(o->data != NULL && o->len >= 2, "empty write");
	FUZZ_CHECK(o->data[o->len - 2] == '\r' && o->data[o->len - 1] == '\n',
		   "write does not end in CRLF");
	for (i = 0; i < o->len; i++) {
		char c = o->data[i];

		FUZZ_CHECK(c != '\0', "NUL in a command");
		if (c == '\r')
			FUZZ_CHECK(i + 1 < o->len && o->data[i + 1] == '\n',
				   "bare CR in a command");
		if (c == '\n')
			FUZZ_CHECK(i > 0 && o->data[i - 1] == '\r',
				   "bare LF in a command");
	}
	FUZZ_CHECK(o->display != NULL, "no display text");
	FUZZ_CHECK(strstr(o->display, PASSWORD) == NULL &&
		   strstr(o->display, sec->b64_pass) == NULL &&
		   strstr(o->display, sec->plain) == NULL,
		   "transcript shows a secret: %s", o->display);
}

/* Feeds lines until a reply is complete; false when the "connection"
 * broke (no more input, or a line the parser refuses). */
static bool read_reply(const uint8_t **p, const uint8_t *end,
		       struct smtp_reply *r)
{
	const char *line;
	size_t len;

	reply_reset(r);
	while (fuzz_next_line(p, end, &line, &len)) {
		enum reply_feed f = reply_feed_line(r, line, len);

		if (f == REPLY_COMPLETE) {
			FUZZ_CHECK(r->code >= 100 && r->code <= 599,
				   "reply code %d", r->code);
			FUZZ_CHECK(r->text.len <= REPLY_MAX_BYTES &&
				   r->nlines <= REPLY_MAX_LINES,
				   "reply over its bounds");
			return true;
		}
		if (f != REPLY_MORE)
			return false;
	}
	return false;
}

/* What session.c does with a reply line it shows: mask, then print. */
static void show(const struct smtp_session *s, const struct smtp_reply *r)
{
	char *copy = xstrndup(r->text.data ? r->text.data : "", r->text.len);
	char *sum = reply_summary(r);

	smtp_redact(s, copy, strlen(copy));
	FUZZ_CHECK(!fuzz_has_ctl(sum), "control character in summary");
	free(sum);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum tls_mode tls[] = {
		TLS_NONE, TLS_STARTTLS, TLS_IMPLICIT, TLS_OPPORTUNISTIC
	};
	static const long long sizes[] = { 0, 1234, 1000000, 1LL << 40 };
	uint8_t prm[4] = { 0 };
	const uint8_t *p, *end = data + size;
	struct smtp_params sp;
	struct smtp_session *s;
	struct smtp_reply r;
	struct secrets sec;
	unsigned tls_bits;
	size_t i, steps;
	bool closed = false;

	memcpy(prm, data, size < 4 ? size : 4);
	p = data + (size < 4 ? size : 4);
	memset(&sp, 0, sizeof sp);
	sp.helo_name = "client.example.org";
	sp.peer = "mx.example.net[192.0.2.1]:25";
	sp.tls = tls[prm[0] & 3];
	if (prm[0] & 0x04) {
		sp.user = USER;
		sp.password = PASSWORD;
	}
	sp.allow_plaintext_auth = (prm[0] & 0x08) != 0;
	sp.eightbit = (prm[0] & 0x10) != 0;
	sp.timeout_s = (prm[0] & 0x20) ? 30 : 0;
	sp.sender = (prm[0] & 0x40) ? "" : "alice@example.org";
	sp.auth_mechanisms = (prm[0] & 0x80) ? "PLAIN LOGIN" : NULL;
	sp.rcpts = rcpts;
	sp.nrcpts = 1 + (prm[1] & 7);
	sp.max_rcpt_per_txn = (prm[1] >> 3) & 3;
	sp.size = (off_t)sizes[prm[3] & 3];
	tls_bits = prm[2];
	sec.b64_pass = auth_base64_encode(PASSWORD, strlen(PASSWORD));
	sec.plain = auth_plain_response(USER, PASSWORD);

	s = smtp_new(&sp);
	reply_init(&r);
	for (steps = 0; !closed; steps++) {
		struct smtp_output o;
		bool ok;

		FUZZ_CHECK(steps < MAX_STEPS, "session does not end");
		switch (smtp_next(s, &o)) {
		case SMTP_WANT_WRITE:
			check_write(&o, &sec);
			fuzz_note(">>> %s", o.display);
			break;
		case SMTP_WANT_READ:
			FUZZ_CHECK(smtp_reply_timeout_ms(s) > 0, "no timeout");
			if (read_reply(&p, end, &r)) {
				show(s, &r);
				smtp_on_reply(s, &r);
			} else {
				smtp_on_io_error(s, "connection closed");
			}
			break;
		case SMTP_WANT_TLS:
			ok = !(tls_bits & 1);
			tls_bits >>= 1;
			smtp_on_tls(s, ok, ok ? NULL : "handshake failed");
			break;
		case SMTP_WANT_BODY:
			smtp_body_done(s);
			break;
		case SMTP_WANT_CLOSE:
			closed = true;
			break;
		default:
			FUZZ_CHECK(0, "unknown smtp_want");
		}
	}
	FUZZ_CHECK(smtp_finished(s), "closed but not finished");
	fuzz_note("smtp: %zu steps", steps);
	for (i = 0; i < sp.nrcpts; i++) {
		enum status st = smtp_rcpt_status(s, i);
		const char *text = smtp_rcpt_reply(s, i);

		FUZZ_CHECK(st == ST_OK || st == ST_TEMPFAIL ||
			   st == ST_PERMFAIL, "recipient %zu: status %d", i,
			   (int)st);
		FUZZ_CHECK(text != NULL && *text != '\0',
			   "recipient %zu: no reply text", i);
		fuzz_note("  rcpt %zu: %d %s", i, (int)st, text ? text : "NULL");
		FUZZ_CHECK(!fuzz_has_ctl(text),
			   "recipient %zu: control character in '%s'", i, text);
	}
	smtp_free(s);
	reply_free(&r);
	free(sec.b64_pass);
	free(sec.plain);
	return 0;
}
