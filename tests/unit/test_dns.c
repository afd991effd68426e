/* test_dns.c - the dns module against a real DNS server: this program
 * starts dnsmasq on 127.0.0.1 with a free port and a private zone
 * "test", and runs every lookup through the real event loop. A UDP
 * socket that never answers stands in for a dead server, and a tiny
 * responder on the loop answers SERVFAIL or REFUSED. dnsmasq is stopped
 * by PID at the end. */
#include "ac_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "dns.h"
#include "loop.h"
#include "util.h"

#define DNSMASQ_DEFAULT "/usr/sbin/dnsmasq"
#define READY_MS 10000

static struct {
	bool have;            /* dnsmasq is running */
	const char *why;      /* else: why the tests skip */
	pid_t pid;
	int port;
	char dir[64];
	char log[128];
	char servers[64];     /* "127.0.0.1:port" */
	int silent_fd;        /* bound, never read, never answers */
	char silent[64];      /* "127.0.0.1:port" of it */
} S = { .silent_fd = -1 };

/* ---- a few raw DNS packets ------------------------------------------------ */

static size_t build_query(unsigned char *b, size_t cap, unsigned id,
			  const char *name, unsigned qtype)
{
	size_t n = 0;

	assert_true(cap > 12 + strlen(name) + 6);
	b[n++] = (unsigned char)(id >> 8);
	b[n++] = (unsigned char)id;
	b[n++] = 0x01;  /* RD */
	b[n++] = 0;
	b[n++] = 0; b[n++] = 1;   /* QDCOUNT */
	memset(b + n, 0, 6);
	n += 6;
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		b[n++] = (unsigned char)len;
		memcpy(b + n, name, len);
		n += len;
		name += len + (dot ? 1 : 0);
	}
	b[n++] = 0;
	b[n++] = (unsigned char)(qtype >> 8);
	b[n++] = (unsigned char)qtype;
	b[n++] = 0;
	b[n++] = 1;
	return n;
}

/* Sends one query to 127.0.0.1:port and waits up to wait_ms for the
 * reply; returns its RCODE, or -1 if none came. */
static int ask(int port, const char *name, unsigned qtype, int wait_ms)
{
	struct sockaddr_in sa;
	unsigned char q[512], r[4096];
	int fd, rcode = -1;
	ssize_t n;
	size_t len;
	long long deadline = now_ms() + wait_ms;
	unsigned id = (unsigned)(now_ms() & 0xffff);

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	len = build_query(q, sizeof q, id, name, qtype);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
	    send(fd, q, len, 0) == (ssize_t)len) {
		while (poll_fd(fd, POLLIN, deadline) == 1) {
			n = recv(fd, r, sizeof r, MSG_DONTWAIT);
			if (n >= 12 && r[0] == q[0] && r[1] == q[1]) {
				rcode = r[3] & 0x0f;
				break;
			}
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				break;   /* refused: not listening yet */
		}
	}
	close(fd);
	return rcode;
}

/* ---- servers ---------------------------------------------------------------- */

static int bound_udp(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A port free for UDP and TCP right now (dnsmasq binds both). */
static int free_port(void)
{
	for (int tries = 0; tries < 20; tries++) {
		struct sockaddr_in sa;
		int port, ufd = bound_udp(&port);
		int tfd = socket(AF_INET, SOCK_STREAM, 0);
		bool ok;

		memset(&sa, 0, sizeof sa);
		sa.sin_family = AF_INET;
		sa.sin_port = htons((unsigned short)port);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ok = tfd >= 0 && bind(tfd, (struct sockaddr *)&sa, sizeof sa) == 0;
		close(tfd);
		close(ufd);
		if (ok)
			return port;
	}
	fail_msg("no free loopback port");
	return -1;
}

static void stop_pid(pid_t pid)
{
	long long deadline = now_ms() + 5000;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (now_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return;
		}
		poll(NULL, 0, 10);
	}
}

