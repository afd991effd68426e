/* test_mx.c - MX ordering (RFC 5321 5.1), null MX (RFC 7505), the own-host
 * rule, and parsing of hand-built DNS answers, good and broken. */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mx.h"

/* ---- scripted randomness ---------------------------------------------------- */

struct script {
	const unsigned long *v;
	size_t n, i;
	size_t calls;
};

static unsigned long scripted(void *ctx)
{
	struct script *s = ctx;

	s->calls++;
	return s->n ? s->v[s->i++ % s->n] : 0;
}

static void add(struct mx_list *l, const char *name, int pref)
{
	mx_list_add(l, name, pref);
}

/* "a,b,c": the names in list order. */
static void names(const struct mx_list *l, char *out, size_t n)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < l->n; i++) {
		if (i)
			strncat(out, ",", n - strlen(out) - 1);
		strncat(out, l->recs[i].name, n - strlen(out) - 1);
	}
}

/* ---- ordering --------------------------------------------------------------- */

static void test_sort_by_preference(void **state)
{
	struct mx_list l;
	struct script s = { 0 };
	char got[256];

	(void)state;
	mx_list_init(&l);
	add(&l, "c.example.net", 30);
	add(&l, "a.example.net.", 10);
	add(&l, "d.example.net", 65535);
	add(&l, "b.example.net", 20);
	mx_order(&l, scripted, &s);
	names(&l, got, sizeof got);
	assert_string_equal(got, "a.example.net,b.example.net,c.example.net,d.example.net");
	assert_int_equal(l.recs[0].pref, 10);
	assert_int_equal(l.recs[3].pref, 65535);
	assert_false(l.null_mx);
	/* No equal preferences: nothing to shuffle, no random draws. */
	assert_int_equal(s.calls, 0);
	mx_list_free(&l);
	assert_int_equal(l.n, 0);
	assert_null(l.recs);
}

static void test_shuffle_equal_two_orders(void **state)
{
	static const unsigned long zero[] = { 0 }, one[] = { 1 };
	struct script s0 = { zero, 1, 0, 0 }, s1 = { one, 1, 0, 0 };
	struct mx_list l;
	char got[256];

	(void)state;
	/* Fisher-Yates over the pref-10 pair: rnd() % 2 == 0 swaps. */
	mx_list_init(&l);
	add(&l, "z.example.net", 20);
	add(&l, "x.example.net", 10);
	add(&l, "y.example.net", 10);
	mx_order(&l, scripted, &s0);
	names(&l, got, sizeof got);
	assert_string_equal(got, "y.example.net,x.example.net,z.example.net");
	assert_int_equal(s0.calls, 1);
	mx_list_free(&l);

	add(&l, "z.example.net", 20);
	add(&l, "x.example.net", 10);
	add(&l, "y.example.net", 10);
	mx_order(&l, scripted, &s1);
	names(&l, got, sizeof got);
	assert_string_equal(got, "x.example.net,y.example.net,z.example.net");
	assert_int_equal(s1.calls, 1);
	mx_list_free(&l);
}

/* Three hosts of equal preference: all 3! orders come out for different
 * random inputs, and the less preferred host stays last every time. */
static void test_shuffle_reaches_every_order(void **state)
{
	static const char *const perms[] = { "a,b,c", "a,c,b", "b,a,c",
					     "b,c,a", "c,a,b", "c,b,a" };
	int seen[6] = { 0 };
	unsigned long r1, r2;
	size_t p;

	(void)state;
	for (r1 = 0; r1 < 3; r1++) {
		for (r2 = 0; r2 < 2; r2++) {
			unsigned long v[2] = { r1, r2 };
			struct script s = { v, 2, 0, 0 };
			struct mx_list l;
			char got[64];

			mx_list_init(&l);
			add(&l, "a", 5);
			add(&l, "b", 5);
			add(&l, "c", 5);
			add(&l, "last", 9);
			mx_order(&l, scripted, &s);
			assert_int_equal(l.n, 4);
			assert_string_equal(l.recs[3].name, "last");
			l.n = 3;
			names(&l, got, sizeof got);
			l.n = 4;
			for (p = 0; p < 6; p++)
				if (strcmp(got, perms[p]) == 0)
					seen[p]++;
			mx_list_free(&l);
		}
	}
	for (p = 0; p < 6; p++)
		assert_int_equal(seen[p], 1);
}

