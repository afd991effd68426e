#!/usr/bin/env python3
"""Validate a delivery status notification (RFC 3464 in an RFC 6522
multipart/report) as sendmx writes it, using Python's ``email`` package.

As a library::

    from check_dsn import parse_dsn, DSNError
    d = parse_dsn("/path/to/000001.eml")   # raises DSNError when invalid
    d["recipients"][0]["action"]           # "failed"

As a program: ``check_dsn.py FILE`` prints the parsed DSN as JSON and exits
0, or prints the problem and exits 1.

What is checked:

* wire form: every line ends in CRLF, no line is longer than 998 octets;
* header: From MAILER-DAEMON, To, Subject, Date, Message-ID, MIME-Version,
  Auto-Submitted (RFC 3834), Content-Type multipart/report with
  report-type=delivery-status and a boundary;
* parts: text/plain first, message/delivery-status second, and optionally
  text/rfc822-headers or message/rfc822 third; nothing else;
* delivery-status: per-message Reporting-MTA; per recipient Final-Recipient,
  Action (failed/delayed/delivered/relayed/expanded), Status (RFC 3463 code
  whose class agrees with the action), Will-Retry-Until only when delayed.

The returned dict (field names are lower case)::

    {"headers": {"from": ..., "to": ..., "subject": ..., ...},
     "boundary": str, "report_type": "delivery-status",
     "text": str,                        # the human-readable part
     "per_message": {"reporting-mta": ..., ...},
     "recipients": [{"final-recipient": ..., "action": ..., "status": ...,
                     "address": "bob@example.org", ...}, ...],
     "returned_type": "text/rfc822-headers" | "message/rfc822" | None,
     "returned": bytes | None,           # the third part's body, raw
     "returned_headers": [(name, value), ...]}
"""

import email
import email.policy
import json
import re
import sys

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
STATUS_RE = re.compile(r"^([245])\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(\s*\(.*\))?$")


class DSNError(Exception):
    """The file is not a valid DSN; the message says why."""


def _need(cond, msg):
    if not cond:
        raise DSNError(msg)


def check_wire(raw):
    """CRLF line ends only, lines of at most 998 octets (RFC 5322 2.1.1)."""
    _need(raw.endswith(b"\r\n"), "the message does not end with CRLF")
    for n, line in enumerate(raw.split(b"\r\n")[:-1], 1):
        _need(b"\n" not in line and b"\r" not in line,
              "line %d has a bare CR or LF: %r" % (n, line[:80]))
        _need(len(line) <= 998, "line %d is %d octets long" % (n, len(line)))


def _fields(msg):
    """{lower-case name: value} of a Message's fields; unfolded."""
    out = {}
    for name, value in msg.raw_items():
        key = name.lower()
        _need(key not in out, "field %s appears twice" % name)
        # compat32 keeps 8-bit octets as surrogates: SMTPUTF8 addresses.
        value = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        out[key] = re.sub(r"\r?\n[ \t]", " ", value).strip()
    return out


def _raw_part(raw, boundary, index):
    """Body octets of part index (0-based), without its part header."""
    delim = b"\r\n--" + boundary.encode()
    pieces = (b"\r\n" + raw).split(delim)
    # pieces[0] is header + preamble; the last one starts with "--".
    parts = pieces[1:-1]
    _need(pieces[-1].startswith(b"--"), "no close delimiter --%s--" % boundary)
    part = parts[index]
    _need(part.startswith(b"\r\n"), "delimiter line of part %d has trailing text" % index)
    head, sep, body = part[2:].partition(b"\r\n\r\n")
    _need(sep, "part %d has no empty line after its header" % index)
    return body


