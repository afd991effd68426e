/*
 * test_net.c - net and tls against real peers on loopback.
 *
 * Each test forks a small scripted server on 127.0.0.1 with an ephemeral
 * port. The socket listens before fork(), so the client can connect at
 * once: no sleeping, no readiness races. Teardown kills and reaps the
 * child whether the test passed or not.
 */
#include "ac_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net.h"

#define TIMEOUT 5000

typedef void (*serve_fn)(int fd);

struct server {
	pid_t pid;
	int port;
};

static struct server srv;
static char tmpdir[] = "/tmp/test_net.XXXXXX";
static char cert_file[64], key_file[64];

static int listen_loopback(int *port);
static void start_server(serve_fn fn);
static int stop_server(void **state);
static struct conn *connect_server(void);
static void check_contains(const char *s, const char *sub);
static void write_all(int fd, const void *p, size_t n);
static void write_str(int fd, const char *s);
static void drain(int fd);

/* ---- harness ---- */

static int listen_loopback(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

static void start_server(serve_fn fn)
{
	int lfd = listen_loopback(&srv.port);

	srv.pid = fork();
	assert_true(srv.pid >= 0);
	if (srv.pid == 0) {
		int fd = accept(lfd, NULL, NULL);

		close(lfd);
		if (fd >= 0)
			fn(fd);
		_exit(0);
	}
	close(lfd);
}

static int stop_server(void **state)
{
	(void)state;
	if (srv.pid > 0) {
		kill(srv.pid, SIGKILL);
		waitpid(srv.pid, NULL, 0);
	}
	srv.pid = 0;
	return 0;
}

static struct conn *connect_server(void)
{
	struct conn *c = NULL;
	struct err err = { "" };
	enum status st;

	st = net_connect("127.0.0.1", srv.port, TIMEOUT, &c, &err);
	if (st != ST_OK)
		print_error("net_connect: %s\n", err.msg);
	assert_int_equal(st, ST_OK);
	assert_non_null(c);
	return c;
}

static void check_contains(const char *s, const char *sub)
{
	if (strstr(s, sub) == NULL) {
		print_error("\"%s\" does not contain \"%s\"\n", s, sub);
		fail();
	}
}

static void write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	ssize_t r;

	while (n > 0) {
		r = write(fd, s, n);
		if (r <= 0)
			_exit(1);
		s += r;
		n -= (size_t)r;
	}
}

static void write_str(int fd, const char *s)
{
	write_all(fd, s, strlen(s));
}

/* Keeps the connection open until the client closes it. */
static void drain(int fd)
{
	char b[4096];

	while (read(fd, b, sizeof b) > 0)
		;
}

/* ---- plain line I/O ---- */

static void serve_lines(int fd)
{
	char b;

	write_str(fd, "220 hello\r\nLF only\n250-fir");
	/* Wait for the client so the rest surely arrives in a later read. */
	if (read(fd, &b, 1) != 1)
		_exit(1);
	write_str(fd, "st\r\nbare\rcr\r\n\r\n");
	drain(fd);
}

static void test_read_lines(void **state)
{
	struct conn *c = NULL;
	struct err err = { "" };
	struct buf line;
	char peer[64];

	(void)state;
	buf_init(&line);
	start_server(serve_lines);
	c = connect_server();
	snprintf(peer, sizeof peer, "127.0.0.1[127.0.0.1]:%d", srv.port);
	assert_string_equal(net_peer(c), peer);
	assert_false(net_tls_active(c));

	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_string_equal(line.data, "220 hello");
	assert_int_equal(line.len, 9);
	assert_true(net_line_buffered(c));
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_string_equal(line.data, "LF only");
	assert_false(net_line_buffered(c));

	assert_int_equal(net_write(c, "g", 1, TIMEOUT, &err), ST_OK);
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_string_equal(line.data, "250-first");
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_string_equal(line.data, "bare\rcr");
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_int_equal(line.len, 0);
	assert_false(net_line_buffered(c));
	net_close(c);
	buf_free(&line);
}

static void serve_limits(int fd)
{
	char *b = malloc(NET_MAX_LINE + 3);

	memset(b, 'a', NET_MAX_LINE);
	memcpy(b + NET_MAX_LINE, "\r\n", 2);
	write_all(fd, b, NET_MAX_LINE + 2);
	memset(b, 'b', NET_MAX_LINE);
	b[NET_MAX_LINE] = '\n';
	write_all(fd, b, NET_MAX_LINE + 1);
	memset(b, 'c', NET_MAX_LINE + 1);
	memcpy(b + NET_MAX_LINE + 1, "\r\n", 2);
	write_all(fd, b, NET_MAX_LINE + 3);
	free(b);
	drain(fd);
}

