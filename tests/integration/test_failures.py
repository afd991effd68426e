#!/usr/bin/env python3
"""Refusals and failures: exit codes, what stderr and the log say, what still arrives."""

import base64
import re
import socket
import threading
import time

import harness
from harness import check, contains, eq, lacks, matches

MSG = b"Subject: failures\n\nbody\n"


def hostport_re(port):
    # "127.0.0.1:P" or the log's "127.0.0.1[127.0.0.1]:P"
    return r"127\.0\.0\.1(\[127\.0\.0\.1\])?:%d" % port


def log_line(t, rcpt):
    return matches(t.log_text(), r"^.*to=<%s>.*$" % re.escape(rcpt), "log").group(0)


class Scripted:
    """A one-connection server on loopback for faults aiosmtpd cannot
    stage: script(conn) plays the server side. It listens before sendmx
    starts, so there is nothing to wait for."""

    def __init__(self, script):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.sock.settimeout(30)
        self.port = self.sock.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self.thread.start()

    def _run(self, script):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                script(self, conn)
            except OSError:
                pass

    def read_line(self, conn):
        """One command line from the client (b"" at close)."""
        line = b""
        while not line.endswith(b"\n"):
            c = conn.recv(1)
            if not c:
                break
            line += c
        self.received += line
        return line

    def read_until_closed(self, conn):
        while True:
            data = conn.recv(65536)
            if not data:
                return
            self.received += data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()
        self.thread.join(timeout=10)


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
    t.expect_queued(r)
    eq(srv.messages(), [], "messages")
    line = matches(r.err, r"^sendmx: .*carol@example\.org.*$", "stderr").group(0)
    contains(line, "451 4.3.0 try later", "stderr line for carol")
    contains(log_line(t, "carol@example.org"), "status=deferred", "log line for carol")


def test_refusal_reported_while_deferred_is_queued(t):
    # -odi: the refused recipient is reported to the caller (exit 69, no
    # bounce), the deferred one is safe in the queue.
    srv = t.server(rcpt_reply={"bob@example.org": "550 5.1.1 no such user",
                               "carol@example.org": "451 4.3.0 try later"})
    conf = t.relay_config(srv)
    r = t.sendmx(["alice@example.org", "bob@example.org", "carol@example.org"], MSG,
                 config=conf)
    t.expect_exit(r, 69)
    eq(len(t.queued_ids()), 1, "messages in the queue")
    contains(r.err, "queued as", "stderr")
    eq(srv.only_message().rcpt_tos, ["alice@example.org"], "delivered recipients")
    contains(r.err, "550 5.1.1 no such user", "stderr")
    contains(r.err, "451 4.3.0 try later", "stderr")


def test_451_after_data(t):
    srv = t.server(data_reply="451 4.3.0 queue full")
    conf = t.relay_config(srv)
    r = t.sendmx(["alice@example.org", "bob@example.org"], MSG, config=conf)
    t.expect_queued(r)
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
    t.expect_queued(r)
    contains(r.err, "451 4.7.1 greylisted", "stderr")


def test_421_greeting(t):
    srv = t.server(greeting="421 4.3.2 shutting down")
    r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(srv))
    t.expect_queued(r)
    contains(r.err, "421", "stderr")
    eq(srv.messages(), [], "messages")


def test_connection_dropped_after_data(t):
    srv = t.server(data_drop=True)
    r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(srv))
    t.expect_queued(r)
    eq(srv.messages(), [], "messages")
    eq(len(srv.events("data")), 1, "DATA transactions")


def test_reply_timeout(t):
    srv = t.server(greeting_delay=30)
    conf = t.relay_config(srv, extra="timeout = 1")
    start = time.monotonic()
    r = t.sendmx(["bob@example.org"], MSG, config=conf, timeout=20)
    took = time.monotonic() - start
    t.expect_queued(r)
    check(took < 10, "timeout = 1 took %.1fs" % took)
    matches(r.err, r"(?i)time", "stderr")
    eq(srv.messages(), [], "messages")


def test_reply_timeout_covers_whole_reply(t):
    # A multi-line greeting trickled out a line at a time: each line comes
    # well within the timeout, the whole reply does not (RFC 5321 4.5.3.2
    # times replies). The sleeps are the fault being staged.
    def script(srv, conn):
        for i in range(20):
            conn.sendall(b"220-mx.test.invalid line %d\r\n" % i)
            time.sleep(0.3)
        conn.sendall(b"220 mx.test.invalid ready\r\n")
        srv.read_until_closed(conn)

    with Scripted(script) as srv:
        conf = t.relay_config(port=srv.port, extra="timeout = 1")
        start = time.monotonic()
        r = t.sendmx(["bob@example.org"], MSG, config=conf, timeout=30)
        took = time.monotonic() - start
    t.expect_queued(r)
    check(took < 4, "timeout = 1 took %.1fs for one reply" % took)
    matches(r.err, r"%s at greeting: timed out after 1 s waiting for reply"
            % hostport_re(srv.port), "stderr")
    lacks(srv.received, b"EHLO", "what the server received")


