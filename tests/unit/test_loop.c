/*
 * test_loop.c - the poll() event loop: watches on pipes and socketpairs,
 * timers, changes made from inside callbacks, and the three ways
 * loop_run returns (idle, loop_stop, deadline).
 *
 * Readiness is arranged before the loop runs (a byte written into a
 * pipe), so no test depends on another process or on sleeping.
 */
#include "ac_config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "util.h"

/* Generous bound for "returned promptly" on a loaded machine. */
#define PROMPT_MS 1000

/* What a watch callback saw. */
struct io_rec {
	struct loop *l;
	int calls;
	int fd;
	short revents;
	bool unwatch;   /* remove the watch on the first call */
	bool stop;      /* loop_stop on the first call */
	/* On the first call: remove the watch of other_fd (drop_other), or
	 * remove it and watch it again with other_fn (other_fn set). */
	bool drop_other;
	int other_fd;
	loop_io_fn other_fn;
	void *other_ctx;
};

/* What a timer callback saw. */
struct tm_rec {
	struct loop *l;
	int calls;
	long long deadline;   /* when it was due: must not fire before */
	long long fired_at;
	int *order;           /* appends id here */
	int *norder;
	int id;
	int rearm;            /* re-arm itself (due at once) this many times */
	const void *cancel;   /* cancel this key on the first call */
	bool stop;
};

static void pipe_nb(int p[2]);
static void close_pair(int p[2]);
static void on_io(void *ctx, int fd, short revents);
static void on_timer(void *ctx);
static void on_io_readd_self(void *ctx, int fd, short revents);
static void chain_io(void *ctx, int fd, short revents);
static void chain_timer(void *ctx);

static void pipe_nb(int p[2])
{
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static void close_pair(int p[2])
{
	close(p[0]);
	close(p[1]);
}

static void on_io(void *ctx, int fd, short revents)
{
	struct io_rec *r = ctx;

	r->calls++;
	r->fd = fd;
	r->revents = revents;
	if (r->calls > 1)
		return;
	if (r->unwatch)
		loop_unwatch(r->l, fd);
	if (r->drop_other || r->other_fn)
		loop_unwatch(r->l, r->other_fd);
	if (r->other_fn)
		loop_watch(r->l, r->other_fd, POLLIN, r->other_fn,
			   r->other_ctx);
	if (r->stop)
		loop_stop(r->l);
}

static void on_timer(void *ctx)
{
	struct tm_rec *t = ctx;

	t->calls++;
	t->fired_at = now_ms();
	if (t->order)
		t->order[(*t->norder)++] = t->id;
	if (t->rearm > 0) {
		t->rearm--;
		t->deadline = now_ms();
		loop_timer(t->l, t, t->deadline, on_timer, t);
	}
	if (t->cancel) {
		loop_timer(t->l, t->cancel, -1, NULL, NULL);
		t->cancel = NULL;
	}
	if (t->stop)
		loop_stop(t->l);
}

/* ---- returning ----------------------------------------------------------- */

static void test_idle(void **state)
{
	struct loop *l = loop_new();
	long long t0 = now_ms();

	(void)state;
	assert_true(loop_run(l, -1));
	assert_true(loop_run(l, now_ms() + 10000));
	assert_true(now_ms() - t0 < PROMPT_MS);
	/* Removing what was never watched, cancelling what was never armed. */
	loop_unwatch(l, 7);
	loop_timer(l, l, -1, NULL, NULL);
	assert_true(loop_run(l, -1));
	loop_free(l);
	loop_free(NULL);
}

/* A watch that never becomes ready: loop_run gives up at the deadline,
 * and the watch is still there for the next run. */
static void test_deadline(void **state)
{
	struct loop *l = loop_new();
	struct io_rec r = { .l = l, .unwatch = true };
	int p[2];
	long long t0, dt;

	(void)state;
	pipe_nb(p);
	loop_watch(l, p[0], POLLIN, on_io, &r);
	t0 = now_ms();
	assert_false(loop_run(l, t0 + 50));
	dt = now_ms() - t0;
	assert_true(dt >= 50);
	assert_true(dt < PROMPT_MS);
	assert_int_equal(r.calls, 0);
	/* A deadline already past: no waiting at all. */
	assert_false(loop_run(l, now_ms() - 1));
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.fd, p[0]);
	assert_true(r.revents & POLLIN);
	close_pair(p);
	loop_free(l);
}

