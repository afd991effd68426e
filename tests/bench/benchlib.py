"""benchlib.py - what the benchmark workloads share.

The receivers (Postfix's smtp-sink with its live counters, and the slow
recording server from tests/integration), a private dnsmasq, process timing
(wall clock, /usr/bin/time -v, callgrind) and the statistics.

Everything listens on 127.0.0.0/8 only and is stopped by PID. Waits poll
a condition with a deadline; nothing sleeps to "let a server start".
"""

import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time

STOP_TIMEOUT = 5.0


def log(msg):
    print("bench: %s" % msg, flush=True)


def now():
    return time.monotonic()


# --------------------------------------------------------------------------
# statistics


def percentile(values, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    v = sorted(values)
    if not v:
        return None
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summarize(values):
    """{"median", "p10", "p90", "n"} of a list of numbers (None: no data)."""
    values = [x for x in values if x is not None]
    if not values:
        return None
    return {"median": percentile(values, 50), "p10": percentile(values, 10),
            "p90": percentile(values, 90), "n": len(values)}


def cpu_busy(seconds=1.0):
    """The fraction of all CPUs busy over the next seconds (/proc/stat),
    whoever uses them: a benchmark on a busy machine measures the queue
    for the CPU, not the programs."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]          # total, idle + iowait
    try:
        t0, i0 = sample()
        time.sleep(seconds)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (i1 - i0) / (t1 - t0) if t1 > t0 else None


# --------------------------------------------------------------------------
# ports and readiness


def free_port(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(pred, timeout, step=0.001):
    """Polls pred() until it is true or timeout seconds pass; its value."""
    deadline = now() + timeout
    while True:
        v = pred()
        if v or now() > deadline:
            return v
        select.select([], [], [], step)


def smtp_probe(host, port, timeout=10.0):
    """True once a server on host:port greets and answers QUIT."""
    deadline = now() + timeout
    while now() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                f = s.makefile("rb")
                line = f.readline()
                while line[3:4] == b"-":
                    line = f.readline()
                if not line.startswith(b"220"):
                    return False
                s.sendall(b"QUIT\r\n")
                f.readline()
                return True
        except OSError:
            select.select([], [], [], 0.01)
    return False


def stop_proc(p):
    """SIGTERM by PID, then SIGKILL after STOP_TIMEOUT."""
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


# --------------------------------------------------------------------------
# smtp-sink


class Sink:
    """Postfix's smtp-sink on host:port. Its -c counters ("sess=N quit=N
    mesg=N" and a CR, printed when a session ends, on QUIT and on each
    final dot) are read live from a pipe and time-stamped, so "the
    receiver has the message" is the moment mesg went up.

    sess counts connections (once each has ended) and mesg transactions."""

    LINE = re.compile(rb"sess=(\d+) quit=(\d+) mesg=(\d+)")

    def __init__(self, tools, host="127.0.0.1", port=None, extra=()):
        self.host = host
        self.port = port or free_port(host)
        binary = os.path.join(tools, "postfix", "usr", "sbin", "smtp-sink")
        env = dict(os.environ,
                   LD_LIBRARY_PATH=os.path.join(tools, "postfix", "usr", "lib", "postfix"))
        argv = [binary, "-c"]
        if os.getuid() == 0:
            argv += ["-u", "nobody"]    # it refuses to run as root otherwise
        argv += list(extra) + ["%s:%d" % (self.host, self.port), "256"]
        self.cond = threading.Condition()
        self.sess = self.mesg = 0
        self.events = []                # (time, sess, mesg)
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        if not smtp_probe(self.host, self.port):
            err = self.proc.stderr.read1(4000) if self.proc.poll() is not None else b""
            self.stop()
            raise RuntimeError("smtp-sink did not start on %s:%d: %s"
                               % (self.host, self.port, err.decode("utf-8", "replace")))
        # The probe's own session: wait until it is counted.
        self.wait(lambda s, m: s >= 1, 10)

    def _read(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            t = now()
            buf += chunk
            *done, buf = re.split(rb"[\r\n]", buf)
            for rec in done:
                m = self.LINE.search(rec)
                if not m:
                    continue
                with self.cond:
                    self.sess, self.mesg = int(m.group(1)), int(m.group(3))
                    self.events.append((t, self.sess, self.mesg))
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def counts(self):
        with self.cond:
            return self.sess, self.mesg

    def wait(self, pred, timeout):
        """Waits until pred(sess, mesg); True, or False after timeout."""
        deadline = now() + timeout
        with self.cond:
            while not pred(self.sess, self.mesg):
                left = deadline - now()
                if left <= 0 or self.proc.poll() is not None:
                    return False
                self.cond.wait(left)
            return True

    def wait_mesg(self, n, timeout):
        """The time mesg first reached n, or None after timeout."""
        if not self.wait(lambda s, m: m >= n, timeout):
            return None
        with self.cond:
            for t, _, m in self.events:
                if m >= n:
                    return t
        return None

    def last_mesg_time(self):
        with self.cond:
            last = None
            prev = None
            for t, _, m in self.events:
                if prev is not None and m > prev:
                    last = t
                prev = m
            return last

    def cpu_seconds(self):
        """smtp-sink's CPU time so far (user + system), from /proc."""
        try:
            with open("/proc/%d/stat" % self.proc.pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        stop_proc(self.proc)


# --------------------------------------------------------------------------
# the slow recording server (tests/integration/smtpserver.py)


class SlowServer:
    """smtpserver.py --delay-ms on host:port: every reply, the greeting
    included, after delay_ms. Counts from its events.jsonl."""

    def __init__(self, srcdir, python, spool, host, port, delay_ms):
        os.makedirs(spool, exist_ok=True)
        self.spool = spool
        script = os.path.join(srcdir, "tests", "integration", "smtpserver.py")
        self.proc = subprocess.Popen(
            [python, script, "--spool", spool, "--host", host, "--port", str(port),
             "--delay-ms", str(delay_ms), "--pipelining"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=open(os.path.join(spool, "server.err"), "wb"),
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        self.host, self.port = host, port

    def wait_ready(self, timeout=20):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if r else b""
        if not line.startswith(b"READY"):
            self.stop()
            raise RuntimeError("smtpserver.py on %s did not start: %s" % (
                self.host, open(os.path.join(self.spool, "server.err"), "rb").read()[-500:]))

    def received(self):
        """Number of accepted messages (one .json each)."""
        return sum(1 for n in os.listdir(self.spool) if n.endswith(".json"))

    def stop(self):
        stop_proc(self.proc)


# --------------------------------------------------------------------------
# dnsmasq


def dns_query(port, name, qtype=1, timeout=0.2):
    """One UDP query to 127.0.0.1:port; the rcode, or None without a reply."""
    qid = random.randrange(1 << 16)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode("ascii")
    q += b"\0" + struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("127.0.0.1", port))
        s.send(q)
        if not select.select([s], [], [], timeout)[0]:
            return None
        msg = s.recv(4096)
        if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
            return msg[3] & 0x0F
        return None
    except OSError:
        return None
    finally:
        s.close()


class Dns:
    """dnsmasq on 127.0.0.1:port answering only from the given records:
    mx is [(domain, host)], a is [(host, ip)]; every other name NXDOMAIN."""

    def __init__(self, workdir, port, mx=(), a=()):
        self.port = port
        os.makedirs(workdir, exist_ok=True)
        argv = ["dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
                "--no-poll", "--conf-file=/dev/null", "--port=%d" % port,
                "--listen-address=127.0.0.1", "--bind-interfaces",
                "--pid-file=%s" % os.path.join(workdir, "dnsmasq.pid"),
                "--log-facility=%s" % os.path.join(workdir, "dnsmasq.log"),
                "--local=/#/"]
        argv += ["--mx-host=%s,%s,10" % (d, h) for d, h in mx]
        argv += ["--host-record=%s,%s" % (h, ip) for h, ip in a]
        os.chmod(workdir, 0o755)      # dnsmasq drops to nobody as root
        for d in ("/usr/sbin", "/sbin"):
            if os.access(os.path.join(d, "dnsmasq"), os.X_OK):
                argv[0] = os.path.join(d, "dnsmasq")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(workdir, "dnsmasq.err"), "wb"))
        if not wait_for(lambda: self.proc.poll() is not None or
                        dns_query(port, "ready.invalid") is not None, 10, 0.01) \
                or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("dnsmasq did not start on port %d: %s" % (
                port, open(os.path.join(workdir, "dnsmasq.err"), "rb").read()[-500:]))

    def stop(self):
        stop_proc(self.proc)


