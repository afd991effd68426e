#!/usr/bin/env bash
# contrib/quickstart.sh - watch sendmx deliver one message, end to end.
#
#   bash contrib/quickstart.sh
#
# Installs what the build needs (Debian 12, as root, only what is missing),
# builds ./sendmx, starts a local SMTP receiver on 127.0.0.1 (a free port),
# relays a sample message to it with `sendmx -t -i`, and shows the exit code,
# the log lines and the message exactly as the receiver got it: Bcc gone,
# Date and Message-ID added. Everything it starts it stops; it exits with
# sendmx's exit code.
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1

DEPS=(build-essential autoconf automake pkg-config libconfuse-dev libc-ares-dev
      libssl-dev python3 python3-aiosmtpd openssl ca-certificates)

say() { printf '\n== %s\n' "$*"; }

install_deps() {
	local missing=() p
	command -v dpkg-query >/dev/null 2>&1 || return 0
	for p in "${DEPS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q 'install ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "${SENDMX_NO_APT:-}" = 1 ] || [ "$(id -u)" -ne 0 ]; then
		echo "quickstart: missing packages: ${missing[*]}" \
		     "(as root: apt-get install ${missing[*]})" >&2
		return 0
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"
}

build() {
	if [ ! -f Makefile ]; then
		say "configuring"
		autoreconf -fi && ./configure || return 1
	fi
	say "building sendmx"
	make -j2 sendmx
}

server_python() {
	local py
	for py in /usr/bin/python3 python3; do
		if "$py" -c 'import aiosmtpd.smtp' 2>/dev/null; then
			echo "$py"
			return 0
		fi
	done
	return 1
}

install_deps
build || { echo "quickstart: build failed" >&2; exit 1; }
py=$(server_python) || {
	echo "quickstart: no python3 with aiosmtpd (apt-get install python3-aiosmtpd)" >&2
	exit 1
}

work=$(mktemp -d "${TMPDIR:-/tmp}/sendmx-quickstart.XXXXXX") || exit 1
server_pid=
# shellcheck disable=SC2317  # called through the EXIT trap
cleanup() {
	if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
		kill -TERM "$server_pid"
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# The receiver prints "READY <port>" once it listens; read it through a
# FIFO instead of guessing with sleep.
mkdir "$work/spool"
mkfifo "$work/ready"
"$py" tests/integration/smtpserver.py --spool "$work/spool" --port 0 \
	>"$work/ready" 2>"$work/server.err" &
server_pid=$!
if ! read -r -t 20 word port <"$work/ready" || [ "$word" != READY ]; then
	echo "quickstart: the receiver did not start:" >&2
	cat "$work/server.err" >&2
	exit 1
fi
say "local SMTP receiver listening on 127.0.0.1:$port (pid $server_pid)"

conf="$work/sendmx.conf"
mkdir -p "$work/queue"
(umask 077 && cat >"$conf" <<EOF
# A relay without TLS is only sane on loopback, as here.
hostname = "quickstart.example.org"
log_file = "$work/sendmx.log"
queue_dir = "$work/queue"
syslog = false
relay {
  host = "127.0.0.1"
  port = $port
  tls = none
}
EOF
)
say "config ($conf)"
cat "$conf"

cat >"$work/message" <<'EOF'
From: Quick Start <quickstart@example.org>
To: Bob <bob@example.org>
Cc: carol@example.org
Bcc: dave@example.org
Subject: Hello from sendmx

This message went through sendmx to a local receiver.
The next line is a lone dot; with -i it does not end the message:
.
Bcc is gone from the headers, Date and Message-ID were added.
EOF
say "message given to sendmx"
cat "$work/message"

say "./sendmx -C $conf -t -i < message"
./sendmx -C "$conf" -t -i <"$work/message"
rc=$?
echo "sendmx exit code: $rc"

say "log ($work/sendmx.log)"
cat "$work/sendmx.log" 2>/dev/null || echo "(no log file)"

say "what the receiver got"
found=
for meta in "$work"/spool/*.json; do
	[ -e "$meta" ] || continue
	found=1
	"$py" - "$meta" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print("MAIL FROM:<%s>" % m["mail_from"])
for r in m["rcpt_tos"]:
    print("RCPT TO:<%s>" % r)
print("parameters: %s" % (" ".join(m["mail_options"]) or "-"))
print("DATA (%d octets, CRLF line ends):" % m["size"])
EOF
	tr -d '\r' <"${meta%.json}.eml"
done
[ -n "$found" ] || echo "(nothing arrived)"

exit "$rc"
