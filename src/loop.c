/*
 * loop.c - the poll() loop behind every wait in a delivery.
 *
 * Watches and timers live in small arrays scanned linearly: a delivery
 * has at most max_connections sessions plus a few DNS sockets, so a heap
 * or epoll would buy nothing. Callbacks may add and remove watches and
 * timers freely; removals are marked and compacted between rounds so no
 * index moves under a running scan.
 */
#include "ac_config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "loop.h"
#include "util.h"

struct watch {
	int fd;          /* -1: removed */
	short events;
	loop_io_fn fn;
	void *ctx;
};

struct timer {
	const void *key; /* NULL: free slot */
	long long deadline;
	loop_timer_fn fn;
	void *ctx;
};

struct loop {
	struct watch *watches;
	size_t nwatches, watches_cap;
	struct timer *timers;
	size_t ntimers, timers_cap;
	struct pollfd *pfds;
	bool stopped;
};

static struct watch *find_watch(struct loop *l, int fd);
static struct timer *find_timer(struct loop *l, const void *key);
static void compact(struct loop *l);
static bool idle(const struct loop *l);
static long long next_deadline(const struct loop *l, long long limit);
static void fire_timers(struct loop *l);
static void dispatch(struct loop *l, size_t npfds);

struct loop *loop_new(void)
{
	return xcalloc(1, sizeof(struct loop));
}

void loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	free(l->watches);
	free(l->timers);
	free(l->pfds);
	free(l);
}

static struct watch *find_watch(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->nwatches; i++)
		if (l->watches[i].fd == fd)
			return &l->watches[i];
	return NULL;
}

void loop_watch(struct loop *l, int fd, short events, loop_io_fn fn,
		void *ctx)
{
	struct watch *w = find_watch(l, fd);

	if (events == 0) {
		if (w)
			w->fd = -1;
		return;
	}
	if (w == NULL) {
		if (l->nwatches == l->watches_cap) {
			l->watches_cap = l->watches_cap ? 2 * l->watches_cap : 16;
			l->watches = xreallocarray(l->watches, l->watches_cap,
						   sizeof *l->watches);
		}
		w = &l->watches[l->nwatches++];
	}
	w->fd = fd;
	w->events = events;
	w->fn = fn;
	w->ctx = ctx;
}

void loop_unwatch(struct loop *l, int fd)
{
	loop_watch(l, fd, 0, NULL, NULL);
}

static struct timer *find_timer(struct loop *l, const void *key)
{
	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i].key == key)
			return &l->timers[i];
	return NULL;
}

void loop_timer(struct loop *l, const void *key, long long deadline,
		loop_timer_fn fn, void *ctx)
{
	struct timer *t = find_timer(l, key);

	if (deadline < 0) {
		if (t)
			t->key = NULL;
		return;
	}
	if (t == NULL)
		t = find_timer(l, NULL);
	if (t == NULL) {
		if (l->ntimers == l->timers_cap) {
			l->timers_cap = l->timers_cap ? 2 * l->timers_cap : 16;
			l->timers = xreallocarray(l->timers, l->timers_cap,
						  sizeof *l->timers);
		}
		t = &l->timers[l->ntimers++];
	}
	t->key = key;
	t->deadline = deadline;
	t->fn = fn;
	t->ctx = ctx;
}

void loop_stop(struct loop *l)
{
	l->stopped = true;
}

/* Drops removed watches; only between rounds, never during a scan. */
static void compact(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->nwatches; i++)
		if (l->watches[i].fd >= 0)
			l->watches[j++] = l->watches[i];
	l->nwatches = j;
	while (l->ntimers > 0 && l->timers[l->ntimers - 1].key == NULL)
		l->ntimers--;
}

static bool idle(const struct loop *l)
{
	if (l->nwatches > 0)
		return false;
	for (size_t i = 0; i < l->ntimers; i++)
		if (l->timers[i].key != NULL)
			return false;
	return true;
}

/* The earliest armed timer, or limit if sooner; -1 when neither. */
static long long next_deadline(const struct loop *l, long long limit)
{
	long long d = limit;

	for (size_t i = 0; i < l->ntimers; i++) {
		const struct timer *t = &l->timers[i];

		if (t->key != NULL && (d < 0 || t->deadline < d))
			d = t->deadline;
	}
	return d;
}

/* Each due timer fires once; it is disarmed first so its callback may
 * arm it again. */
static void fire_timers(struct loop *l)
{
	long long now = now_ms();

	for (size_t i = 0; i < l->ntimers && !l->stopped; i++) {
		struct timer *t = &l->timers[i];

		if (t->key != NULL && t->deadline <= now) {
			loop_timer_fn fn = t->fn;
			void *ctx = t->ctx;

			t->key = NULL;
			fn(ctx);
		}
	}
}

/* Calls back each ready descriptor still watched for the same fd. */
static void dispatch(struct loop *l, size_t npfds)
{
	for (size_t i = 0; i < npfds && !l->stopped; i++) {
		struct watch *w;

		if (l->pfds[i].revents == 0)
			continue;
		w = find_watch(l, l->pfds[i].fd);
		if (w != NULL)
			w->fn(w->ctx, w->fd, l->pfds[i].revents);
	}
}

bool loop_run(struct loop *l, long long deadline)
{
	l->stopped = false;
	for (;;) {
		long long wake;
		int timeout, rc;
		size_t n;

		compact(l);
		if (idle(l))
			return true;
		if (l->stopped || (deadline >= 0 && now_ms() >= deadline))
			return false;

		n = l->nwatches;
		l->pfds = xreallocarray(l->pfds, n ? n : 1, sizeof *l->pfds);
		for (size_t i = 0; i < n; i++) {
			l->pfds[i].fd = l->watches[i].fd;
			l->pfds[i].events = l->watches[i].events;
			l->pfds[i].revents = 0;
		}
		wake = next_deadline(l, deadline);
		timeout = -1;
		if (wake >= 0) {
			long long left = wake - now_ms();

			timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
		}
		rc = poll(l->pfds, n, timeout);
		if (rc < 0 && errno != EINTR)
			return false;
		if (rc > 0)
			dispatch(l, n);
		fire_timers(l);
		if (l->stopped)
			return false;
	}
}