static void test_duplicates_keep_best(void **state)
{
	struct mx_list l;
	struct script s = { 0 };

	(void)state;
	mx_list_init(&l);
	add(&l, "MX.Example.NET.", 20);
	add(&l, "other.example.net", 15);
	add(&l, "mx.example.net", 10);
	mx_order(&l, scripted, &s);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.recs[0].name, "mx.example.net");
	assert_int_equal(l.recs[0].pref, 10);
	assert_string_equal(l.recs[1].name, "other.example.net");
	mx_list_free(&l);
}

/* ---- null MX ------------------------------------------------------------------ */

static void test_null_mx(void **state)
{
	struct mx_list l;
	struct script s = { 0 };

	(void)state;
	mx_list_init(&l);
	add(&l, "", 0);           /* how c-ares 1.18 reports "MX 0 ." */
	assert_true(l.null_mx);
	assert_int_equal(l.n, 0);
	mx_order(&l, scripted, &s);
	assert_true(l.null_mx);
	assert_int_equal(l.n, 0);
	mx_list_free(&l);
	assert_false(l.null_mx);

	add(&l, ".", 0);
	assert_true(l.null_mx);
	mx_list_free(&l);

	/* RFC 7505: a null MX among real ones still means "no mail". */
	add(&l, "mx.example.net", 10);
	add(&l, ".", 0);
	add(&l, "mx2.example.net", 20);
	assert_int_equal(l.n, 2);
	mx_order(&l, scripted, &s);
	assert_true(l.null_mx);
	assert_int_equal(l.n, 0);
	mx_list_free(&l);
}

/* ---- own host (RFC 5321 5.1) -------------------------------------------------- */

static void test_drop_self(void **state)
{
	struct mx_list l;
	struct script s = { 0 };

	(void)state;
	mx_list_init(&l);
	add(&l, "a.example.net", 10);
	add(&l, "b.example.net", 20);
	add(&l, "me.example.net", 20);
	add(&l, "c.example.net", 30);
	mx_order(&l, scripted, &s);
	/* Self at 20: drop 20 and worse, keep only the more preferred. */
	assert_int_equal(mx_drop_self(&l, "ME.example.net."), MX_SELF_TRIMMED);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.recs[0].name, "a.example.net");
	mx_list_free(&l);

	add(&l, "me.example.net", 10);
	add(&l, "b.example.net", 20);
	mx_order(&l, scripted, &s);
	assert_int_equal(mx_drop_self(&l, "me.example.net"), MX_SELF_BEST);
	assert_int_equal(l.n, 0);
	mx_list_free(&l);

	add(&l, "a.example.net", 10);
	add(&l, "b.example.net", 20);
	mx_order(&l, scripted, &s);
	assert_int_equal(mx_drop_self(&l, "elsewhere.example.org"), MX_SELF_ABSENT);
	assert_int_equal(mx_drop_self(&l, NULL), MX_SELF_ABSENT);
	assert_int_equal(mx_drop_self(&l, ""), MX_SELF_ABSENT);
	/* A prefix is not the same host. */
	assert_int_equal(mx_drop_self(&l, "a.example"), MX_SELF_ABSENT);
	assert_int_equal(l.n, 2);
	mx_list_free(&l);
}

static void test_valid_name(void **state)
{
	char long_label[70], long_name[300];

	(void)state;
	assert_true(mx_valid_name("mx.example.net"));
	assert_true(mx_valid_name("mx.example.net."));
	assert_true(mx_valid_name("MX-1_a.example"));
	assert_true(mx_valid_name("localhost"));
	assert_false(mx_valid_name(""));
	assert_false(mx_valid_name("."));
	assert_false(mx_valid_name("a..b"));
	assert_false(mx_valid_name(".a"));
	assert_false(mx_valid_name("a b.example"));
	assert_false(mx_valid_name("a\\032b.example"));   /* c-ares escape */
	assert_false(mx_valid_name("mx.example.net\r\nRCPT"));
	assert_false(mx_valid_name("[192.0.2.1]"));
	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	assert_false(mx_valid_name(long_label));
	long_label[63] = '\0';
	assert_true(mx_valid_name(long_label));
	memset(long_name, 'a', sizeof long_name);
	for (size_t i = 10; i < sizeof long_name; i += 10)
		long_name[i] = '.';
	long_name[254] = '\0';
	assert_false(mx_valid_name(long_name));
	long_name[253] = '\0';
	if (long_name[252] == '.')
		long_name[252] = 'a';
	assert_true(mx_valid_name(long_name));
}

