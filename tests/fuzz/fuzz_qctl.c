/*
 * fuzz_qctl.c - libFuzzer target: the queue control-file parser
 * (qctl_parse) and the format/parse round trip of qctl.h.
 *
 * A control file may be cut short, edited by hand or left by another
 * version; the parser must refuse what is wrong and never misread it.
 * Checked besides memory errors:
 *   - a failed parse says why and leaves the struct empty;
 *   - what parses can be written (qctl_format succeeds) and reads back
 *     equal (a last error only cut to QCTL_ERROR_MAX and cleaned by
 *     replace_controls), and writing that again gives the same text;
 *   - the parsed values keep the documented bounds (valid id, numbers
 *     >= 0, known states and DSN values, at least one recipient).
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "qctl.h"
#include "status.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* b's last error as a's after qctl_format: cut to QCTL_ERROR_MAX
 * octets, then replace_controls (which also blanks invalid UTF-8 and
 * C1 controls) applied; "" reads back NULL. */
static bool same_error(const char *a, const char *b)
{
	size_t la, lb;
	char *want;
	bool same;

	if (a == NULL || *a == '\0')
		return b == NULL;
	la = strlen(a);
	/* Not "at most three octets shorter": on invalid UTF-8 (a run of
	 * continuation octets) cut_utf8 backs up to the start of the run,
	 * even to "" (then NULL). */
	if (b == NULL)
		return la > QCTL_ERROR_MAX;
	lb = strlen(b);
	if (la <= QCTL_ERROR_MAX ? lb != la : lb > QCTL_ERROR_MAX)
		return false;
	want = xstrndup(a, lb);
	replace_controls(want, lb, ' ');
	same = memcmp(want, b, lb) == 0;
	free(want);
	return same;
}

static void check_values(const struct qctl *c)
{
	FUZZ_CHECK(c->version == QCTL_VERSION, "version %d", c->version);
	FUZZ_CHECK(qctl_valid_id(c->id), "invalid id '%s'", c->id);
	FUZZ_CHECK(c->arrival >= 0 && c->size >= 0, "negative number");
	FUZZ_CHECK(c->sender != NULL, "no sender");
	FUZZ_CHECK(c->dsn_ret <= QDSN_RET_HDRS, "dsn_ret %d", (int)c->dsn_ret);
	FUZZ_CHECK(c->dsn_notify <= 0xF &&
		   (!(c->dsn_notify & QDSN_NOTIFY_NEVER) ||
		    c->dsn_notify == QDSN_NOTIFY_NEVER),
		   "dsn_notify %#x", c->dsn_notify);
	FUZZ_CHECK(c->nrcpts > 0 && c->rcpts != NULL, "no recipient");
	for (size_t i = 0; i < c->nrcpts; i++) {
		const struct qrcpt *r = &c->rcpts[i];

		FUZZ_CHECK(r->addr != NULL && *r->addr != '\0',
			   "recipient %zu: no address", i);
		FUZZ_CHECK(r->state <= QRCPT_BOUNCED, "recipient %zu: state",
			   i);
		FUZZ_CHECK(r->attempts >= 0 && r->next_try >= 0 &&
			   r->last_try >= 0, "recipient %zu: negative", i);
		FUZZ_CHECK(r->last_error == NULL || !fuzz_has_ctl(r->last_error),
			   "recipient %zu: control character in the error", i);
	}
	(void)qctl_next_due(c);
}

static void check_equal(const struct qctl *a, const struct qctl *b)
{
	FUZZ_CHECK(strcmp(a->id, b->id) == 0 && a->arrival == b->arrival &&
		   same_str(a->sender, b->sender) && a->size == b->size &&
		   a->eightbit == b->eightbit &&
		   same_str(a->message_id, b->message_id) &&
		   a->dsn_ret == b->dsn_ret && a->dsn_notify == b->dsn_notify &&
		   same_str(a->envid, b->envid) &&
		   a->is_bounce == b->is_bounce &&
		   a->delay_notified == b->delay_notified &&
		   a->nrcpts == b->nrcpts,
		   "the envelope changed in a format/parse round trip");
	for (size_t i = 0; i < a->nrcpts; i++) {
		const struct qrcpt *x = &a->rcpts[i], *y = &b->rcpts[i];

		FUZZ_CHECK(same_str(x->addr, y->addr) &&
			   same_str(x->orcpt, y->orcpt) &&
			   x->state == y->state && x->attempts == y->attempts &&
			   x->next_try == y->next_try &&
			   x->last_try == y->last_try &&
			   same_str(x->relay, y->relay),
			   "recipient %zu changed in a round trip", i);
		FUZZ_CHECK(same_error(x->last_error, y->last_error),
			   "recipient %zu: last error changed in a round trip",
			   i);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qctl a, b;
	struct buf t1, t2;
	struct err e;

	if (qctl_parse((const char *)data, size, &a, &e) != ST_OK) {
		fuzz_note("qctl_parse: %s", e.msg);
		FUZZ_CHECK(e.msg[0] != '\0', "failure without a message");
		FUZZ_CHECK(a.nrcpts == 0 && a.rcpts == NULL && a.sender == NULL &&
			   a.message_id == NULL && a.envid == NULL,
			   "failed parse left data behind");
		qctl_free(&a);
		return 0;
	}
	fuzz_note("qctl_parse: OK, %zu recipients", a.nrcpts);
	check_values(&a);
	buf_init(&t1);
	buf_init(&t2);
	FUZZ_CHECK(qctl_format(&a, &t1, &e) == ST_OK,
		   "a parsed control file cannot be written: %s", e.msg);
	FUZZ_CHECK(qctl_parse(t1.data, t1.len, &b, &e) == ST_OK,
		   "qctl_format wrote what qctl_parse refuses: %s", e.msg);
	check_values(&b);
	check_equal(&a, &b);
	FUZZ_CHECK(qctl_format(&b, &t2, &e) == ST_OK, "second format: %s",
		   e.msg);
	FUZZ_CHECK(t1.len == t2.len && memcmp(t1.data, t2.data, t1.len) == 0,
		   "formatting is not stable");
	qctl_free(&a);
	qctl_free(&b);
	buf_free(&t1);
	buf_free(&t2);
	return 0;
}
