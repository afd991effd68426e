#!/usr/bin/env python3
"""A scripted, deliberately hostile SMTP server for sendmx's tests.

smtpserver.py (aiosmtpd) is a correct server with a few fault switches;
this one owns its sockets byte by byte, so it can misbehave in ways a
real SMTP library refuses to: replies that never end, a reply line of a
megabyte, replies trickled one byte at a time, silence in the middle of
DATA, a connection dropped at RCPT, garbage where a TLS handshake should
be, NUL and 8-bit bytes in reply text. It needs nothing beyond the
standard library.

Like smtpserver.py it binds a loopback address only (--host; anything
else is refused), on port 0 by default, prints ``READY <port>`` on stdout
once it listens, and serves (one thread per connection) until SIGTERM.

Modes (--mode; --stage says which reply is the hostile one: greeting,
ehlo, mail, rcpt, data or dot):

* ``normal``     a plain server; accepts every message.
* ``endless``    at --stage, "NNN-x..." continuation lines forever (until
  the client closes or stops reading).
* ``longline``   at --stage, one reply line of --line-bytes (1 MiB) text.
* ``trickle``    every reply sent one byte at a time, --delay-ms apart;
  the message is accepted.
* ``stall-dot``  reads the whole message, then never answers the final ".".
* ``stall-body`` answers DATA with 354 and then never reads again (its
  receive buffer is small, so the client's writes block).
* ``close``      closes the connection when the --stage command arrives,
  without a reply.
* ``tls-garbage`` offers STARTTLS, answers it 220, then sends --garbage
  bytes instead of a TLS ServerHello, once the ClientHello has come:
  ``random`` (64 KiB of noise) or ``partial`` (the start of a plausible
  handshake record, then silence); or ``inject``: the 220 and the start
  of a record in one segment, before any ClientHello.
* ``nul8bit``    every reply carries NUL, 8-bit and control bytes in its
  text (and EHLO an extra keyword made of them); the message is accepted.

--reply STAGE=REPLY replaces the reply at a stage in any mode; REPLY is
Python bytes-escape notation ("451 4.7.1 \\x00\\xff later"), since an
argument cannot carry a NUL.

Records, in --spool: ``events.jsonl`` (connect, each command verb and
argument, the hostile act and how it ended: bytes sent, whether the
client went away) and, for each accepted message, ``<n>.eml`` and
``<n>.json`` in smtpserver.py's format (mail_from, rcpt_tos, size,
sha256, conn), so harness.Server.messages() reads them.

For tests: ``start(t, mode, **opts)`` runs it as a harness-managed server
(t.servers: stopped by PID when the test ends).
"""

import argparse
import codecs
import hashlib
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
import time

HOSTNAME = "mx.hostile.invalid"
STAGES = ("greeting", "ehlo", "mail", "rcpt", "data", "dot")
MODES = ("normal", "endless", "longline", "trickle", "stall-dot", "stall-body",
         "close", "tls-garbage", "nul8bit")
STAGE_CODE = {"greeting": 220, "ehlo": 250, "mail": 250, "rcpt": 250, "data": 354,
              "dot": 250}
# What nul8bit mixes into reply text: NUL, C0 and DEL controls, an
# escape sequence, bytes that are not UTF-8, and valid UTF-8.
JUNK = b"\x00\x01\x1b[2J\x7f\x80\xfe\xff\xc3\xa9"
READ_LIMIT = 1 << 20       # longest command line read


class ClientGone(Exception):
    """The client closed the connection or reset it."""


class HungUp(Exception):
    """This server closed the connection on purpose (mode close)."""


# --------------------------------------------------------------------------
# recording