static void addarg(char ***argv, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void addarg(char ***argv, size_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	*argv = xreallocarray(*argv, *n + 2, sizeof **argv);
	(*argv)[(*n)++] = xvasprintf(fmt, ap);
	(*argv)[*n] = NULL;
	va_end(ap);
}

/* The zone every test uses; see each test for what it exercises. */
static char **dnsmasq_argv(const char *bin, int port, int silent_port)
{
	static const char *const fixed[] = {
		"--mx-host=pref.test,mx2.pref.test,20",
		"--mx-host=pref.test,mx1.pref.test,10",
		"--mx-host=pref.test,mx3.pref.test,30",
		"--host-record=mx1.pref.test,192.0.2.1",
		"--host-record=mx2.pref.test,192.0.2.2,2001:db8::2",
		"--host-record=mx3.pref.test,192.0.2.3",
		"--mx-host=equal.test,e1.equal.test,10",
		"--mx-host=equal.test,e2.equal.test,10",
		"--host-record=e1.equal.test,192.0.2.11",
		"--host-record=e2.equal.test,192.0.2.12",
		"--host-record=implicit.test,192.0.2.9",
		"--txt-record=empty.test,nothing here",
		/* RFC 7505 null MX: preference 0, target the root. An A
		 * record too, which a wrong implicit-MX lookup would find. */
		"--dns-rr=nullmx.test,15,000000",
		"--host-record=nullmx.test,192.0.2.99",
		"--mx-host=deadmx.test,gone.test,10",
		"--mx-host=partial.test,gone.test,10",
		"--mx-host=partial.test,ok.partial.test,20",
		"--host-record=ok.partial.test,192.0.2.20",
		"--mx-host=loop.test,lo.loop.test,10",
		"--host-record=lo.loop.test,127.0.0.1",
		"--mx-host=mixed.test,lo.loop.test,10",
		"--mx-host=mixed.test,real.mixed.test,20",
		"--host-record=real.mixed.test,192.0.2.5",
		"--mx-host=both.test,two.both.test,10",
		"--host-record=two.both.test,127.0.0.2",
		"--host-record=two.both.test,192.0.2.7",
		"--mx-host=self.test,me.self.test,10",
		"--mx-host=self.test,other.self.test,20",
		"--host-record=me.self.test,192.0.2.31",
		"--host-record=other.self.test,192.0.2.30",
		"--mx-host=backup.test,primary.backup.test,10",
		"--mx-host=backup.test,me.backup.test,20",
		"--mx-host=backup.test,third.backup.test,30",
		"--host-record=primary.backup.test,192.0.2.40",
		"--host-record=me.backup.test,192.0.2.41",
		"--host-record=third.backup.test,192.0.2.42",
		"--mx-host=v6only.test,h.v6only.test,10",
		"--host-record=h.v6only.test,2001:db8::6",
		"--mx-host=slowmx.test,h.slow.test,10",
		"--mx-host=slowmx.test,ok.partial.test,20",
		"--mx-host=slowonly.test,h.slow.test,10",
		"--host-record=relay.test,192.0.2.50",
		/* MX 10 "a b.test": a target no host name can be. */
		"--dns-rr=weird.test,15,000a03612062047465737400",
		/* Unknown names in the zone are NXDOMAIN, nothing leaves. */
		"--local=/test/",
	};
	char **argv = NULL;
	size_t n = 0, i;

	addarg(&argv, &n, "%s", bin);
	addarg(&argv, &n, "--keep-in-foreground");
	addarg(&argv, &n, "--no-resolv");
	addarg(&argv, &n, "--no-hosts");
	addarg(&argv, &n, "--no-poll");
	addarg(&argv, &n, "--conf-file=/dev/null");
	addarg(&argv, &n, "--port=%d", port);
	addarg(&argv, &n, "--listen-address=127.0.0.1");
	addarg(&argv, &n, "--bind-interfaces");
	addarg(&argv, &n, "--pid-file=%s/dnsmasq.pid", S.dir);
	addarg(&argv, &n, "--log-facility=-");
	addarg(&argv, &n, "--log-queries");
	addarg(&argv, &n, "--no-negcache");
	for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
		addarg(&argv, &n, "%s", fixed[i]);
	/* More MX hosts than DNS_MAX_HOSTS; only h5 has an address. */
	for (i = 0; i < DNS_MAX_HOSTS + 8; i++)
		addarg(&argv, &n, "--mx-host=many.test,h%zu.many.test,%zu", i, i);
	addarg(&argv, &n, "--host-record=h5.many.test,192.0.2.55");
	for (i = 0; i < 10; i++) {
		addarg(&argv, &n, "--mx-host=c%zu.test,mx.c%zu.test,10", i, i);
		addarg(&argv, &n, "--host-record=mx.c%zu.test,192.0.2.%zu", i, 100 + i);
	}
	/* Names under slow.test go to the silent server: dnsmasq forwards
	 * and never answers, so address lookups there time out. */
	addarg(&argv, &n, "--server=/slow.test/127.0.0.1#%d", silent_port);
	return argv;
}

static void free_argv(char **argv)
{
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

static pid_t spawn(char **argv, const char *logpath)
{
	pid_t pid = fork();

	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		int out = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (in < 0 || out < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int group_setup(void **state)
{
	const char *bin = getenv("DNSMASQ");
	int silent_port;

	(void)state;
	if (bin == NULL || *bin == '\0')
		bin = DNSMASQ_DEFAULT;
	if (access(bin, X_OK) != 0) {
		S.why = "dnsmasq not found (Debian: apt-get install dnsmasq-base)";
		return 0;
	}
	strlcpy(S.dir, "/tmp/sendmx-test-dns-XXXXXX", sizeof S.dir);
	if (mkdtemp(S.dir) == NULL)
		return -1;
	/* dnsmasq started as root drops to "nobody" and must still reach
	 * its files. */
	chmod(S.dir, 0755);
	snprintf(S.log, sizeof S.log, "%s/dnsmasq.log", S.dir);
	S.silent_fd = bound_udp(&silent_port);
	snprintf(S.silent, sizeof S.silent, "127.0.0.1:%d", silent_port);

	/* The port may be taken between choosing and binding: retry. */
	for (int attempt = 0; attempt < 5 && !S.have; attempt++) {
		char **argv;
		long long deadline = now_ms() + READY_MS;

		S.port = free_port();
		argv = dnsmasq_argv(bin, S.port, silent_port);
		S.pid = spawn(argv, S.log);
		free_argv(argv);
		if (S.pid < 0)
			return -1;
		/* Ready when it answers a real query; no sleeping. */
		while (now_ms() < deadline) {
			if (ask(S.port, "ready.test", 1, 200) == 3) {
				S.have = true;
				break;
			}
			if (waitpid(S.pid, NULL, WNOHANG) == S.pid) {
				S.pid = 0;
				break;
			}
		}
		if (!S.have) {
			stop_pid(S.pid);
			S.pid = 0;
		}
	}
	if (!S.have) {
		fprintf(stderr, "# dnsmasq did not start; its log is %s\n", S.log);
		return -1;
	}
	snprintf(S.servers, sizeof S.servers, "127.0.0.1:%d", S.port);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	stop_pid(S.pid);
	S.pid = 0;
	if (S.silent_fd >= 0)
		close(S.silent_fd);
	if (S.dir[0]) {
		char p[160];

		snprintf(p, sizeof p, "%s/dnsmasq.pid", S.dir);
		unlink(p);
		if (getenv("SENDMX_KEEP_TMP") == NULL) {
			unlink(S.log);
			rmdir(S.dir);
		}
	}
	return 0;
}

#define NEED_DNSMASQ() do { if (!S.have) { print_message("# %s\n", S.why); skip(); } } while (0)

/* ---- running lookups -------------------------------------------------------- */

static void base_cfg(struct config *c, const char *servers)
{
	memset(c, 0, sizeof *c);
	c->hostname = "sendmx.example.org";
	c->dns_servers = (char *)servers;
	c->dns_timeout = 5;
	c->ip_version = IP_ANY;
	c->allow_loopback_mx = false;
}

struct got {
	int calls;
	struct dns_result *res;
	long long at;
	const char *name;
};

static void on_result(void *ctx, struct dns_result *res)
{
	struct got *g = ctx;

	g->calls++;
	if (g->res != NULL)
		dns_result_free(g->res);
	g->res = res;
	g->at = now_ms();
}

/* One lookup on a fresh loop and resolver; *ms: how long loop_run took
 * (the lookup and everything it left behind). */
static struct dns_result *resolve(const struct config *cfg, bool mx,
				  const char *name, long long *ms)
{
	struct loop *l = loop_new();
	struct dns *d = NULL;
	struct err err;
	struct got g = { 0 };
	long long t0;

	assert_int_equal(dns_new(l, cfg, &d, &err), ST_OK);
	t0 = now_ms();
	if (mx)
		dns_lookup_mx(d, name, on_result, &g);
	else
		dns_lookup_host(d, name, on_result, &g);
	/* Never inside the call, even when the answer is known at once. */
	assert_int_equal(g.calls, 0);
	assert_true(loop_run(l, t0 + 20000));
	if (ms)
		*ms = now_ms() - t0;
	assert_int_equal(g.calls, 1);
	dns_free(d);
	loop_free(l);
	return g.res;
}

static struct dns_result *mx_of(const struct config *cfg, const char *domain)
{
	return resolve(cfg, true, domain, NULL);
}

static bool has_addr(const struct dns_host *h, const char *text)
{
	for (size_t i = 0; i < h->naddrs; i++)
		if (strcmp(h->addrs[i].text, text) == 0)
			return true;
	return false;
}

/* Every address's sockaddr matches its text and carries port 0. */
static void check_addrs(const struct dns_host *h)
{
	for (size_t i = 0; i < h->naddrs; i++) {
		const struct dns_addr *a = &h->addrs[i];
		char buf[64];

		if (a->sa.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const void *)&a->sa;

			assert_int_equal(a->len, sizeof *in);
			assert_int_equal(in->sin_port, 0);
			inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
		} else {
			const struct sockaddr_in6 *in6 = (const void *)&a->sa;

			assert_int_equal(a->sa.ss_family, AF_INET6);
			assert_int_equal(a->len, sizeof *in6);
			assert_int_equal(in6->sin6_port, 0);
			inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
		}
		assert_string_equal(buf, a->text);
	}
}

/* ---- MX order and addresses ------------------------------------------------- */

static void test_mx_order_and_addresses(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = mx_of(&c, "pref.test");
	assert_int_equal(r->status, ST_OK);
	assert_null(r->error);
	assert_false(r->implicit_mx);
	assert_false(r->null_mx);
	assert_int_equal(r->nhosts, 3);
	assert_string_equal(r->hosts[0].name, "mx1.pref.test");
	assert_int_equal(r->hosts[0].pref, 10);
	assert_string_equal(r->hosts[1].name, "mx2.pref.test");
	assert_int_equal(r->hosts[1].pref, 20);
	assert_string_equal(r->hosts[2].name, "mx3.pref.test");
	assert_int_equal(r->hosts[2].pref, 30);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.1");
	assert_null(r->hosts[0].error);
	/* IP_ANY: both families of mx2. */
	assert_int_equal(r->hosts[1].naddrs, 2);
	assert_true(has_addr(&r->hosts[1], "192.0.2.2"));
	assert_true(has_addr(&r->hosts[1], "2001:db8::2"));
	assert_int_equal(r->hosts[2].naddrs, 1);
	assert_string_equal(r->hosts[2].addrs[0].text, "192.0.2.3");
	for (size_t i = 0; i < r->nhosts; i++)
		check_addrs(&r->hosts[i]);
	dns_result_free(r);

	/* A trailing dot is the same domain. */
	r = mx_of(&c, "pref.test.");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->nhosts, 3);
	assert_string_equal(r->hosts[0].name, "mx1.pref.test");
	dns_result_free(r);
}

/* RFC 5321 5.1: equal preferences in random order. 40 lookups at once
 * see both orders (a fixed order has probability 2^-39). */
static void test_equal_preference_shuffled(void **state)
{
	struct config c;
	struct loop *l = loop_new();
	struct dns *d;
	struct err err;
	struct got g[40];
	int first_e1 = 0, first_e2 = 0;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	assert_int_equal(dns_new(l, &c, &d, &err), ST_OK);
	memset(g, 0, sizeof g);
	for (int i = 0; i < 40; i++)
		dns_lookup_mx(d, "equal.test", on_result, &g[i]);
	assert_true(loop_run(l, now_ms() + 20000));
	for (int i = 0; i < 40; i++) {
		struct dns_result *r = g[i].res;

		assert_int_equal(g[i].calls, 1);
		assert_int_equal(r->status, ST_OK);
		assert_int_equal(r->nhosts, 2);
		assert_int_equal(r->hosts[0].pref, 10);
		assert_int_equal(r->hosts[1].pref, 10);
		if (strcmp(r->hosts[0].name, "e1.equal.test") == 0) {
			first_e1++;
			assert_string_equal(r->hosts[1].name, "e2.equal.test");
			assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.11");
		} else {
			first_e2++;
			assert_string_equal(r->hosts[0].name, "e2.equal.test");
			assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.12");
		}
		dns_result_free(r);
	}
	assert_true(first_e1 > 0);
	assert_true(first_e2 > 0);
	dns_free(d);
	loop_free(l);
}

static void test_implicit_mx(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = mx_of(&c, "implicit.test");
	assert_int_equal(r->status, ST_OK);
	assert_true(r->implicit_mx);
	assert_false(r->null_mx);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "implicit.test");
	assert_int_equal(r->hosts[0].pref, 0);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.9");
	dns_result_free(r);

	/* The name exists (a TXT record), but has neither MX nor address. */
	r = mx_of(&c, "empty.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_true(r->implicit_mx);
	assert_string_equal(r->error, "empty.test: no MX and no A or AAAA "
			    "address records: the domain accepts no mail");
	assert_int_equal(r->nhosts, 1);
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_non_null(r->hosts[0].error);
	dns_result_free(r);
}

/* Waits (bounded) until dnsmasq's log shows a query for a marker name,
 * so everything asked before it is in the log too. */
static char *log_through(const char *marker)
{
	long long deadline = now_ms() + 5000;
	char needle[128];

	snprintf(needle, sizeof needle, "query[A] %s ", marker);
	assert_true(ask(S.port, marker, 1, 2000) == 3);
	for (;;) {
		FILE *f = fopen(S.log, "r");
		struct buf b;
		char chunk[4096];
		size_t n;

		assert_non_null(f);
		buf_init(&b);
		while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
			buf_append(&b, chunk, n);
		fclose(f);
		if (strstr(b.data, needle) != NULL)
			return b.data;
		buf_free(&b);
		if (now_ms() > deadline)
			fail_msg("dnsmasq never logged %s", needle);
		poll(NULL, 0, 20);
	}
}

static void test_null_mx_no_address_lookups(void **state)
{
	struct config c;
	struct dns_result *r;
	char *log;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = mx_of(&c, "nullmx.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_true(r->null_mx);
	assert_false(r->implicit_mx);
	assert_int_equal(r->nhosts, 0);
	assert_null(r->hosts);
	assert_string_equal(r->error, "nullmx.test: null MX (RFC 7505): the "
			    "domain accepts no mail");
	dns_result_free(r);

	/* The MX query went out; no A/AAAA query for the domain did. */
	log = log_through("marker-null.test");
	assert_non_null(strstr(log, "query[MX] nullmx.test from"));
	assert_null(strstr(log, "query[A] nullmx.test from"));
	assert_null(strstr(log, "query[AAAA] nullmx.test from"));
	free(log);
}

/* ---- permanent and temporary failures ------------------------------------------ */

static void test_nxdomain_permanent(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = mx_of(&c, "nope.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "nope.test: no such domain (NXDOMAIN)");
	assert_false(r->implicit_mx);
	assert_int_equal(r->nhosts, 0);
	dns_result_free(r);

	/* The only MX host does not exist. */
	r = mx_of(&c, "deadmx.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "gone.test");
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_string_equal(r->hosts[0].error, "gone.test: no such host (NXDOMAIN)");
	assert_string_equal(r->error, "deadmx.test: no MX host has a usable "
			    "address (gone.test: no such host (NXDOMAIN))");
	dns_result_free(r);
}

static void test_some_mx_hosts_fail(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = mx_of(&c, "partial.test");
	assert_int_equal(r->status, ST_OK);
	assert_null(r->error);
	assert_int_equal(r->nhosts, 2);
	/* Kept, in order, with the reason. */
	assert_string_equal(r->hosts[0].name, "gone.test");
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_string_equal(r->hosts[0].error, "gone.test: no such host (NXDOMAIN)");
	assert_string_equal(r->hosts[1].name, "ok.partial.test");
	assert_int_equal(r->hosts[1].naddrs, 1);
	assert_string_equal(r->hosts[1].addrs[0].text, "192.0.2.20");
	assert_null(r->hosts[1].error);
	dns_result_free(r);
}

static void test_hostile_mx_answers(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	/* A target with a space is kept, with a reason, and not looked up. */
	r = mx_of(&c, "weird.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "a b.test");
	assert_string_equal(r->hosts[0].error, "a b.test: not a valid host name");
	assert_string_equal(r->error, "weird.test: no MX host has a usable "
			    "address (a b.test: not a valid host name)");
	dns_result_free(r);

	/* Only the DNS_MAX_HOSTS most preferred hosts, in order. */
	r = mx_of(&c, "many.test");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->nhosts, DNS_MAX_HOSTS);
	for (size_t i = 0; i < r->nhosts; i++) {
		char name[32];

		snprintf(name, sizeof name, "h%zu.many.test", i);
		assert_string_equal(r->hosts[i].name, name);
		assert_int_equal(r->hosts[i].pref, (int)i);
		assert_int_equal(r->hosts[i].naddrs, i == 5 ? 1 : 0);
	}
	assert_string_equal(r->hosts[5].addrs[0].text, "192.0.2.55");
	assert_string_equal(r->hosts[0].error, "h0.many.test: no such host (NXDOMAIN)");
	dns_result_free(r);
}

static void test_silent_server_times_out(void **state)
{
	struct config c;
	struct dns_result *r;
	long long ms;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.silent);
	c.dns_timeout = 1;
	r = resolve(&c, true, "pref.test", &ms);
	assert_int_equal(r->status, ST_TEMPFAIL);
	assert_string_equal(r->error, "pref.test: DNS lookup timed out after 1 s");
	assert_int_equal(r->nhosts, 0);
	/* Retries included, and nothing left behind keeps the loop busy. */
	assert_true(ms >= 900);
	assert_true(ms < 2000);
	dns_result_free(r);

	r = resolve(&c, false, "relay.test", &ms);
	assert_int_equal(r->status, ST_TEMPFAIL);
	assert_string_equal(r->error, "relay.test: DNS lookup timed out after 1 s");
	assert_true(ms < 2000);
	dns_result_free(r);
}

/* MX answered at once, one host's addresses never: the deadline ends the
 * lookup with what is known. */
static void test_address_step_deadline(void **state)
{
	struct config c;
	struct dns_result *r;
	long long ms;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	c.dns_timeout = 1;
	r = resolve(&c, true, "slowmx.test", &ms);
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->nhosts, 2);
	assert_string_equal(r->hosts[0].name, "h.slow.test");
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_string_equal(r->hosts[0].error,
			    "h.slow.test: DNS lookup timed out after 1 s");
	assert_string_equal(r->hosts[1].name, "ok.partial.test");
	assert_string_equal(r->hosts[1].addrs[0].text, "192.0.2.20");
	assert_true(ms >= 900 && ms < 2000);
	dns_result_free(r);

	r = resolve(&c, true, "slowonly.test", &ms);
	assert_int_equal(r->status, ST_TEMPFAIL);
	assert_string_equal(r->error, "slowonly.test: no MX host has a usable "
			    "address (h.slow.test: DNS lookup timed out after 1 s)");
	assert_true(ms >= 900 && ms < 2000);
	dns_result_free(r);
}

/* A server on the loop that answers every query with one RCODE. */
struct fake {
	int fd;
	int rcode;
	int queries;
};

static void fake_io(void *ctx, int fd, short revents)
{
	struct fake *f = ctx;
	unsigned char b[512];
	struct sockaddr_storage from;
	socklen_t flen = sizeof from;
	ssize_t n = recvfrom(fd, b, sizeof b, MSG_DONTWAIT,
			     (struct sockaddr *)&from, &flen);

	(void)revents;
	if (n < 12)
		return;
	f->queries++;
	b[2] = (unsigned char)(0x80 | (b[2] & 0x01));  /* QR, keep RD */
	b[3] = (unsigned char)(0x80 | f->rcode);       /* RA, RCODE */
	sendto(fd, b, (size_t)n, 0, (struct sockaddr *)&from, flen);
}

static struct dns_result *ask_fake(int rcode, const char *domain, int *queries)
{
	struct config c;
	struct fake f = { -1, rcode, 0 };
	char servers[64];
	struct loop *l = loop_new();
	struct dns *d;
	struct err err;
	struct got g = { 0 };
	long long end;
	int port;

	f.fd = bound_udp(&port);
	snprintf(servers, sizeof servers, "127.0.0.1:%d", port);
	base_cfg(&c, servers);
	assert_int_equal(dns_new(l, &c, &d, &err), ST_OK);
	loop_watch(l, f.fd, POLLIN, fake_io, &f);
	dns_lookup_mx(d, domain, on_result, &g);
	/* The fake server keeps the loop busy: run until the result. */
	end = now_ms() + 10000;
	while (g.calls == 0 && now_ms() < end)
		loop_run(l, now_ms() + 100);
	assert_int_equal(g.calls, 1);
	loop_unwatch(l, f.fd);
	close(f.fd);
	dns_free(d);
	loop_free(l);
	*queries = f.queries;
	return g.res;
}

#define FAILED_OR_UNREACHABLE "DNS server failed or unreachable " \
	"(SERVFAIL, REFUSED or connection refused)"

/* c-ares 1.18 retries SERVFAIL and REFUSED and then reports them like an
 * unreachable server; either way: temporary, and at once, not after the
 * timeout. */
static void test_servfail_and_refused_temporary(void **state)
{
	struct dns_result *r;
	int queries;
	long long t0;

	(void)state;
	t0 = now_ms();
	r = ask_fake(2, "example.test", &queries);
	assert_int_equal(r->status, ST_TEMPFAIL);
	assert_string_equal(r->error, "example.test: " FAILED_OR_UNREACHABLE);
	assert_int_equal(r->nhosts, 0);
	assert_true(queries >= 1);
	assert_true(now_ms() - t0 < 1000);
	dns_result_free(r);

	r = ask_fake(5, "example.test", &queries);
	assert_int_equal(r->status, ST_TEMPFAIL);
	assert_string_equal(r->error, "example.test: " FAILED_OR_UNREACHABLE);
	assert_true(queries >= 1);
	dns_result_free(r);

	/* The same server saying NXDOMAIN is permanent, at the first answer. */
	r = ask_fake(3, "example.test", &queries);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "example.test: no such domain (NXDOMAIN)");
	assert_int_equal(queries, 1);
	dns_result_free(r);
}

static void test_connection_refused_temporary(void **state)
{
	struct config c;
	struct dns_result *r;
	char servers[64];
	long long ms;

	(void)state;
	/* Nothing listens there: ICMP port unreachable on loopback. */
	snprintf(servers, sizeof servers, "127.0.0.1:%d", free_port());
	base_cfg(&c, servers);
	c.dns_timeout = 3;
	r = resolve(&c, true, "example.test", &ms);
	assert_int_equal(r->status, ST_TEMPFAIL);
	assert_string_equal(r->error, "example.test: " FAILED_OR_UNREACHABLE);
	assert_true(ms < 2000);
	dns_result_free(r);
}

/* ---- mail loops ------------------------------------------------------------------ */

static void test_loopback_mx_is_a_loop(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = mx_of(&c, "loop.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "mail for loop.test loops back to myself "
			    "(MX lo.loop.test points to this machine: 127.0.0.1)");
	assert_int_equal(r->nhosts, 1);
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_string_equal(r->hosts[0].error, "lo.loop.test: only a loopback "
			    "address (127.0.0.1): that is this machine");
	dns_result_free(r);

	/* Another MX host is usable: only the loopback one is dropped. */
	r = mx_of(&c, "mixed.test");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->nhosts, 2);
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_non_null(r->hosts[0].error);
	assert_string_equal(r->hosts[1].addrs[0].text, "192.0.2.5");
	dns_result_free(r);

	/* One host with a loopback and a real address keeps the real one. */
	r = mx_of(&c, "both.test");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.7");
	dns_result_free(r);

	/* allow_loopback_mx (tests, local setups) keeps them. */
	c.allow_loopback_mx = true;
	r = mx_of(&c, "loop.test");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_string_equal(r->hosts[0].addrs[0].text, "127.0.0.1");
	dns_result_free(r);
	r = mx_of(&c, "both.test");
	assert_int_equal(r->hosts[0].naddrs, 2);
	assert_true(has_addr(&r->hosts[0], "127.0.0.2"));
	dns_result_free(r);
}

static void test_own_hostname_mx(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	c.hostname = "ME.self.test";
	r = mx_of(&c, "self.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "mail for self.test loops back to myself "
			    "(MX ME.self.test is this host)");
	assert_int_equal(r->nhosts, 0);
	dns_result_free(r);

	/* RFC 5321 5.1: as a backup MX, deliver only to more preferred ones. */
	c.hostname = "me.backup.test";
	r = mx_of(&c, "backup.test");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "primary.backup.test");
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.40");
	dns_result_free(r);

	/* No MX, and the domain is this host. */
	c.hostname = "implicit.test";
	r = mx_of(&c, "Implicit.Test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_true(r->implicit_mx);
	assert_string_equal(r->error, "mail for Implicit.Test loops back to "
			    "myself (no MX records, and the domain is this host)");
	dns_result_free(r);
}

/* ---- address families ------------------------------------------------------------ */

static void test_ip_version(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	c.ip_version = IP_V4;
	r = mx_of(&c, "pref.test");
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->hosts[1].naddrs, 1);
	assert_string_equal(r->hosts[1].addrs[0].text, "192.0.2.2");
	assert_int_equal(r->hosts[1].addrs[0].sa.ss_family, AF_INET);
	dns_result_free(r);

	r = mx_of(&c, "v6only.test");
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->hosts[0].error, "h.v6only.test: no IPv4 (A) "
			    "address records");
	dns_result_free(r);

	c.ip_version = IP_V6;
	r = mx_of(&c, "pref.test");
	assert_int_equal(r->status, ST_OK);
	/* Only mx2 has AAAA: the others are kept, without addresses. */
	assert_int_equal(r->hosts[0].naddrs, 0);
	assert_string_equal(r->hosts[0].error, "mx1.pref.test: no IPv6 (AAAA) "
			    "address records");
	assert_int_equal(r->hosts[1].naddrs, 1);
	assert_string_equal(r->hosts[1].addrs[0].text, "2001:db8::2");
	assert_int_equal(r->hosts[1].addrs[0].sa.ss_family, AF_INET6);
	check_addrs(&r->hosts[1]);
	dns_result_free(r);

	r = mx_of(&c, "v6only.test");
	assert_int_equal(r->status, ST_OK);
	assert_string_equal(r->hosts[0].addrs[0].text, "2001:db8::6");
	dns_result_free(r);
}

