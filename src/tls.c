/*
 * tls.c - client TLS over a non-blocking socket; the only user of
 * <openssl/ssl.h>.
 *
 * OpenSSL 3 initialises itself on first use, so nothing happens here
 * until a connection asks for TLS. Each handshake gets its own SSL_CTX:
 * sendmx makes a handful of connections per run, and loading the trust
 * store once per connection costs less than keeping a cache correct for
 * differing ca_file/ca_path/verify settings.
 */
#include "ac_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tls.h"
#include "util.h"

struct tls {
	SSL *ssl;
	bool want_write;  /* last -2 was SSL_ERROR_WANT_WRITE */
	bool failed;      /* fatal error seen: no close_notify allowed */
	bool verify;      /* for the description and handshake errors */
	char name[256];   /* server name, "" when none */
	char desc[160];
};

/* Blocks SIGPIPE around OpenSSL calls: its socket BIO writes with
 * write(2), not send(MSG_NOSIGNAL), and a relay that drops the
 * connection must give us an error, not kill sendmail. A library must
 * not change the process's signal dispositions, so block and discard
 * only the SIGPIPE we caused. */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g);
static void sigpipe_restore(struct sigpipe_guard *g);
static bool is_ip_literal(const char *s);
static void queue_error(char *out, size_t n);
static SSL_CTX *new_ctx(const struct tls_params *p, struct err *err);
static SSL *new_ssl(SSL_CTX *ctx, int fd, const struct tls_params *p,
		    struct err *err);
static void handshake_error(SSL *ssl, const struct tls_params *p, int sslerr,
			    struct err *err);
static ssize_t io_result(struct tls *t, int r, const char *what,
			 struct err *err);

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	static const struct timespec zero = { 0, 0 };
	sigset_t set, pending;
	int saved = errno;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	if (!g->was_pending && sigismember(&pending, SIGPIPE) == 1)
		while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
	errno = saved;
}


static bool is_ip_literal(const char *s)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, addr) == 1 ||
	       inet_pton(AF_INET6, s, addr) == 1;
}

/* Joins and clears the OpenSSL error queue: errors left there would be
 * blamed on the next, unrelated call (SSL_get_error consults it). */
static void queue_error(char *out, size_t n)
{
	unsigned long e;
	size_t len = 0;
	char one[256];

	out[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		ERR_error_string_n(e, one, sizeof one);
		if (len + strlen(one) + 3 >= n)
			continue;
		len += (size_t)snprintf(out + len, n - len, "%s%s",
					len ? "; " : "", one);
	}
	ERR_clear_error();
}

static SSL_CTX *new_ctx(const struct tls_params *p, struct err *err)
{
	SSL_CTX *ctx;
	char why[512];
	int ok;

	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	/* SMTP frames its own data (replies, the final dot), so a peer
	 * that closes without close_notify cannot truncate anything
	 * unnoticed; report it as a plain close. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Retries after WANT_WRITE pass the same bytes (session.c), but
	 * from a buffer that may have moved. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (!p->verify) {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		return ctx;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (p->ca_file != NULL || p->ca_path != NULL)
		ok = SSL_CTX_load_verify_locations(ctx, p->ca_file, p->ca_path);
	else
		ok = SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		queue_error(why, sizeof why);
		err_set(err, "cannot load CA certificates from %s: %s",
			p->ca_file ? p->ca_file :
			p->ca_path ? p->ca_path : "the system store", why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
fail:
	queue_error(why, sizeof why);
	err_set(err, "cannot set up TLS: %s", why);
	SSL_CTX_free(ctx);
	return NULL;
}

static SSL *new_ssl(SSL_CTX *ctx, int fd, const struct tls_params *p,
		    struct err *err)
{
	const char *name = p->servername;
	char why[512];
	SSL *ssl;

	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	if (name == NULL)
		return ssl;
	if (is_ip_literal(name)) {
		/* RFC 6066 3: SNI carries host names only. */
		if (p->verify &&
		    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1)
			goto fail;
		return ssl;
	}
	if (SSL_set_tlsext_host_name(ssl, name) != 1)
		goto fail;
	if (p->verify) {
		/* RFC 6125 6.4.3: a wildcard is the whole left-most label. */
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set1_host(ssl, name) != 1)
			goto fail;
	}
	return ssl;
fail:
	queue_error(why, sizeof why);
	err_set(err, "cannot set up TLS for %s: %s", name ? name : "peer", why);
	SSL_free(ssl);
	return NULL;
}

