#!/usr/bin/env python3
"""Refusals and failures: exit codes, what stderr and the log say, what still arrives."""

import re
import socket
import time

import harness
from harness import check, contains, eq, lacks, matches

MSG = b"Subject: failures\n\nbody\n"


def hostport_re(port):
    # "127.0.0.1:P" or the log's "127.0.0.1[127.0.0.1]:P"
    return r"127\.0\.0\.1(\[127\.0\.0\.1\])?:%d" % port


def log_line(t, rcpt):
    return matches(t.log_text(), r"^.*to=<%s>.*$" % re.escape(rcpt), "log").group(0)


def test_one_of_two_refused_550(t):
    srv = t.server(rcpt_reply={"bob@example.org": "550 5.1.1 no such user"})
    conf = t.relay_config(srv)
    r = t.sendmx(["alice@example.org", "bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 69)
    m = srv.only_message()
    eq(m.rcpt_tos, ["alice@example.org"], "delivered recipients")
    eq(m.body, b"body\r\n", "body")
    line = matches(r.err, r"^sendmx: .*bob@example\.org.*$", "stderr").group(0)
    contains(line, "550 5.1.1 no such user", "stderr line for bob")
    lacks(r.err, "alice@example.org", "stderr")
    contains(log_line(t, "bob@example.org"), "status=bounced", "log line for bob")
    contains(log_line(t, "alice@example.org"), "status=sent", "log line for alice")


def test_all_refused_550(t):
    srv = t.server(rcpt_reply={"bob@example.org": "550 5.1.1 no such user",
                               "carol@example.org": "553 5.1.3 bad address"})
    conf = t.relay_config(srv)
    r = t.sendmx(["bob@example.org", "carol@example.org"], MSG, config=conf)
    t.expect_exit(r, 69)
    eq(srv.messages(), [], "messages")
    eq(srv.events("data"), [], "DATA transactions")
    contains(r.err, "550 5.1.1 no such user", "stderr")
    contains(r.err, "553 5.1.3 bad address", "stderr")


def test_451_at_rcpt(t):
    srv = t.server(rcpt_reply={"carol@example.org": "451 4.3.0 try later"})
    conf = t.relay_config(srv)
    r = t.sendmx(["carol@example.org"], MSG, config=conf)
    t.expect_exit(r, 75)
    eq(srv.messages(), [], "messages")
    line = matches(r.err, r"^sendmx: .*carol@example\.org.*$", "stderr").group(0)
    contains(line, "451 4.3.0 try later", "stderr line for carol")
    contains(log_line(t, "carol@example.org"), "status=deferred", "log line for carol")


def test_tempfail_wins_over_permfail(t):
    srv = t.server(rcpt_reply={"bob@example.org": "550 5.1.1 no such user",
                               "carol@example.org": "451 4.3.0 try later"})
    conf = t.relay_config(srv)
    r = t.sendmx(["alice@example.org", "bob@example.org", "carol@example.org"], MSG,
                 config=conf)
    t.expect_exit(r, 75)
    eq(srv.only_message().rcpt_tos, ["alice@example.org"], "delivered recipients")
    contains(r.err, "550 5.1.1 no such user", "stderr")
    contains(r.err, "451 4.3.0 try later", "stderr")


def test_451_after_data(t):
    srv = t.server(data_reply="451 4.3.0 queue full")
    conf = t.relay_config(srv)
    r = t.sendmx(["alice@example.org", "bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 75)
    eq(srv.messages(), [], "messages")
    eq(len(srv.events("data")), 1, "DATA transactions")
    contains(r.err, "451 4.3.0 queue full", "stderr")
    contains(log_line(t, "bob@example.org"), "status=deferred", "log")


def test_554_after_data(t):
    srv = t.server(data_reply="554 5.6.0 message refused")
    conf = t.relay_config(srv)
    r = t.sendmx(["alice@example.org"], MSG, config=conf)
    t.expect_exit(r, 69)
    eq(srv.messages(), [], "messages")
    contains(r.err, "554 5.6.0 message refused", "stderr")
    contains(log_line(t, "alice@example.org"), "status=bounced", "log")


def test_mail_from_refused(t):
    srv = t.server(mail_reply="553 5.7.1 sender not allowed")
    r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(srv))
    t.expect_exit(r, 69)
    contains(r.err, "553 5.7.1 sender not allowed", "stderr")
    eq(srv.messages(), [], "messages")


def test_mail_from_tempfail(t):
    srv = t.server(mail_reply="451 4.7.1 greylisted")
    r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(srv))
    t.expect_exit(r, 75)
    contains(r.err, "451 4.7.1 greylisted", "stderr")


def test_421_greeting(t):
    srv = t.server(greeting="421 4.3.2 shutting down")
    r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(srv))
    t.expect_exit(r, 75)
    contains(r.err, "421", "stderr")
    eq(srv.messages(), [], "messages")


def test_connection_dropped_after_data(t):
    srv = t.server(data_drop=True)
    r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(srv))
    t.expect_exit(r, 75)
    eq(srv.messages(), [], "messages")
    eq(len(srv.events("data")), 1, "DATA transactions")


def test_reply_timeout(t):
    srv = t.server(greeting_delay=30)
    conf = t.relay_config(srv, extra="timeout = 1")
    start = time.monotonic()
    r = t.sendmx(["bob@example.org"], MSG, config=conf, timeout=20)
    took = time.monotonic() - start
    t.expect_exit(r, 75)
    check(took < 10, "timeout = 1 took %.1fs" % took)
    matches(r.err, r"(?i)time", "stderr")
    eq(srv.messages(), [], "messages")


def test_message_over_server_size_limit(t):
    srv = t.server(max_size=2000)
    # The server advertises SIZE 2000: sendmx may refuse before MAIL (RFC 1870)
    # or pass on the server's 552; either way the message is refused.
    r = t.sendmx(["bob@example.org"], b"Subject: big\n\n" + (b"z" * 70 + b"\n") * 100,
                 config=t.relay_config(srv))
    t.expect_exit(r, 69)
    matches(r.err, r"(?i)^sendmx: bob@example\.org: .*(552|size)", "stderr")
    eq(srv.messages(), [], "messages")


def _closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()          # nobody listens here now
    return port


def test_server_down(t):
    port = _closed_port()
    conf = t.relay_config(port=port)
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 75)
    matches(r.err, r"(?i)connect", "stderr")
    matches(r.err, hostport_re(port), "stderr")
    contains(log_line(t, "bob@example.org"), "status=deferred", "log")


def test_relay_name_does_not_resolve(t):
    conf = t.relay_config(port=25, host="nonexistent.invalid")
    r = t.sendmx(["bob@example.org"], MSG, config=conf, timeout=45)
    t.expect_exit(r, 75)
    contains(r.err, "nonexistent.invalid", "stderr")


def test_no_relay_configured(t):
    conf = t.relay_config(relay=False)
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_exit(r, 75)
    matches(r.err, r"(?i)no relay", "stderr")
    contains(r.err, "bob@example.org", "stderr")


if __name__ == "__main__":
    harness.main()
