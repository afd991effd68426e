#!/usr/bin/env python3
"""A private DNS server (dnsmasq) for sendmx's integration tests.

Import it next to harness.py and give it the records a test needs::

    import dnsserver
    from dnsserver import mx, a, null_mx

    with dnsserver.DnsServer([mx("example.test", "mx1.example.test", 10),
                              a("mx1.example.test", "127.0.0.1"),
                              null_mx("nomail.test")]) as dns:
        cfg = 'dns_servers = "%s"' % dns.servers     # "127.0.0.1:<port>"
        ...

dnsmasq listens on 127.0.0.1 only, on a free port, and answers only from
the records given: every other name is NXDOMAIN (``--local=/#/``), nothing
is forwarded, /etc/hosts and resolv.conf are not read. The server counts as
started once it has answered a real query (no sleeping), and is stopped by
PID (SIGTERM, then SIGKILL after STOP_TIMEOUT). ``dns.log()`` returns
dnsmasq's query log, so a test can check which lookups sendmx made.

Records (each a function returning dnsmasq options):
  mx(domain, host, pref=10)      an MX record
  a(host, ip)                    an A or AAAA record (by the address)
  null_mx(domain)                RFC 7505 "MX 0 ."
  txt(name, text)                makes a name exist without A/AAAA/MX
  forward(domain, port)          names under domain go to 127.0.0.1#port
                                 (e.g. a socket that never answers)
A plain string is passed to dnsmasq as one option.

Environment: DNSMASQ (the binary; default /usr/sbin/dnsmasq, then PATH).
Self-test: ``python3 dnsserver.py --selftest``.
"""

import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

READY_TIMEOUT = 10        # seconds for dnsmasq to answer its first query
STOP_TIMEOUT = 5          # seconds between SIGTERM and SIGKILL
PORT_ATTEMPTS = 5         # a chosen port may be taken before dnsmasq binds it

T_A, T_MX, T_TXT, T_AAAA = 1, 15, 16, 28


# --------------------------------------------------------------------------
# records


def mx(domain, host, pref=10):
    return ["--mx-host=%s,%s,%d" % (domain, host, pref)]


def a(host, ip):
    return ["--host-record=%s,%s" % (host, ip)]


def null_mx(domain):
    # RDATA: preference 0 (two octets) and the root name (one zero octet).
    return ["--dns-rr=%s,%d,000000" % (domain, T_MX)]


def txt(name, text):
    return ["--txt-record=%s,%s" % (name, text)]


def forward(domain, port):
    return ["--server=/%s/127.0.0.1#%d" % (domain, port)]


def find_dnsmasq():
    env = os.environ.get("DNSMASQ")
    if env:
        return env
    if os.access("/usr/sbin/dnsmasq", os.X_OK):
        return "/usr/sbin/dnsmasq"
    found = shutil.which("dnsmasq")
    if found:
        return found
    raise RuntimeError("dnsmasq not found (Debian: apt-get install dnsmasq-base)")


def free_port():
    """A loopback port free for UDP and TCP now (dnsmasq binds both)."""
    for _ in range(20):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free loopback port")


# --------------------------------------------------------------------------
# a minimal DNS client, for readiness and the self-test


def build_query(name, qtype, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    return q + b"\0" + struct.pack(">HH", qtype, 1)


def _name(msg, off):
    """(name, offset after it), following compression pointers."""
    labels, end, jumps = [], None, 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumps += 1
            if jumps > 50:
                raise ValueError("compression loop")
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("ascii"))
        off += n
    return ".".join(labels), (end if end is not None else off)


def parse_reply(msg):
    """(rcode, [(type, value)]) where value is "pref host" for MX (host ""
    for the root), the address for A/AAAA, raw bytes otherwise."""
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    off = 12
    for _ in range(qd):
        _, off = _name(msg, off)
        off += 4
    answers = []
    for _ in range(an):
        _, off = _name(msg, off)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rdata = msg[off:off + rdlen]
        if rtype == T_MX:
            host, _ = _name(msg, off + 2)
            answers.append((rtype, "%d %s" % (struct.unpack(">H", rdata[:2])[0], host)))
        elif rtype == T_A:
            answers.append((rtype, socket.inet_ntop(socket.AF_INET, rdata)))
        elif rtype == T_AAAA:
            answers.append((rtype, socket.inet_ntop(socket.AF_INET6, rdata)))
        else:
            answers.append((rtype, rdata))
        off += rdlen
    return flags & 0x0F, answers


def query(port, name, qtype=T_A, timeout=2.0):
    """Asks 127.0.0.1:port once; (rcode, answers), or None without a reply."""
    qid = random.randrange(1 << 16)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("127.0.0.1", port))
        s.send(build_query(name, qtype, qid))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                return None
            try:
                msg = s.recv(65535)
            except ConnectionRefusedError:
                return None     # not listening yet
            if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                return parse_reply(msg)
    finally:
        s.close()


# --------------------------------------------------------------------------
# the server


