/*
 * Unit tests of the decision behind `udp-spread-at` (src/daemon/workers.c daemon_steer_tick(),
 * docs/workers.md "UDP on one worker until it is busy"): UDP goes to one worker until that
 * worker, smoothed over a few ticks, is busier than the option; back to one worker when the
 * measured cost per query says one worker would stay under 0.8 of it for a while, a while that
 * doubles when the node flaps; 0 spreads always. The kernel side (SO_ATTACH_REUSEPORT_CBPF) is
 * tested end to end in tests/e2e/test_workers.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/workers.h"

/* n ticks of the same load; returns how many changed the state. */
static unsigned ticks(daemon_steer_t *s, unsigned n, unsigned at, double busy, double qps)
{
	unsigned changed = 0;
	for (unsigned i = 0; i < n; i++)
		changed += daemon_steer_tick(s, at, busy, qps);
	return changed;
}

static void test_zero_spreads_always(void **state)
{
	(void)state;
	daemon_steer_t s = {0};
	assert_true(daemon_steer_tick(&s, 0, 0.1, 5000));
	assert_true(s.spread);
	assert_int_equal(ticks(&s, 50, 0, 0.0, 0), 0);
	assert_true(s.spread);
	assert_int_equal(s.changes, 1);
}

static void test_one_worker_until_busy(void **state)
{
	(void)state;
	daemon_steer_t s = {0};
	/* 50,000 q/s at 11 µs a query: 55 % of a core, under 75: one worker, however long. */
	assert_int_equal(ticks(&s, 600, 75, 0.55, 50000), 0);
	assert_false(s.spread);
	assert_true(s.cost > 10.9e-6 && s.cost < 11.1e-6);
	/* One tick of a burst is not a load. */
	assert_false(daemon_steer_tick(&s, 75, 1.0, 90000));
	assert_int_equal(ticks(&s, 20, 75, 0.55, 50000), 0);
	/* A load that keeps it 95 % busy spreads within a few ticks, not at the first: from
	 * 55 %, at the second. */
	unsigned n = 0;
	while (!daemon_steer_tick(&s, 75, 0.95, 90000))
		assert_true(++n < 10);
	assert_int_equal(n, 1);
	assert_true(s.spread);
	assert_int_equal(s.changes, 1);
}

static void test_back_to_one_when_one_would_do(void **state)
{
	(void)state;
	daemon_steer_t s = {0};
	ticks(&s, 100, 75, 0.5, 50000); /* measured: 10 µs a query */
	ticks(&s, 10, 75, 1.0, 100000);
	assert_true(s.spread);
	/* 70,000 q/s would keep one worker 70 % busy: over 0.8 x 75, it stays spread. */
	assert_int_equal(ticks(&s, 1000, 75, 0.4, 70000), 0);
	assert_true(s.spread);
	/* 50,000 q/s, 50 %: back after STEER_CALM_TICKS of it, not before (the spreading came
	 * after more than 10 s on one worker, so no doubling). */
	assert_int_equal(ticks(&s, STEER_CALM_TICKS - 1, 75, 0.3, 50000), 0);
	/* A tick of more load starts the count again. */
	assert_int_equal(ticks(&s, 1, 75, 0.4, 70000), 0);
	assert_int_equal(ticks(&s, STEER_CALM_TICKS - 1, 75, 0.3, 50000), 0);
	assert_true(daemon_steer_tick(&s, 75, 0.3, 50000));
	assert_false(s.spread);
	assert_int_equal(s.changes, 2);
	/* Back on one worker its smoothed load starts from the prediction: no spreading at the
	 * next tick. */
	assert_int_equal(ticks(&s, 100, 75, 0.5, 50000), 0);
}

static void test_flapping_waits_longer(void **state)
{
	(void)state;
	daemon_steer_t s = {0};
	ticks(&s, 700, 75, 0.5, 50000);
	ticks(&s, 10, 75, 1.0, 100000);
	assert_true(s.spread);
	assert_int_equal(s.need, STEER_CALM_TICKS); /* a minute on one worker before */
	ticks(&s, STEER_CALM_TICKS, 75, 0.0, 0);
	assert_false(s.spread);
	/* Busy again within 10 s: the next return waits twice as long. */
	ticks(&s, 10, 75, 1.0, 100000);
	assert_true(s.spread);
	assert_int_equal(s.need, 2 * STEER_CALM_TICKS);
	assert_int_equal(ticks(&s, 2 * STEER_CALM_TICKS - 1, 75, 0.0, 0), 0);
	assert_true(ticks(&s, 1, 75, 0.0, 0));
	for (int i = 0; i < 20; i++) { /* and so on, up to the cap */
		ticks(&s, 10, 75, 1.0, 100000);
		ticks(&s, s.need, 75, 0.0, 0);
	}
	assert_int_equal(s.need, STEER_CALM_TICKS_MAX);
	/* A minute on one worker: back to the short wait. */
	ticks(&s, 60 * 1000 / STEER_TICK_MS, 75, 0.3, 30000);
	assert_false(s.spread);
	assert_int_equal(s.need, STEER_CALM_TICKS);
}

static void test_unmeasured_cost_is_taken_high(void **state)
{
	(void)state;
	daemon_steer_t s = {.spread = true};
	/* No query was measured on one worker: 20 µs each, 40,000 q/s would be 80 %. */
	assert_int_equal(ticks(&s, 100, 75, 0.0, 40000), 0);
	assert_true(ticks(&s, STEER_CALM_TICKS, 75, 0.0, 20000) == 1);
	assert_false(s.spread);
	/* Too few queries to measure a cost from: none is taken. */
	ticks(&s, 10, 75, 0.2, 500);
	assert_true(s.cost == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_zero_spreads_always),
	    cmocka_unit_test(test_one_worker_until_busy),
	    cmocka_unit_test(test_back_to_one_when_one_would_do),
	    cmocka_unit_test(test_flapping_waits_longer),
	    cmocka_unit_test(test_unmeasured_cost_is_taken_high),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
