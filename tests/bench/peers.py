"""peers.py - the programs under test: sendmx, msmtp, dma and nullmailer.

Each gets its own private configuration, made for one workload at a time
(relay to a sink on loopback, or direct MX delivery), and says how it is
invoked, how to wait until it has nothing left to deliver (dma and
nullmailer hand the message to a background process) and how to count
its instructions with callgrind.

dma reads only /etc/dma/dma.conf and nullmailer only /etc/nullmailer and
/var/spool/nullmailer: they run in bench.py's private mount namespace,
where those paths are overlays (see namespace.py). Without one (not
root) they are skipped.
"""

import contextlib
import os
import shutil
import stat
import subprocess

from benchlib import log, wait_for, stop_proc


class Skip(Exception):
    """A program or workload that cannot run here; the message says why."""


@contextlib.contextmanager
def without_setid(*paths):
    """valgrind refuses set-user/group-ID programs; run by root they do
    the same work without the bits (in the namespace's overlay only)."""
    saved = {}
    for p in paths:
        mode = stat.S_IMODE(os.stat(p).st_mode)
        saved[p] = mode
        os.chmod(p, mode & ~(stat.S_ISUID | stat.S_ISGID))
    try:
        yield
    finally:
        for p, mode in saved.items():
            os.chmod(p, mode)


class Program:
    name = "?"
    mx = False              # does direct MX delivery itself
    queue = False           # has a queue that B5 can fill and flush
    background = False      # the submitting process exits before delivery
    callgrind_user = []     # a prefix that runs the callgrind run as another user
    is_sendmx = False

    def __init__(self, ctx):
        self.ctx = ctx
        self.dir = os.path.join(ctx.tmp, self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.skip = self.check()

    def check(self):
        """None when the program can run, else the reason it cannot."""
        return None

    def configure_relay(self, port, host="127.0.0.1"):
        raise NotImplementedError

    def configure_mx(self, dns_port, mx_port):
        raise Skip("%s has no direct MX delivery" % self.name)

    def submit(self, sender, rcpts, foreground=False):
        """argv that reads one message on stdin and delivers it."""
        raise NotImplementedError

    def start(self):
        """Starts a delivery daemon, if the program has one."""

    def stop(self):
        pass

    def idle(self):
        """True when nothing is waiting to be delivered."""
        return True

    def wait_idle(self, timeout):
        return bool(wait_for(self.idle, timeout))

    def callgrind(self, sender, rcpts, msg, outdir, prefix, wait_delivered):
        """Runs one submission under callgrind; the callgrind files are
        outdir/prefix.<pid>. wait_delivered() waits for the sink."""
        argv = self.callgrind_user + [
            "valgrind", "--tool=callgrind", "--trace-children=yes", "--vgdb=no",
            "--callgrind-out-file=%s/%s.%%p" % (outdir, prefix)]
        argv += self.submit(sender, rcpts, foreground=True)
        with open(msg, "rb") as stdin:
            r = subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            own = [ln for ln in r.stderr.decode("utf-8", "replace").splitlines()
                   if not ln.startswith("==")]
            raise OSError("exit %d: %s" % (r.returncode, " / ".join(own[-3:])))
        wait_delivered()
        return None         # processes left out of the sum: none

    @staticmethod
    def write(path, text, mode=0o644):
        # Unlink first: in an overlay, the lower file may be a symlink to
        # a path outside it (/etc/resolv.conf), which must not be written.
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)


# --------------------------------------------------------------------------


