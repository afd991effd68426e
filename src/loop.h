/*
 * loop.h - one poll()-based event loop for everything that waits: c-ares
 * sockets, SMTP connections and timers. It knows no protocol: owners
 * register a descriptor or a timer with a callback, and the loop calls
 * back when the descriptor is ready or the deadline has passed.
 *
 * Sized for an MTA's handful of connections (linear scans; no limit but
 * memory). Times are now_ms() values (util.h), monotonic. Callbacks must
 * tolerate a spurious call (EAGAIN): a descriptor closed and reused by
 * another owner within one round may report the old readiness.
 */
#ifndef SENDMX_LOOP_H
#define SENDMX_LOOP_H

#include <stdbool.h>

struct loop;

/* revents as poll() reports them (POLLIN, POLLOUT, POLLERR, POLLHUP). */
typedef void (*loop_io_fn)(void *ctx, int fd, short revents);
typedef void (*loop_timer_fn)(void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for events (POLLIN and/or POLLOUT), replacing an earlier
 * watch of the same fd; events 0 removes the watch. Safe to call from
 * inside any callback. */
void loop_watch(struct loop *l, int fd, short events, loop_io_fn fn,
		void *ctx);
void loop_unwatch(struct loop *l, int fd);

/* One timer per key (any pointer the owner chooses, usually itself):
 * calls fn(ctx) once when now_ms() >= deadline. A new call with the same
 * key re-arms it; deadline < 0 cancels it. Safe inside callbacks. */
void loop_timer(struct loop *l, const void *key, long long deadline,
		loop_timer_fn fn, void *ctx);

/* Runs until nothing is watched and no timer is armed (returns true),
 * until loop_stop() (false), or until deadline passes (false; < 0: no
 * deadline). */
bool loop_run(struct loop *l, long long deadline);

/* Makes loop_run return after the current callback. */
void loop_stop(struct loop *l);

#endif