class Recorder:
    def __init__(self, spool):
        self.spool = spool
        self.lock = threading.Lock()
        self.conns = 0
        self.msgs = 0
        os.makedirs(spool, exist_ok=True)
        self.events = open(os.path.join(spool, "events.jsonl"), "a", buffering=1)

    def next_conn(self):
        with self.lock:
            self.conns += 1
            return self.conns

    def event(self, conn, kind, **fields):
        rec = {"conn": conn, "event": kind, "time": time.time()}
        rec.update(fields)
        with self.lock:
            self.events.write(json.dumps(rec) + "\n")
            self.events.flush()

    def message(self, conn, mail_from, rcpts, data):
        with self.lock:
            self.msgs += 1
            n = self.msgs
        base = os.path.join(self.spool, "%06d" % n)
        write_atomic(base + ".eml", data)
        meta = {"mail_from": mail_from, "rcpt_tos": rcpts, "mail_options": [],
                "rcpt_options": [], "auth_login": None, "auth_mechanism": None,
                "tls": False, "tls_version": None, "ehlo": None, "conn": conn,
                "n": n, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        write_atomic(base + ".json", json.dumps(meta, indent=1).encode())
        return n


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def printable(b):
    """Bytes as text for the event log, escapes for what is not ASCII."""
    return b.decode("ascii", "backslashreplace")


# --------------------------------------------------------------------------
# one connection


class Conn:
    def __init__(self, opts, rec, sock):
        self.o = opts
        self.rec = rec
        self.sock = sock
        self.id = rec.next_conn()
        self.inbuf = b""
        self.sent = 0

    # low-level I/O ---------------------------------------------------------
    def send(self, data):
        try:
            if self.o.mode == "trickle":
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    self.sent += 1
                    time.sleep(self.o.delay_ms / 1000.0)
            else:
                self.sock.sendall(data)
                self.sent += len(data)
        except OSError as e:
            raise ClientGone(str(e)) from None

    def recv_line(self):
        """One line with its line end (or what came before EOF, or the
        first READ_LIMIT octets); ClientGone at EOF with nothing read."""
        while b"\n" not in self.inbuf:
            if len(self.inbuf) > READ_LIMIT:
                line, self.inbuf = self.inbuf, b""
                return line
            try:
                chunk = self.sock.recv(65536)
            except OSError as e:
                raise ClientGone(str(e)) from None
            if not chunk:
                line, self.inbuf = self.inbuf, b""
                if not line:
                    raise ClientGone("EOF")
                return line
            self.inbuf += chunk
        line, _, self.inbuf = self.inbuf.partition(b"\n")
        return line + b"\n"

    def drain(self):
        """Reads and discards until the client closes; returns the count."""
        n = len(self.inbuf)
        self.inbuf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return n
            if not chunk:
                return n
            n += len(chunk)

    # replies ---------------------------------------------------------------
    def reply(self, stage, lines):
        """Sends the reply for stage: lines are b"NNN text" without the
        continuation mark; the mode may replace or spoil them."""
        if stage in self.o.replies:
            self.send(self.o.replies[stage] + b"\r\n")
            return
        if stage == self.o.stage and self.o.mode == "endless":
            self.endless(stage)
        if stage == self.o.stage and self.o.mode == "longline":
            self.longline(stage)
        if self.o.mode == "nul8bit":
            lines = [l[:4] + JUNK + b" " + l[4:] if i == 0 else l
                     for i, l in enumerate(lines)]
            if stage == "ehlo":
                lines.insert(1, b"250 X-" + JUNK)
        out = b"".join(l[:3] + (b"-" if i < len(lines) - 1 else b" ") + l[4:] + b"\r\n"
                       for i, l in enumerate(lines))
        self.send(out)

    def endless(self, stage):
        code = b"%d" % STAGE_CODE[stage]
        chunk = (code + b"-x endless reply line\r\n") * 2048
        start = self.sent
        try:
            while True:
                self.send(chunk)
        except ClientGone as e:
            self.rec.event(self.id, "endless", stage=stage, bytes=self.sent - start,
                           lines=(self.sent - start) // (len(chunk) // 2048),
                           ended=str(e))
            raise

    def longline(self, stage):
        code = b"%d" % STAGE_CODE[stage]
        line = code + b"-" + b"x" * self.o.line_bytes + b"\r\n"
        self.send(line)
        self.rec.event(self.id, "longline", stage=stage, bytes=len(line))

    # the dialogue ----------------------------------------------------------
    def run(self):
        peer = self.sock.getpeername()
        self.rec.event(self.id, "connect", peer=list(peer))
        how = "client closed"
        try:
            self.dialogue()
        except ClientGone as e:
            how = "client gone: %s" % e
        except HungUp as e:
            how = str(e)
        finally:
            self.rec.event(self.id, "close", how=how, sent=self.sent)
            try:
                self.sock.close()
            except OSError:
                pass

    def command(self, stage, line):
        """Logs a command; in mode close, hangs up at its stage."""
        self.rec.event(self.id, "cmd", stage=stage, line=printable(line.rstrip(b"\r\n")))
        if self.o.mode == "close" and stage == self.o.stage:
            self.sock.shutdown(socket.SHUT_RDWR)
            raise HungUp("closed by the server at %s" % stage)

    def dialogue(self):
        o = self.o
        if o.mode == "close" and o.stage == "greeting":
            self.command("greeting", b"")
        self.reply("greeting", [b"220 %s ESMTP hostile" % HOSTNAME.encode()])
        mail_from, rcpts = None, []
        while True:
            line = self.recv_line()
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.command("ehlo", line)
                exts = [b"250 %s" % HOSTNAME.encode(), b"250 PIPELINING", b"250 8BITMIME",
                        b"250 SIZE 104857600"]
                if o.mode == "tls-garbage":
                    exts.append(b"250 STARTTLS")
                self.reply("ehlo", exts if verb == b"EHLO" else exts[:1])
            elif line.upper().startswith(b"STARTTLS"):
                self.command("starttls", line)
                if o.mode != "tls-garbage":
                    self.send(b"502 5.5.1 no TLS here\r\n")
                    continue
                if o.garbage == "inject":
                    # The 220 and what follows in one segment: bytes the
                    # client must not take as part of the TLS stream
                    # (CVE-2011-0411 is the plaintext-injection cousin).
                    self.send(b"220 2.0.0 go ahead\r\n" + b"\x16\x03\x03\x00\x10" + b"\x00" * 16)
                    self.rec.event(self.id, "garbage", garbage="inject", bytes=21)
                    self.drain()
                    return
                self.send(b"220 2.0.0 go ahead\r\n")
                self.garbage()
                return
            elif line.upper().startswith(b"MAIL"):
                self.command("mail", line)
                mail_from = addr_of(line)
                rcpts = []
                self.reply("mail", [b"250 2.1.0 sender ok"])
            elif line.upper().startswith(b"RCPT"):
                self.command("rcpt", line)
                rcpts.append(addr_of(line))
                self.reply("rcpt", [b"250 2.1.5 recipient ok"])
            elif line.upper().startswith(b"DATA"):
                self.command("data", line)
                self.reply("data", [b"354 go ahead"])
                if o.mode == "stall-body":
                    self.rec.event(self.id, "stall-body")
                    time.sleep(o.stall)
                    return
                data = self.read_data()
                self.command("dot", b".")
                if o.mode == "stall-dot":
                    self.rec.event(self.id, "stall-dot", size=len(data))
                    self.drain()
                    return
                final = o.replies.get("dot", b"250")
                if final.startswith(b"2"):
                    n = self.rec.message(self.id, mail_from, rcpts, data)
                    self.reply("dot", [b"250 2.0.0 accepted as %06d" % n])
                else:
                    self.reply("dot", [b"250 unused"])
                mail_from, rcpts = None, []
            elif verb == b"RSET":
                self.command("rset", line)
                mail_from, rcpts = None, []
                self.send(b"250 2.0.0 reset\r\n")
            elif verb == b"NOOP":
                self.send(b"250 2.0.0 ok\r\n")
            elif verb == b"QUIT":
                self.command("quit", line)
                self.send(b"221 2.0.0 bye\r\n")
                return
            else:
                # AUTH and the rest: the verb only, never an argument that
                # might be a credential.
                self.command("other", verb)
                self.send(b"502 5.5.1 not implemented\r\n")

    def read_data(self):
        """The message up to ".", dot-stuffing undone (RFC 5321 4.5.2)."""
        out = []
        while True:
            line = self.recv_line()
            if line in (b".\r\n", b".\n"):
                return b"".join(out)
            if line.startswith(b"."):
                line = line[1:]
            out.append(line)

    def garbage(self):
        o = self.o
        if o.garbage == "partial":
            # A TLS handshake record header announcing 16 KiB, a ServerHello
            # type byte, and then nothing more: the client waits for bytes
            # that never come.
            data = b"\x16\x03\x03\x40\x00\x02" + b"\x00" * 100
        else:
            # Deterministic noise (no RNG state to vary between runs).
            data = hashlib.shake_256(b"sendmx hostile").digest(64 * 1024)
        # Answer the ClientHello, as a server would: the client has read
        # the 220 by then and is in its handshake.
        try:
            hello = self.sock.recv(65536)
        except OSError as e:
            raise ClientGone(str(e)) from None
        self.rec.event(self.id, "client-hello", bytes=len(hello),
                       tls_record=hello[:1] == b"\x16")
        try:
            self.send(data)
        finally:
            self.rec.event(self.id, "garbage", garbage=o.garbage, bytes=len(data))
        self.drain()


def addr_of(line):
    s = line.decode("latin-1")
    a, b = s.find("<"), s.find(">")
    return s[a + 1:b] if 0 <= a < b else s[5:].strip()


# --------------------------------------------------------------------------
# the server


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--spool", required=True)
    p.add_argument("--mode", choices=MODES, default="normal")
    p.add_argument("--stage", choices=STAGES, default="ehlo")
    p.add_argument("--line-bytes", type=int, default=1 << 20,
                   help="longline: bytes of text in the line (default 1 MiB)")
    p.add_argument("--delay-ms", type=float, default=2.0,
                   help="trickle: pause between bytes (default 2)")
    p.add_argument("--stall", type=float, default=60.0,
                   help="stall-body: seconds to stay silent (default 60)")
    p.add_argument("--garbage", choices=("random", "partial", "inject"), default="random")
    p.add_argument("--rcvbuf", type=int, default=0,
                   help="SO_RCVBUF for accepted connections (default: the "
                        "kernel's; stall-body uses 4096)")
    p.add_argument("--reply", action="append", default=[], metavar="STAGE=REPLY",
                   help="the reply at STAGE, in bytes-escape notation")
    a = p.parse_args(argv)
    a.replies = {}
    for spec in a.reply:
        stage, sep, reply = spec.partition("=")
        if not sep or stage not in STAGES:
            p.error("--reply wants STAGE=REPLY with STAGE one of %s" % ", ".join(STAGES))
        a.replies[stage] = codecs.escape_decode(reply.encode("latin-1"))[0]
    try:
        if not ipaddress.ip_address(a.host).is_loopback:
            p.error("--host %s is not a loopback address" % a.host)
    except ValueError:
        p.error("--host wants an IP address, got %r" % a.host)
    if a.mode == "stall-body" and not a.rcvbuf:
        a.rcvbuf = 4096
    return a


def serve(opts):
    rec = Recorder(opts.spool)
    family = socket.AF_INET6 if ":" in opts.host else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if opts.rcvbuf:
        # Set before listen() so that accepted sockets inherit it (the
        # window is negotiated in the handshake).
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts.rcvbuf)
    ls.bind((opts.host, opts.port))
    ls.listen(16)
    sys.stdout.write("READY %d\n" % ls.getsockname()[1])
    sys.stdout.flush()
    while True:
        sock, _ = ls.accept()
        # Replies go out as they are made: Nagle against the client's
        # delayed ACK would add 40 ms to every pipelined group.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = Conn(opts, rec, sock)
        threading.Thread(target=c.run, daemon=True).start()


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM ends the process, daemon threads and all; SIGPIPE must not
    # (a client that went away is an EPIPE to record).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, lambda *_: os._exit(0))
    serve(opts)
    return 0


