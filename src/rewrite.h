/*
 * rewrite.h - how local senders look to the world (issue: local
 * recipients): a sender_map file ("name  address" lines, like Postfix's
 * generic map), masquerade_domain (bare names and user@hostname become
 * user@masquerade_domain), and the relay's sender_rewrite (From forced
 * to one address, the original From kept in Reply-To unless there is
 * one). The map and masquerading apply to the envelope sender and to the
 * From, Sender and Reply-To fields at intake; sender_rewrite's envelope
 * part is MAIL FROM of the hop that has it (deliver.c), so that routing
 * and local mailboxes see the real sender.
 */
#ifndef SENDMX_REWRITE_H
#define SENDMX_REWRITE_H

#include "config.h"
#include "header.h"
#include "status.h"

struct rewrite;

/* Reads cfg->sender_map (when set). *out is NULL when nothing is to be
 * rewritten. ST_PERMFAIL with err "FILE:LINE: what" for a bad map; a
 * map that others can write is refused. */
enum status rewrite_load(const struct config *cfg, struct rewrite **out,
			 struct err *err);
void rewrite_free(struct rewrite *r);

/* The address addr is to be shown as: an allocated new address, or NULL
 * when it stays. The null sender never changes. */
char *rewrite_address(const struct rewrite *r, const char *addr);

/* The envelope sender after sender_map and masquerade_domain
 * (allocated, or NULL when it stays). */
char *rewrite_envelope_sender(const struct rewrite *r, const char *sender);

/* Rewrites From, Sender and Reply-To in h; applies sender_rewrite to
 * From (adding Reply-To with the original From when h has none). */
void rewrite_headers(const struct rewrite *r, struct header_block *h);

#endif
