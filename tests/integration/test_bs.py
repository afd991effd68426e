#!/usr/bin/env python3
"""sendmx -bs: an SMTP session on stdin/stdout, relayed to a real server."""

import os
import re
import selectors
import time

import harness
from harness import check, contains, eq, matches

REPLY_TIMEOUT = 30


class PipeSMTP:
    """Speaks SMTP to sendmx -bs over its stdin/stdout pipes."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        self.buf = b""
        self.transcript = []

    def _line(self, deadline):
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while b"\n" not in self.buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no reply from sendmx -bs within %ds; so far:\n%s"
                                         % (REPLY_TIMEOUT, "\n".join(self.transcript)))
                if not sel.select(left):
                    continue
                chunk = os.read(self.fd, 4096)
                if not chunk:
                    raise AssertionError("sendmx -bs closed its output; so far:\n%s"
                                         % "\n".join(self.transcript))
                self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def reply(self):
        """(code, [text lines], raw bytes) of one possibly multi-line reply."""
        deadline = time.monotonic() + REPLY_TIMEOUT
        lines, raw = [], b""
        while True:
            line = self._line(deadline)
            raw += line
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            self.transcript.append("S: " + text)
            check(re.match(r"^\d{3}([ -]|$)", text), "malformed reply line %r" % text)
            lines.append(text[4:])
            if len(text) == 3 or text[3] == " ":
                return int(text[:3]), lines, raw

    def send(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.transcript.append("C: " + line.decode("utf-8", "replace"))
        self.proc.stdin.write(line + b"\r\n")
        self.proc.stdin.flush()

    def cmd(self, line, expect=None):
        self.send(line)
        code, lines, _ = self.reply()
        if expect is not None:
            ok = code in expect if isinstance(expect, (tuple, list, set)) else code == expect
            check(ok, "%s: got %d %s, expected %s\n%s" % (line, code, " ".join(lines), expect,
                                                         "\n".join(self.transcript)))
        return code, lines

    def data(self, lines, expect=250):
        """DATA with the given (already dot-stuffed) lines, then the lone dot."""
        self.cmd("DATA", 354)
        for l in lines:
            self.send(l)
        self.send(".")
        code, text, _ = self.reply()
        check(code == expect, "end of DATA: got %d %s, expected %d\n%s"
              % (code, " ".join(text), expect, "\n".join(self.transcript)))

    def quit(self):
        self.cmd("QUIT", 221)
        self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout=REPLY_TIMEOUT)
        except Exception:
            raise AssertionError("sendmx -bs did not exit after QUIT")
        return rc


def session(t, **server_opts):
    srv = t.server(**server_opts)
    conf = t.relay_config(srv)
    p = t.popen_sendmx(["-bs"], config=conf)
    c = PipeSMTP(p)
    code, lines, raw = c.reply()
    eq(code, 220, "greeting code")
    check(raw.endswith(b"\r\n"), "greeting does not end in CRLF: %r" % raw)
    return srv, c


def test_two_messages_in_one_session(t):
    srv, c = session(t)
    code, lines = c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.cmd("RCPT TO:<carol@example.org>", 250)
    c.data(["Subject: first", "", "line", "..dot line", "...", "last"])
    c.cmd("MAIL FROM:<dave@example.org>", 250)
    c.cmd("RCPT TO:<erin@example.org>", 250)
    c.data(["Subject: second", "", "..", "second"])
    eq(c.quit(), 0, "exit code")
    msgs = srv.messages()
    eq(len(msgs), 2, "messages at the relay")
    m1, m2 = msgs
    eq(m1.mail_from, "alice@example.org", "first MAIL FROM")
    eq(sorted(m1.rcpt_tos), ["bob@example.org", "carol@example.org"], "first RCPT TO")
    eq(m1.one_header("Subject"), "first", "first Subject")
    eq(m1.body, b"line\r\n.dot line\r\n..\r\nlast\r\n", "first body (dots unstuffed)")
    eq(m2.mail_from, "dave@example.org", "second MAIL FROM")
    eq(m2.rcpt_tos, ["erin@example.org"], "second RCPT TO")
    eq(m2.body, b".\r\nsecond\r\n", "second body (dots unstuffed)")


def test_helo_and_null_sender(t):
    srv, c = session(t)
    c.cmd("HELO client.example.org", 250)
    c.cmd("MAIL FROM:<>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.data(["Subject: bounce", "", "x"])
    eq(c.quit(), 0, "exit code")
    m = srv.only_message()
    eq(m.mail_from, "<>", "MAIL FROM")
    eq(m.body, b"x\r\n", "body")


def test_rset_discards_envelope(t):
    srv, c = session(t)
    c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<mallory@example.org>", 250)
    c.cmd("RCPT TO:<victim@example.org>", 250)
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.data(["Subject: after rset", "", "x"])
    eq(c.quit(), 0, "exit code")
    m = srv.only_message()
    eq(m.mail_from, "alice@example.org", "MAIL FROM")
    eq(m.rcpt_tos, ["bob@example.org"], "RCPT TO")


def test_bad_sequence(t):
    srv, c = session(t)
    c.cmd("EHLO client.example.org", 250)
    c.cmd("RCPT TO:<bob@example.org>", 503)
    c.cmd("DATA", 503)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 503)
    c.cmd("DATA", 503)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.data(["Subject: still fine", "", "x"])
    eq(c.quit(), 0, "exit code")
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "RCPT TO")


def test_errors_are_5xx(t):
    srv, c = session(t)
    c.cmd("EHLO client.example.org", 250)
    code, _ = c.cmd("FROB something")
    eq(code, 500, "reply to an unknown command")
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    code, _ = c.cmd("RCPT TO:<not an address>")
    check(500 <= code < 600, "bad RCPT address: %d" % code)
    c.cmd("RSET", 250)
    c.cmd("NOOP", 250)
    eq(c.quit(), 0, "exit code")
    eq(srv.messages(), [], "messages")


def test_bad_recipient_refused_at_rcpt_not_after_data(t):
    # An address refused only after DATA would take the good recipients
    # down with it: it must be refused at its RCPT, and the rest sent.
    srv, c = session(t)
    c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<cron>", 250)
    c.cmd("RCPT TO:<bob@-bad-.example.org>", 501)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.cmd("RCPT TO:<root>", 250)
    c.cmd("RCPT TO:<root@test.example.org>", 250)
    c.data(["Subject: bare names", "", "x"])
    eq(c.quit(), 0, "exit code")
    m = srv.only_message()
    eq(m.mail_from, "cron@test.example.org", "MAIL FROM")
    eq(m.rcpt_tos, ["bob@example.org", "root@test.example.org"], "RCPT TO")
    eq(m.one_header("From"), "cron@test.example.org", "generated From")


def test_refused_message_logged_and_session_usable(t):
    srv = t.server()
    conf = t.relay_config(srv, extra="max_message_size = 2000")
    c = PipeSMTP(t.popen_sendmx(["-bs"], config=conf))
    eq(c.reply()[0], 220, "greeting code")
    c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    # RFC 1870: over the SIZE limit is 552 5.3.4.
    c.data(["Subject: too big", ""] + ["y" * 70] * 100, expect=552)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.data(["Subject: small", "", "x"])
    eq(c.quit(), 0, "exit code")
    eq(srv.only_message().one_header("Subject"), "small", "Subject of what arrived")
    # A refusal is logged like any other, not only told to the client.
    matches(t.log_text(), r"from=<alice@example\.org> refused: message larger than 2000",
            "log")


def test_deferred_recipient_queued_and_reply_is_250(t):
    # A deferral at the relay is safe in the queue: the client is told
    # the message was taken.
    srv, c = session(t, rcpt_reply={"carol@example.org": "451 4.3.0 try later"})
    c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.cmd("RCPT TO:<carol@example.org>", 250)
    c.cmd("DATA", 354)
    for l in ("Subject: half", "", "x", "."):
        c.send(l)
    code, text, _ = c.reply()
    eq(code, 250, "reply to the end of data")
    c.quit()
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "RCPT TO accepted")
    eq(len(t.queued_ids()), 1, "messages queued for carol")


def test_partial_refusal_reply_says_who_got_it(t):
    srv, c = session(t, rcpt_reply={"carol@example.org": "550 5.1.1 no such user"})
    c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", 250)
    c.cmd("RCPT TO:<carol@example.org>", 250)
    c.cmd("DATA", 354)
    for l in ("Subject: half", "", "x", "."):
        c.send(l)
    code, text, _ = c.reply()
    eq(code, 554, "reply to the end of data")
    contains(" ".join(text), "sent to 1 of 2 recipients only", "reply text")
    contains(" ".join(text), "carol@example.org: refused", "reply text")
    c.quit()
    eq(srv.only_message().rcpt_tos, ["bob@example.org"], "RCPT TO accepted")


def test_relay_refusal_reported_at_end_of_data(t):
    srv, c = session(t, rcpt_reply={"bob@example.org": "550 5.1.1 no such user",
                                    "carol@example.org": "451 4.3.0 try later"})
    c.cmd("EHLO client.example.org", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<bob@example.org>", (250, 550))
    if c.transcript[-1].startswith("S: 250"):
        c.data(["Subject: refused", "", "x"], expect=554)
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<carol@example.org>", (250, 451))
    if c.transcript[-1].startswith("S: 250"):
        c.data(["Subject: deferred", "", "x"], expect=250)   # queued
    c.cmd("RSET", 250)
    c.cmd("MAIL FROM:<alice@example.org>", 250)
    c.cmd("RCPT TO:<dave@example.org>", 250)
    c.data(["Subject: fine", "", "x"])
    c.quit()
    eq([m.rcpt_tos for m in srv.messages()], [["dave@example.org"]], "messages at the relay")


if __name__ == "__main__":
    harness.main()
