/* SPDX-License-Identifier: MIT */
/*
 * The event loop: timers fire through timerfd, signals arrive through a signalfd, a watch
 * removed by an earlier callback of the same round is not called, and owners handed to
 * loop_free_later() are freed after the round, never during it.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"
#include "macro.h"

struct owner {
	struct watch w;
	int fd;
	int calls;	      /* for owners that stay alive */
	int *total;	      /* callbacks of a and b, which may be freed */
	struct owner *victim; /* removed and freed-later by this owner's callback */
	bool *freed;
	struct loop_deferred deferred;
};

/* Frees since the current round began: a callback that runs after one would mean the loop
 * freed an owner while the round could still touch it. */
static int frees_this_round;

static void owner_free(struct loop_deferred *d)
{
	struct owner *o = container_of(d, struct owner, deferred);

	*o->freed = true;
	frees_this_round++;
	safe_close(o->fd);
	free(o);
}

static int on_readable(struct watch *w, uint32_t events)
{
	struct owner *o = container_of(w, struct owner, w);
	char c;

	assert_int_equal(frees_this_round, 0);
	o->calls++;
	if (o->total)
		(*o->total)++;
	(void)read(o->fd, &c, 1);
	if (o->victim) {
		/* The victim's event may be next in this round: it must not run, and its
		 * memory must still be valid for the loop to skip it. */
		loop_remove(&o->victim->w);
		loop_free_later(o->w.loop, &o->victim->deferred, owner_free);
		o->victim = NULL;
	}
	return 0;
}

/* A readable socket pair end: the other end is written once. */
static struct owner *owner_new(struct loop *l, bool *freed)
{
	struct owner *o = calloc(1, sizeof(*o));
	int sv[2];

	assert_non_null(o);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(write(sv[1], "x", 1), 1);
	close(sv[1]);
	o->fd = sv[0];
	o->freed = freed;
	assert_int_equal(loop_add(l, &o->w, o->fd, EPOLLIN, on_readable), 0);
	return o;
}

static int iterate(struct loop *l, int timeout_ms)
{
	frees_this_round = 0;
	return loop_iterate(l, timeout_ms);
}

static void test_removed_during_round_is_skipped_and_freed_after(void **state)
{
	struct loop *l = NULL;
	bool freed_a = false, freed_b = false, freed_c = false;
	struct owner *a, *b, *c;
	int total = 0;

	assert_int_equal(loop_new(&l), 0);
	a = owner_new(l, &freed_a);
	b = owner_new(l, &freed_b);
	c = owner_new(l, &freed_c);
	/* All three are readable in one round: whichever of a and b runs first removes and
	 * frees the other; c runs whatever the order, and no callback sees a free before it. */
	a->victim = b;
	b->victim = a;
	a->total = b->total = &total;
	assert_int_equal(iterate(l, 1000), 0);
	assert_int_equal(total, 1); /* exactly one ran */
	assert_int_equal(c->calls, 1);
	assert_true(freed_a != freed_b); /* and the other was freed, after the round */
	assert_int_equal(frees_this_round, 1);
	loop_remove(&c->w);
	loop_free_later(l, &c->deferred, owner_free);
	/* The survivor is still registered: free it through the loop as well. */
	{
		struct owner *alive = freed_a ? b : a;

		loop_remove(&alive->w);
		loop_free_later(l, &alive->deferred, owner_free);
	}
	loop_flush(l);
	assert_true(freed_a && freed_b);
	loop_free(l);
}

static void test_loop_free_flushes_deferred(void **state)
{
	struct loop *l = NULL;
	bool freed = false;
	struct owner *o;

	assert_int_equal(loop_new(&l), 0);
	o = owner_new(l, &freed);
	loop_remove(&o->w);
	loop_free_later(l, &o->deferred, owner_free);
	assert_false(freed);
	loop_free(l);
	assert_true(freed);
}

struct timer {
	struct watch w;
	int fd;
	int fired;
	int exit_after;
};

static int on_timer(struct watch *w, uint32_t events)
{
	struct timer *t = container_of(w, struct timer, w);

	assert_int_equal(timer_fd_ack(t->fd), 0);
	t->fired++;
	return t->fired >= t->exit_after ? LOOP_EXIT : 0;
}