/* ---- many at once ----------------------------------------------------------------- */

static void test_ten_domains_one_loop_run(void **state)
{
	struct config c;
	struct loop *l = loop_new();
	struct dns *d;
	struct err err;
	struct got g[10];
	char domain[10][32];
	long long t0;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	assert_int_equal(dns_new(l, &c, &d, &err), ST_OK);
	memset(g, 0, sizeof g);
	for (int i = 0; i < 10; i++) {
		snprintf(domain[i], sizeof domain[i], "c%d.test", i);
		dns_lookup_mx(d, domain[i], on_result, &g[i]);
	}
	t0 = now_ms();
	assert_true(loop_run(l, t0 + 20000));
	assert_true(now_ms() - t0 < 3000);
	for (int i = 0; i < 10; i++) {
		struct dns_result *r = g[i].res;
		char host[32], addr[32];

		snprintf(host, sizeof host, "mx.c%d.test", i);
		snprintf(addr, sizeof addr, "192.0.2.%d", 100 + i);
		assert_int_equal(g[i].calls, 1);
		assert_int_equal(r->status, ST_OK);
		assert_int_equal(r->nhosts, 1);
		assert_string_equal(r->hosts[0].name, host);
		assert_int_equal(r->hosts[0].naddrs, 1);
		assert_string_equal(r->hosts[0].addrs[0].text, addr);
		dns_result_free(r);
	}
	dns_free(d);
	loop_free(l);
}