# --------------------------------------------------------------------------
# running the programs


def spawn(argv, stdin_path=None, env=None, stderr_path=None):
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                                stderr=err, env=env)
    finally:
        if stdin_path:
            stdin.close()
        if stderr_path:
            err.close()


def time_v(path):
    """(peak RSS in KiB, CPU seconds: user + system) from a
    /usr/bin/time -v -o file; (None, None) without one."""
    rss = cpu = None
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line.startswith("Maximum resident set size"):
                    rss = int(line.rsplit(":", 1)[1])
                elif line.startswith(("User time", "System time")):
                    cpu = (cpu or 0.0) + float(line.rsplit(":", 1)[1])
    except (OSError, ValueError):
        pass
    return rss, cpu


def callgrind_total(outdir, prefix, exclude=None):
    """Sum of the instruction counts (Ir) in outdir/prefix.* callgrind
    files, but those of a command containing exclude; and [(command, Ir)]
    of every file."""
    total, cmds = 0, []
    for name in sorted(os.listdir(outdir)):
        if not name.startswith(prefix + "."):
            continue
        with open(os.path.join(outdir, name), errors="replace") as f:
            cmd = ""
            n = None
            for line in f:
                if line.startswith("cmd:"):
                    cmd = line[4:].strip()
                elif line.startswith("summary:") or line.startswith("totals:"):
                    n = int(line.split()[1])
            if n is not None:
                if not (exclude and exclude in cmd):
                    total += n
                cmds.append((cmd, n))
    return total, cmds