def test_verbose_transcript_shows_no_control_bytes(t):
    # -v prints the server's replies on the caller's terminal: an escape
    # sequence in them must not reach it, nor may a NUL hide the rest.
    def script(srv, conn):
        conn.sendall(b"220 mx \x1b]0;owned\x07 ready\x00 hidden\r\n")
        srv.read_line(conn)
        conn.sendall(b"421 4.3.2 \x1b[2J bye\r\n")
        srv.read_until_closed(conn)

    with Scripted(script) as srv:
        conf = t.relay_config(port=srv.port)
        r = t.sendmx(["-v", "bob@example.org"], MSG, config=conf)
    t.expect_queued(r)
    lacks(r.err, "\x1b", "stderr")
    lacks(r.err, "\x00", "stderr")
    contains(r.err, "<<< 220 mx ?]0;owned? ready? hidden\n", "stderr")
    contains(r.err, "<<< 421 4.3.2 ?[2J bye\n", "stderr")


def test_auth_secret_echoed_by_server_is_masked(t):
    # A server that quotes back what it did not understand (sendmail's
    # "Command unrecognized") must not put the password into the -v
    # transcript, the error message or the log.
    password = "Echo-me-not 7"
    b64 = base64.b64encode(password.encode())

    def script(srv, conn):
        conn.sendall(b"220 mx ready\r\n")
        srv.read_line(conn)                                   # EHLO
        conn.sendall(b"250-mx\r\n250 AUTH LOGIN\r\n")
        srv.read_line(conn)                                   # AUTH LOGIN
        conn.sendall(b"334 VXNlcm5hbWU6\r\n")
        srv.read_line(conn)                                   # user
        conn.sendall(b"334 UGFzc3dvcmQ6\r\n")
        line = srv.read_line(conn).rstrip(b"\r\n")           # password
        conn.sendall(b'500 5.5.1 Command unrecognized: "%s" (%s)\r\n'
                     % (line, base64.b64decode(line)))
        srv.read_line(conn)                                   # QUIT
        conn.sendall(b"221 bye\r\n")
        srv.read_until_closed(conn)

    with Scripted(script) as srv:
        secret = t.write("secret", password + "\n", mode=0o600)
        conf = t.relay_config(port=srv.port, relay_extra="\n".join([
            'user = "alice"', 'password_file = "%s"' % secret,
            "allow_plaintext_auth = true"]))
        r = t.sendmx(["-v", "bob@example.org"], MSG, config=conf)
    t.expect_queued(r)
    contains(srv.received, b64, "what the server received")
    contains(r.err, "500 5.5.1 Command unrecognized", "stderr")
    for where, text in (("stderr", r.err), ("log", t.log_text())):
        lacks(text, password, where)
        lacks(text, b64.decode(), where)
    contains(r.err, '<<< 500 5.5.1 Command unrecognized: "%s" (%s)'
             % ("*" * len(b64), "*" * len(password)), "stderr")


def test_not_an_smtp_server(t):
    # The wrong port (POP3 here): the error shows what came back, and
    # names the peer once.
    def script(srv, conn):
        conn.sendall(b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n")
        srv.read_until_closed(conn)

    with Scripted(script) as srv:
        r = t.sendmx(["bob@example.org"], MSG, config=t.relay_config(port=srv.port))
    t.expect_queued(r)
    line = matches(r.err, r"^sendmx: bob@example\.org: .*$", "stderr").group(0)
    contains(line, 'at greeting: malformed reply line '
             '"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"', "stderr")
    eq(len(re.findall(hostport_re(srv.port), line)), 1, "peer named in %r" % line)


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
    t.expect_queued(r)
    matches(r.err, r"(?i)connect", "stderr")
    matches(r.err, hostport_re(port), "stderr")
    contains(log_line(t, "bob@example.org"), "status=deferred", "log")


def test_relay_name_does_not_resolve(t):
    conf = t.relay_config(port=25, host="nonexistent.invalid")
    r = t.sendmx(["bob@example.org"], MSG, config=conf, timeout=45)
    t.expect_queued(r)
    contains(r.err, "nonexistent.invalid", "stderr")


def test_no_relay_and_no_dns(t):
    # Without a relay sendmx looks up MX hosts; a DNS server that does not
    # answer is a temporary failure, never a bounce.
    conf = t.relay_config(relay=False, extra='dns_servers = "127.0.0.1:9"\n'
                          'dns_timeout = 1')
    r = t.sendmx(["bob@example.org"], MSG, config=conf)
    t.expect_queued(r)
    matches(r.err, r"(?i)^sendmx: bob@example\.org: deferred: .*example\.org", "stderr")


if __name__ == "__main__":
    harness.main()