static int tick_count;

static int on_tick(void *userdata)
{
	tick_count++;
	return -1;
}

static void test_periodic_timer_and_exit(void **state)
{
	struct loop *l = NULL;
	struct timer t = { .exit_after = 3 };

	assert_int_equal(loop_new(&l), 0);
	t.fd = timer_fd_new();
	assert_true(t.fd >= 0);
	assert_int_equal(loop_add(l, &t.w, t.fd, EPOLLIN, on_timer), 0);
	assert_int_equal(timer_fd_arm(t.fd, 5, true), 0);
	tick_count = 0;
	assert_int_equal(loop_run(l, on_tick, NULL), 0); /* LOOP_EXIT ends it with 0 */
	assert_int_equal(t.fired, 3);
	assert_true(tick_count >= 3); /* once before the first wait, once per round */
	/* Disarmed: nothing more. */
	assert_int_equal(timer_fd_arm(t.fd, 0, false), 0);
	assert_int_equal(iterate(l, 50), 0);
	assert_int_equal(t.fired, 3);
	loop_remove(&t.w);
	close(t.fd);
	loop_free(l);
}

static int on_fatal(struct watch *w, uint32_t events)
{
	struct timer *t = container_of(w, struct timer, w);

	(void)timer_fd_ack(t->fd);
	return -EPIPE;
}

static void test_callback_error_stops_the_loop(void **state)
{
	struct loop *l = NULL;
	struct timer t = { 0 };

	assert_int_equal(loop_new(&l), 0);
	t.fd = timer_fd_new();
	assert_int_equal(loop_add(l, &t.w, t.fd, EPOLLIN, on_fatal), 0);
	assert_int_equal(timer_fd_arm(t.fd, 1, false), 0);
	assert_int_equal(loop_run(l, NULL, NULL), -EPIPE);
	loop_remove(&t.w);
	close(t.fd);
	loop_free(l);
}

struct sig {
	struct watch w;
	int fd;
	uint32_t signo;
};

static int on_signal(struct watch *w, uint32_t events)
{
	struct sig *s = container_of(w, struct sig, w);
	struct signalfd_siginfo si;

	assert_int_equal(read(s->fd, &si, sizeof(si)), sizeof(si));
	s->signo = si.ssi_signo;
	return LOOP_EXIT;
}

static void test_signals_through_signalfd(void **state)
{
	struct loop *l = NULL;
	struct sig s = { 0 };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	assert_int_equal(sigprocmask(SIG_BLOCK, &mask, NULL), 0);
	s.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	assert_true(s.fd >= 0);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(loop_add(l, &s.w, s.fd, EPOLLIN, on_signal), 0);
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	assert_int_equal(loop_run(l, NULL, NULL), 0);
	assert_int_equal(s.signo, SIGHUP);
	loop_remove(&s.w);
	close(s.fd);
	loop_free(l);
}

static void test_modify_and_remove_twice(void **state)
{
	struct loop *l = NULL;
	bool freed = false;
	struct owner *o;

	assert_int_equal(loop_new(&l), 0);
	o = owner_new(l, &freed);
	/* Waiting for output only: the pending input does not wake us. */
	assert_int_equal(loop_modify(&o->w, EPOLLOUT), 0);
	assert_int_equal(iterate(l, 20), 0);
	assert_int_equal(o->calls, 1); /* a datagram socket is always writable */
	loop_remove(&o->w);
	loop_remove(&o->w); /* harmless */
	assert_int_equal(loop_modify(&o->w, EPOLLIN), -EINVAL);
	loop_free_later(l, &o->deferred, owner_free);
	loop_free(l);
	assert_true(freed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_removed_during_round_is_skipped_and_freed_after),
		cmocka_unit_test(test_loop_free_flushes_deferred),
		cmocka_unit_test(test_periodic_timer_and_exit),
		cmocka_unit_test(test_callback_error_stops_the_loop),
		cmocka_unit_test(test_signals_through_signalfd),
		cmocka_unit_test(test_modify_and_remove_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
