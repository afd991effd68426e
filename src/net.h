/*
 * net.h - a TCP connection with deadlines: non-blocking connect to each
 * address of a host in turn, bounded line reads, full writes, optional
 * TLS underneath. TCP_NODELAY is set: the SMTP layer coalesces its own
 * writes, so Nagle would only add delay.
 */
#ifndef SENDMX_NET_H
#define SENDMX_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "status.h"
#include "tls.h"
#include "util.h"

#define NET_MAX_LINE 4096  /* longest line accepted from a peer (RFC 5321: 512) */

struct conn;

/*
 * Resolves host and connects to its addresses in order until one answers,
 * each within timeout_ms. A name that does not resolve now, refused
 * connections and timeouts are ST_TEMPFAIL; err names host:port and why.
 */
enum status net_connect(const char *host, int port, int timeout_ms,
			struct conn **out, struct err *err);

/* "host[ip]:port" of the connected peer. */
const char *net_peer(const struct conn *c);

/* Starts TLS on the connection (implicit TLS or after STARTTLS). */
enum status net_start_tls(struct conn *c, const struct tls_params *p,
			  int timeout_ms, struct err *err);
bool net_tls_active(const struct conn *c);
const char *net_tls_describe(const struct conn *c);

/* Reads one line ending in LF (CR before it removed) into line (reset
 * first), within timeout_ms. ST_TEMPFAIL on timeout, close, I/O error, or
 * a line longer than NET_MAX_LINE. */
enum status net_read_line(struct conn *c, struct buf *line, int timeout_ms,
			  struct err *err);

/* net_read_line against a deadline that several reads share (all lines
 * of one multi-line reply): deadline is a now_ms() value (< 0: none),
 * timeout_ms the whole wait it stands for, named in the timeout message. */
enum status net_read_line_until(struct conn *c, struct buf *line,
				long long deadline, int timeout_ms,
				struct err *err);

/* A now_ms() deadline timeout_ms from now; -1 (none) for timeout_ms < 0. */
long long net_deadline(int timeout_ms);

/* True when a complete line is already buffered (no read needed). */
bool net_line_buffered(const struct conn *c);

/* Writes all n bytes within timeout_ms. */
enum status net_write(struct conn *c, const void *p, size_t n, int timeout_ms,
		      struct err *err);

void net_close(struct conn *c);

#endif