/* ---- DNS answers ------------------------------------------------------------ */

struct pkt {
	unsigned char b[1024];
	size_t n;
};

static void put8(struct pkt *p, unsigned v)
{
	assert_true(p->n < sizeof p->b);
	p->b[p->n++] = (unsigned char)v;
}

static void put16(struct pkt *p, unsigned v)
{
	put8(p, (v >> 8) & 0xff);
	put8(p, v & 0xff);
}

static void put_name(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		put8(p, (unsigned)len);
		for (size_t i = 0; i < len; i++)
			put8(p, (unsigned char)name[i]);
		name += len + (dot ? 1 : 0);
	}
	put8(p, 0);
}

/* Header and question "name MX IN"; ancount answers follow. */
static void begin(struct pkt *p, const char *qname, unsigned ancount,
		  unsigned rcode)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180 | rcode);  /* QR RD RA */
	put16(p, 1);
	put16(p, ancount);
	put16(p, 0);
	put16(p, 0);
	put_name(p, qname);
	put16(p, 15);
	put16(p, 1);
}

/* One MX answer for the question name (compression pointer to offset
 * 12); host NULL: the root (null MX). */
static void answer_mx(struct pkt *p, unsigned pref, const char *host)
{
	size_t rdlen_at;

	put16(p, 0xc00c);
	put16(p, 15);
	put16(p, 1);
	put16(p, 0);
	put16(p, 3600);
	rdlen_at = p->n;
	put16(p, 0);
	put16(p, pref);
	if (host)
		put_name(p, host);
	else
		put8(p, 0);
	p->b[rdlen_at] = (unsigned char)((p->n - rdlen_at - 2) >> 8);
	p->b[rdlen_at + 1] = (unsigned char)((p->n - rdlen_at - 2) & 0xff);
}

static void test_answer_records(void **state)
{
	static const unsigned long zero[] = { 0 };
	struct script s = { zero, 1, 0, 0 };
	struct pkt p;
	struct mx_list l;
	char got[256];

	(void)state;
	begin(&p, "example.net", 3, 0);
	answer_mx(&p, 20, "mx2.example.net");
	answer_mx(&p, 10, "mx1.example.net");
	answer_mx(&p, 10, "mx0.example.net");
	mx_list_init(&l);
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_RECORDS);
	assert_int_equal(l.n, 3);
	names(&l, got, sizeof got);
	/* rnd 0 swaps the pref-10 pair: parse order mx1,mx0 -> mx0,mx1. */
	assert_string_equal(got, "mx0.example.net,mx1.example.net,mx2.example.net");
	assert_int_equal(l.recs[0].pref, 10);
	assert_int_equal(l.recs[2].pref, 20);
	assert_false(l.null_mx);
	mx_list_free(&l);
}

static void test_answer_null_mx(void **state)
{
	struct script s = { 0 };
	struct pkt p;
	struct mx_list l;

	(void)state;
	begin(&p, "nomail.example", 1, 0);
	answer_mx(&p, 0, NULL);
	mx_list_init(&l);
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_NULL);
	assert_true(l.null_mx);
	assert_int_equal(l.n, 0);
	mx_list_free(&l);

	/* Published alongside another record: still null MX. */
	begin(&p, "nomail.example", 2, 0);
	answer_mx(&p, 10, "mx.nomail.example");
	answer_mx(&p, 0, NULL);
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_NULL);
	assert_int_equal(l.n, 0);
	mx_list_free(&l);
}

