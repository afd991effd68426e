/*
 * smtp_int.h - the SMTP client's session, shared by the files that make
 * up its state machine: smtp.c (the session, its results and command
 * queue, the driver entry points), smtp_hello.c (greeting, EHLO/HELO,
 * STARTTLS), smtp_auth.c (AUTH) and smtp_txn.c (MAIL, RCPT, DATA, ".").
 *
 * Only those files include it; the driver sees smtp.h alone.
 */
#ifndef SENDMX_SMTP_INT_H
#define SENDMX_SMTP_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "reply.h"
#include "smtp.h"
#include "smtp_ext.h"
#include "status.h"
#include "util.h"

enum state {
	S_GREETING,    /* waiting for the 220 */
	S_EHLO,        /* waiting for the EHLO reply */
	S_HELO,        /* waiting for the HELO reply (EHLO refused) */
	S_STARTTLS,    /* waiting for the STARTTLS reply */
	S_TLS,         /* the driver does the handshake */
	S_AUTH,        /* waiting for a 334 or the final AUTH reply */
	S_AUTH_CANCEL, /* sent "*" (RFC 4954 4), waiting for the 501 */
	S_TXN,         /* waiting for MAIL, RCPT or DATA replies (txn_pos) */
	S_BODY,        /* the driver streams the message */
	S_DOT,         /* waiting for the reply to the final "." */
	S_DOT_IGNORE,  /* sent a lone "." to end an empty DATA; any reply */
	S_RSET,        /* sent RSET to end an open transaction (no
			* pipelining); the next MAIL follows its reply */
	S_QUIT,        /* waiting for the QUIT reply; any reply */
	S_CLOSE        /* done */
};

/* AUTH responses one exchange sends at most (LOGIN: user, password). */
#define SMTP_MAX_SECRETS 2

struct rcpt {
	char *addr;
	enum status status;
	char *reply;
	bool final;
	bool accepted;  /* 2xx to RCPT: the outcome waits for the final "." */
	bool tried;     /* named in a RCPT of some transaction */
	char *deferred; /* the 452 "too many recipients" reply (a summary)
			 * of the last transaction: due in the next one */
};

struct smtp_session {
	struct smtp_params p;  /* strings below are our own copies */
	struct rcpt *rcpts;
	size_t *sent;          /* indexes of this transaction's recipients */
	size_t nsent;
	size_t naccepted;

	enum state state;
	enum smtp_stage stage;
	bool pending;          /* out/disp hold a write the driver must do */
	struct buf out;
	struct buf disp;

	struct smtp_ext ext;
	bool tls_active;
	enum auth_mech mech;
	int auth_step;         /* 334 replies seen in this AUTH exchange */
	char *secrets[SMTP_MAX_SECRETS]; /* AUTH responses sent, for smtp_redact */
	size_t nsecrets;

	bool pipelined;        /* this transaction's commands went out together */
	size_t txn_pos;        /* 0 MAIL, 1..nsent RCPT, nsent+1 DATA */
	bool txn_failed;       /* MAIL refused: later replies are noise */
	bool txn_progress;     /* the last transaction settled someone */
	bool txn_open;         /* MAIL accepted, no "." reply yet: the next
				* MAIL needs an RSET first (RFC 5321 4.1.4) */
	bool rset_pending;     /* pipelined: the group starts with RSET,
				* whose reply comes before MAIL's */
};

/* ---- results (smtp.c) ---------------------------------------------------- */

/* The outcome a failure reply means: ST_PERMFAIL for 5yz, else
 * ST_TEMPFAIL (RFC 5321 4.2.1). */
enum status smtp_status_of(const struct smtp_reply *r);

/* Makes rc final with st; takes ownership of reply (allocated). */
void smtp_set_result(struct rcpt *rc, enum status st, char *reply);

/* Every recipient not yet final (accepted ones included) gets st and the
 * formatted text, bounded like a struct err. */
void smtp_fail_all(struct smtp_session *s, enum status st,
		   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* smtp_fail_all with "peer at stage: reply summary". */
void smtp_fail_reply(struct smtp_session *s, enum status st,
		     const struct smtp_reply *r);

/* ---- output (smtp.c) ----------------------------------------------------- */

/* Queues one command (text without CRLF) for the driver's next
 * smtp_next(); display (NULL: text) is what a transcript shows.
 * Commands queued before then share one write. */
void smtp_send_cmd(struct smtp_session *s, const char *text,
		   const char *display);

/* smtp_send_cmd with a printf format; display is the text itself. */
void smtp_send_cmdf(struct smtp_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- ending (smtp.c) ----------------------------------------------------- */

/* Queues QUIT and waits for its reply. */
void smtp_quit(struct smtp_session *s);

/* Closes without QUIT; recipients still open become TEMPFAIL. */
void smtp_go_close(struct smtp_session *s);

/* After a failure reply r: smtp_go_close on a 421, else smtp_quit. */
void smtp_end_after(struct smtp_session *s, const struct smtp_reply *r);

#endif
