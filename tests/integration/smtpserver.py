#!/usr/bin/env python3
"""A recording SMTP server for sendmx's integration tests.

It binds 127.0.0.1 or another loopback address (--host; anything else is
refused), on port 0 by default (the kernel picks a free port) or --port,
prints ``READY <port>`` on stdout once it listens, and serves until
SIGTERM/SIGINT.

Every accepted message is written to the spool directory as two files:

* ``<n>.eml``  — the exact bytes of the message after the DATA terminator was
  removed and dot-stuffing undone (RFC 5321 4.5.2), CRLF line ends as sent;
* ``<n>.json`` — metadata: mail_from, rcpt_tos, mail_options, rcpt_options,
  size, sha256, auth_login, auth_mechanism, tls, tls_version, ehlo, conn.

The .eml is renamed into place before the .json, and both are written before
the 250 reply goes out, so a client that saw 250 can rely on both files.

``events.jsonl`` records every connection and the commands that matter
(EHLO/HELO, STARTTLS, AUTH mechanism, MAIL, RCPT, DATA outcome), one JSON
object per line, each written before the reply to that command is sent.
Credentials are never recorded. Every event has ``conn`` (connections are
numbered from 1 in accept order), ``event`` and ``time``:

* ``connect`` (peer, local: [address, port], implicit_tls) when a connection is accepted and
  ``close`` when it ends, whoever closed it: count connections with either;
* ``mail`` (address, options, reply, txn): ``txn`` numbers the transactions
  the server accepted (MAIL answered 250) across all connections, from 1,
  and is null for a refused MAIL; ``txn_in_conn`` counts them per
  connection. So ``len(events("mail"))`` counts attempts and the distinct
  ``txn`` values count transactions;
* ``rcpt`` (address, options, reply: null for the default 250), ``data``
  (size, reply), ``ehlo``, ``helo``, ``starttls``, ``auth``,
  ``auth-result``.

Fault injection: --rcpt-reply ADDR=REPLY (with --rcpt-reply-times ADDR=N:
only the first N times), --rcpt-limit N, --mail-reply, --data-reply,
--data-drop, --greeting (or --greeting-reply), --greeting-delay, --delay-ms.
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import signal
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, MISSING

HOSTNAME = "mx.test.invalid"
KNOWN_MECHS = ("PLAIN", "LOGIN", "CRAM-MD5")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spool", required=True, help="directory for received mail")
    p.add_argument("--host", default="127.0.0.1",
                   help="loopback address to listen on (127.0.0.0/8 or ::1)")
    p.add_argument("--port", type=int, default=0,
                   help="port to listen on; 0 (default): one the kernel picks")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"),
                   help="offer STARTTLS with this certificate")
    p.add_argument("--implicit-tls", nargs=2, metavar=("CERT", "KEY"),
                   help="TLS from the first byte (port 465 style)")
    p.add_argument("--require-starttls", action="store_true",
                   help="530 for everything but EHLO/NOOP/QUIT before STARTTLS")
    p.add_argument("--auth", default="",
                   help="comma-separated mechanisms to offer: PLAIN,LOGIN,CRAM-MD5")
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--auth-require-tls", action="store_true",
                   help="offer AUTH only under TLS")
    p.add_argument("--auth-required", action="store_true",
                   help="530 for MAIL/RCPT/DATA until authenticated")
    p.add_argument("--rcpt-reply", action="append", default=[],
                   metavar="ADDR=REPLY",
                   help="answer RCPT TO:<ADDR> with REPLY, e.g. "
                        "'bob@example.org=550 5.1.1 no such user'")
    p.add_argument("--rcpt-reply-times", action="append", default=[],
                   metavar="ADDR=N",
                   help="give ADDR's --rcpt-reply only to its first N RCPTs "
                        "(counted across connections), then accept it: "
                        "'carol@example.org=2' fails twice, then succeeds")
    p.add_argument("--mail-reply", help="answer every MAIL FROM with this reply")
    p.add_argument("--data-reply",
                   help="answer the final dot with this reply (recorded only if 2xx)")
    p.add_argument("--data-drop", action="store_true",
                   help="close the connection after the final dot without a reply")
    p.add_argument("--greeting", "--greeting-reply", dest="greeting",
                   help="greet with this reply instead of 220; "
                        "after 4xx/5xx EHLO/HELO get 503, "
                        "421 closes the connection")
    p.add_argument("--greeting-delay", type=float, default=0.0,
                   help="seconds to wait before sending the greeting")
    p.add_argument("--delay-ms", type=int, default=0,
                   help="wait this many milliseconds before every reply, the "
                        "greeting included (once per reply, not per line)")
    p.add_argument("--rcpt-limit", type=int, default=None, metavar="N",
                   help="accept at most N recipients per transaction; every "
                        "RCPT after that gets '452 4.5.3 Too many recipients'")
    p.add_argument("--record-connections", action="store_true",
                   help="accepted for tests that want to say they count "
                        "connections and transactions: events.jsonl always "
                        "records connect/close and numbers transactions")
    p.add_argument("--pipelining", action="store_true",
                   help="advertise PIPELINING (aiosmtpd reads pipelined input anyway)")
    p.add_argument("--max-size", type=int, default=64 * 1024 * 1024)
    a = p.parse_args(argv)
    a.auth_mechs = [m.strip().upper() for m in a.auth.split(",") if m.strip()]
    for m in a.auth_mechs:
        if m not in KNOWN_MECHS:
            p.error("unknown AUTH mechanism %r" % m)
    a.rcpt_replies = {}
    for spec in a.rcpt_reply:
        addr, sep, reply = spec.partition("=")
        if not sep or len(reply) < 3 or not reply[:3].isdigit():
            p.error("--rcpt-reply wants ADDR=CODE TEXT, got %r" % spec)
        a.rcpt_replies[addr.strip().lower()] = reply.strip()
    a.rcpt_reply_counts = {}
    for spec in a.rcpt_reply_times:
        addr, sep, n = spec.partition("=")
        addr = addr.strip().lower()
        if not sep or not n.strip().isdigit():
            p.error("--rcpt-reply-times wants ADDR=N, got %r" % spec)
        if addr not in a.rcpt_replies:
            p.error("--rcpt-reply-times %s: no --rcpt-reply for that address" % addr)
        a.rcpt_reply_counts[addr] = int(n)
    for name in ("mail_reply", "data_reply", "greeting"):
        v = getattr(a, name)
        if v is not None and (len(v) < 3 or not v[:3].isdigit()):
            p.error("--%s wants 'CODE TEXT', got %r" % (name.replace("_", "-"), v))
    try:
        if not ipaddress.ip_address(a.host).is_loopback:
            p.error("--host %s is not a loopback address" % a.host)
    except ValueError:
        p.error("--host wants an IP address, got %r" % a.host)
    if not 0 <= a.port <= 65535:
        p.error("--port wants 0..65535, got %d" % a.port)
    if a.delay_ms < 0:
        p.error("--delay-ms wants a number >= 0")
    if a.rcpt_limit is not None and a.rcpt_limit < 0:
        p.error("--rcpt-limit wants a number >= 0")
    if a.starttls and a.implicit_tls:
        p.error("--starttls and --implicit-tls exclude each other")
    if a.auth_mechs and not a.user:
        p.error("--auth needs --user and --password")
    return a


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)


class Recorder:
    """Owns the spool directory: message numbering and the event log."""

    def __init__(self, spool):
        self.spool = spool
        self.msg_count = 0
        self.conn_count = 0
        self.txn_count = 0
        os.makedirs(spool, exist_ok=True)
        self.events = open(os.path.join(spool, "events.jsonl"), "a", buffering=1)

    def event(self, conn, kind, **fields):
        rec = {"conn": conn, "event": kind, "time": time.time()}
        rec.update(fields)
        self.events.write(json.dumps(rec) + "\n")
        self.events.flush()

    def message(self, meta, data):
        self.msg_count += 1
        n = self.msg_count
        base = os.path.join(self.spool, "%06d" % n)
        write_atomic(base + ".eml", data)
        meta = dict(meta, n=n, size=len(data),
                    sha256=hashlib.sha256(data).hexdigest())
        write_atomic(base + ".json", json.dumps(meta, indent=1).encode())
        return n


class Handler:
    """aiosmtpd hooks. Each hook records before the reply goes out."""

    def __init__(self, opts, rec):
        self.opts = opts
        self.rec = rec

    def _conn(self, server):
        return getattr(server, "conn_id", 0)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With a 5-argument EHLO hook aiosmtpd leaves host_name to us.
        self.rec.event(self._conn(server), "ehlo", arg=hostname, tls=server.tls_active())
        if server.refused:
            return ["503 5.5.1 no SMTP service here"]
        session.host_name = hostname
        server.ehlo_name = hostname
        out = [r for r in responses[:-1] if not r[4:].upper().startswith("AUTH")]
        if self.opts.pipelining:
            out.append("250-PIPELINING")
        if self.opts.auth_mechs and (not self.opts.auth_require_tls or server.tls_active()):
            out.append("250-AUTH " + " ".join(self.opts.auth_mechs))
        out.append(responses[-1])
        return out

    async def handle_HELO(self, server, session, envelope, hostname):
        self.rec.event(self._conn(server), "helo", arg=hostname)
        if server.refused:
            return "503 5.5.1 no SMTP service here"
        session.host_name = hostname
        server.ehlo_name = hostname
        return MISSING

    async def handle_AUTH(self, server, session, envelope, args):
        # Only the mechanism name: args[1] may be an initial response
        # carrying the credentials.
        mech = args[0].upper() if args else ""
        server.auth_attempt = mech
        self.rec.event(self._conn(server), "auth", mechanism=mech,
                       tls=server.tls_active())
        return MISSING

    async def handle_MAIL(self, server, session, envelope, address, options):
        reply = self.opts.mail_reply
        txn = None
        if not reply or reply.startswith("2"):
            self.rec.txn_count += 1
            server.txn_count += 1
            txn = self.rec.txn_count
        self.rec.event(self._conn(server), "mail", address=address, options=options,
                       reply=reply, txn=txn, txn_in_conn=server.txn_count)
        if self.opts.mail_reply:
            return self.opts.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        reply = self.opts.rcpt_replies.get(address.lower())
        counts = self.opts.rcpt_reply_counts
        if reply is not None and address.lower() in counts:
            # --rcpt-reply-times: the reply for the first N only.
            if counts[address.lower()] > 0:
                counts[address.lower()] -= 1
            else:
                reply = None
        limit = self.opts.rcpt_limit
        if limit is not None and len(envelope.rcpt_tos) >= limit:
            # RFC 5321 4.5.3.1.10: the client goes on in a new transaction.
            reply = "452 4.5.3 Too many recipients"
        self.rec.event(self._conn(server), "rcpt", address=address, options=options,
                       reply=reply)
        if reply is not None and not reply.startswith("2"):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return reply or "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content
        conn = self._conn(server)
        if self.opts.data_drop:
            self.rec.event(conn, "data", size=len(data), reply=None, dropped=True)
            server.transport.close()
            return "250 never sent"
        reply = self.opts.data_reply or "250 2.0.0 OK"
        if reply.startswith("2"):
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "mail_options": list(envelope.mail_options),
                "rcpt_options": list(envelope.rcpt_options),
                "auth_login": server.auth_login,
                "auth_mechanism": server.auth_mechanism,
                "tls": server.tls_active(),
                "tls_version": server.tls_version(),
                "ehlo": server.ehlo_name,
                "conn": conn,
            }
            n = self.rec.message(meta, bytes(data))
            if not self.opts.data_reply:
                reply = "250 2.0.0 OK: queued as %06d" % n
        self.rec.event(conn, "data", size=len(data), reply=reply)
        return reply

    # RFC 2195 CRAM-MD5. aiosmtpd maps auth_CRAM__MD5 to "CRAM-MD5".
    async def auth_CRAM__MD5(self, server, args):
        if len(args) > 1:
            await server.push("501 5.5.2 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = "<%s.%d@%s>" % (secrets.token_hex(8), int(time.time()), HOSTNAME)
        resp = await server.challenge_auth(challenge)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            user, digest = resp.decode("utf-8").rsplit(" ", 1)
        except (UnicodeDecodeError, ValueError):
            await server.push("501 5.5.2 malformed CRAM-MD5 response")
            return AuthResult(success=False, handled=True)
        want = hmac.new(self.opts.password.encode(), challenge.encode(),
                        hashlib.md5).hexdigest()
        ok = user == self.opts.user and hmac.compare_digest(digest.lower(), want)
        self.rec.event(self._conn(server), "auth-result", mechanism="CRAM-MD5",
                       success=ok, login=user)
        if not ok:
            return AuthResult(success=False, handled=False)
        server.auth_mechanism = "CRAM-MD5"
        server.auth_login = user
        return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        """PLAIN and LOGIN, checked by aiosmtpd's built-in mechanisms."""
        login = auth_data.login.decode("utf-8", "replace")
        ok = (hmac.compare_digest(auth_data.login, self.opts.user.encode())
              and hmac.compare_digest(auth_data.password, self.opts.password.encode()))
        self.rec.event(self._conn(server), "auth-result", mechanism=mechanism,
                       success=ok, login=login)
        if ok:
            server.auth_mechanism = mechanism
            server.auth_login = login
        return AuthResult(success=ok, handled=False)


