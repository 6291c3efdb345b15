/*
 * Unit tests of a pin's round (src/daemon/pinreg.c) against a busy DHT: a get the DHT refuses
 * because all its lookups are busy waits and is tried again, the round with it, instead of
 * leaving the item to the next round an hour later. Two real DHT hosts on 127.0.0.1 on one
 * libuv loop: node A learns node B, B stops, and lookups on A wait on B until they time out.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <uv.h>

#include "common/err.h"
#include "daemon/pinreg.h"
#include "daemon/regput.h"
#include "net/dht_host.h"

#define FILLERS_MAX 256 /* more than the DHT's lookups: the last are refused */

static uv_loop_t loop;
static uv_timer_t guard;
static bool timed_out;
static size_t fillers_ended;

static void on_guard(uv_timer_t *t)
{
	(void)t;
	timed_out = true;
	uv_stop(&loop);
}

/* Runs the loop until done(ctx) or limit_ms passed; returns whether done. */
static bool run_until(bool (*done)(void *), void *ctx, uint64_t limit_ms)
{
	timed_out = false;
	uv_timer_start(&guard, on_guard, limit_ms, 0);
	while (!done(ctx) && !timed_out)
		uv_run(&loop, UV_RUN_ONCE);
	uv_timer_stop(&guard);
	return done(ctx);
}

static bool has_node(void *ctx)
{
	dht_counters_t c;
	dht_counters(net_dht_node(ctx), &c);
	return c.rt_nodes > 0;
}

static bool round_ended(void *ctx)
{
	return !daemon_pinreg_running(ctx);
}

static void on_filler(void *ctx, const dht_get_result_t *res)
{
	(void)ctx;
	fillers_ended += res->done;
}

static net_dht_t *start_node(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	net_dht_t *d = NULL;
	assert_int_equal(net_dht_start(&loop, (const struct sockaddr *)&sin, NULL, NULL, &d), 0);
	return d;
}

static void test_refused_get_is_tried_again(void **state)
{
	(void)state;
	net_dht_t *a = start_node(), *b = start_node();
	struct sockaddr_storage ss;
	net_dht_local(b, &ss);
	const struct sockaddr_in *bin = (const struct sockaddr_in *)&ss;
	dht_addr_t baddr = {.len = 4, .port = ntohs(bin->sin_port)};
	memcpy(baddr.ip, &bin->sin_addr, 4);
	assert_int_equal(dht_ping(net_dht_node(a), &baddr), 0);
	net_dht_kick(a);
	assert_true(run_until(has_node, a, 5000));
	/* B goes silent: A's lookups now wait on it until their queries time out. */
	net_dht_stop(b);

	/* Every lookup of A taken. */
	dht_t *dht = net_dht_node(a);
	size_t fillers = 0;
	for (; fillers < FILLERS_MAX; fillers++) {
		uint8_t target[DHT_ID_LEN];
		memset(target, (int)fillers, sizeof(target));
		if (dht_get(dht, target, NULL, 0, true, on_filler, &fillers) == SW_ELIMIT)
			break;
	}
	assert_true(fillers > 0 && fillers < FILLERS_MAX);
	dht_counters_t before;
	dht_counters(dht, &before);

	daemon_regput_t *q = NULL;
	assert_int_equal(daemon_regput_new(&loop, a, &q), 0);
	uint8_t pk[32];
	memset(pk, 7, sizeof(pk));
	daemon_pinreg_t *p = NULL;
	assert_int_equal(daemon_pinreg_new(&loop, a, q, NULL, NULL, pk, "alice", "alice.test", &p),
			 0);
	daemon_pinreg_round(p, "");
	/* Refused: the round waits for a free lookup instead of ending without the item. */
	assert_true(daemon_pinreg_running(p));
	dht_counters_t c;
	dht_counters(dht, &c);
	assert_int_equal(c.lookups_started, before.lookups_started);

	/* Once the fillers time out, the retry gets the label item (nobody has it) and the
	 * round ends. */
	assert_true(run_until(round_ended, p, 20000));
	assert_int_equal(fillers_ended, fillers);
	dht_counters(dht, &c);
	assert_int_equal(c.lookups_started, before.lookups_started + 1);

	daemon_pinreg_free(p);
	daemon_regput_free(q);
	net_dht_stop(a);
	uv_run(&loop, UV_RUN_DEFAULT);
}

int main(void)
{
	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);
	uv_unref((uv_handle_t *)&guard);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_refused_get_is_tried_again),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	return ret;
}