def parse_dsn(path):
    with open(path, "rb") as f:
        raw = f.read()
    check_wire(raw)
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    _need(not msg.defects, "message defects: %r" % msg.defects)
    headers = _fields(msg)
    for name in ("from", "to", "subject", "date", "message-id",
                 "mime-version", "auto-submitted", "content-type"):
        _need(name in headers, "no %s: field" % name)
    _need(headers["from"].lower().startswith("mailer-daemon@"),
          "From is not MAILER-DAEMON: %r" % headers["from"])
    _need(headers["auto-submitted"].lower() == "auto-replied",
          "Auto-Submitted: %r" % headers["auto-submitted"])
    _need(msg.get_content_type() == "multipart/report",
          "content type %s" % msg.get_content_type())
    report_type = msg.get_param("report-type")
    _need(report_type == "delivery-status", "report-type=%r" % report_type)
    boundary = msg.get_boundary()
    _need(boundary, "no boundary")

    parts = msg.get_payload()
    _need(isinstance(parts, list) and len(parts) in (2, 3),
          "expected 2 or 3 parts, got %r" % (
              len(parts) if isinstance(parts, list) else type(parts)))
    for i, p in enumerate(parts):
        _need(not p.defects, "part %d defects: %r" % (i + 1, p.defects))
    _need(parts[0].get_content_type() == "text/plain",
          "first part is %s" % parts[0].get_content_type())
    text = parts[0].get_payload(decode=True).decode(
        parts[0].get_content_charset() or "us-ascii")

    status = parts[1]
    _need(status.get_content_type() == "message/delivery-status",
          "second part is %s" % status.get_content_type())
    groups = status.get_payload()
    _need(isinstance(groups, list) and len(groups) >= 2,
          "delivery-status needs per-message fields and a recipient")
    per_message = _fields(groups[0])
    _need("reporting-mta" in per_message, "no Reporting-MTA")
    _need(per_message["reporting-mta"].lower().startswith("dns;"),
          "Reporting-MTA: %r" % per_message["reporting-mta"])
    recipients = []
    for n, g in enumerate(groups[1:], 1):
        r = _fields(g)
        for name in ("final-recipient", "action", "status"):
            _need(name in r, "recipient %d has no %s" % (n, name))
        typ, sep, addr = r["final-recipient"].partition(";")
        _need(sep and typ.strip(), "recipient %d: Final-Recipient %r"
              % (n, r["final-recipient"]))
        r["address"] = addr.strip()
        action = r["action"].lower()
        _need(action in ACTIONS, "recipient %d: Action %r" % (n, r["action"]))
        m = STATUS_RE.match(r["status"])
        _need(m, "recipient %d: Status %r" % (n, r["status"]))
        if action == "failed":
            _need(m.group(1) in "45", "failed with status %s" % r["status"])
        if action == "delayed":
            _need(m.group(1) == "4", "delayed with status %s" % r["status"])
        if "will-retry-until" in r:
            _need(action == "delayed", "Will-Retry-Until for a %s recipient" % action)
        if "diagnostic-code" in r:
            _need(";" in r["diagnostic-code"], "Diagnostic-Code without a type")
        recipients.append(r)

    returned_type = returned = None
    returned_headers = []
    if len(parts) == 3:
        returned_type = parts[2].get_content_type()
        _need(returned_type in ("text/rfc822-headers", "message/rfc822"),
              "third part is %s" % returned_type)
        returned = _raw_part(raw, boundary, 2)
        inner = email.message_from_bytes(returned, policy=email.policy.compat32)
        returned_headers = [(k, str(v)) for k, v in inner.items()]
        if returned_type == "text/rfc822-headers":
            _need(b"\r\n\r\n" not in returned.rstrip(b"\r\n") + b"\r\n",
                  "text/rfc822-headers holds a body")

    return {
        "headers": headers,
        "boundary": boundary,
        "report_type": report_type,
        "text": text,
        "per_message": per_message,
        "recipients": recipients,
        "returned_type": returned_type,
        "returned": returned,
        "returned_headers": returned_headers,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: check_dsn.py FILE", file=sys.stderr)
        return 2
    try:
        d = parse_dsn(argv[0])
    except (DSNError, OSError) as e:
        print("%s: not a valid DSN: %s" % (argv[0], e), file=sys.stderr)
        return 1
    if d["returned"] is not None:
        d["returned"] = d["returned"].decode("utf-8", "replace")
    json.dump(d, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
