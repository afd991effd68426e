/* test_route.c - route_recipient: relay takes all; no relay, no route. */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "route.h"

static void relay_takes_every_recipient(void **state)
{
	struct relay_config relay = { .host = "smtp.example.org", .port = 587 };
	struct config cfg = { .relay = &relay };
	struct next_hop hop;

	hop = route_recipient(&cfg, "bob@example.org");
	assert_int_equal(hop.kind, HOP_RELAY);
	assert_ptr_equal(hop.relay, &relay);

	hop = route_recipient(&cfg, "root");
	assert_int_equal(hop.kind, HOP_RELAY);
	assert_ptr_equal(hop.relay, &relay);
}

static void no_relay_means_no_route_with_reason(void **state)
{
	struct config cfg = { .relay = NULL };
	struct next_hop hop = route_recipient(&cfg, "bob@example.org");

	assert_int_equal(hop.kind, HOP_NONE);
	assert_non_null(hop.reason);
	assert_non_null(strstr(hop.reason, "no relay"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relay_takes_every_recipient),
		cmocka_unit_test(no_relay_means_no_route_with_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