class DnsServer:
    """dnsmasq serving `records` on 127.0.0.1:<free port>."""

    def __init__(self, records=(), log_queries=True):
        self.options = []
        for r in records:
            self.options += [r] if isinstance(r, str) else list(r)
        self.log_queries = log_queries
        self.proc = None
        self.pid = None
        self.port = None
        self.tmp = tempfile.mkdtemp(prefix="sendmx-dns-")
        # dnsmasq started as root drops to "nobody" and still writes here.
        os.chmod(self.tmp, 0o755)
        self.logfile = os.path.join(self.tmp, "dnsmasq.log")
        self.marker = "sendmx-ready-%d.test" % random.randrange(1 << 30)
        self.start()

    @property
    def servers(self):
        """The dns_servers value for sendmx's config."""
        return "127.0.0.1:%d" % self.port

    def argv(self, port):
        argv = [find_dnsmasq(), "--keep-in-foreground", "--no-resolv", "--no-hosts",
                "--no-poll", "--conf-file=/dev/null", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=%s" % os.path.join(self.tmp, "dnsmasq.pid"),
                "--log-facility=-", "--no-negcache",
                # Every name not given here is NXDOMAIN; nothing leaves.
                "--local=/#/"]
        if self.log_queries:
            argv.append("--log-queries")
        argv.append("--host-record=%s,127.0.0.99" % self.marker)
        return argv + self.options

    def start(self):
        last = ""
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            with open(self.logfile, "ab") as log:
                # Its own process group: dnsmasq forks children (TCP
                # queries) that must go with it.
                self.proc = subprocess.Popen(self.argv(port), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log,
                                             start_new_session=True)
            self.pid = self.proc.pid
            if self._wait_ready(port):
                self.port = port
                return
            last = self.log()
            self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        raise RuntimeError("dnsmasq did not start: %s" % last[-2000:])

    def _wait_ready(self, port):
        """True once dnsmasq answers a real query; False if it exits or
        stays silent for READY_TIMEOUT seconds."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            # Only our dnsmasq knows the marker: another test's server
            # that took the port first (the port was free when chosen)
            # must not pass for it.
            r = query(port, self.marker, T_A, timeout=0.2)
            if r is not None:
                return r == (0, [(T_A, "127.0.0.99")])
        return False

    def stop(self):
        """Terminate by PID, wait, kill if it does not go. Idempotent."""
        p = self.proc
        if p is None:
            return
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        try:
            os.killpg(p.pid, signal.SIGKILL)   # whatever it forked
        except OSError:
            pass
        self.proc = None

    def close(self):
        self.stop()
        if not os.environ.get("SENDMX_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def log(self):
        """dnsmasq's log so far ("query[MX] example.test from 127.0.0.1")."""
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def queries(self, marker="sendmx-log-marker.invalid"):
        """[(type, name)] of every query so far. A marker query is asked
        and awaited in the log first, so nothing asked before is missing."""
        res = query(self.port, marker, T_A)
        if res is None:
            raise AssertionError("dnsmasq did not answer %s" % marker)
        deadline = time.monotonic() + STOP_TIMEOUT
        needle = "query[A] %s " % marker
        while needle not in self.log():
            if time.monotonic() > deadline:
                raise AssertionError("dnsmasq never logged %s" % marker)
            select.select([], [], [], 0.02)
        out = []
        for line in self.log().splitlines():
            i = line.find("query[")
            if i < 0:
                continue
            qtype, _, rest = line[i + 6:].partition("] ")
            name = rest.split(" ")[0]
            if name not in (marker, self.marker):
                out.append((qtype, name))
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# --------------------------------------------------------------------------
# self-test


def selftest():
    with DnsServer([mx("example.test", "mx2.example.test", 20),
                    mx("example.test", "mx1.example.test", 10),
                    a("mx1.example.test", "192.0.2.1"),
                    a("mx2.example.test", "2001:db8::2"),
                    null_mx("nomail.test"),
                    txt("empty.test", "no mail here")]) as dns:
        assert dns.port and dns.servers == "127.0.0.1:%d" % dns.port
        rcode, ans = query(dns.port, "example.test", T_MX)
        assert rcode == 0, rcode
        assert sorted(v for t, v in ans if t == T_MX) == \
            ["10 mx1.example.test", "20 mx2.example.test"], ans
        assert query(dns.port, "mx1.example.test", T_A) == (0, [(T_A, "192.0.2.1")])
        assert query(dns.port, "mx2.example.test", T_AAAA) == (0, [(T_AAAA, "2001:db8::2")])
        assert query(dns.port, "nomail.test", T_MX) == (0, [(T_MX, "0 ")])
        assert query(dns.port, "empty.test", T_MX) == (0, [])
        assert query(dns.port, "nope.test", T_A) == (3, [])
        assert query(dns.port, "www.example.com", T_A) == (3, []), "must not forward"
        qs = dns.queries()
        assert ("MX", "example.test") in qs and ("A", "nope.test") in qs, qs
        pid, tmp = dns.pid, dns.tmp
    try:
        os.kill(pid, 0)
        raise AssertionError("dnsmasq %d still running" % pid)
    except ProcessLookupError:
        pass
    assert not os.path.exists(tmp), tmp
    print("dnsserver.py selftest: ok")


if __name__ == "__main__":
    if sys.argv[1:] == ["--selftest"]:
        selftest()
    else:
        print("usage: %s --selftest" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
