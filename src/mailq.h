/*
 * mailq.h - the mailq (-bp) listing of the queue, laid out as Postfix
 * lays out its sendmail-compatible one:
 *
 * -Queue ID-         --Size-- ----Arrival Time---- -Sender/Recipient-------
 * 6560F3A40A2B100F2A*    1234 Wed Nov 22 16:42:12  alice@example.org
 *                  (connect to mx.example.net[192.0.2.7]:25: Connection refused)
 *                                                  bob@example.net
 *                                                  carol@example.net
 *                                                  dave@example.com
 *
 * -- 1 Kbytes in 1 Request.
 *
 * Per message: id, "*" when its lock is held (a delivery is running),
 * the message size, the arrival time (local time), the envelope sender
 * (MAILER-DAEMON for the null sender). Then its pending recipients,
 * indented: those that failed before first, each run with the same last
 * error preceded by "(error)" right-aligned to column 78, then those not
 * tried yet. A blank line between messages; the total of the message
 * sizes in Kbytes at the end. An empty queue prints "Mail queue is
 * empty". Control characters in what is shown are printed as "?".
 */
#ifndef SENDMX_MAILQ_H
#define SENDMX_MAILQ_H

#include <stdio.h>

#include "queue.h"
#include "status.h"

/* Prints the listing to out. Returns ST_OK, or ST_TEMPFAIL with err
 * when the queue directory cannot be read or out cannot be written
 * (what was printed stays printed). A message whose control file
 * cannot be read is listed with the reason instead of its details. */
enum status mailq_print(struct queue *q, FILE *out, struct err *err);

#endif
