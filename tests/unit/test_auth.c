/* test_auth.c - base64, SASL PLAIN / CRAM-MD5 and mechanism choice. */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"

static void check_round_trip(const char *plain, size_t n, const char *b64)
{
	char *enc = auth_base64_encode(plain, n);
	struct buf dec;

	assert_string_equal(enc, b64);
	buf_init(&dec);
	assert_int_equal(auth_base64_decode(b64, &dec), 0);
	assert_int_equal(dec.len, n);
	if (n > 0)
		assert_memory_equal(dec.data, plain, n);
	buf_free(&dec);
	free(enc);
}

/* RFC 4648 10 test vectors cover no, one and two padding characters. */
static void test_base64_vectors(void **state)
{
	(void)state;
	check_round_trip("", 0, "");
	check_round_trip("f", 1, "Zg==");
	check_round_trip("fo", 2, "Zm8=");
	check_round_trip("foo", 3, "Zm9v");
	check_round_trip("foob", 4, "Zm9vYg==");
	check_round_trip("fooba", 5, "Zm9vYmE=");
	check_round_trip("foobar", 6, "Zm9vYmFy");
	check_round_trip("\0\xff\xfe", 3, "AP/+");
}

static void test_base64_binary(void **state)
{
	unsigned char all[256];
	struct buf dec;
	size_t n;

	(void)state;
	for (n = 0; n < sizeof all; n++)
		all[n] = (unsigned char)n;
	buf_init(&dec);
	for (n = 0; n <= sizeof all; n++) {
		char *enc = auth_base64_encode(all, n);

		assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
		assert_int_equal(auth_base64_decode(enc, &dec), 0);
		assert_int_equal(dec.len, n);
		if (n > 0)
			assert_memory_equal(dec.data, all, n);
		free(enc);
	}
	buf_free(&dec);
}

static void test_base64_bad(void **state)
{
	static const char *const bad[] = {
		"Zg=", "Zg", "Z", "Zm9v!", "Zm9", "Z===", "====", "Zg==Zg==",
		"Zm=v", "Zm 9v", "Zm9v\n"
	};
	struct buf dec;
	size_t i;

	(void)state;
	buf_init(&dec);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		assert_int_equal(auth_base64_decode(bad[i], &dec), -1);
	/* The buffer is reset, not appended to. */
	assert_int_equal(auth_base64_decode("Zm9v", &dec), 0);
	assert_int_equal(auth_base64_decode("YmFy", &dec), 0);
	assert_int_equal(dec.len, 3);
	assert_memory_equal(dec.data, "bar", 3);
	buf_free(&dec);
}

static void test_plain(void **state)
{
	char *r;

	(void)state;
	r = auth_plain_response("alice", "secret");
	/* base64("\0alice\0secret") */
	assert_string_equal(r, "AGFsaWNlAHNlY3JldA==");
	free(r);
	/* RFC 4616 4 example: authcid "tim", passwd "tanstaaftanstaaf". */
	r = auth_plain_response("tim", "tanstaaftanstaaf");
	assert_string_equal(r, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	free(r);
}

/* RFC 2195 2: the worked example. */
static void test_cram_md5(void **state)
{
	char *r;
	struct buf dec;

	(void)state;
	r = auth_cram_md5_response(
		"tim", "tanstaaftanstaaf",
		"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+");
	assert_non_null(r);
	assert_string_equal(r, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	buf_init(&dec);
	assert_int_equal(auth_base64_decode(r, &dec), 0);
	assert_string_equal(dec.data, "tim b913a602c7eda7a495b4e6e7334d3890");
	buf_free(&dec);
	free(r);

	assert_null(auth_cram_md5_response("tim", "x", "not base64!"));
}

static void test_choose_strength(void **state)
{
	(void)state;
	assert_int_equal(auth_choose("PLAIN LOGIN CRAM-MD5", NULL),
			 AUTH_MECH_CRAM_MD5);
	assert_int_equal(auth_choose("LOGIN PLAIN", NULL), AUTH_MECH_PLAIN);
	assert_int_equal(auth_choose("LOGIN", NULL), AUTH_MECH_LOGIN);
	assert_int_equal(auth_choose("login cram-md5", NULL),
			 AUTH_MECH_CRAM_MD5);
	assert_int_equal(auth_choose("GSSAPI XOAUTH2", NULL), AUTH_MECH_NONE);
	assert_int_equal(auth_choose("", NULL), AUTH_MECH_NONE);
	assert_int_equal(auth_choose(NULL, NULL), AUTH_MECH_NONE);
	/* Whole words only. */
	assert_int_equal(auth_choose("PLAINX CRAM-MD5-PLUS LOGINS", NULL),
			 AUTH_MECH_NONE);
}

static void test_choose_allowed(void **state)
{
	(void)state;
	assert_int_equal(auth_choose("PLAIN LOGIN CRAM-MD5", "PLAIN LOGIN"),
			 AUTH_MECH_PLAIN);
	/* The allowed list restricts; its order does not matter. */
	assert_int_equal(auth_choose("PLAIN LOGIN CRAM-MD5", "login plain"),
			 AUTH_MECH_PLAIN);
	assert_int_equal(auth_choose("PLAIN LOGIN CRAM-MD5", "LOGIN"),
			 AUTH_MECH_LOGIN);
	assert_int_equal(auth_choose("PLAIN LOGIN", "CRAM-MD5"),
			 AUTH_MECH_NONE);
	assert_int_equal(auth_choose("PLAIN LOGIN CRAM-MD5", ""),
			 AUTH_MECH_NONE);
}

static void test_mech_names(void **state)
{
	(void)state;
	assert_string_equal(auth_mech_name(AUTH_MECH_PLAIN), "PLAIN");
	assert_string_equal(auth_mech_name(AUTH_MECH_LOGIN), "LOGIN");
	assert_string_equal(auth_mech_name(AUTH_MECH_CRAM_MD5), "CRAM-MD5");
	assert_string_equal(auth_mech_name(AUTH_MECH_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_base64_binary),
		cmocka_unit_test(test_base64_bad),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_cram_md5),
		cmocka_unit_test(test_choose_strength),
		cmocka_unit_test(test_choose_allowed),
		cmocka_unit_test(test_mech_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
