"""A tiny TAP harness for sendmx's integration tests.

A test file defines ``test_*(t)`` functions and ends with::

    if __name__ == "__main__":
        harness.main()

Each test gets a fresh ``Ctx`` ``t``: a private temp directory, SMTP servers
it starts with ``t.server(...)`` (stopped by PID when the test ends, pass or
fail), configs written mode 0600, and ``t.sendmx(...)`` to run the binary
under test with a timeout. A failing test prints the traceback, every sendmx
command it ran with its exit code and stderr, and the servers' stderr as TAP
``#`` diagnostics.

Environment: SENDMX (the binary; default ../../sendmx from here),
SENDMX_SRCDIR (source tree, to find smtpserver.py), SENDMX_PYTHON (an
interpreter with aiosmtpd, when the one running the tests has none),
SENDMX_KEEP_TMP=1 (keep temp directories for inspection).
"""

import atexit
import base64
import hashlib
import importlib.util
import inspect
import json
import os
import pwd
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("SENDMX_SRCDIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SENDMX = os.environ.get("SENDMX") or os.path.normpath(os.path.join(HERE, "..", "..", "sendmx"))
SERVER_SCRIPT = os.path.join(SRCDIR, "tests", "integration", "smtpserver.py")
if not os.path.exists(SERVER_SCRIPT):
    SERVER_SCRIPT = os.path.join(HERE, "smtpserver.py")

SENDMX_TIMEOUT = 60       # seconds for one sendmx run
READY_TIMEOUT = 20        # seconds for a server to print READY
STOP_TIMEOUT = 5          # seconds between terminate and kill
HOSTNAME = "test.example.org"
LOGIN = pwd.getpwuid(os.getuid()).pw_name

_run_tmp = None           # per-process directory for certificates
_certs = {}
_server_python = None


class Skip(Exception):
    """Raise to report the test as skipped (``ok N - name # SKIP why``)."""


class Bail(Exception):
    """Raise to stop the whole file (``Bail out! why``)."""


# --------------------------------------------------------------------------
# small assertion helpers with useful messages


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def eq(actual, expected, what="value"):
    if actual != expected:
        raise AssertionError("%s: got %r, expected %r" % (what, actual, expected))


def contains(haystack, needle, what="output"):
    if needle not in haystack:
        raise AssertionError("%s does not contain %r:\n%s" % (what, needle, _clip(haystack)))


def lacks(haystack, needle, what="output"):
    if needle in haystack:
        raise AssertionError("%s must not contain %r:\n%s" % (what, needle, _clip(haystack)))


def matches(haystack, pattern, what="output", flags=re.M):
    m = re.search(pattern, haystack, flags)
    if not m:
        raise AssertionError("%s does not match /%s/:\n%s" % (what, pattern, _clip(haystack)))
    return m


def _clip(s, limit=4000):
    if isinstance(s, bytes):
        s = s.decode("latin-1")
    return s if len(s) <= limit else s[:limit] + "\n[... %d more characters]" % (len(s) - limit)


def crlf(data):
    """Normalise line ends to CRLF the way sendmx must (LF or CRLF in, CRLF out)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


# --------------------------------------------------------------------------
# received messages


class Message:
    """One message as the test server received it."""

    def __init__(self, json_path):
        with open(json_path) as f:
            self.meta = json.load(f)
        self.path = json_path[:-len(".json")] + ".eml"
        self._data = None

    def __getattr__(self, name):
        try:
            return self.__dict__["meta"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self):
        return "<Message %s from=%r to=%r size=%d>" % (
            os.path.basename(self.path), self.mail_from, self.rcpt_tos, self.size)

    @property
    def data(self):
        if self._data is None:
            with open(self.path, "rb") as f:
                self._data = f.read()
        return self._data

    def split(self):
        """(header block bytes without the blank line, body bytes)."""
        d = self.data
        if d.startswith(b"\r\n"):
            return b"", d[2:]
        head, sep, body = d.partition(b"\r\n\r\n")
        if not sep:
            return d, b""
        return head + b"\r\n", body

    @property
    def body(self):
        return self.split()[1]

    @property
    def headers(self):
        """[(name, raw value)] in order; folded fields unfolded (CRLF removed)."""
        head = self.split()[0].decode("latin-1")
        fields = []
        for line in head.split("\r\n"):
            if not line:
                continue
            if line[0] in " \t" and fields:
                fields[-1][1] += line
            else:
                name, _, value = line.partition(":")
                fields.append([name, value])
        return [(n, v.strip()) for n, v in fields]

    def header(self, name):
        """All values of a header field (case-insensitive name)."""
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def one_header(self, name):
        vals = self.header(name)
        check(len(vals) == 1, "expected exactly one %s: header, got %r in:\n%s"
              % (name, vals, _clip(self.split()[0])))
        return vals[0]


# --------------------------------------------------------------------------
# the SMTP test server


def sendmx_is_wrapper():
    """True when SENDMX is a script around the binary (make
    check-valgrind): it is then many times slower, and tests skip what
    only holds at full speed."""
    try:
        with open(SENDMX, "rb") as f:
            return f.read(2) == b"#!"
    except OSError:
        return False


def server_python():
    """An interpreter that can import aiosmtpd (Debian's python3-aiosmtpd
    lives in /usr/bin/python3's path, which a pyenv python3 lacks)."""
    global _server_python
    if _server_python:
        return _server_python
    candidates = []
    if os.environ.get("SENDMX_PYTHON"):
        candidates.append(os.environ["SENDMX_PYTHON"])
    if importlib.util.find_spec("aiosmtpd") is not None:
        candidates.append(sys.executable)
    candidates += ["/usr/bin/python3", "/usr/local/bin/python3", "python3"]
    for c in candidates:
        try:
            r = subprocess.run([c, "-c", "import aiosmtpd.smtp"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if r.returncode == 0:
            _server_python = c
            return c
    raise Bail("no python3 with aiosmtpd found (Debian: apt-get install python3-aiosmtpd)")


class Server:
    """A running smtpserver.py; see its --help for the options."""

    def __init__(self, spool, errfile, **opts):
        self.spool = spool
        self.errfile = errfile
        self.opts = opts
        argv = [server_python(), SERVER_SCRIPT, "--spool", spool]
        for key, val in opts.items():
            flag = "--" + key.replace("_", "-")
            if val is None or val is False:
                continue
            if val is True:
                argv.append(flag)
            elif key == "rcpt_reply":
                for addr, reply in val.items():
                    argv += [flag, "%s=%s" % (addr, reply)]
            elif isinstance(val, (list, tuple)):
                argv += [flag] + [str(v) for v in val]
            else:
                argv += [flag, str(val)]
        self.argv = argv
        with open(errfile, "ab") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=err)
        self.pid = self.proc.pid
        try:
            self.port = self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        """Read the READY line from the pipe; no sleeping, no polling the port."""
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + READY_TIMEOUT
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("smtpserver.py printed no READY line in %ds: %s"
                                         % (READY_TIMEOUT, self.stderr()))
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait()
                    raise AssertionError("smtpserver.py exited (%s) before READY: %s"
                                         % (self.proc.returncode, self.stderr()))
                buf += chunk
        m = re.match(rb"READY (\d+)\n", buf)
        if not m:
            raise AssertionError("smtpserver.py said %r instead of READY <port>" % buf)
        return int(m.group(1))

    def stderr(self):
        try:
            with open(self.errfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """Terminate by PID, wait, kill if it does not go."""
        p = self.proc
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if p.stdout:
            p.stdout.close()

    def messages(self):
        """Accepted messages in arrival order."""
        names = sorted(n for n in os.listdir(self.spool) if n.endswith(".json"))
        return [Message(os.path.join(self.spool, n)) for n in names]

    def only_message(self):
        msgs = self.messages()
        check(len(msgs) == 1, "expected exactly one message at the server, got %d: %r"
              % (len(msgs), msgs))
        return msgs[0]

    def events(self, kind=None):
        path = os.path.join(self.spool, "events.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            evs = [json.loads(line) for line in f if line.strip()]
        return [e for e in evs if kind is None or e["event"] == kind]

    def connections(self):
        return len(self.events("connect"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


def make_cert(name="localhost", san="DNS:localhost,IP:127.0.0.1"):
    """A self-signed certificate and key, made once per test process."""
    global _run_tmp
    key = (name, san)
    if key in _certs:
        return _certs[key]
    if _run_tmp is None:
        _run_tmp = tempfile.mkdtemp(prefix="sendmx-certs-")
        atexit.register(shutil.rmtree, _run_tmp, True)
    n = len(_certs)
    cert = os.path.join(_run_tmp, "cert%d.pem" % n)
    keyf = os.path.join(_run_tmp, "key%d.pem" % n)
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-subj", "/CN=" + name, "-addext", "subjectAltName=" + san,
                        "-keyout", keyf, "-out", cert, "-days", "2"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise Bail("openssl req failed: %s" % r.stdout.decode("utf-8", "replace"))
    _certs[key] = (cert, keyf)
    return cert, keyf


# --------------------------------------------------------------------------
# running sendmx


class Result:
    def __init__(self, argv, code, out, err):
        self.argv = argv
        self.code = code
        self.out_bytes = out
        self.err_bytes = err
        self.out = out.decode("utf-8", "replace")
        self.err = err.decode("utf-8", "replace")

    def __repr__(self):
        return "<Result exit=%s>" % self.code


def write_config(path, text, mode=0o600):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def sendmx_env(extra=None):
    env = dict(os.environ)
    # sendmx's default sender is login@hostname: make the login unambiguous.
    env["LOGNAME"] = LOGIN
    env["USER"] = LOGIN
    env.setdefault("LC_ALL", "C")
    if extra:
        env.update(extra)
    return env


class Ctx:
    """Per-test state: temp dir, servers, sendmx runs; cleaned up by close()."""

    def __init__(self, name):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="sendmx-it-%s-" % name)
        self.log_path = os.path.join(self.tmp, "sendmx.log")
        self.servers = []
        self.cleanups = []      # callables run at the end (other servers)
        self.procs = []
        self.runs = []
        self._nserver = 0

    # servers ---------------------------------------------------------------
    def server(self, **opts):
        """Start smtpserver.py. Keyword options map to its flags:
        starttls=True (or (cert, key)), implicit_tls=True, require_starttls,
        auth="PLAIN", user, password, auth_require_tls, auth_required,
        rcpt_reply={addr: reply}, mail_reply, data_reply, data_drop,
        greeting, greeting_delay, pipelining."""
        for k in ("starttls", "implicit_tls"):
            if opts.get(k) is True:
                opts[k] = make_cert()
        self._nserver += 1
        spool = os.path.join(self.tmp, "spool%d" % self._nserver)
        os.mkdir(spool)
        errfile = os.path.join(self.tmp, "server%d.err" % self._nserver)
        srv = Server(spool, errfile, **opts)
        self.servers.append(srv)
        return srv

    # files -----------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, data, mode=0o600):
        p = self.path(name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        os.chmod(p, mode)
        return p

    def config(self, text, name="sendmx.conf", mode=0o600):
        return write_config(self.path(name), text, mode)

    def relay_config(self, server=None, *, port=None, host="127.0.0.1", tls="none",
                     relay_extra="", extra="", relay=True, name="sendmx.conf",
                     mode=0o600):
        """The standard config: hostname test.example.org, a private log
        file, no syslog, and a relay section pointing at ``server``."""
        lines = ['hostname = "%s"' % HOSTNAME,
                 'log_file = "%s"' % self.log_path,
                 'queue_dir = "%s"' % self.queue_dir(),
                 # A null client: mail for local names goes to the relay
                 # too (tests of local delivery set it themselves).
                 "local_delivery = none",
                 "syslog = false"]
        if extra:
            lines.append(extra.strip("\n"))
        if relay:
            if port is None:
                port = server.port
            lines.append("relay {")
            lines.append('  host = "%s"' % host)
            lines.append("  port = %d" % port)
            lines.append("  tls = %s" % tls)
            if relay_extra:
                lines += ["  " + l.strip() for l in relay_extra.strip("\n").split("\n")]
            lines.append("}")
        return self.config("\n".join(lines) + "\n", name=name, mode=mode)

    def queue_dir(self):
        """This test's queue directory (created on first use)."""
        d = self.path("queue")
        os.makedirs(d, exist_ok=True)
        return d

    def queued_ids(self):
        """Ids of the messages in this test's queue (control files)."""
        d = self.queue_dir()
        return sorted(f[:-2] for f in os.listdir(d) if f.endswith(".c"))

    def expect_queued(self, r, n=1):
        """sendmx said yes (exit 0) because the message is safely queued:
        stderr says so, and the queue holds n messages."""
        self.expect_exit(r, 0)
        if "queued as" not in r.err:
            raise AssertionError("stderr does not say the message was queued: %r" % r.err)
        ids = self.queued_ids()
        if len(ids) != n:
            raise AssertionError("queue holds %d messages, expected %d: %r" % (len(ids), n, ids))
        return ids

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def link(self, name):
        """A symlink to the sendmx binary under another name (sendmail, mailq)."""
        d = self.path("bin")
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, name)
        if not os.path.lexists(p):
            os.symlink(SENDMX, p)
        return p

    # sendmx ----------------------------------------------------------------
    def sendmx(self, args, input=b"", config=None, argv0=None, stdin_path=None,
               timeout=SENDMX_TIMEOUT, env=None):
        """Run sendmx [-C config] args; return Result(code, out, err)."""
        argv = [argv0 or SENDMX]
        if config:
            argv += ["-C", config]
        argv += list(args)
        if isinstance(input, str):
            input = input.encode()
        stdin_f = open(stdin_path, "rb") if stdin_path else None
        try:
            p = subprocess.run(argv, input=None if stdin_f else input,
                               stdin=stdin_f, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout,
                               env=sendmx_env(env), cwd=self.tmp)
        except subprocess.TimeoutExpired as e:
            r = Result(argv, None, e.stdout or b"", e.stderr or b"")
            self.runs.append(r)
            raise AssertionError("sendmx did not finish within %ds" % timeout)
        finally:
            if stdin_f:
                stdin_f.close()
        r = Result(argv, p.returncode, p.stdout, p.stderr)
        self.runs.append(r)
        return r

    def run(self, argv, input=b"", timeout=SENDMX_TIMEOUT, env=None):
        """Run another program (php, a shell) that runs sendmx; recorded like
        sendmx runs for the diagnostics."""
        if isinstance(input, str):
            input = input.encode()
        try:
            p = subprocess.run(argv, input=input, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=timeout,
                               env=sendmx_env(env), cwd=self.tmp)
        except subprocess.TimeoutExpired as e:
            self.runs.append(Result(argv, None, e.stdout or b"", e.stderr or b""))
            raise AssertionError("%s did not finish within %ds" % (argv[0], timeout))
        r = Result(argv, p.returncode, p.stdout, p.stderr)
        self.runs.append(r)
        return r

    def popen_sendmx(self, args, config=None, argv0=None, **kw):
        """Start sendmx with pipes (for -bs); killed at cleanup if still running."""
        argv = [argv0 or SENDMX]
        if config:
            argv += ["-C", config]
        argv += list(args)
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=sendmx_env(), cwd=self.tmp, **kw)
        self.procs.append(p)
        return p

    def expect_exit(self, r, code):
        if r.code != code:
            raise AssertionError("sendmx exited %s, expected %s\nstderr: %s"
                                 % (r.code, code, _clip(r.err)))

    # cleanup ---------------------------------------------------------------
    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            try:
                p.communicate(timeout=STOP_TIMEOUT)
            except Exception:
                pass
        for s in self.servers:
            s.stop()
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception:
                pass
        if not os.environ.get("SENDMX_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def diagnostics(self):
        out = []
        for r in self.runs:
            out.append("$ " + " ".join(_shquote(a) for a in r.argv))
            out.append("exit: %s" % r.code)
            if r.out:
                out.append("stdout: " + _clip(r.out, 3000))
            if r.err:
                out.append("stderr: " + _clip(r.err, 3000))
        for s in self.servers:
            err = s.stderr().strip()
            if err:
                out.append("server %d stderr: %s" % (s.pid, _clip(err, 3000)))
        log = self.log_text()
        if log:
            out.append("sendmx.log: " + _clip(log, 3000))
        if os.environ.get("SENDMX_KEEP_TMP"):
            out.append("kept: " + self.tmp)
        return "\n".join(out)


def _shquote(s):
    if re.fullmatch(r"[\w@%+=:,./-]+", s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------
# TAP runner


def _diag(text):
    for line in text.rstrip("\n").split("\n"):
        print("# " + line)


def main(module=None):
    if module is None:
        module = sys.modules["__main__"]
    tests = [(name, fn) for name, fn in vars(module).items()
             if name.startswith("test_") and inspect.isfunction(fn)
             and fn.__module__ == module.__name__]
    tests.sort(key=lambda item: item[1].__code__.co_firstlineno)
    only = sys.argv[1:]
    if only:
        tests = [t for t in tests if any(o in t[0] for o in only)]

    if not (os.path.isfile(SENDMX) and os.access(SENDMX, os.X_OK)):
        print("Bail out! sendmx binary not found or not executable: %s (set SENDMX)" % SENDMX)
        sys.stdout.flush()
        return sys.exit(1)
    try:
        server_python()
    except Bail as e:
        print("Bail out! %s" % e)
        return sys.exit(1)

    print("1..%d" % len(tests))
    sys.stdout.flush()
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        t = Ctx(name)
        start = time.monotonic()
        status, diag = "ok", None
        try:
            fn(t)
        except Skip as e:
            status = "skip:%s" % e
        except Bail as e:
            t.close()
            print("Bail out! %s" % e)
            sys.stdout.flush()
            return sys.exit(1)
        except BaseException as e:  # report, never abort the file
            if isinstance(e, KeyboardInterrupt):
                raise
            status = "not ok"
            diag = traceback.format_exc() + t.diagnostics()
        finally:
            try:
                t.close()
            except Exception:
                pass
        took = time.monotonic() - start
        if status.startswith("skip:"):
            print("ok %d - %s # SKIP %s" % (i, name, status[5:]))
        else:
            print("%s %d - %s" % (status, i, name))
            if diag:
                failed += 1
                _diag(diag)
        if os.environ.get("SENDMX_TIMING"):
            print("# %s took %.2fs" % (name, took))
        sys.stdout.flush()
    sys.exit(1 if failed else 0)
