/*
 * fuzz_mx.c - libFuzzer target: DNS answer handling. The input is a raw
 * DNS answer as c-ares hands it to an ares_query callback; it goes
 * through mx_from_answer (ares_parse_mx_reply, null MX, mx_order) and
 * then mx_drop_self and mx_valid_name, as dns.c uses them.
 *
 * Randomness for the shuffle comes from a generator seeded with the
 * packet length, so a crash replays.
 *
 * Checked besides memory errors (mx.h): anything but RECORDS leaves the
 * list empty, NULL comes with null_mx; records are sorted by preference,
 * within 0..65535, named (never "", no trailing dot) and each name once
 * (ASCII case-insensitive); dropping a host of the list as "self" leaves
 * only more preferred hosts, none of them that name.
 */
#include "ac_config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mx.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long lcg(void *ctx)
{
	unsigned long long *x = ctx;

	*x = *x * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned long)(*x >> 33);
}

static bool ends_in_dot(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '.';
}

static void check_list(const struct mx_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *name = l->recs[i].name;
		size_t len;

		FUZZ_CHECK(name != NULL && *name != '\0', "record %zu unnamed",
			   i);
		len = strlen(name);
		/* c-ares escapes a dot inside a label as a backslash and a dot. */
		FUZZ_CHECK(name[len - 1] != '.' ||
			   (len > 1 && name[len - 2] == '\\'),
			   "record %zu '%s' kept its trailing dot", i, name);
		FUZZ_CHECK(l->recs[i].pref >= 0 && l->recs[i].pref <= 65535,
			   "record %zu: preference %d", i, l->recs[i].pref);
		FUZZ_CHECK(i == 0 || l->recs[i - 1].pref <= l->recs[i].pref,
			   "not sorted at %zu", i);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(ascii_strcasecmp(l->recs[j].name, name) != 0,
				   "'%s' twice", name);
		(void)mx_valid_name(name);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long long seed = size;
	struct mx_list l;
	enum mx_answer a;
	char *self;
	int self_pref;
	size_t i;

	if (size > INT32_MAX)
		return 0;
	mx_list_init(&l);
	a = mx_from_answer(data, (int)size, lcg, &seed, &l);
	FUZZ_CHECK(a == MX_ANSWER_RECORDS || a == MX_ANSWER_NULL ||
		   a == MX_ANSWER_NONE || a == MX_ANSWER_BAD, "answer %d",
		   (int)a);
	if (a != MX_ANSWER_RECORDS)
		FUZZ_CHECK(l.n == 0, "answer %d with %zu records", (int)a,
			   l.n);
	else
		FUZZ_CHECK(l.n > 0 && !l.null_mx, "RECORDS without records");
	FUZZ_CHECK(a != MX_ANSWER_NULL || l.null_mx, "NULL without null_mx");
	fuzz_note("mx_from_answer: %d, %zu records", (int)a, l.n);
	for (i = 0; i < l.n; i++)
		fuzz_note("  %d %s", l.recs[i].pref, l.recs[i].name);
	check_list(&l);

	/* A name ending in an escaped dot would lose it to the final-dot
	 * rule of mx_drop_self: skip those. */
	if (l.n > 0 && !ends_in_dot(l.recs[l.n / 2].name)) {
		enum mx_self r;

		/* Ourselves as the middle host, written in upper case with a
		 * final dot, as a configured hostname might be. */
		self = xasprintf("%s.", l.recs[l.n / 2].name);
		for (char *p = self; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
		self_pref = l.recs[l.n / 2].pref;
		r = mx_drop_self(&l, self);
		FUZZ_CHECK(r == MX_SELF_TRIMMED || r == MX_SELF_BEST,
			   "self '%s' not found", self);
		FUZZ_CHECK((r == MX_SELF_BEST) == (l.n == 0),
			   "MX_SELF_BEST but %zu hosts left", l.n);
		for (i = 0; i < l.n; i++) {
			FUZZ_CHECK(l.recs[i].pref < self_pref,
				   "host '%s' (%d) not more preferred than "
				   "self (%d)", l.recs[i].name,
				   l.recs[i].pref, self_pref);
			FUZZ_CHECK(ascii_strncasecmp(l.recs[i].name, self,
						     strlen(l.recs[i].name)) != 0 ||
				   strlen(l.recs[i].name) + 1 != strlen(self),
				   "self still listed");
		}
		check_list(&l);
		free(self);
	}
	FUZZ_CHECK(mx_drop_self(&l, "") == MX_SELF_ABSENT, "'' matched");
	mx_list_free(&l);
	FUZZ_CHECK(l.n == 0 && l.recs == NULL && !l.null_mx, "not emptied");
	return 0;
}