static void test_line_limit_exact(void **state)
{
	struct conn *c;
	struct err err = { "" };
	struct buf line;

	(void)state;
	buf_init(&line);
	start_server(serve_limits);
	c = connect_server();
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_int_equal(line.len, NET_MAX_LINE);
	assert_true(line.data[0] == 'a' && line.data[NET_MAX_LINE - 1] == 'a');
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_int_equal(line.len, NET_MAX_LINE);
	assert_true(line.data[0] == 'b' && line.data[NET_MAX_LINE - 1] == 'b');
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_TEMPFAIL);
	check_contains(err.msg, "reply line too long");
	net_close(c);
	buf_free(&line);
}

static void serve_huge(int fd)
{
	char b[10240];
	int i;

	memset(b, 'x', sizeof b);
	write_all(fd, b, sizeof b);
	write_str(fd, "\r\n250 ok\r\n");
	/* Then a megabyte without LF: a reader that buffers until LF
	 * would take it all. */
	for (i = 0; i < 100; i++)
		write_all(fd, b, sizeof b);
	drain(fd);
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

static void test_long_line_rejected(void **state)
{
	struct conn *c;
	struct err err = { "" };
	struct buf line;
	size_t before;

	(void)state;
	buf_init(&line);
	start_server(serve_huge);
	c = connect_server();
	before = heap_in_use();
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_TEMPFAIL);
	check_contains(err.msg, "reply line too long");
	assert_int_equal(line.len, 0);
	/* The input buffer is fixed at connect time: rejecting 10 KB must
	 * not have allocated anything near its size. */
	assert_true(heap_in_use() <= before + 1024);
	net_close(c);
	buf_free(&line);
}

/* ---- failures ---- */

static void serve_eof(int fd)
{
	write_str(fd, "220 bye\r\npartial");
	close(fd);
}

static void test_eof(void **state)
{
	struct conn *c;
	struct err err = { "" };
	struct buf line;

	(void)state;
	buf_init(&line);
	start_server(serve_eof);
	c = connect_server();
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_string_equal(line.data, "220 bye");
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_TEMPFAIL);
	assert_string_equal(err.msg, "connection closed by peer");
	net_close(c);
	buf_free(&line);
}

static void test_timeout(void **state)
{
	struct conn *c;
	struct err err = { "" };
	struct buf line;

	(void)state;
	buf_init(&line);
	start_server(drain);
	c = connect_server();
	assert_int_equal(net_read_line(c, &line, 200, &err), ST_TEMPFAIL);
	assert_string_equal(err.msg, "timed out after 0.2 s waiting for reply");
	net_close(c);
	buf_free(&line);
}

static void serve_one_line(int fd)
{
	write_str(fd, "250-first\r\n");
	drain(fd);
}

/* One deadline for several lines: what is buffered is still returned,
 * but the wait for more ends at the shared deadline, and the message
 * names the whole timeout. */
static void test_shared_deadline(void **state)
{
	struct conn *c;
	struct err err = { "" };
	struct buf line;
	long long deadline, start;

	(void)state;
	buf_init(&line);
	start_server(serve_one_line);
	c = connect_server();
	deadline = net_deadline(300);
	assert_int_equal(net_read_line_until(c, &line, deadline, 300, &err),
			 ST_OK);
	assert_string_equal(line.data, "250-first");
	/* Age the deadline: about 100 ms of it are left. */
	usleep(200 * 1000);
	start = now_ms();
	assert_int_equal(net_read_line_until(c, &line, deadline, 300, &err),
			 ST_TEMPFAIL);
	assert_true(now_ms() - start < 250);
	assert_string_equal(err.msg, "timed out after 0.3 s waiting for reply");
	assert_true(net_deadline(-1) < 0);
	net_close(c);
	buf_free(&line);
}

static void serve_close(int fd)
{
	close(fd);
}

/* MSG_NOSIGNAL: writing to a closed peer is an error, not SIGPIPE. */
static void test_write_to_closed_peer(void **state)
{
	static char big[65536];
	struct conn *c;
	struct err err = { "" };
	struct buf line;
	enum status st = ST_OK;
	int i;

	(void)state;
	buf_init(&line);
	start_server(serve_close);
	c = connect_server();
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_TEMPFAIL);
	for (i = 0; i < 20 && st == ST_OK; i++)
		st = net_write(c, big, sizeof big, TIMEOUT, &err);
	assert_int_equal(st, ST_TEMPFAIL);
	check_contains(err.msg, "write error");
	net_close(c);
	buf_free(&line);
}