class RecordingSMTP(SMTP):
    def __init__(self, handler, opts, rec, implicit, **kw):
        super().__init__(handler, **kw)
        self.opts = opts
        self.rec = rec
        self.implicit = implicit
        self.conn_id = 0
        self.greeted = False
        self.refused = False
        self.auth_login = None
        self.auth_mechanism = None
        self.auth_attempt = None
        self.ehlo_name = None
        self.txn_count = 0
        self.reply_open = False   # the last line pushed was "NNN-..."

    def tls_active(self):
        if self._tls_protocol is not None:
            return True
        t = self.transport
        return bool(t is not None and t.get_extra_info("ssl_object") is not None)

    def tls_version(self):
        t = self.transport
        obj = t.get_extra_info("ssl_object") if t is not None else None
        return obj.version() if obj is not None else None

    def connection_made(self, transport):
        starttls = self._original_transport is not None
        if not starttls:
            self.rec.conn_count += 1
            self.conn_id = self.rec.conn_count
            peer = transport.get_extra_info("peername")
            local = transport.get_extra_info("sockname")
            self.rec.event(self.conn_id, "connect", peer=list(peer) if peer else None,
                           local=list(local) if local else None,
                           implicit_tls=self.implicit)
        else:
            # RFC 3207 4.2: the session starts afresh after STARTTLS.
            self.auth_login = None
            self.auth_mechanism = None
            self.rec.event(self.conn_id, "starttls")
        super().connection_made(transport)

    def connection_lost(self, error):
        self.rec.event(self.conn_id, "close")
        super().connection_lost(error)

    async def _delay(self, status):
        """--delay-ms: wait before the first line of each reply."""
        line = status.decode("latin-1") if isinstance(status, bytes) else status
        if self.opts.delay_ms and not self.reply_open:
            await asyncio.sleep(self.opts.delay_ms / 1000.0)
        self.reply_open = len(line) > 3 and line[3] == "-"

    async def push(self, status):
        # The first line pushed is the greeting; replace or delay it on request.
        if not self.greeted:
            self.greeted = True
            if self.opts.greeting_delay:
                await asyncio.sleep(self.opts.greeting_delay)
            if self.opts.greeting:
                status = self.opts.greeting
                self.refused = not status.startswith("2")
            await self._delay(status)
            await super().push(status)
            if status.startswith("421"):
                # RFC 5321 3.8: 421 and close.
                self.transport.close()
            return
        await self._delay(status)
        await super().push(status)


