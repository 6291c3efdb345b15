/*
 * Unit tests of src/net/tls (DNS over TLS): self-signed certificates and loading them, the
 * errors a user sees for missing or mismatched files, and a DoT listener on a real libuv loop
 * talked to by a GnuTLS client in a thread with a blocking socket (written here, not with
 * the code under test): TLS 1.3 and 1.2, ALPN "dot", length-prefixed pipelined queries, padded
 * answers (RFC 8467 §4.1), garbage instead of a ClientHello, and the handshake deadline.
 */
#include <arpa/inet.h>
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
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <uv.h>

#include "common/err.h"
#include "net/tls.h"
#include "util.h"

static char tmpdir[512];

static void write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

/* Makes a pair named `tag` in tmpdir; returns the paths. */
static void make_pair(const char *tag, char *cert_path, char *key_path)
{
	char cert[8192], key[8192];
	size_t cl, kl;
	assert_int_equal(
	    net_tls_selfsigned("localhost", 30, cert, sizeof(cert), &cl, key, sizeof(key), &kl), 0);
	assert_non_null(strstr(cert, "-----BEGIN CERTIFICATE-----"));
	assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
	snprintf(cert_path, 600, "%s/%s-cert.pem", tmpdir, tag);
	snprintf(key_path, 600, "%s/%s-key.pem", tmpdir, tag);
	write_file(cert_path, cert, cl);
	write_file(key_path, key, kl);
}

static void test_selfsigned(void **state)
{
	char cert[8192], key[8192], small[64];
	size_t cl, kl;
	assert_int_equal(net_tls_selfsigned("dns.example.net", 10, cert, sizeof(cert), &cl, key,
					    sizeof(key), &kl),
			 0);
	/* Parsed back with GnuTLS's own parser: the names, the validity, the key type. */
	gnutls_x509_crt_t crt;
	gnutls_datum_t d = {(unsigned char *)cert, (unsigned)cl};
	assert_int_equal(gnutls_x509_crt_init(&crt), 0);
	assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
	assert_int_not_equal(gnutls_x509_crt_check_hostname(crt, "localhost"), 0);
	assert_int_not_equal(gnutls_x509_crt_check_hostname(crt, "dns.example.net"), 0);
	assert_int_not_equal(gnutls_x509_crt_check_hostname(crt, "127.0.0.1"), 0);
	assert_int_not_equal(gnutls_x509_crt_check_hostname(crt, "::1"), 0);
	assert_int_equal(gnutls_x509_crt_check_hostname(crt, "example.org"), 0);
	assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, NULL), GNUTLS_PK_ECDSA);
	time_t exp = gnutls_x509_crt_get_expiration_time(crt);
	assert_true(exp > time(NULL) + 9 * 86400 && exp < time(NULL) + 11 * 86400);
	gnutls_x509_crt_deinit(crt);
	assert_int_equal(
	    net_tls_selfsigned("x", 1, small, sizeof(small), &cl, key, sizeof(key), &kl),
	    SW_ENOSPC);
}

static void test_creds_errors(void **state)
{
	char c1[600], k1[600], c2[600], k2[600], missing[600], err[2048];
	net_tls_creds_t *creds = NULL;
	make_pair("one", c1, k1);
	make_pair("two", c2, k2);
	assert_int_equal(net_tls_creds_new(c1, k1, &creds, err, sizeof(err)), 0);
	net_tls_creds_free(creds);
	net_tls_creds_free(NULL);

	snprintf(missing, sizeof(missing), "%s/nothere.pem", tmpdir);
	assert_int_equal(net_tls_creds_new(missing, k1, &creds, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "tls-cert"));
	assert_non_null(strstr(err, "No such file"));
	assert_int_equal(net_tls_creds_new(c1, missing, &creds, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "tls-key"));
	/* The key of another certificate. */
	assert_int_equal(net_tls_creds_new(c1, k2, &creds, err, sizeof(err)), SW_ECRYPTO);
	assert_non_null(strstr(err, "cannot use tls-cert"));
	/* Not PEM at all. */
	assert_int_equal(net_tls_creds_new(k1, c1, &creds, err, sizeof(err)), SW_ECRYPTO);
}

/* ---- a DoT listener and a blocking GnuTLS client in a thread ---- */