/* A callback may start the next lookup on the same resolver. */
struct chain {
	struct dns *d;
	struct got first, second;
};

static void chain_first(void *ctx, struct dns_result *res)
{
	struct chain *ch = ctx;

	on_result(&ch->first, res);
	dns_lookup_mx(ch->d, "implicit.test", on_result, &ch->second);
}

static void test_lookup_from_callback(void **state)
{
	struct config c;
	struct loop *l = loop_new();
	struct chain ch;
	struct err err;

	(void)state;
	NEED_DNSMASQ();
	memset(&ch, 0, sizeof ch);
	base_cfg(&c, S.servers);
	assert_int_equal(dns_new(l, &c, &ch.d, &err), ST_OK);
	dns_lookup_mx(ch.d, "pref.test", chain_first, &ch);
	assert_true(loop_run(l, now_ms() + 20000));
	assert_int_equal(ch.first.calls, 1);
	assert_int_equal(ch.second.calls, 1);
	assert_int_equal(ch.first.res->nhosts, 3);
	assert_true(ch.second.res->implicit_mx);
	assert_string_equal(ch.second.res->hosts[0].addrs[0].text, "192.0.2.9");
	dns_result_free(ch.first.res);
	dns_result_free(ch.second.res);
	dns_free(ch.d);
	loop_free(l);
}