# --------------------------------------------------------------------------
# for tests


def start(t, mode="normal", **opts):
    """Starts this server for the test context t (harness.Ctx) and returns
    a harness.Server for it: .port, .messages(), .events(kind), .stop();
    it is stopped when the test ends. opts map to flags as in t.server():
    stage="rcpt", line_bytes=..., delay_ms=..., garbage="partial",
    replies={"rcpt": "451 ..."}."""
    import harness

    class Hostile(harness.Server):
        def __init__(self, spool, errfile, argv):
            # harness.Server.__init__ runs smtpserver.py: do its job for
            # this script, and reuse the rest (READY, stop, records).
            self.spool = spool
            self.errfile = errfile
            self.opts = opts
            self.argv = argv
            with open(errfile, "ab") as err:
                self.proc = harness.subprocess.Popen(
                    argv, stdin=harness.subprocess.DEVNULL,
                    stdout=harness.subprocess.PIPE, stderr=err)
            self.pid = self.proc.pid
            try:
                self.port = self._wait_ready()
            except BaseException:
                self.stop()
                raise

    t._nserver += 1
    spool = os.path.join(t.tmp, "hostile%d" % t._nserver)
    os.mkdir(spool)
    errfile = os.path.join(t.tmp, "hostile%d.err" % t._nserver)
    argv = [sys.executable, os.path.abspath(__file__), "--spool", spool, "--mode", mode]
    for key, val in opts.items():
        if key == "replies":
            for stage, reply in val.items():
                argv += ["--reply", "%s=%s" % (stage, reply)]
        else:
            argv += ["--" + key.replace("_", "-"), str(val)]
    srv = Hostile(spool, errfile, argv)
    t.servers.append(srv)
    return srv


if __name__ == "__main__":
    sys.exit(main())