class Sendmx(Program):
    name = "sendmx"
    mx = True
    queue = True
    is_sendmx = True

    def __init__(self, ctx, name="sendmx", binary=None):
        # Other builds of sendmx (bench.py --also) get their own names.
        self.name = name
        self.binary = binary or ctx.sendmx
        super().__init__(ctx)

    def check(self):
        if not os.access(self.binary, os.X_OK):
            return "%s not built" % self.binary
        return None

    def _common(self):
        q = os.path.join(self.dir, "queue")
        t = os.path.join(self.dir, "tmp")
        os.makedirs(q, exist_ok=True)
        os.makedirs(t, exist_ok=True)
        self.queue_dir = q
        return ('hostname = "bench.test"\nsyslog = false\n'
                'queue_dir = "%s"\ntemp_dir = "%s"\n' % (q, t))

    def configure_relay(self, port, host="127.0.0.1", extra=""):
        self.conf = os.path.join(self.dir, "sendmx.conf")
        self.write(self.conf, self._common() + extra +
                   'relay {\n  host = "%s"\n  port = %d\n  tls = none\n}\n' % (host, port))

    def configure_mx(self, dns_port, mx_port, extra=""):
        self.conf = os.path.join(self.dir, "sendmx.conf")
        self.write(self.conf, self._common() + extra +
                   'dns_servers = "127.0.0.1:%d"\nmx_port = %d\n'
                   'allow_loopback_mx = true\nmx_tls = none\n' % (dns_port, mx_port))

    def submit(self, sender, rcpts, foreground=False):
        return [self.binary, "-C", self.conf, "-f", sender] + list(rcpts)

    def enqueue(self, sender, rcpts):
        return [self.binary, "-C", self.conf, "-odq", "-f", sender] + list(rcpts)

    def flush(self):
        return [self.binary, "-C", self.conf, "-q"]

    def queued(self):
        return sum(1 for n in os.listdir(self.queue_dir) if n.endswith(".c"))


class Msmtp(Program):
    name = "msmtp"

    def check(self):
        self.binary = shutil.which("msmtp")
        if not self.binary:
            return "msmtp not installed (apt-get install msmtp)"
        return None

    def configure_relay(self, port, host="127.0.0.1"):
        self.conf = os.path.join(self.dir, "msmtprc")
        self.write(self.conf, "defaults\nauth off\ntls off\n"
                   "account default\nhost %s\nport %d\n"
                   "from bench@bench.test\ndomain bench.test\n" % (host, port), 0o600)

    def submit(self, sender, rcpts, foreground=False):
        return [self.binary, "-C", self.conf, "-f", sender] + list(rcpts)


class Dma(Program):
    name = "dma"
    mx = True
    background = True

    def check(self):
        if not self.ctx.namespace:
            return "needs root: dma reads only /etc/dma/dma.conf (private mount namespace)"
        if not os.path.exists("/usr/sbin/dma"):
            return "dma not unpacked (%s)" % self.ctx.tool_status.get("dma", "?")
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        shutil.chown(self.spool, "root", "mail")
        os.chmod(self.spool, 0o2775)
        os.makedirs("/etc/dma", exist_ok=True)
        self.write("/etc/aliases", "")
        return None

    def _conf(self, lines):
        self.write("/etc/dma/dma.conf",
                   "SPOOLDIR %s\nMAILNAME bench.test\n%s" % (self.spool, lines))

    def configure_relay(self, port, host="127.0.0.1"):
        self._conf("SMARTHOST %s\nPORT %d\n" % (host, port))

    def configure_mx(self, dns_port, mx_port):
        if dns_port != 53:
            raise Skip("dma resolves through /etc/resolv.conf: needs DNS on port 53")
        self._conf("PORT %d\n" % mx_port)

    def submit(self, sender, rcpts, foreground=False):
        # -D: deliver in the foreground (else dma forks a daemon and exits).
        return ["/usr/sbin/dma"] + (["-D"] if foreground else []) + \
            ["-f", sender] + list(rcpts)

    def idle(self):
        return not os.listdir(self.spool)

    # dma started by root switches to user mail, after callgrind has
    # opened its output file as root: run it as mail from the start.
    callgrind_user = ["setpriv", "--reuid=mail", "--regid=mail", "--init-groups"]

    def callgrind(self, *args):
        with without_setid("/usr/sbin/dma"):
            return super().callgrind(*args)