/* ---- single hosts (relay, route) --------------------------------------------------- */

static void test_lookup_host(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.servers);
	r = resolve(&c, false, "relay.test", NULL);
	assert_int_equal(r->status, ST_OK);
	assert_false(r->implicit_mx);
	assert_int_equal(r->nhosts, 1);
	assert_string_equal(r->hosts[0].name, "relay.test");
	assert_int_equal(r->hosts[0].pref, 0);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.50");
	dns_result_free(r);

	r = resolve(&c, false, "gone.test", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "gone.test: no such host (NXDOMAIN)");
	assert_string_equal(r->hosts[0].error, "gone.test: no such host (NXDOMAIN)");
	dns_result_free(r);

	/* A host that exists without addresses. */
	r = resolve(&c, false, "pref.test", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "pref.test: no A or AAAA address records");
	dns_result_free(r);

	/* Loopback is fine for a relay: no mail-loop rule here. */
	r = resolve(&c, false, "lo.loop.test", NULL);
	assert_int_equal(r->status, ST_OK);
	assert_string_equal(r->hosts[0].addrs[0].text, "127.0.0.1");
	dns_result_free(r);

	/* localhost never goes to the DNS server (it has no such name). */
	r = resolve(&c, false, "localhost", NULL);
	assert_int_equal(r->status, ST_OK);
	assert_true(has_addr(&r->hosts[0], "127.0.0.1") ||
		    has_addr(&r->hosts[0], "::1"));
	dns_result_free(r);
}