static int closed_port(void)
{
	int port, fd = listen_loopback(&port);

	close(fd);
	return port;
}

static void test_connection_refused(void **state)
{
	struct conn *c = NULL;
	struct err err = { "" };
	char want[128];
	int port = closed_port();

	(void)state;
	assert_int_equal(net_connect("127.0.0.1", port, TIMEOUT, &c, &err),
			 ST_TEMPFAIL);
	assert_null(c);
	snprintf(want, sizeof want,
		 "connect to 127.0.0.1[127.0.0.1]:%d: Connection refused", port);
	assert_string_equal(err.msg, want);

	/* A name: every address is tried and named. */
	assert_int_equal(net_connect("localhost", port, TIMEOUT, &c, &err),
			 ST_TEMPFAIL);
	snprintf(want, sizeof want, "localhost[127.0.0.1]:%d: Connection refused",
		 port);
	check_contains(err.msg, want);
}

static void test_unresolvable(void **state)
{
	struct conn *c = NULL;
	struct err err = { "" };

	(void)state;
	assert_int_equal(net_connect("nonexistent.invalid", 25, TIMEOUT, &c,
				     &err), ST_TEMPFAIL);
	assert_null(c);
	check_contains(err.msg, "cannot resolve nonexistent.invalid: ");
}

static void test_invalid_port(void **state)
{
	struct conn *c = NULL;
	struct err err = { "" };

	(void)state;
	assert_int_equal(net_connect("127.0.0.1", 70000, TIMEOUT, &c, &err),
			 ST_PERMFAIL);
	assert_null(c);
	check_contains(err.msg, "invalid port 70000");
}

/* ---- TLS ---- */

static void serve_injection(int fd)
{
	/* RFC 3207 / CVE-2011-0411: a command smuggled behind the reply. */
	write_str(fd, "220 go ahead\r\n250 injected\r\n");
	drain(fd);
}

static void test_starttls_injection(void **state)
{
	struct tls_params p = { "localhost", false, NULL, NULL };
	struct conn *c;
	struct err err = { "" };
	struct buf line;

	(void)state;
	buf_init(&line);
	start_server(serve_injection);
	c = connect_server();
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_OK);
	assert_string_equal(line.data, "220 go ahead");
	assert_int_equal(net_start_tls(c, &p, TIMEOUT, &err), ST_TEMPFAIL);
	check_contains(err.msg, "data after STARTTLS reply");
	assert_false(net_tls_active(c));
	net_close(c);
	buf_free(&line);
}

static int ssl_read_line(SSL *ssl, char *b, size_t n)
{
	size_t len = 0;

	while (len + 1 < n) {
		if (SSL_read(ssl, b + len, 1) != 1)
			return -1;
		if (b[len++] == '\n')
			break;
	}
	b[len] = '\0';
	return (int)len;
}

static void ssl_write_str(SSL *ssl, const char *s)
{
	if (SSL_write(ssl, s, (int)strlen(s)) <= 0)
		_exit(1);
}

/* "BULK n" reads n bytes and answers "got n"; "QUIT" closes with
 * close_notify; anything else is echoed. */
static void serve_commands(SSL *ssl)
{
	char b[16384], reply[128];
	long n, got;
	int r;

	while (ssl_read_line(ssl, b, sizeof b) > 0) {
		if (strncmp(b, "QUIT", 4) == 0) {
			ssl_write_str(ssl, "221 bye\r\n");
			SSL_shutdown(ssl);
			return;
		}
		if (sscanf(b, "BULK %ld", &n) == 1) {
			for (got = 0; got < n; got += r) {
				r = SSL_read(ssl, b, sizeof b);
				if (r <= 0)
					return;
			}
			snprintf(reply, sizeof reply, "got %ld\r\n", got);
		} else {
			snprintf(reply, sizeof reply, "echo: %.100s", b);
		}
		ssl_write_str(ssl, reply);
	}
}

/* The child's TLS side; exits quietly when the client gives up. */
static SSL *tls_accept(int fd)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	SSL *ssl;

	if (ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1)
		_exit(1);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) != 1)
		_exit(0);
	return ssl;
}

static void tls_done(SSL *ssl, int fd)
{
	SSL_CTX *ctx = SSL_get_SSL_CTX(ssl);

	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
}