static void test_answer_no_records(void **state)
{
	struct script s = { 0 };
	struct pkt p;
	struct mx_list l;

	(void)state;
	mx_list_init(&l);
	/* A stale list is emptied first. */
	mx_list_add(&l, "stale.example", 1);
	begin(&p, "example.net", 0, 0);
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_NONE);
	assert_int_equal(l.n, 0);
	mx_list_free(&l);
}

static void test_answer_truncated(void **state)
{
	struct script s = { 0 };
	struct pkt p;
	struct mx_list l;
	size_t cut;

	(void)state;
	begin(&p, "example.net", 2, 0);
	answer_mx(&p, 10, "mx1.example.net");
	answer_mx(&p, 20, "mx2.example.net");
	mx_list_init(&l);
	/* Every proper prefix is malformed: nothing usable comes out. */
	for (cut = 0; cut < p.n; cut++) {
		unsigned char *copy = malloc(cut ? cut : 1);

		memcpy(copy, p.b, cut);
		assert_int_equal(mx_from_answer(copy, (int)cut, scripted, &s, &l),
				 MX_ANSWER_BAD);
		assert_int_equal(l.n, 0);
		free(copy);
	}
	assert_int_equal(mx_from_answer(NULL, 0, scripted, &s, &l), MX_ANSWER_BAD);
	assert_int_equal(mx_from_answer(p.b, -1, scripted, &s, &l), MX_ANSWER_BAD);
	/* The whole packet parses. */
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_RECORDS);
	assert_int_equal(l.n, 2);
	mx_list_free(&l);
}

static void test_answer_garbage(void **state)
{
	struct script s = { 0 };
	struct pkt p;
	struct mx_list l;
	unsigned char junk[512];
	unsigned long x = 12345;
	int round;

	(void)state;
	mx_list_init(&l);
	/* A compression pointer that points at itself must not loop. */
	begin(&p, "example.net", 1, 0);
	put16(&p, 0xc000 | (unsigned)p.n);
	put16(&p, 15);
	put16(&p, 1);
	put16(&p, 0);
	put16(&p, 60);
	put16(&p, 4);
	put16(&p, 10);
	put16(&p, 0xc000 | (unsigned)(p.n - 2));
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_BAD);
	assert_int_equal(l.n, 0);

	/* An RDATA length running past the end. */
	begin(&p, "example.net", 1, 0);
	answer_mx(&p, 10, "mx.example.net");
	p.b[p.n - 20] = 0x7f;   /* rdlength high byte */
	assert_int_equal(mx_from_answer(p.b, (int)p.n, scripted, &s, &l),
			 MX_ANSWER_BAD);

	/* Pseudo-random bytes with a plausible header: never a crash, and
	 * whatever comes out is a consistent list of valid-looking records. */
	for (round = 0; round < 2000; round++) {
		size_t i, n = 12 + (size_t)(x % 400);
		enum mx_answer r;

		for (i = 0; i < n; i++) {
			x = x * 6364136223846793005UL + 1442695040888963407UL;
			junk[i] = (unsigned char)(x >> 56);
		}
		junk[4] = 0;
		junk[5] = 1;   /* one question */
		r = mx_from_answer(junk, (int)n, scripted, &s, &l);
		assert_true(r == MX_ANSWER_RECORDS || r == MX_ANSWER_NULL ||
			    r == MX_ANSWER_NONE || r == MX_ANSWER_BAD);
		if (r != MX_ANSWER_RECORDS)
			assert_int_equal(l.n, 0);
		for (i = 0; i < l.n; i++) {
			assert_true(l.recs[i].name[0] != '\0');
			assert_true(i == 0 || l.recs[i - 1].pref <= l.recs[i].pref);
		}
		mx_list_free(&l);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sort_by_preference),
		cmocka_unit_test(test_shuffle_equal_two_orders),
		cmocka_unit_test(test_shuffle_reaches_every_order),
		cmocka_unit_test(test_duplicates_keep_best),
		cmocka_unit_test(test_null_mx),
		cmocka_unit_test(test_drop_self),
		cmocka_unit_test(test_valid_name),
		cmocka_unit_test(test_answer_records),
		cmocka_unit_test(test_answer_null_mx),
		cmocka_unit_test(test_answer_no_records),
		cmocka_unit_test(test_answer_truncated),
		cmocka_unit_test(test_answer_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