/* A timer later than the deadline stays armed for the next run. */
static void test_deadline_before_timer(void **state)
{
	struct loop *l = loop_new();
	struct tm_rec t = { .l = l };
	long long t0 = now_ms();

	(void)state;
	t.deadline = t0 + 120;
	loop_timer(l, &t, t.deadline, on_timer, &t);
	assert_false(loop_run(l, t0 + 30));
	assert_int_equal(t.calls, 0);
	assert_true(now_ms() >= t0 + 30);
	assert_true(loop_run(l, -1));
	assert_int_equal(t.calls, 1);
	assert_true(t.fired_at >= t.deadline);
	loop_free(l);
}

/* loop_stop from a watch: loop_run returns false after that callback;
 * the next run carries on. */
static void test_stop_from_watch(void **state)
{
	struct loop *l = loop_new();
	struct io_rec a = { .l = l, .stop = true };
	struct io_rec b = { .l = l };
	int pa[2], pb[2];

	(void)state;
	pipe_nb(pa);
	pipe_nb(pb);
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	loop_watch(l, pa[0], POLLIN, on_io, &a);
	loop_watch(l, pb[0], POLLIN, on_io, &b);
	assert_false(loop_run(l, now_ms() + 10000));
	assert_int_equal(a.calls, 1);
	/* "after the current callback": the other ready fd waits. */
	assert_int_equal(b.calls, 0);

	/* Not stopped any more: runs until the deadline (both fds stay
	 * readable, nothing unwatches them). */
	assert_false(loop_run(l, now_ms() + 30));
	assert_true(a.calls > 1);
	assert_true(b.calls >= 1);
	loop_unwatch(l, pa[0]);
	loop_unwatch(l, pb[0]);
	assert_true(loop_run(l, -1));
	close_pair(pa);
	close_pair(pb);
	loop_free(l);
}

static void test_stop_from_timer(void **state)
{
	struct loop *l = loop_new();
	int order[4], n = 0;
	struct tm_rec a = { .l = l, .id = 1, .order = order, .norder = &n,
			    .stop = true };
	struct tm_rec b = { .l = l, .id = 2, .order = order, .norder = &n };
	long long now = now_ms();

	(void)state;
	/* Both overdue: a fires, stops the loop, b waits for the next run. */
	loop_timer(l, &a, now - 1, on_timer, &a);
	loop_timer(l, &b, now - 1, on_timer, &b);
	assert_false(loop_run(l, -1));
	assert_int_equal(n, 1);
	assert_int_equal(order[0], 1);
	assert_true(loop_run(l, -1));
	assert_int_equal(n, 2);
	assert_int_equal(order[1], 2);
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 1);
	loop_free(l);
}

/* ---- watches ------------------------------------------------------------- */

static void test_watch_pipe(void **state)
{
	struct loop *l = loop_new();
	struct io_rec r = { .l = l, .unwatch = true };
	int p[2];

	(void)state;
	pipe_nb(p);
	assert_int_equal(write(p[1], "x", 1), 1);
	loop_watch(l, p[0], POLLIN, on_io, &r);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.fd, p[0]);
	assert_int_equal(r.revents & (POLLIN | POLLOUT), POLLIN);

	/* The writer gone: the reader hears POLLHUP. */
	memset(&r, 0, sizeof r);
	r.l = l;
	r.unwatch = true;
	close(p[1]);
	loop_watch(l, p[0], POLLIN, on_io, &r);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(r.calls, 1);
	assert_true(r.revents & POLLHUP);
	close(p[0]);
	loop_free(l);
}

/* POLLOUT on a socketpair; then the same fd changed to POLLIN (a new
 * loop_watch of the same fd replaces the old one). */