static void serve_tls(int fd)
{
	SSL *ssl = tls_accept(fd);

	/* Two lines in one record: the second is decrypted but unread. */
	ssl_write_str(ssl, "220-tls ready\r\n220 go\r\n");
	serve_commands(ssl);
	tls_done(ssl, fd);
}

/* Hangs up without close_notify right after the handshake. */
static void serve_tls_hangup(int fd)
{
	tls_done(tls_accept(fd), fd);
}

static enum status start_tls(struct conn **cp, const char *servername,
			     bool verify, const char *ca_file, struct err *err)
{
	struct tls_params p = { servername, verify, ca_file, NULL };

	start_server(serve_tls);
	*cp = connect_server();
	return net_start_tls(*cp, &p, TIMEOUT, err);
}

static void expect_line(struct conn *c, const char *want)
{
	struct err err = { "" };
	struct buf line;
	enum status st;

	buf_init(&line);
	st = net_read_line(c, &line, TIMEOUT, &err);
	if (st != ST_OK)
		print_error("net_read_line: %s\n", err.msg);
	assert_int_equal(st, ST_OK);
	assert_string_equal(line.data, want);
	buf_free(&line);
}

static void send_str(struct conn *c, const char *s)
{
	struct err err = { "" };

	if (net_write(c, s, strlen(s), TIMEOUT, &err) != ST_OK) {
		print_error("net_write: %s\n", err.msg);
		fail();
	}
}

static void test_tls_no_verify(void **state)
{
	struct conn *c;
	struct err err = { "" };
	struct buf line;

	(void)state;
	buf_init(&line);
	/* No servername: net falls back to the host it connected to. */
	assert_int_equal(start_tls(&c, NULL, false, NULL, &err), ST_OK);
	assert_true(net_tls_active(c));
	check_contains(net_tls_describe(c), "TLSv1.");
	check_contains(net_tls_describe(c), ", not verified");
	expect_line(c, "220-tls ready");
	assert_true(net_line_buffered(c));
	expect_line(c, "220 go");
	send_str(c, "EHLO me\r\n");
	expect_line(c, "echo: EHLO me");
	send_str(c, "QUIT\r\n");
	expect_line(c, "221 bye");
	assert_int_equal(net_read_line(c, &line, TIMEOUT, &err), ST_TEMPFAIL);
	assert_string_equal(err.msg, "connection closed by peer");
	net_close(c);
	buf_free(&line);
}

/* A megabyte in one net_write exercises partial TLS writes and
 * WANT_WRITE while the peer is slow to read. */
static void test_tls_bulk_write(void **state)
{
	const size_t n = 1 << 20;
	struct conn *c;
	struct err err = { "" };
	char cmd[64], *big = malloc(n);

	(void)state;
	assert_non_null(big);
	memset(big, 'z', n);
	assert_int_equal(start_tls(&c, "localhost", false, NULL, &err), ST_OK);
	expect_line(c, "220-tls ready");
	expect_line(c, "220 go");
	snprintf(cmd, sizeof cmd, "BULK %zu\r\n", n);
	send_str(c, cmd);
	assert_int_equal(net_write(c, big, n, TIMEOUT, &err), ST_OK);
	snprintf(cmd, sizeof cmd, "got %zu", n);
	expect_line(c, cmd);
	net_close(c);
	free(big);
}

/* OpenSSL writes with write(2): a peer that hung up must give an error,
 * not SIGPIPE. */
static void test_tls_write_to_closed_peer(void **state)
{
	static char big[65536];
	struct tls_params p = { "localhost", false, NULL, NULL };
	struct conn *c;
	struct err err = { "" };
	enum status st = ST_OK;
	int i;

	(void)state;
	start_server(serve_tls_hangup);
	c = connect_server();
	assert_int_equal(net_start_tls(c, &p, TIMEOUT, &err), ST_OK);
	/* Once the child is gone its FIN is here: our first record draws
	 * an RST, and a later write fails with EPIPE in the kernel. */
	assert_int_equal(waitpid(srv.pid, NULL, 0), srv.pid);
	srv.pid = 0;
	for (i = 0; i < 1000 && st == ST_OK; i++)
		st = net_write(c, big, sizeof big, TIMEOUT, &err);
	assert_int_equal(st, ST_TEMPFAIL);
	check_contains(err.msg, "TLS write error");
	net_close(c);
}

static void test_tls_system_cas_reject(void **state)
{
	struct conn *c;
	struct err err = { "" };

	(void)state;
	assert_int_equal(start_tls(&c, "localhost", true, NULL, &err),
			 ST_TEMPFAIL);
	check_contains(err.msg, "certificate verification failed for localhost: ");
	assert_false(net_tls_active(c));
	net_close(c);
}

