/*
 * Unit tests of src/net/http: the HTTP client on libcurl's multi interface driven by a real
 * libuv loop, against a small HTTP/1.1 server run by the test on 127.0.0.1 (a thread per
 * connection, written here with plain sockets so that it shares no code with the client).
 * Checked: status, body and a header of a GET; a PUT's body arrives; two requests in a row
 * reuse one connection; a body over max_body is an error; a closed port, a silent server
 * (timeout), a bad URL; cancel (no callback); free with requests in flight.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "common/err.h"
#include "net/http.h"

/* ---- the test's server ---- */

static int srv_fd;
static uint16_t srv_port;
static int srv_accepts; /* connections accepted, for the reuse test */
static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
		if (k <= 0)
			return;
		c += k;
		n -= (size_t)k;
	}
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	size_t len = 0;
	for (;;) {
		char *end;
		while ((end = memmem(buf, len, "\r\n\r\n", 4)) == NULL) {
			ssize_t k = recv(fd, buf + len, sizeof(buf) - len, 0);
			if (k <= 0)
				goto out;
			len += (size_t)k;
		}
		size_t hlen = (size_t)(end - buf) + 4, clen = 0;
		const char *cl = memmem(buf, hlen, "Content-Length: ", 16);
		if (cl)
			clen = strtoul(cl + 16, NULL, 10);
		while (len < hlen + clen) {
			ssize_t k = recv(fd, buf + len, sizeof(buf) - len, 0);
			if (k <= 0)
				goto out;
			len += (size_t)k;
		}
		char method[8] = "", path[64] = "";
		sscanf(buf, "%7s %63s", method, path);
		char head[256];
		if (strcmp(path, "/slow") == 0) {
			/* Never answers; the client's timeout ends it. */
			while (recv(fd, buf, sizeof(buf), 0) > 0)
				;
			goto out;
		} else if (strcmp(path, "/big") == 0) {
			static char big[100000];
			memset(big, 'x', sizeof(big));
			int n =
			    snprintf(head, sizeof(head),
				     "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", sizeof(big));
			send_all(fd, head, (size_t)n);
			send_all(fd, big, sizeof(big));
		} else if (strcmp(path, "/echo") == 0) {
			int n = snprintf(head, sizeof(head),
					 "HTTP/1.1 201 Created\r\nX-Method: %s\r\nContent-Length: "
					 "%zu\r\n\r\n",
					 method, clen);
			send_all(fd, head, (size_t)n);
			send_all(fd, buf + hlen, clen);
		} else {
			const char *r = "HTTP/1.1 200 OK\r\nX-Test: yes\r\nContent-Length: "
					"5\r\n\r\nhello";
			send_all(fd, r, strlen(r));
		}
		memmove(buf, buf + hlen + clen, len - hlen - clen);
		len -= hlen + clen;
	}
out:
	close(fd);
	return NULL;
}

static void *srv_main(void *arg)
{
	for (;;) {
		int c = accept(srv_fd, NULL, NULL);
		if (c < 0)
			return NULL;
		pthread_mutex_lock(&srv_mu);
		srv_accepts++;
		pthread_mutex_unlock(&srv_mu);
		pthread_t t;
		pthread_create(&t, NULL, conn_main, (void *)(intptr_t)c);
		pthread_detach(t);
	}
}

static int accepts(void)
{
	pthread_mutex_lock(&srv_mu);
	int n = srv_accepts;
	pthread_mutex_unlock(&srv_mu);
	return n;
}

static int setup(void **state)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t al = sizeof(a);
	srv_fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(srv_fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(srv_fd, 16), 0);
	getsockname(srv_fd, (struct sockaddr *)&a, &al);
	srv_port = ntohs(a.sin_port);
	pthread_t t;
	pthread_create(&t, NULL, srv_main, NULL);
	pthread_detach(t);
	return 0;
}

/* ---- the client ---- */

typedef struct {
	int calls, err, status;
	char body[256];
	size_t body_len;
	char header[64];
} result_t;

static void on_done(void *ctx, net_http_req_t *req, const net_http_resp_t *r)
{
	result_t *res = ctx;
	res->calls++;
	res->err = r->err;
	res->status = r->status;
	res->body_len = r->body_len;
	memcpy(res->body, r->body, r->body_len < sizeof(res->body) ? r->body_len : 0);
	if (net_http_header_find(req, "x-test", res->header, sizeof(res->header)) != 0)
		net_http_header_find(req, "X-Method", res->header, sizeof(res->header));
	/* Cancel inside its own callback is a no-op, not a double free. */
	net_http_cancel(req);
}

static void url(char *out, size_t cap, const char *path)
{
	snprintf(out, cap, "http://127.0.0.1:%u%s", srv_port, path);
}

/* Runs the loop until every result has its callback (or a bound of 10 s passes). */
static void run_until(uv_loop_t *loop, result_t *res, size_t n)
{
	uint64_t t0 = uv_now(loop);
	for (;;) {
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += res[i].calls > 0;
		if (done == n || uv_now(loop) - t0 > 10000)
			return;
		uv_run(loop, UV_RUN_ONCE);
		uv_update_time(loop);
	}
}

