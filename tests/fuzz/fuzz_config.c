/*
 * fuzz_config.c - libFuzzer target: the configuration parser
 * (config_load: secret.c, conf_escape.c, config.c, config_relay.c and
 * libconfuse underneath).
 *
 * Each input is written to a private file (mode 0600, in a directory of
 * its own under $TMPDIR, else /tmp) and loaded. "@PW@" in the input stands for a password file
 * made there with mode 0600, "@PWPUBLIC@" for one readable by others
 * (which must be refused): seeds can then reach the password paths.
 *
 * config.c looks up this host's name with getaddrinfo when the file sets
 * no hostname; build.sh links this target with --wrap=getaddrinfo so
 * that the lookup fails at once (fast, and never a DNS query).
 *
 * Checked on success, against config.h: every documented bound holds
 * (timeouts fit in int milliseconds, ports 1..65535, positive counts,
 * at least one retry interval), strings that reach the network or a
 * header have no control characters, each relay section is consistent
 * (a host unless mx = true, a password exactly when a user).
 */
#include "ac_config.h"

#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"
#include "status.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int __wrap_getaddrinfo(const char *node, const char *service,
		       const struct addrinfo *hints, struct addrinfo **res);

#define SECONDS_MAX (INT_MAX / 1000)

static char dir[4096];
static char conf_path[4200], pw_path[4200], pwpub_path[4200];
static uint64_t pwpub_hash;   /* of the public file's password */

static uint64_t fnv1a(const char *s);

int __wrap_getaddrinfo(const char *node, const char *service,
		       const struct addrinfo *hints, struct addrinfo **res)
{
	(void)node;
	(void)service;
	(void)hints;
	*res = NULL;
	return EAI_NONAME;
}

static void write_file(const char *path, const void *p, size_t n,
		       mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_CHECK(fd >= 0, "cannot create %s", path);
	FUZZ_CHECK(fchmod(fd, mode) == 0, "fchmod %s", path);
	FUZZ_CHECK(n == 0 || write(fd, p, n) == (ssize_t)n, "write %s", path);
	close(fd);
}

