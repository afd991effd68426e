/*
 * tls.h - the only user of OpenSSL's SSL API: client TLS on a connected
 * non-blocking socket, with certificate chain and host name verification.
 * OpenSSL is initialised lazily, on the first handshake: a plain
 * connection pays nothing for it.
 */
#ifndef SENDMX_TLS_H
#define SENDMX_TLS_H

#include <stdbool.h>
#include <sys/types.h>

#include "status.h"

struct tls_params {
	const char *servername; /* for SNI and host name verification */
	bool verify;            /* chain + host name; false: encrypt only */
	const char *ca_file;    /* NULL: system default paths */
	const char *ca_path;    /* NULL: none */
};

struct tls;

/* The handshake, in steps for an event loop: tls_begin sets it up
 * (ST_OK with *out; ST_TEMPFAIL with err for a bad CA file and the like);
 * tls_continue advances it: 1 done, -2 would block (poll for
 * tls_wants_write ? POLLOUT : POLLIN and call again), -1 failed (err:
 * certificate verification, handshake failure). Free with tls_close. */
enum status tls_begin(int fd, const struct tls_params *p, struct tls **out,
		      struct err *err);
int tls_continue(struct tls *t, struct err *err);

/* Read up to n bytes; returns >0 bytes, 0 on clean close, -1 on error
 * (err set), -2 when it would block (poll for tls_wants_write ? POLLOUT : POLLIN). */
ssize_t tls_read(struct tls *t, void *p, size_t n, struct err *err);
/* Write up to n bytes; same return convention as tls_read. */
ssize_t tls_write(struct tls *t, const void *p, size_t n, struct err *err);
/* After -2: does OpenSSL need the socket writable (true) or readable? */
bool tls_wants_write(const struct tls *t);

/* "TLSv1.3 TLS_AES_256_GCM_SHA384, verified" for logs. Static buffer per tls. */
const char *tls_describe(const struct tls *t);

/* Sends close_notify (best effort) and frees. Does not close fd. */
void tls_close(struct tls *t);

#endif
