/*
 * session.h - one SMTP client connection run by the event loop: a
 * non-blocking connect to one address, TLS when the configuration or
 * STARTTLS asks for it, and the smtp.c state machine fed with whole
 * replies. Many sessions share one loop; none ever blocks.
 *
 * The session reads nothing but the peer and the spool file (with
 * pread, so parallel sessions share one descriptor) and decides nothing
 * about hosts or retries: it reports one outcome per recipient and the
 * owner (deliver.c) decides what comes next.
 */
#ifndef SENDMX_SESSION_H
#define SENDMX_SESSION_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>

#include "loop.h"
#include "smtp.h"
#include "tls.h"

/* The longest reply line accepted from a peer, CR LF not counted
 * (RFC 5321 4.5.3.1.5 allows 512; some servers send more). */
#define SESSION_MAX_LINE 4096

struct session;

struct session_params {
	struct loop *loop;
	const struct sockaddr *addr;  /* copied */
	socklen_t addrlen;
	const char *peer;             /* "host[ip]:port": messages, logs */
	struct tls_params tls;        /* for implicit TLS and STARTTLS */
	int connect_timeout_ms;       /* TCP connect, and TLS handshake */
	struct smtp_params smtp;      /* smtp.peer is set to peer */
	int spool_fd;                 /* the message (wire form, unstuffed) */
	FILE *transcript;             /* -v: the dialogue; NULL: none */
	/* Called once, from the loop, when the session has ended; the
	 * owner may free the session inside it. */
	void (*done)(void *ctx, struct session *s);
	void *ctx;
};

/* Starts connecting; everything else happens inside the loop. */
struct session *session_start(const struct session_params *p);

/* Results, valid once done has been called (as smtp.h describes). */
enum status session_rcpt_status(const struct session *s, size_t i);
const char *session_rcpt_reply(const struct session *s, size_t i);
const char *session_peer(const struct session *s);
/* The server greeted us (a failure was not at connect or TLS). */
bool session_greeted(const struct session *s);
/* A TLS handshake failed on this connection (opportunistic TLS may
 * retry the same address without it). */
bool session_tls_failed(const struct session *s);

void session_free(struct session *s);

#endif