typedef struct {
	uint16_t port;
	const char *ca;
	const char *prio; /* client priorities */
	int mode;	  /* 0: queries, 1: garbage, 2: silent */
	/* results */
	int hs;
	char alpn[16];
	int version;
	int nanswers;
	size_t lens[4];
	uint16_t ids[4];
	uint8_t rcodes[4];
	double closed_after;
	uv_async_t *done;
} client_t;

static size_t build_query(uint8_t *q, uint16_t id, const char *name, bool edns)
{
	tu_query_t t = {.id = id,
			.flags = 0x0100,
			.qdcount = 1,
			.qname = name,
			.qtype = 1,
			.qclass = 1,
			.edns = edns ? 1 : 0,
			.edns_payload = 1232};
	return tu_query(&t, q);
}

static double now_s(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

static int tcp_to(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct timeval tv = {5, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *client_main(void *arg)
{
	client_t *cl = arg;
	int fd = tcp_to(cl->port);
	if (fd < 0)
		goto out;
	if (cl->mode != 0) {
		double t0 = now_s();
		if (cl->mode == 1) {
			static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
			if (write(fd, junk, sizeof(junk) - 1) < 0)
				goto out_fd;
		}
		char buf[256];
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		cl->closed_after = now_s() - t0;
		goto out_fd;
	}
	gnutls_session_t s;
	gnutls_certificate_credentials_t x;
	gnutls_certificate_allocate_credentials(&x);
	gnutls_certificate_set_x509_trust_file(x, cl->ca, GNUTLS_X509_FMT_PEM);
	gnutls_init(&s, GNUTLS_CLIENT);
	gnutls_priority_set_direct(s, cl->prio, NULL);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, x);
	gnutls_server_name_set(s, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_session_set_verify_cert(s, "localhost", 0);
	gnutls_datum_t alpn = {(unsigned char *)"dot", 3};
	gnutls_alpn_set_protocols(s, &alpn, 1, 0);
	gnutls_transport_set_int(s, fd);
	do
		cl->hs = gnutls_handshake(s);
	while (cl->hs < 0 && !gnutls_error_is_fatal(cl->hs));
	if (cl->hs == 0) {
		gnutls_datum_t sel;
		if (gnutls_alpn_get_selected_protocol(s, &sel) == 0 && sel.size < sizeof(cl->alpn))
			memcpy(cl->alpn, sel.data, sel.size);
		cl->version = gnutls_protocol_get_version(s);
		/* Three queries in one record, pipelined; the last without EDNS. */
		uint8_t out[1024];
		size_t n = 0;
		for (int i = 0; i < 3; i++) {
			uint8_t q[512];
			size_t ql = build_query(q, (uint16_t)(0x100 + i), "example.", i < 2);
			out[n] = (uint8_t)(ql >> 8);
			out[n + 1] = (uint8_t)ql;
			memcpy(out + n + 2, q, ql);
			n += ql + 2;
		}
		gnutls_record_send(s, out, n);
		uint8_t in[4096];
		size_t have = 0;
		int retries = 0;
		while (cl->nanswers < 3) {
			ssize_t r = gnutls_record_recv(s, in + have, sizeof(in) - have);
			/* E.g. a session ticket (TLS 1.3) was processed; or 5 s passed
			 * (SO_RCVTIMEO). */
			if (r < 0 && !gnutls_error_is_fatal((int)r) && ++retries < 4)
				continue;
			if (r <= 0) {
				fprintf(stderr, "client: %s\n", gnutls_strerror((int)r));
				break;
			}
			have += (size_t)r;
			while (have >= 2 && have >= 2 + (size_t)(in[0] << 8 | in[1])) {
				size_t ml = (size_t)(in[0] << 8 | in[1]);
				cl->lens[cl->nanswers] = ml;
				cl->ids[cl->nanswers] = (uint16_t)(in[2] << 8 | in[3]);
				cl->rcodes[cl->nanswers] = in[5] & 0x0f;
				cl->nanswers++;
				memmove(in, in + 2 + ml, have - 2 - ml);
				have -= 2 + ml;
			}
		}
		gnutls_bye(s, GNUTLS_SHUT_RDWR);
	}
	gnutls_deinit(s);
	gnutls_certificate_free_credentials(x);
out_fd:
	close(fd);
out:
	uv_async_send(cl->done);
	return NULL;
}

static void on_done(uv_async_t *a)
{
	uv_stop(a->loop);
}

static void on_deadline(uv_timer_t *t)
{
	fail_msg("the client did not finish in time");
}

/* Runs one client against a fresh DoT listener. */
static void run_client(client_t *cl, uint32_t handshake_ms)
{
	char cert[600], key[600], err[2048];
	make_pair("srv", cert, key);
	uv_loop_t loop;
	uv_loop_init(&loop);
	resolver_t *r;
	resolver_opts_t ro = {.udp_payload = 1232, .zone = {.min_ttl = 300, .max_ttl = 86400}};
	assert_int_equal(resolver_new(&ro, &r), 0);
	net_tls_creds_t *creds;
	assert_int_equal(net_tls_creds_new(cert, key, &creds, err, sizeof(err)), 0);
	net_tls_opts_t o = {.idle_timeout_ms = 5000,
			    .handshake_timeout_ms = handshake_ms,
			    .max_clients = 8,
			    .max_streams = 10};
	struct sockaddr_in sin = {.sin_family = AF_INET};
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	net_tls_t *t;
	assert_int_equal(
	    net_tls_start(&loop, (struct sockaddr *)&sin, NET_TLS_DOT, creds, r, &o, &t), 0);
	/* The port the kernel chose. */
	struct sockaddr_storage bound;
	assert_int_equal(net_tls_local(t, &bound), 0);
	cl->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
	cl->ca = cert;
	uv_async_t done;
	uv_async_init(&loop, &done, on_done);
	cl->done = &done;
	uv_timer_t deadline;
	uv_timer_init(&loop, &deadline);
	uv_timer_start(&deadline, on_deadline, 10000, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, client_main, cl), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	pthread_join(th, NULL);
	net_tls_stop(t);
	uv_close((uv_handle_t *)&done, NULL);
	uv_close((uv_handle_t *)&deadline, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	resolver_free(r);
	net_tls_creds_free(creds);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void check_answers(const client_t *cl)
{
	assert_int_equal(cl->hs, 0);
	assert_string_equal(cl->alpn, "dot");
	assert_int_equal(cl->nanswers, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(cl->ids[i], 0x100 + i);
		assert_int_equal(cl->rcodes[i], 5); /* REFUSED: no zone, no upstream */
	}
	/* RFC 8467 §4.1: padded to 468 when the query had EDNS; without EDNS there is no OPT. */
	assert_int_equal(cl->lens[0] % 468, 0);
	assert_int_equal(cl->lens[1] % 468, 0);
	assert_true(cl->lens[2] < 468);
}

static void test_dot_tls13(void **state)
{
	client_t cl = {.prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3"};
	run_client(&cl, 3000);
	check_answers(&cl);
	assert_int_equal(cl.version, GNUTLS_TLS1_3);
}

static void test_dot_tls12(void **state)
{
	client_t cl = {.prio = "NORMAL:-VERS-ALL:+VERS-TLS1.2"};
	run_client(&cl, 3000);
	check_answers(&cl);
	assert_int_equal(cl.version, GNUTLS_TLS1_2);
}

static void test_dot_tls11_refused(void **state)
{
	client_t cl = {.prio = "NORMAL:-VERS-ALL:+VERS-TLS1.1"};
	run_client(&cl, 3000);
	assert_true(cl.hs < 0);
}

static void test_dot_garbage_closed_at_once(void **state)
{
	client_t cl = {.mode = 1};
	run_client(&cl, 3000);
	assert_true(cl.closed_after < 1.0);
}

static void test_dot_silent_client_dropped(void **state)
{
	client_t cl = {.mode = 2};
	run_client(&cl, 300);
	assert_true(cl.closed_after >= 0.25 && cl.closed_after < 2.0);
}

int main(void)
{
	const char *base = getenv("SW_TEST_TMPDIR");
	snprintf(tmpdir, sizeof(tmpdir), "%s/tls-test-XXXXXX", base ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_selfsigned),
	    cmocka_unit_test(test_creds_errors),
	    cmocka_unit_test(test_dot_tls13),
	    cmocka_unit_test(test_dot_tls12),
	    cmocka_unit_test(test_dot_tls11_refused),
	    cmocka_unit_test(test_dot_garbage_closed_at_once),
	    cmocka_unit_test(test_dot_silent_client_dropped),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		ret = ret ? ret : 1;
	return ret;
}