class Nullmailer(Program):
    name = "nullmailer"
    background = True
    queue = True
    SPOOL = "/var/spool/nullmailer"

    def check(self):
        if not self.ctx.namespace:
            return ("needs root: nullmailer uses only /etc/nullmailer and "
                    "/var/spool/nullmailer (private mount namespace)")
        if not os.path.exists("/usr/sbin/nullmailer-send"):
            return "nullmailer not unpacked (%s)" % self.ctx.tool_status.get("nullmailer", "?")
        os.makedirs("/etc/nullmailer", exist_ok=True)
        self.write("/etc/mailname", "bench.test\n")
        if os.path.isdir(self.SPOOL):
            shutil.rmtree(self.SPOOL)
        for d in ("", "queue", "tmp", "failed"):
            p = os.path.join(self.SPOOL, d)
            os.makedirs(p, exist_ok=True)
            shutil.chown(p, "mail", "root")
            os.chmod(p, 0o750 if d else 0o755)
        trig = os.path.join(self.SPOOL, "trigger")
        os.mkfifo(trig)
        shutil.chown(trig, "mail", "root")
        os.chmod(trig, 0o622)
        self.daemon = None
        self.queue_dir = os.path.join(self.SPOOL, "queue")
        return None

    def configure_relay(self, port, host="127.0.0.1"):
        self.write("/etc/nullmailer/remotes", "%s smtp --port=%d\n" % (host, port))

    def submit(self, sender, rcpts, foreground=False):
        return ["/usr/sbin/sendmail", "-f", sender] + list(rcpts)

    def start(self):
        if self.daemon is None:
            self.daemon = subprocess.Popen(
                ["/usr/sbin/nullmailer-send"], stdin=subprocess.DEVNULL,
                stdout=open(os.path.join(self.dir, "send.log"), "ab"),
                stderr=subprocess.STDOUT)

    def stop(self):
        stop_proc(self.daemon)
        self.daemon = None

    def idle(self):
        return not os.listdir(os.path.join(self.SPOOL, "queue"))

    def queued(self):
        return len(os.listdir(os.path.join(self.SPOOL, "queue")))

    def flush(self):
        """One queue run that exits when the queue is empty (pausetime 0)."""
        return ["/usr/sbin/nullmailer-send"]

    def oneshot(self, on):
        p = "/etc/nullmailer/pausetime"
        if on:
            self.write(p, "0\n")
        elif os.path.exists(p):
            os.unlink(p)

    def callgrind(self, sender, rcpts, msg, outdir, prefix, wait_delivered):
        # The submission (sendmail -> nullmailer-inject -> nullmailer-queue),
        # then one one-shot queue run for the delivery (nullmailer-send runs
        # the smtp module); nullmailer-send itself is left out of the sum,
        # as a daemon it is not paid per message.
        with without_setid("/usr/sbin/nullmailer-queue"):
            return self._callgrind(sender, rcpts, msg, outdir, prefix, wait_delivered)

    def _callgrind(self, sender, rcpts, msg, outdir, prefix, wait_delivered):
        running = self.daemon is not None
        self.stop()
        vg = ["valgrind", "--tool=callgrind", "--trace-children=yes", "--vgdb=no",
              "--callgrind-out-file=%s/%s.%%p" % (outdir, prefix)]
        with open(msg, "rb") as stdin:
            subprocess.run(vg + self.submit(sender, rcpts), stdin=stdin,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True, timeout=120)
        self.oneshot(True)
        try:
            subprocess.run(vg + self.flush(), stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           check=True, timeout=120)
        finally:
            self.oneshot(False)
        wait_delivered()
        if running:
            self.start()
        return "nullmailer-send"


ALL = (Sendmx, Msmtp, Dma, Nullmailer)


def make_programs(ctx, only=None, variants=()):
    """The programs to measure: sendmx, the builds in variants
    [(name, binary)], then the peers; only: names to keep."""
    progs = [Sendmx(ctx)] + [Sendmx(ctx, name, binary) for name, binary in variants]
    progs += [cls(ctx) for cls in ALL if cls is not Sendmx]
    progs = [p for p in progs if not only or p.name in only]
    for p in progs:
        if p.skip:
            log("%s: skipped: %s" % (p.name, p.skip))
    return progs