static void test_watch_socketpair(void **state)
{
	struct loop *l = loop_new();
	struct io_rec w = { .l = l, .unwatch = true };
	struct io_rec old = { .l = l };
	struct io_rec rd = { .l = l, .unwatch = true };
	int sv[2];
	char c;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
	loop_watch(l, sv[0], POLLOUT, on_io, &w);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(w.calls, 1);
	assert_true(w.revents & POLLOUT);

	/* Nothing to read yet: the replaced POLLOUT watch must not fire. */
	loop_watch(l, sv[0], POLLOUT, on_io, &old);
	loop_watch(l, sv[0], POLLIN, on_io, &rd);
	assert_false(loop_run(l, now_ms() + 30));
	assert_int_equal(old.calls, 0);
	assert_int_equal(rd.calls, 0);
	assert_int_equal(write(sv[1], "y", 1), 1);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(old.calls, 0);
	assert_int_equal(rd.calls, 1);
	assert_int_equal(rd.fd, sv[0]);
	assert_true(rd.revents & POLLIN);
	assert_int_equal(read(sv[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	close_pair(sv);
	loop_free(l);
}

/* One callback removes another ready fd's watch: that one is not called
 * in this round (or later), and the loop ends idle. */
static void test_unwatch_other_in_round(void **state)
{
	struct loop *l = loop_new();
	struct io_rec a = { .l = l, .unwatch = true, .drop_other = true };
	struct io_rec b = { .l = l, .unwatch = true };
	int pa[2], pb[2];

	(void)state;
	pipe_nb(pa);
	pipe_nb(pb);
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	/* a is watched first, so its callback runs first in the round. */
	a.other_fd = pb[0];
	loop_watch(l, pa[0], POLLIN, on_io, &a);
	loop_watch(l, pb[0], POLLIN, on_io, &b);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(a.calls, 1);
	assert_int_equal(b.calls, 0);
	close_pair(pa);
	close_pair(pb);
	loop_free(l);
}

/* The callback of a removes b's watch and adds b again, with another
 * callback, within one round: the old callback is never called again,
 * the new one is (b is still readable), and the loop ends idle. */
static void test_remove_readd_in_round(void **state)
{
	struct loop *l = loop_new();
	struct io_rec b_new = { .l = l, .unwatch = true };
	struct io_rec b_old = { .l = l, .unwatch = true };
	struct io_rec a = { .l = l, .unwatch = true };
	int pa[2], pb[2];

	(void)state;
	pipe_nb(pa);
	pipe_nb(pb);
	assert_int_equal(write(pa[1], "x", 1), 1);
	assert_int_equal(write(pb[1], "x", 1), 1);
	a.other_fd = pb[0];
	a.other_fn = on_io;
	a.other_ctx = &b_new;
	loop_watch(l, pa[0], POLLIN, on_io, &a);
	loop_watch(l, pb[0], POLLIN, on_io, &b_old);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(a.calls, 1);
	assert_int_equal(b_old.calls, 0);
	assert_int_equal(b_new.calls, 1);
	assert_int_equal(b_new.fd, pb[0]);
	assert_true(b_new.revents & POLLIN);
	close_pair(pa);
	close_pair(pb);
	loop_free(l);
}

/* A callback that removes its own watch and adds it again keeps the fd
 * watched: the loop is not idle until someone removes it for good. */
static void on_io_readd_self(void *ctx, int fd, short revents)
{
	struct io_rec *r = ctx;
	char c;

	(void)revents;
	r->calls++;
	loop_unwatch(r->l, fd);
	if (r->calls == 1) {
		loop_watch(r->l, fd, POLLIN, on_io_readd_self, r);
		return;
	}
	/* Second call: consume and stop watching. */
	assert_int_equal(read(fd, &c, 1), 1);
}

static void test_readd_self(void **state)
{
	struct loop *l = loop_new();
	struct io_rec r = { .l = l };
	int p[2];

	(void)state;
	pipe_nb(p);
	assert_int_equal(write(p[1], "x", 1), 1);
	loop_watch(l, p[0], POLLIN, on_io_readd_self, &r);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(r.calls, 2);
	close_pair(p);
	loop_free(l);
}

/* More watches than the first allocation holds; each fd is called back
 * once and removes itself. */
static void test_many_watches(void **state)
{
	enum { N = 40 };
	struct loop *l = loop_new();
	struct io_rec r[N];
	int p[N][2];
	int i;

	(void)state;
	for (i = 0; i < N; i++) {
		pipe_nb(p[i]);
		memset(&r[i], 0, sizeof r[i]);
		r[i].l = l;
		r[i].unwatch = true;
		loop_watch(l, p[i][0], POLLIN, on_io, &r[i]);
	}
	/* Only the odd ones are ready. */
	for (i = 1; i < N; i += 2)
		assert_int_equal(write(p[i][1], "x", 1), 1);
	assert_false(loop_run(l, now_ms() + 50));
	for (i = 0; i < N; i++)
		assert_int_equal(r[i].calls, i % 2);
	for (i = 0; i < N; i += 2)
		assert_int_equal(write(p[i][1], "x", 1), 1);
	assert_true(loop_run(l, now_ms() + 10000));
	for (i = 0; i < N; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].fd, p[i][0]);
		close_pair(p[i]);
	}
	loop_free(l);
}

/* ---- timers -------------------------------------------------------------- */

/* Armed out of order, they fire in deadline order, each once, none
 * early. */
static void test_timer_order(void **state)
{
	struct loop *l = loop_new();
	int order[8], n = 0;
	struct tm_rec t[3];
	static const int offset[3] = { 180, 60, 120 };
	long long t0 = now_ms();
	int i;

	(void)state;
	for (i = 0; i < 3; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].l = l;
		t[i].id = i;
		t[i].order = order;
		t[i].norder = &n;
		t[i].deadline = t0 + offset[i];
		loop_timer(l, &t[i], t[i].deadline, on_timer, &t[i]);
	}
	assert_true(loop_run(l, -1));
	assert_int_equal(n, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_true(t[i].fired_at >= t[i].deadline);
	}
	assert_true(now_ms() - t0 < 180 + PROMPT_MS);
	loop_free(l);
}