static void test_lookup_host_literals(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	/* Literals need no server: one that never answers proves it. */
	base_cfg(&c, "127.0.0.1:9");
	r = resolve(&c, false, "192.0.2.44", NULL);
	assert_int_equal(r->status, ST_OK);
	assert_int_equal(r->hosts[0].naddrs, 1);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.44");
	check_addrs(&r->hosts[0]);
	dns_result_free(r);

	r = resolve(&c, false, "[192.0.2.45]", NULL);
	assert_int_equal(r->status, ST_OK);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.45");
	dns_result_free(r);

	r = resolve(&c, false, "[IPv6:2001:DB8::5]", NULL);
	assert_int_equal(r->status, ST_OK);
	assert_string_equal(r->hosts[0].addrs[0].text, "2001:db8::5");
	check_addrs(&r->hosts[0]);
	dns_result_free(r);

	r = resolve(&c, false, "[300.1.1.1]", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "\"[300.1.1.1]\": not a valid address literal");
	dns_result_free(r);

	c.ip_version = IP_V4;
	r = resolve(&c, false, "2001:db8::1", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "2001:db8::1: an IPv6 address, but ip_version = 4");
	dns_result_free(r);
}

static void test_invalid_names(void **state)
{
	struct config c;
	struct dns_result *r;

	(void)state;
	base_cfg(&c, "127.0.0.1:9");
	r = resolve(&c, true, "bad domain\r\n.test", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "\"bad domain??.test\": not a valid domain name");
	dns_result_free(r);

	r = resolve(&c, true, "", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	dns_result_free(r);

	r = resolve(&c, false, "a..b", NULL);
	assert_int_equal(r->status, ST_PERMFAIL);
	assert_string_equal(r->error, "\"a..b\": not a valid host name");
	dns_result_free(r);
}

/* ---- lifecycle ------------------------------------------------------------------- */

static int free_calls;

static void count_call(void *ctx, struct dns_result *res)
{
	(void)ctx;
	free_calls++;
	dns_result_free(res);
}

static void test_free_cancels_without_callback(void **state)
{
	struct config c;
	struct loop *l = loop_new();
	struct dns *d;
	struct err err;
	long long t0;

	(void)state;
	NEED_DNSMASQ();
	base_cfg(&c, S.silent);
	assert_int_equal(dns_new(l, &c, &d, &err), ST_OK);
	free_calls = 0;
	dns_lookup_mx(d, "pref.test", count_call, NULL);
	dns_lookup_host(d, "relay.test", count_call, NULL);
	dns_lookup_host(d, "192.0.2.1", count_call, NULL);  /* already known */
	dns_free(d);
	assert_int_equal(free_calls, 0);
	/* No socket or timer of the resolver is left on the loop. */
	t0 = now_ms();
	assert_true(loop_run(l, t0 + 5000));
	assert_true(now_ms() - t0 < 100);
	assert_int_equal(free_calls, 0);
	loop_free(l);
	dns_free(NULL);
}

static void test_server_lists(void **state)
{
	struct config c;
	struct loop *l = loop_new();
	struct dns *d = NULL;
	struct err err;
	struct dns_result *r;
	char servers[128];

	(void)state;
	base_cfg(&c, "not-an-address");
	assert_int_equal(dns_new(l, &c, &d, &err), ST_PERMFAIL);
	assert_null(d);
	assert_non_null(strstr(err.msg, "dns_servers \"not-an-address\""));
	loop_free(l);

	NEED_DNSMASQ();
	/* An IPv6 entry that does not answer, then dnsmasq: the lookup
	 * moves on to the next server. */
	snprintf(servers, sizeof servers, "[::1]:%d,%s", free_port(), S.servers);
	base_cfg(&c, servers);
	r = mx_of(&c, "implicit.test");
	assert_int_equal(r->status, ST_OK);
	assert_string_equal(r->hosts[0].addrs[0].text, "192.0.2.9");
	dns_result_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mx_order_and_addresses),
		cmocka_unit_test(test_equal_preference_shuffled),
		cmocka_unit_test(test_implicit_mx),
		cmocka_unit_test(test_null_mx_no_address_lookups),
		cmocka_unit_test(test_nxdomain_permanent),
		cmocka_unit_test(test_some_mx_hosts_fail),
		cmocka_unit_test(test_hostile_mx_answers),
		cmocka_unit_test(test_silent_server_times_out),
		cmocka_unit_test(test_address_step_deadline),
		cmocka_unit_test(test_servfail_and_refused_temporary),
		cmocka_unit_test(test_connection_refused_temporary),
		cmocka_unit_test(test_loopback_mx_is_a_loop),
		cmocka_unit_test(test_own_hostname_mx),
		cmocka_unit_test(test_ip_version),
		cmocka_unit_test(test_ten_domains_one_loop_run),
		cmocka_unit_test(test_lookup_from_callback),
		cmocka_unit_test(test_lookup_host),
		cmocka_unit_test(test_lookup_host_literals),
		cmocka_unit_test(test_invalid_names),
		cmocka_unit_test(test_free_cancels_without_callback),
		cmocka_unit_test(test_server_lists),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