static void test_tls_ca_file_accepts(void **state)
{
	struct conn *c;
	struct err err = { "" };
	enum status st;

	(void)state;
	st = start_tls(&c, "localhost", true, cert_file, &err);
	if (st != ST_OK)
		print_error("net_start_tls: %s\n", err.msg);
	assert_int_equal(st, ST_OK);
	check_contains(net_tls_describe(c), ", verified");
	assert_null(strstr(net_tls_describe(c), "not verified"));
	expect_line(c, "220-tls ready");
	expect_line(c, "220 go");
	send_str(c, "NOOP\r\n");
	expect_line(c, "echo: NOOP");
	net_close(c);
}

static void test_tls_wrong_host(void **state)
{
	struct conn *c;
	struct err err = { "" };

	(void)state;
	assert_int_equal(start_tls(&c, "wronghost", true, cert_file, &err),
			 ST_TEMPFAIL);
	check_contains(err.msg, "certificate verification failed for wronghost: ");
	check_contains(err.msg, "mismatch");
	net_close(c);
}

/* An IP literal is checked against IP addresses in the certificate,
 * which this one has none of. */
static void test_tls_ip_literal(void **state)
{
	struct conn *c;
	struct err err = { "" };

	(void)state;
	assert_int_equal(start_tls(&c, "127.0.0.1", true, cert_file, &err),
			 ST_TEMPFAIL);
	check_contains(err.msg, "certificate verification failed for 127.0.0.1: ");
	net_close(c);
}

static void test_tls_handshake_timeout(void **state)
{
	struct tls_params p = { "localhost", false, NULL, NULL };
	struct conn *c;
	struct err err = { "" };

	(void)state;
	start_server(drain);
	c = connect_server();
	assert_int_equal(net_start_tls(c, &p, 200, &err), ST_TEMPFAIL);
	check_contains(err.msg, "TLS handshake with localhost timed out");
	net_close(c);
}

static void test_tls_bad_ca_file(void **state)
{
	struct conn *c;
	struct err err = { "" };

	(void)state;
	assert_int_equal(start_tls(&c, "localhost", true, "/nonexistent/ca.pem",
				   &err), ST_TEMPFAIL);
	check_contains(err.msg, "cannot load CA certificates from /nonexistent/ca.pem");
	net_close(c);
}

/* ---- setup ---- */

static int make_cert(void **state)
{
	char cmd[512];
	struct stat st;

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(cert_file, sizeof cert_file, "%s/cert.pem", tmpdir);
	snprintf(key_file, sizeof key_file, "%s/key.pem", tmpdir);
	snprintf(cmd, sizeof cmd,
		 "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
		 "-keyout %s -out %s -days 1 2>/dev/null", key_file, cert_file);
	if (system(cmd) != 0 || stat(cert_file, &st) != 0)
		return -1;
	return 0;
}

static int remove_cert(void **state)
{
	(void)state;
	unlink(cert_file);
	unlink(key_file);
	rmdir(tmpdir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_read_lines, stop_server),
		cmocka_unit_test_teardown(test_line_limit_exact, stop_server),
		cmocka_unit_test_teardown(test_long_line_rejected, stop_server),
		cmocka_unit_test_teardown(test_eof, stop_server),
		cmocka_unit_test_teardown(test_timeout, stop_server),
		cmocka_unit_test_teardown(test_shared_deadline, stop_server),
		cmocka_unit_test_teardown(test_write_to_closed_peer, stop_server),
		cmocka_unit_test(test_connection_refused),
		cmocka_unit_test(test_unresolvable),
		cmocka_unit_test(test_invalid_port),
		cmocka_unit_test_teardown(test_starttls_injection, stop_server),
		cmocka_unit_test_teardown(test_tls_no_verify, stop_server),
		cmocka_unit_test_teardown(test_tls_bulk_write, stop_server),
		cmocka_unit_test_teardown(test_tls_write_to_closed_peer, stop_server),
		cmocka_unit_test_teardown(test_tls_system_cas_reject, stop_server),
		cmocka_unit_test_teardown(test_tls_ca_file_accepts, stop_server),
		cmocka_unit_test_teardown(test_tls_wrong_host, stop_server),
		cmocka_unit_test_teardown(test_tls_ip_literal, stop_server),
		cmocka_unit_test_teardown(test_tls_handshake_timeout, stop_server),
		cmocka_unit_test_teardown(test_tls_bad_ca_file, stop_server),
	};

	return cmocka_run_group_tests(tests, make_cert, remove_cert);
}