static void close_all(uv_loop_t *loop, net_http_t *h)
{
	net_http_free(h);
	uv_run(loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_get_and_reuse(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	net_http_t *h;
	assert_int_equal(net_http_new(&loop, NULL, &h), 0);
	char u[128];
	url(u, sizeof(u), "/hello");
	int before = accepts();
	result_t res[2] = {0};
	for (int i = 0; i < 2; i++) {
		net_http_req_opts_t o = {.url = u, .timeout_ms = 5000};
		assert_int_equal(net_http_request(h, &o, on_done, &res[i], NULL), 0);
		assert_int_equal(res[i].calls, 0); /* never inside net_http_request() */
		run_until(&loop, &res[i], 1);
		assert_int_equal(res[i].calls, 1);
		assert_int_equal(res[i].err, 0);
		assert_int_equal(res[i].status, 200);
		assert_int_equal(res[i].body_len, 5);
		assert_memory_equal(res[i].body, "hello", 5);
		assert_string_equal(res[i].header, "yes");
	}
	/* The second request went over the first one's connection. */
	assert_int_equal(accepts() - before, 1);
	assert_int_equal(net_http_active(h), 0);
	close_all(&loop, h);
}

static void test_put_body(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	net_http_t *h;
	assert_int_equal(net_http_new(&loop, NULL, &h), 0);
	char u[128];
	url(u, sizeof(u), "/echo");
	uint8_t body[100];
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)i;
	const char *hdrs[] = {"Content-Type: application/octet-stream"};
	net_http_req_opts_t o = {.method = "PUT",
				 .url = u,
				 .headers = hdrs,
				 .nheaders = 1,
				 .body = body,
				 .body_len = sizeof(body)};
	result_t res = {0};
	assert_int_equal(net_http_request(h, &o, on_done, &res, NULL), 0);
	memset(body, 0, sizeof(body)); /* the request has its own copy */
	run_until(&loop, &res, 1);
	assert_int_equal(res.err, 0);
	assert_int_equal(res.status, 201);
	assert_string_equal(res.header, "PUT");
	assert_int_equal(res.body_len, 100);
	for (size_t i = 0; i < 100; i++)
		assert_int_equal((uint8_t)res.body[i], i);
	close_all(&loop, h);
}

static void test_errors(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	net_http_t *h;
	assert_int_equal(net_http_new(&loop, NULL, &h), 0);
	char big[128], slow[128], closed[128];
	url(big, sizeof(big), "/big");
	url(slow, sizeof(slow), "/slow");
	/* A port nobody listens on: one just bound and closed. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
	socklen_t al = sizeof(a);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &al);
	close(fd);
	snprintf(closed, sizeof(closed), "http://127.0.0.1:%u/", ntohs(a.sin_port));
	result_t res[3] = {0};
	net_http_req_opts_t o1 = {.url = big, .max_body = 1000};
	net_http_req_opts_t o2 = {.url = slow, .timeout_ms = 300};
	net_http_req_opts_t o3 = {.url = closed};
	assert_int_equal(net_http_request(h, &o1, on_done, &res[0], NULL), 0);
	assert_int_equal(net_http_request(h, &o2, on_done, &res[1], NULL), 0);
	assert_int_equal(net_http_request(h, &o3, on_done, &res[2], NULL), 0);
	uint64_t t0 = uv_now(&loop);
	run_until(&loop, res, 3);
	assert_true(uv_now(&loop) - t0 < 3000);
	assert_int_equal(res[0].err, SW_ELIMIT);
	assert_int_equal(res[0].status, 0);
	assert_int_equal(res[1].err, -ETIMEDOUT);
	assert_int_equal(res[2].err, SW_ECONN);
	/* Not http(s): refused at once. */
	net_http_req_opts_t o4 = {.url = "ftp://127.0.0.1/"};
	assert_int_equal(net_http_request(h, &o4, on_done, &res[0], NULL), SW_EINVAL);
	close_all(&loop, h);
}

static void test_cancel_and_free(void **state)
{
	uv_loop_t loop;
	uv_loop_init(&loop);
	net_http_t *h;
	assert_int_equal(net_http_new(&loop, NULL, &h), 0);
	char slow[128], hello[128];
	url(slow, sizeof(slow), "/slow");
	url(hello, sizeof(hello), "/hello");
	result_t res[3] = {0};
	net_http_req_t *r0;
	net_http_req_opts_t o = {.url = slow, .timeout_ms = 200};
	net_http_req_opts_t oh = {.url = hello};
	assert_int_equal(net_http_request(h, &o, on_done, &res[0], &r0), 0);
	assert_int_equal(net_http_request(h, &oh, on_done, &res[1], NULL), 0);
	net_http_cancel(r0);
	run_until(&loop, &res[1], 1);
	assert_int_equal(res[1].status, 200);
	/* Past the cancelled request's timeout: its callback never ran. */
	uint64_t t0 = uv_now(&loop);
	while (uv_now(&loop) - t0 < 400) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(10000);
		uv_update_time(&loop);
	}
	assert_int_equal(res[0].calls, 0);
	/* Freed with a request in flight: no callback, every handle closed. */
	assert_int_equal(net_http_request(h, &o, on_done, &res[2], NULL), 0);
	uv_run(&loop, UV_RUN_NOWAIT);
	assert_int_equal(net_http_active(h), 1);
	close_all(&loop, h);
	assert_int_equal(res[2].calls, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_get_and_reuse),
	    cmocka_unit_test(test_put_body),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_cancel_and_free),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