static void cleanup(void)
{
	unlink(conf_path);
	unlink(pw_path);
	unlink(pwpub_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_mkdtemp(dir, sizeof dir, "sendmx-fuzz-config");
	snprintf(conf_path, sizeof conf_path, "%s/sendmx.conf", dir);
	snprintf(pw_path, sizeof pw_path, "%s/pw", dir);
	snprintf(pwpub_path, sizeof pwpub_path, "%s/pw-public", dir);
	write_file(pw_path, "fuzz-secret\nsecond line\n", 24, 0600);
	write_file(pwpub_path, "public-secret\n", 14, 0644);
	pwpub_hash = fnv1a("public-secret");
	atexit(cleanup);
	return 0;
}

/* The input with @PW@ and @PWPUBLIC@ replaced by the files' paths. */
static void expand(const uint8_t *data, size_t size, struct buf *out)
{
	static const char pw[] = "@PW@", pub[] = "@PWPUBLIC@";
	size_t i = 0;

	while (i < size) {
		const char *at = memchr(data + i, '@', size - i);
		size_t k = at ? (size_t)((const uint8_t *)at - data) : size;
		size_t rest;

		buf_append(out, data + i, k - i);
		if (at == NULL)
			break;
		rest = size - k;
		if (rest >= sizeof pub - 1 && memcmp(at, pub, sizeof pub - 1) == 0) {
			buf_appends(out, pwpub_path);
			i = k + sizeof pub - 1;
		} else if (rest >= sizeof pw - 1 &&
			   memcmp(at, pw, sizeof pw - 1) == 0) {
			buf_appends(out, pw_path);
			i = k + sizeof pw - 1;
		} else {
			buf_append(out, "@", 1);
			i = k + 1;
		}
	}
}

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static bool clean(const char *s)
{
	return s == NULL || !fuzz_has_ctl(s);
}

static void check_relay(const struct relay_config *r, const char *kind,
			bool route)
{
	FUZZ_CHECK(route ? r->pattern != NULL && *r->pattern != '\0'
			 : r->pattern == NULL, "%s: pattern", kind);
	FUZZ_CHECK(clean(r->pattern), "%s: control character in the title",
		   kind);
	FUZZ_CHECK(!r->mx || strcmp(kind, "route") == 0,
		   "%s: mx = true outside a route", kind);
	if (r->mx)
		FUZZ_CHECK(r->host == NULL && r->user == NULL &&
			   r->password == NULL,
			   "%s %s: mx = true with a host or AUTH", kind,
			   r->pattern ? r->pattern : "");
	else
		FUZZ_CHECK(r->host != NULL && *r->host != '\0' &&
			   clean(r->host) && strpbrk(r->host, " \t") == NULL,
			   "%s %s: no valid host", kind,
			   r->pattern ? r->pattern : "");
	FUZZ_CHECK(r->port >= 1 && r->port <= 65535, "%s: port %d", kind,
		   r->port);
	FUZZ_CHECK(r->tls >= TLS_NONE && r->tls <= TLS_OPPORTUNISTIC,
		   "%s: tls %d", kind, (int)r->tls);
	FUZZ_CHECK((r->user == NULL) == (r->password == NULL),
		   "%s: user without password or the reverse", kind);
	FUZZ_CHECK(r->user == NULL || (*r->user != '\0' && clean(r->user)),
		   "%s: bad user", kind);
	FUZZ_CHECK(r->password == NULL ||
		   (*r->password != '\0' && !strpbrk(r->password, "\r\n")),
		   "%s: bad password", kind);
	/* sender_rewrite becomes MAIL FROM and the From field; known bug,
	 * see regressions/README.md. */
	FUZZ_CHECK(fuzz_skip_known() || clean(r->sender_rewrite),
		   "%s: control character in sender_rewrite", kind);
	/* A hash, not strcmp: libFuzzer would learn the string from a
	 * comparison and write it inline, a false alarm. */
	FUZZ_CHECK(r->password == NULL || fnv1a(r->password) != pwpub_hash,
		   "%s: password file readable by others accepted", kind);
}

static void check_config(const struct config *c)
{
	size_t k;

	FUZZ_CHECK(c->hostname != NULL && *c->hostname != '\0' &&
		   clean(c->hostname) && !strpbrk(c->hostname, " \t"),
		   "bad hostname");
	FUZZ_CHECK(c->timeout >= 0 && c->timeout <= SECONDS_MAX,
		   "timeout %d", c->timeout);
	FUZZ_CHECK(c->connect_timeout >= 1 &&
		   c->connect_timeout <= SECONDS_MAX,
		   "connect_timeout %d", c->connect_timeout);
	FUZZ_CHECK(c->dns_timeout >= 1 && c->dns_timeout <= SECONDS_MAX,
		   "dns_timeout %d", c->dns_timeout);
	FUZZ_CHECK(c->submit_timeout >= 1 && c->submit_timeout <= SECONDS_MAX,
		   "submit_timeout %d", c->submit_timeout);
	FUZZ_CHECK(c->mx_port >= 1 && c->mx_port <= 65535, "mx_port %d",
		   c->mx_port);
	FUZZ_CHECK(c->max_message_size >= 0, "max_message_size %ld",
		   c->max_message_size);
	FUZZ_CHECK(c->max_connections >= 1, "max_connections %d",
		   c->max_connections);
	FUZZ_CHECK(c->max_rcpt_per_transaction >= 1,
		   "max_rcpt_per_transaction %d", c->max_rcpt_per_transaction);
	FUZZ_CHECK(c->queue_lifetime >= 1, "queue_lifetime %d",
		   c->queue_lifetime);
	FUZZ_CHECK(c->nretry_intervals >= 1 && c->retry_intervals != NULL,
		   "no retry interval");
	for (k = 0; k < c->nretry_intervals; k++)
		FUZZ_CHECK(c->retry_intervals[k] >= 1, "retry interval %d",
			   c->retry_intervals[k]);
	FUZZ_CHECK(c->ip_version >= IP_ANY && c->ip_version <= IP_V6,
		   "ip_version");
	FUZZ_CHECK(c->mx_tls >= MX_TLS_OPPORTUNISTIC && c->mx_tls <= MX_TLS_NONE,
		   "mx_tls");
	FUZZ_CHECK(c->delivery_mode >= DELIVER_INTERACTIVE &&
		   c->delivery_mode <= DELIVER_QUEUE, "delivery_mode");
	FUZZ_CHECK(c->local_delivery >= LOCAL_MBOX &&
		   c->local_delivery <= LOCAL_NONE, "local_delivery");
	FUZZ_CHECK(c->temp_dir != NULL && *c->temp_dir && clean(c->temp_dir),
		   "bad temp_dir");
	FUZZ_CHECK(c->log_file == NULL || (*c->log_file && clean(c->log_file)),
		   "bad log_file");
	FUZZ_CHECK(c->queue_dir != NULL && *c->queue_dir &&
		   clean(c->queue_dir), "bad queue_dir");
	/* postmaster becomes a RCPT TO and a DSN's To; known bug, see
	 * regressions/README.md. */
	FUZZ_CHECK(fuzz_skip_known() || clean(c->postmaster),
		   "control character in postmaster");
	FUZZ_CHECK(clean(c->masquerade_domain) &&
		   (c->masquerade_domain == NULL ||
		    !strpbrk(c->masquerade_domain, " \t")),
		   "bad masquerade_domain");
	FUZZ_CHECK(c->local_domains != NULL, "local_domains NULL");
	if (c->relay)
		check_relay(c->relay, "relay", false);
	FUZZ_CHECK(c->nroutes == 0 || c->routes != NULL, "routes");
	for (k = 0; k < c->nroutes; k++)
		check_relay(&c->routes[k], "route", true);
	for (k = 0; k < c->nsender_routes; k++)
		check_relay(&c->sender_routes[k], "sender_route", true);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *c = NULL;
	struct buf text;
	struct err e;
	enum status st;

	buf_init(&text);
	expand(data, size, &text);
	write_file(conf_path, text.data ? text.data : "", text.len, 0600);
	buf_free(&text);
	st = config_load(conf_path, &c, &e);
	fuzz_note("config_load: %s", st == ST_OK ? "OK" : e.msg);
	if (st == ST_OK) {
		FUZZ_CHECK(c != NULL, "OK without a config");
		check_config(c);
	} else {
		FUZZ_CHECK(st == ST_PERMFAIL, "status %d", (int)st);
		FUZZ_CHECK(c == NULL, "failure left a config");
		FUZZ_CHECK(e.msg[0] != '\0', "failure without a message");
	}
	config_free(c);
	return 0;
}