def make_tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(opts):
    loop = asyncio.get_running_loop()
    rec = Recorder(opts.spool)
    handler = Handler(opts, rec)
    starttls_ctx = make_tls_context(*opts.starttls) if opts.starttls else None
    implicit_ctx = make_tls_context(*opts.implicit_tls) if opts.implicit_tls else None
    excluded = [m for m in KNOWN_MECHS if m not in opts.auth_mechs]

    def factory():
        return RecordingSMTP(
            handler, opts, rec, implicit_ctx is not None,
            hostname=HOSTNAME,
            data_size_limit=opts.max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=starttls_ctx,
            require_starttls=opts.require_starttls,
            auth_required=opts.auth_required,
            # Under implicit TLS the connection is already encrypted, but
            # aiosmtpd only knows about STARTTLS: don't let it refuse AUTH.
            auth_require_tls=opts.auth_require_tls and implicit_ctx is None,
            auth_exclude_mechanism=excluded,
            authenticator=handler.authenticator,
            timeout=60,
            loop=loop,
        )

    server = await loop.create_server(factory, host=opts.host, port=opts.port,
                                      ssl=implicit_ctx)
    port = server.sockets[0].getsockname()[1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sys.stdout.write("READY %d\n" % port)
    sys.stdout.flush()
    await stop.wait()
    server.close()


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    # Quiet: aiosmtpd logs through the logging module; nothing is configured,
    # so only warnings reach stderr, which the harness keeps in a file.
    asyncio.run(serve(opts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
