#!/usr/bin/env python3
"""The setgid model: a copy of sendmx made setgid to the mail group, run
as an ordinary user (nobody). A config file the caller chose (-C) makes
sendmx give up the group before it reads anything, so the group's
secrets stay out of reach."""

import grp
import os
import pwd
import shutil
import stat

import harness
from harness import check, contains, eq, lacks, matches

GROUP = "mail"


def setgid_copy(t):
    if harness.sendmx_is_wrapper():
        raise harness.Skip("sendmx is a wrapper script (valgrind): a setgid copy means nothing")
    if os.getuid() != 0:
        raise harness.Skip("needs root to make a setgid copy and switch users")
    try:
        gid = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        raise harness.Skip("no group %s" % GROUP)
    os.chmod(t.tmp, 0o755)          # nobody must reach the files below
    d = t.path("bin")
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, "sendmx")
    shutil.copy2(harness.SENDMX, exe)
    os.chown(exe, 0, gid)
    os.chmod(exe, 0o2755)
    eq(os.stat(exe).st_mode & 0o7777, 0o2755, "setgid copy")
    return exe, gid


def as_nobody():
    pw = pwd.getpwnam("nobody")

    def drop():
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
    return drop


def run_as_nobody(t, argv, data=b""):
    import subprocess
    p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       preexec_fn=as_nobody(), timeout=30, cwd="/",
                       env={"PATH": "/usr/bin:/bin", "USER": "root", "LOGNAME": "root"})
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def test_chosen_config_cannot_read_group_secret(t):
    exe, gid = setgid_copy(t)
    srv = t.server()
    secret = t.write("relay.secret", "group-only-secret\n", mode=0o640)
    os.chown(secret, 0, gid)
    conf = t.relay_config(srv, relay_extra='user = "alice"\npassword_file = "%s"\n'
                          'allow_plaintext_auth = true' % secret, mode=0o644)
    code, out, err = run_as_nobody(t, [exe, "-C", conf, "bob@example.org"],
                                   b"Subject: steal\n\nx\n")
    eq(code, 78, "exit status (config error)")
    matches(err, r"(?i)%s.*permission denied" % secret, "stderr names the password file")
    lacks(err, "group-only-secret", "stderr")
    eq(srv.connections(), 0, "no connection was made")


def test_queue_needs_the_group(t):
    # The group-owned queue (2770) is out of reach once the group is
    # given up for -C: the message is not taken, and the caller is told.
    exe, gid = setgid_copy(t)
    srv = t.server()
    q = t.queue_dir()
    os.chown(q, 0, gid)
    os.chmod(q, 0o2770)
    conf = t.relay_config(srv, mode=0o644)
    code, out, err = run_as_nobody(t, [exe, "-C", conf, "bob@example.org"],
                                   b"Subject: q\n\nx\n")
    eq(code, 73, "exit status (queue directory)")
    contains(err, q, "stderr names the queue directory")
    eq(srv.connections(), 0, "nothing sent")


def test_identity_from_real_uid(t):
    exe, gid = setgid_copy(t)
    srv = t.server()
    q = t.queue_dir()
    os.chmod(q, 0o777)
    conf = t.relay_config(srv, mode=0o644)
    code, out, err = run_as_nobody(t, [exe, "-C", conf, "bob@example.org"],
                                   b"Subject: who\n\nx\n")
    eq(code, 0, "exit status: %s" % err)
    m = srv.only_message()
    eq(m.mail_from, "nobody@%s" % harness.HOSTNAME, "envelope sender from the uid, not $USER")


if __name__ == "__main__":
    harness.main()