/* The same key again re-arms (one timer, the new deadline and ctx);
 * deadline < 0 cancels. */
static void test_timer_rearm_cancel(void **state)
{
	struct loop *l = loop_new();
	struct tm_rec a = { .l = l }, b = { .l = l };
	static const char key1[] = "k1", key2[] = "k2";
	long long t0 = now_ms();

	(void)state;
	loop_timer(l, key1, t0 + 5000, on_timer, &a);
	loop_timer(l, key1, t0 + 20, on_timer, &b);
	b.deadline = t0 + 20;
	assert_true(loop_run(l, t0 + 10000));
	assert_int_equal(a.calls, 0);
	assert_int_equal(b.calls, 1);
	assert_true(b.fired_at >= b.deadline);
	assert_true(now_ms() - t0 < PROMPT_MS);

	/* Cancelled before the run: idle at once, nothing fires. */
	loop_timer(l, key1, now_ms(), on_timer, &a);
	loop_timer(l, key2, now_ms() + 20, on_timer, &a);
	loop_timer(l, key1, -1, NULL, NULL);
	loop_timer(l, key2, -1, NULL, NULL);
	assert_true(loop_run(l, -1));
	assert_int_equal(a.calls, 0);

	/* A freed slot is reused and still works. */
	loop_timer(l, key2, now_ms(), on_timer, &a);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(a.calls, 1);
	loop_free(l);
}

/* A timer callback re-arms its own timer (due at once) twice: three
 * calls, then idle. */
static void test_timer_rearm_in_callback(void **state)
{
	struct loop *l = loop_new();
	struct tm_rec t = { .l = l, .rearm = 2 };

	(void)state;
	loop_timer(l, &t, now_ms(), on_timer, &t);
	assert_true(loop_run(l, now_ms() + 10000));
	assert_int_equal(t.calls, 3);
	loop_free(l);
}

/* A due timer cancels a later one: the loop goes idle without waiting
 * for it. A watch callback cancels a timer too. */
