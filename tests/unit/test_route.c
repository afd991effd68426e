/* test_route.c - route_recipient: route sections over sender routes over
 * the relay over MX; domain patterns. */
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

	(void)state;
	hop = route_recipient(&cfg, "alice@example.org", "bob@example.org");
	assert_int_equal(hop.kind, HOP_RELAY);
	assert_ptr_equal(hop.relay, &relay);

	hop = route_recipient(&cfg, "", "root");
	assert_int_equal(hop.kind, HOP_RELAY);
	assert_ptr_equal(hop.relay, &relay);
}

static void no_relay_means_mx(void **state)
{
	struct config cfg = { .relay = NULL };
	struct next_hop hop;

	(void)state;
	hop = route_recipient(&cfg, "a@b.c", "bob@Example.ORG");
	assert_int_equal(hop.kind, HOP_MX);
	assert_int_equal(hop.domain_len, strlen("Example.ORG"));
	assert_memory_equal(hop.domain, "Example.ORG", hop.domain_len);

	hop = route_recipient(&cfg, "a@b.c", "root");
	assert_int_equal(hop.kind, HOP_NONE);
	assert_non_null(strstr(hop.reason, "no domain"));
}

static void routes_win_in_order(void **state)
{
	struct relay_config relay = { .host = "smtp.example.org" };
	struct relay_config routes[] = {
		{ .pattern = "example.net", .host = "10.0.0.5" },
		{ .pattern = "*.example.com", .mx = true },
		{ .pattern = "*.example.net", .host = "10.0.0.6" },
	};
	struct relay_config senders[] = {
		{ .pattern = "@example.org", .host = "smtp-org" },
		{ .pattern = "bounces@example.org", .host = "smtp-bounces" },
	};
	struct config cfg = { .relay = &relay, .routes = routes, .nroutes = 3,
			      .sender_routes = senders, .nsender_routes = 2 };
	struct next_hop hop;

	(void)state;
	hop = route_recipient(&cfg, "x@y", "bob@EXAMPLE.net");
	assert_ptr_equal(hop.relay, &routes[0]);
	hop = route_recipient(&cfg, "x@y", "bob@mail.example.net");
	assert_ptr_equal(hop.relay, &routes[2]);
	/* mx = true beats the relay: straight to the domain's MX. */
	hop = route_recipient(&cfg, "x@y", "bob@a.example.com");
	assert_int_equal(hop.kind, HOP_MX);
	assert_string_equal(hop.domain, "a.example.com");
	/* "*.example.com" is for subdomains only. */
	hop = route_recipient(&cfg, "x@y", "bob@example.com");
	assert_ptr_equal(hop.relay, &relay);
	/* Sender routes: the exact address over its domain. */
	hop = route_recipient(&cfg, "bounces@example.org", "bob@other.org");
	assert_ptr_equal(hop.relay, &senders[1]);
	hop = route_recipient(&cfg, "alice@Example.org", "bob@other.org");
	assert_ptr_equal(hop.relay, &senders[0]);
	hop = route_recipient(&cfg, "", "bob@other.org");
	assert_ptr_equal(hop.relay, &relay);
	/* A domain route wins over a sender route. */
	hop = route_recipient(&cfg, "alice@example.org", "bob@example.net");
	assert_ptr_equal(hop.relay, &routes[0]);
}

static void domain_patterns(void **state)
{
	(void)state;
	assert_true(route_domain_matches("example.net", "EXAMPLE.NET", 11));
	assert_false(route_domain_matches("example.net", "xexample.net", 12));
	assert_true(route_domain_matches("*.example.net", "a.b.example.net", 15));
	assert_false(route_domain_matches("*.example.net", "example.net", 11));
	assert_false(route_domain_matches("*.example.net", "badexample.net", 14));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relay_takes_every_recipient),
		cmocka_unit_test(no_relay_means_mx),
		cmocka_unit_test(routes_win_in_order),
		cmocka_unit_test(domain_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
