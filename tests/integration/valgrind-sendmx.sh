#!/bin/sh
# valgrind-sendmx.sh - sendmx under valgrind memcheck, for make
# check-valgrind. Called under the names the tests use (mailq,
# newaliases), it passes on what that name means, as sendmx would.
# Errors and definite leaks make it exit 99 (the test that ran it
# fails); valgrind's report goes to $VALGRIND_LOGDIR/valgrind.<pid>.log,
# not to stderr, which the tests read (or close).
case "${0##*/}" in
mailq) set -- -bp "$@" ;;
newaliases) set -- -bi "$@" ;;
esac
exec valgrind -q --leak-check=full --errors-for-leak-kinds=definite \
	--error-exitcode=99 \
	--log-file="${VALGRIND_LOGDIR:-/tmp}/valgrind.%p.log" \
	"${SENDMX_REAL:?SENDMX_REAL names the sendmx binary}" "$@"