static void handshake_error(SSL *ssl, const struct tls_params *p, int sslerr,
			    struct err *err)
{
	const char *name = p->servername ? p->servername : "peer";
	long vr = SSL_get_verify_result(ssl);
	char why[768];

	queue_error(why, sizeof why);
	if (p->verify && vr != X509_V_OK) {
		err_set(err, "certificate verification failed for %s: %s", name,
			X509_verify_cert_error_string(vr));
		return;
	}
	if (why[0] == '\0')
		snprintf(why, sizeof why, "%s", sslerr == SSL_ERROR_SYSCALL &&
			 errno != 0 ? strerror(errno) : "connection closed by peer");
	err_set(err, "TLS handshake with %s failed: %s", name, why);
}

enum status tls_begin(int fd, const struct tls_params *p, struct tls **out,
		      struct err *err)
{
	SSL_CTX *ctx;
	SSL *ssl;
	struct tls *t;

	*out = NULL;
	if (p->verify && p->servername == NULL) {
		err_set(err, "TLS verification needs a server name");
		return ST_TEMPFAIL;
	}
	ctx = new_ctx(p, err);
	if (ctx == NULL)
		return ST_TEMPFAIL;
	ssl = new_ssl(ctx, fd, p, err);
	/* The SSL holds its own reference to the context. */
	SSL_CTX_free(ctx);
	if (ssl == NULL)
		return ST_TEMPFAIL;
	t = xcalloc(1, sizeof *t);
	t->ssl = ssl;
	t->verify = p->verify;
	snprintf(t->name, sizeof t->name, "%s",
		 p->servername ? p->servername : "");
	*out = t;
	return ST_OK;
}

int tls_continue(struct tls *t, struct err *err)
{
	struct tls_params p = { t->name[0] ? t->name : NULL, t->verify, NULL,
				NULL };
	struct sigpipe_guard g;
	int r, e;

	ERR_clear_error();
	errno = 0;
	sigpipe_block(&g);
	r = SSL_connect(t->ssl);
	e = r == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, r);
	sigpipe_restore(&g);
	if (r == 1) {
		snprintf(t->desc, sizeof t->desc, "%s %s, %s",
			 SSL_get_version(t->ssl), SSL_get_cipher_name(t->ssl),
			 t->verify && SSL_get_verify_result(t->ssl) ==
			 X509_V_OK ? "verified" : "not verified");
		return 1;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		t->want_write = e == SSL_ERROR_WANT_WRITE;
		return -2;
	}
	t->failed = true;
	handshake_error(t->ssl, &p, e, err);
	return -1;
}

/* Maps an SSL_read/SSL_write result to the tls.h convention. */
static ssize_t io_result(struct tls *t, int r, const char *what,
			 struct err *err)
{
	int e = SSL_get_error(t->ssl, r);
	char why[512];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		t->want_write = false;
		return -2;
	case SSL_ERROR_WANT_WRITE:
		t->want_write = true;
		return -2;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		break;
	}
	t->failed = true;
	queue_error(why, sizeof why);
	if (why[0] == '\0')
		snprintf(why, sizeof why, "%s", e == SSL_ERROR_SYSCALL &&
			 errno != 0 ? strerror(errno) : "connection closed by peer");
	err_set(err, "TLS %s error: %s", what, why);
	return -1;
}

ssize_t tls_read(struct tls *t, void *p, size_t n, struct err *err)
{
	struct sigpipe_guard g;
	ssize_t res;
	int r;

	ERR_clear_error();
	errno = 0;
	sigpipe_block(&g);
	r = SSL_read(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	res = r > 0 ? r : io_result(t, r, "read", err);
	sigpipe_restore(&g);
	return res;
}

ssize_t tls_write(struct tls *t, const void *p, size_t n, struct err *err)
{
	struct sigpipe_guard g;
	ssize_t res;
	int r;

	if (n == 0)
		return 0;
	ERR_clear_error();
	errno = 0;
	sigpipe_block(&g);
	r = SSL_write(t->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	res = r > 0 ? r : io_result(t, r, "write", err);
	sigpipe_restore(&g);
	return res;
}

bool tls_wants_write(const struct tls *t)
{
	return t->want_write;
}

const char *tls_describe(const struct tls *t)
{
	return t->desc;
}

void tls_close(struct tls *t)
{
	struct sigpipe_guard g;

	if (t == NULL)
		return;
	/* One non-blocking close_notify, not a wait for the peer's: we are
	 * done with the connection either way. Not after a fatal error,
	 * where OpenSSL forbids it. */
	if (!t->failed) {
		sigpipe_block(&g);
		(void)SSL_shutdown(t->ssl);
		sigpipe_restore(&g);
	}
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t);
}
