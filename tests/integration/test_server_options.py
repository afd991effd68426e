#!/usr/bin/env python3
"""The test SMTP server's own options (smtpserver.py), checked with smtplib:
the direct-MX and fault tests rely on them doing what they say."""

import smtplib
import socket
import time

import harness
from harness import check, contains, eq

MSG = b"Subject: t\r\n\r\nhello\r\n"


def _free_port(host):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _wait_events(srv, kind, n, timeout=5.0):
    """The server writes a close event when it notices the close, which
    may come just after the client saw its last reply: wait for it, bounded."""
    deadline = time.monotonic() + timeout
    while len(srv.events(kind)) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return srv.events(kind)


def test_host_and_port(t):
    port = _free_port("127.0.0.12")
    srv = t.server(host="127.0.0.12", port=port)
    eq(srv.port, port, "port in the READY line")
    with smtplib.SMTP("127.0.0.12", port, timeout=10) as c:
        eq(c.ehlo()[0], 250, "EHLO reply")
    eq(srv.events("connect")[0]["local"], ["127.0.0.12", port], "server address")
    # Nothing answers on 127.0.0.1 at that port: the server is where we said.
    with socket.socket() as s:
        check(s.connect_ex(("127.0.0.1", port)) != 0,
              "something listens on 127.0.0.1:%d too" % port)


def test_non_loopback_host_refused(t):
    try:
        t.server(host="192.0.2.1")
    except AssertionError as e:
        contains(str(e), "not a loopback address", "why the server did not start")
    else:
        raise AssertionError("smtpserver.py started on a non-loopback address")


def test_delay_ms(t):
    srv = t.server(delay_ms=300, pipelining=True)
    start = time.monotonic()
    c = smtplib.SMTP("127.0.0.1", srv.port, timeout=10)
    greeted = time.monotonic()
    check(greeted - start >= 0.29, "greeting after %.3fs" % (greeted - start))
    code, _ = c.ehlo()
    ehlo_done = time.monotonic()
    eq(code, 250, "EHLO reply")
    # One wait per reply, not per line of the multi-line EHLO reply.
    took = ehlo_done - greeted
    check(0.29 <= took < 0.29 * 3, "EHLO reply after %.3fs" % took)
    eq(c.noop()[0], 250, "NOOP reply")
    check(time.monotonic() - ehlo_done >= 0.29, "NOOP reply not delayed")
    c.quit()


def test_rcpt_limit(t):
    srv = t.server(rcpt_limit=2)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
        c.ehlo("client.test")
        eq(c.mail("a@example.org")[0], 250, "MAIL")
        eq(c.rcpt("r1@example.net")[0], 250, "RCPT 1")
        eq(c.rcpt("r2@example.net")[0], 250, "RCPT 2")
        code, text = c.rcpt("r3@example.net")
        eq((code, text), (452, b"4.5.3 Too many recipients"), "RCPT 3")
        eq(c.rcpt("r4@example.net")[0], 452, "RCPT 4")
        eq(c.data(MSG)[0], 250, "DATA")
        # The limit is per transaction: the rest go in a new one.
        eq(c.mail("a@example.org")[0], 250, "second MAIL")
        eq(c.rcpt("r3@example.net")[0], 250, "RCPT 3 again")
        eq(c.rcpt("r4@example.net")[0], 250, "RCPT 4 again")
        eq(c.data(MSG)[0], 250, "second DATA")
    msgs = srv.messages()
    eq([m.rcpt_tos for m in msgs],
       [["r1@example.net", "r2@example.net"], ["r3@example.net", "r4@example.net"]],
       "recipients per message")
    eq([e["reply"] for e in srv.events("rcpt")],
       [None, None, "452 4.5.3 Too many recipients", "452 4.5.3 Too many recipients",
        None, None], "RCPT replies recorded")


def test_greeting_reply(t):
    srv = t.server(greeting_reply="421 4.3.2 go away")
    c = smtplib.SMTP(timeout=10)
    try:
        eq(c.connect("127.0.0.1", srv.port), (421, b"4.3.2 go away"), "greeting")
        # RFC 5321 3.8: the server closes after 421.
        check(c.sock.recv(1) == b"", "connection still open after 421")
    finally:
        c.close()
    eq(len(_wait_events(srv, "close", 1)), 1, "connection closed by the server")


def test_record_connections(t):
    srv = t.server(record_connections=True)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
        c.sendmail("a@example.org", ["r1@example.net"], MSG)
        c.sendmail("a@example.org", ["r2@example.net"], MSG)
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
        c.sendmail("a@example.org", ["r3@example.net"], MSG)
    eq([e["conn"] for e in srv.events("connect")], [1, 2], "connections")
    mails = srv.events("mail")
    eq([(e["conn"], e["txn"], e["txn_in_conn"]) for e in mails],
       [(1, 1, 1), (1, 2, 2), (2, 3, 1)], "(conn, txn, txn_in_conn) of MAIL events")
    eq(sorted(e["conn"] for e in _wait_events(srv, "close", 2)), [1, 2],
       "close events")


def test_refused_mail_is_no_transaction(t):
    srv = t.server(mail_reply="451 4.7.1 greylisted")
    with smtplib.SMTP("127.0.0.1", srv.port, timeout=10) as c:
        c.ehlo("client.test")
        eq(c.mail("a@example.org")[0], 451, "MAIL")
    e = srv.events("mail")
    eq([(x["txn"], x["reply"]) for x in e], [(None, "451 4.7.1 greylisted")],
       "refused MAIL events")


if __name__ == "__main__":
    harness.main()