static void test_timer_cancel_in_callback(void **state)
{
	struct loop *l = loop_new();
	struct tm_rec late = { .l = l };
	struct tm_rec early = { .l = l, .cancel = &late };
	long long t0 = now_ms();

	(void)state;
	loop_timer(l, &late, t0 + 5000, on_timer, &late);
	loop_timer(l, &early, t0 + 10, on_timer, &early);
	assert_true(loop_run(l, -1));
	assert_int_equal(early.calls, 1);
	assert_int_equal(late.calls, 0);
	assert_true(now_ms() - t0 < PROMPT_MS);

	/* Both due in the same round: the first cancels the second, which
	 * must not fire. Slots: early first (it reuses slot 0). */
	memset(&late, 0, sizeof late);
	memset(&early, 0, sizeof early);
	late.l = early.l = l;
	early.cancel = &late;
	loop_timer(l, &early, now_ms() - 1, on_timer, &early);
	loop_timer(l, &late, now_ms() - 1, on_timer, &late);
	assert_true(loop_run(l, -1));
	assert_int_equal(early.calls, 1);
	assert_int_equal(late.calls, 0);
	loop_free(l);
}

/* Watches and timers mixed: a timer adds a watch, whose callback arms a
 * timer; everything runs and the loop ends idle. */
struct chain {
	struct loop *l;
	int p[2];
	int step;
	struct tm_rec last;
};

static void chain_io(void *ctx, int fd, short revents)
{
	struct chain *c = ctx;
	char ch;

	assert_true(revents & POLLIN);
	assert_int_equal(read(fd, &ch, 1), 1);
	loop_unwatch(c->l, fd);
	c->step = 2;
	c->last.l = c->l;
	c->last.deadline = now_ms() + 10;
	loop_timer(c->l, &c->last, c->last.deadline, on_timer, &c->last);
}

static void chain_timer(void *ctx)
{
	struct chain *c = ctx;

	c->step = 1;
	assert_int_equal(write(c->p[1], "z", 1), 1);
	loop_watch(c->l, c->p[0], POLLIN, chain_io, c);
}

static void test_timer_adds_watch(void **state)
{
	struct chain c;

	(void)state;
	memset(&c, 0, sizeof c);
	c.l = loop_new();
	pipe_nb(c.p);
	loop_timer(c.l, &c, now_ms() + 5, chain_timer, &c);
	assert_true(loop_run(c.l, now_ms() + 10000));
	assert_int_equal(c.step, 2);
	assert_int_equal(c.last.calls, 1);
	assert_true(c.last.fired_at >= c.last.deadline);
	close_pair(c.p);
	loop_free(c.l);
}

/* Many timers (beyond the first allocation), armed in reverse order of
 * their deadlines: all fire, once each, none early. */
static void test_many_timers(void **state)
{
	enum { N = 24 };
	struct loop *l = loop_new();
	struct tm_rec t[N];
	int order[N], n = 0;
	long long t0 = now_ms();
	int i;

	(void)state;
	for (i = 0; i < N; i++) {
		memset(&t[i], 0, sizeof t[i]);
		t[i].l = l;
		t[i].id = i;
		t[i].order = order;
		t[i].norder = &n;
		t[i].deadline = t0 + 10 * (N - i);
		loop_timer(l, &t[i], t[i].deadline, on_timer, &t[i]);
	}
	assert_true(loop_run(l, t0 + 10000));
	assert_int_equal(n, N);
	for (i = 0; i < N; i++) {
		assert_int_equal(t[i].calls, 1);
		assert_true(t[i].fired_at >= t[i].deadline);
	}
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_idle),
		cmocka_unit_test(test_deadline),
		cmocka_unit_test(test_deadline_before_timer),
		cmocka_unit_test(test_stop_from_watch),
		cmocka_unit_test(test_stop_from_timer),
		cmocka_unit_test(test_watch_pipe),
		cmocka_unit_test(test_watch_socketpair),
		cmocka_unit_test(test_unwatch_other_in_round),
		cmocka_unit_test(test_remove_readd_in_round),
		cmocka_unit_test(test_readd_self),
		cmocka_unit_test(test_many_watches),
		cmocka_unit_test(test_timer_order),
		cmocka_unit_test(test_timer_rearm_cancel),
		cmocka_unit_test(test_timer_rearm_in_callback),
		cmocka_unit_test(test_timer_cancel_in_callback),
		cmocka_unit_test(test_timer_adds_watch),
		cmocka_unit_test(test_many_timers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
