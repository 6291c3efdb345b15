/*
 * Unit tests of src/conf: defaults, setting options from text with messages a user can act
 * on, the config-file parser ("FILE:LINE:" messages), replacement of repeatable options by a
 * later source (file, then command line), and the checks across options; the config-file
 * pitfalls (comments, quotes, repeated options) and --print-config read back.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/codec.h"
#include "common/err.h"
#include "conf/conf.h"

#define ERRCAP 512

static void expect_ok(int ret, const char *err)
{
	if (ret != 0)
		fail_msg("expected success, got %d: %s", ret, err);
}

static void expect_msg(const char *err, const char *part)
{
	if (strstr(err, part) == NULL)
		fail_msg("message '%s' does not contain '%s'", err, part);
}

static void test_defaults(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	memset(&c, 0x5a, sizeof(c));
	conf_init(&c);
	assert_string_equal(c.data_dir, "./swarmdns-data");
	assert_int_equal(c.n_listen_dns, 1);
	assert_string_equal(c.listen_dns[0], "127.0.0.1:5300");
	assert_string_equal(c.listen_api, "127.0.0.1:8053");
	assert_string_equal(c.api_token, "");
	assert_int_equal(c.log_level, SW_LOG_INFO);
	assert_int_equal(c.min_ttl, 300); /* docs/design.md §3 step 4 */
	assert_int_equal(c.max_ttl, 86400);
	assert_int_equal(c.udp_payload, 1232); /* docs/design.md §5 */
	assert_int_equal(c.tcp_idle_timeout, 10000);
	assert_int_equal(c.tcp_max_clients, 1024);
	expect_ok(conf_check(&c, err, sizeof(err)), err);
	assert_true(conf_known("min-ttl"));
	assert_true(conf_known("listen-dns"));
	assert_false(conf_known("min_ttl"));
	assert_false(conf_known(""));
}

static void test_set_good_values(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	expect_ok(conf_set(&c, "min-ttl", "60", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.min_ttl, 60);
	expect_ok(conf_set(&c, "max-ttl", "604800", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.max_ttl, 604800);
	expect_ok(conf_set(&c, "udp-payload", "512", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.udp_payload, 512);
	expect_ok(conf_set(&c, "udp-payload", "4096", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.udp_payload, 4096);
	expect_ok(conf_set(&c, "log-level", "debug", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.log_level, SW_LOG_DEBUG);
	expect_ok(conf_set(&c, "log-level", "error", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.log_level, SW_LOG_ERROR);
	expect_ok(conf_set(&c, "listen-api", "[::1]:8080", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_string_equal(c.listen_api, "[::1]:8080");
	expect_ok(conf_set(&c, "data-dir", "/var/lib/swarmdns", CONF_SRC_CLI, err, sizeof(err)),
		  err);
	assert_string_equal(c.data_dir, "/var/lib/swarmdns");
	expect_ok(conf_set(&c, "api-token", "s3cret", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_string_equal(c.api_token, "s3cret");
	expect_ok(conf_set(&c, "tcp-idle-timeout", "100", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.tcp_idle_timeout, 100);
	expect_ok(conf_set(&c, "tcp-max-clients", "1", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.tcp_max_clients, 1);
	expect_ok(conf_check(&c, err, sizeof(err)), err);
}

static void expect_bad(conf_t *c, const char *name, const char *value, const char *part)
{
	char err[ERRCAP] = "";
	conf_t before;
	memcpy(&before, c, sizeof(before));
	int ret = conf_set(c, name, value, CONF_SRC_CLI, err, sizeof(err));
	if (ret != SW_ECONF)
		fail_msg("%s '%s': expected SW_ECONF, got %d", name, value, ret);
	assert_true(strlen(err) > 0);
	expect_msg(err, part);
	/* A rejected value leaves the option as it was. */
	assert_memory_equal(c, &before, offsetof(conf_t, source));
}

static void test_set_bad_values(void **state)
{
	conf_t c;
	conf_init(&c);
	expect_bad(&c, "no-such-option", "1", "no-such-option");
	expect_bad(&c, "min-ttl", "abc", "min-ttl");
	expect_bad(&c, "min-ttl", "", "min-ttl");
	expect_bad(&c, "min-ttl", "-1", "min-ttl");
	expect_bad(&c, "min-ttl", "10x", "'10x'");
	expect_bad(&c, "min-ttl", "99999999999999999999", "min-ttl");
	expect_bad(&c, "min-ttl", "604801", "604800"); /* names the range */
	expect_bad(&c, "max-ttl", "0", "max-ttl");
	expect_bad(&c, "udp-payload", "511", "512");
	expect_bad(&c, "udp-payload", "4097", "4096");
	expect_bad(&c, "tcp-max-clients", "0", "tcp-max-clients");
	expect_bad(&c, "log-level", "loud", "loud");
	expect_bad(&c, "log-level", "", "log-level");
	expect_bad(&c, "listen-dns", "localhost:53", "listen-dns");
	expect_bad(&c, "listen-dns", "127.0.0.1", "127.0.0.1");
	expect_bad(&c, "listen-dns", "127.0.0.1:", "listen-dns");
	expect_bad(&c, "listen-dns", "127.0.0.1:65536", "listen-dns");
	expect_bad(&c, "listen-dns", "127.0.0.1:53x", "listen-dns");
	expect_bad(&c, "listen-dns", "[::1]53", "listen-dns");
	expect_bad(&c, "listen-dns", ":53", "listen-dns");
	expect_bad(&c, "listen-api", "999.1.1.1:80", "listen-api");
	/* Numbers are digits only: no space, no sign. */
	expect_bad(&c, "rrl-rate", " 5", "rrl-rate");
	expect_bad(&c, "rrl-rate", "+5", "rrl-rate");
	expect_bad(&c, "listen-dns", "127.0.0.1:+53", "listen-dns");
	expect_bad(&c, "listen-dns", "127.0.0.1: 53", "listen-dns");
	expect_bad(&c, "bootstrap", "router.example:+6881", "bootstrap");
	expect_bad(&c, "dns-cookies", "maybe", "yes or no");
	expect_bad(&c, "minimal-any", "", "minimal-any");
	expect_bad(&c, "dht-max-bytes", "1023", "1024");
	char longpath[CONF_PATH_LEN + 10];
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	expect_bad(&c, "data-dir", longpath, "data-dir");
}

static void test_addr_split(void **state)
{
	char host[64];
	uint16_t port = 0;
	assert_int_equal(conf_addr_split("127.0.0.1:53", host, sizeof(host), &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 53);
	assert_int_equal(conf_addr_split("[::1]:5300", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 5300);
	assert_int_equal(conf_addr_split("[2001:db8::1]:0", host, sizeof(host), &port), 0);
	assert_string_equal(host, "2001:db8::1");
	assert_int_equal(port, 0);
	assert_int_equal(conf_addr_split("0.0.0.0:65535", host, sizeof(host), &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(conf_addr_split("[::1:53", host, sizeof(host), &port), SW_ECONF);
	assert_int_equal(conf_addr_split("[]:53", host, sizeof(host), &port), SW_ECONF);
	assert_int_equal(conf_addr_split("127.0.0.1:53", host, 9, &port), SW_ECONF);
}

/* upstream: plain addr[:port], tls://addr[:port][#name] (853 by default), https://host/path. */
static void test_upstream_split(void **state)
{
	char host[64], name[320];
	uint16_t port = 0;
	int kind = -1;
	assert_int_equal(
	    conf_upstream_split("192.0.2.1", &kind, host, sizeof(host), &port, name, sizeof(name)),
	    0);
	assert_int_equal(kind, CONF_UPSTREAM_PLAIN);
	assert_int_equal(port, 53);
	assert_int_equal(conf_upstream_split("tls://9.9.9.9#dns.quad9.net", &kind, host,
					     sizeof(host), &port, name, sizeof(name)),
			 0);
	assert_int_equal(kind, CONF_UPSTREAM_TLS);
	assert_string_equal(host, "9.9.9.9");
	assert_int_equal(port, 853);
	assert_string_equal(name, "dns.quad9.net");
	assert_int_equal(conf_upstream_split("tls://[2620:fe::fe]:8853", &kind, host, sizeof(host),
					     &port, name, sizeof(name)),
			 0);
	assert_string_equal(host, "2620:fe::fe");
	assert_int_equal(port, 8853);
	assert_string_equal(name, "");
	assert_int_equal(conf_upstream_split("https://dns.example/dns-query", &kind, host,
					     sizeof(host), &port, name, sizeof(name)),
			 0);
	assert_int_equal(kind, CONF_UPSTREAM_HTTPS);
	assert_string_equal(name, "https://dns.example/dns-query");
	/* A host name where an address must be, a bad certificate name, no path, no host. */
	const char *bad[] = {"tls://dns.quad9.net",	   "tls://9.9.9.9#",
			     "tls://9.9.9.9#a..b",	   "tls://",
			     "https://dns.example",	   "https:///dns-query",
			     "https://dns.example/{?dns}", "dns.example"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(conf_upstream_split(bad[i], &kind, host, sizeof(host), &port, name,
						     sizeof(name)),
				 SW_ECONF);
}

static void test_repeatable_replacement(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	/* The file's values replace the default... */
	const char *file = "listen-dns 127.0.0.1:53\n"
			   "listen-dns [::1]:53\n";
	expect_ok(conf_parse_text(&c, file, strlen(file), "f.conf", err, sizeof(err)), err);
	assert_int_equal(c.n_listen_dns, 2);
	assert_string_equal(c.listen_dns[0], "127.0.0.1:53");
	assert_string_equal(c.listen_dns[1], "[::1]:53");
	/* ...and the command line's replace the file's. */
	expect_ok(conf_set(&c, "listen-dns", "0.0.0.0:5353", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.n_listen_dns, 1);
	assert_string_equal(c.listen_dns[0], "0.0.0.0:5353");
	expect_ok(conf_set(&c, "listen-dns", "[::]:5353", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.n_listen_dns, 2);
	assert_string_equal(c.listen_dns[0], "0.0.0.0:5353");
	assert_string_equal(c.listen_dns[1], "[::]:5353");
	/* A single-valued option is simply overwritten by the later source. */
	const char *file2 = "min-ttl 100\n";
	expect_ok(conf_parse_text(&c, file2, strlen(file2), "f.conf", err, sizeof(err)), err);
	assert_int_equal(c.min_ttl, 100);
	expect_ok(conf_set(&c, "min-ttl", "200", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(c.min_ttl, 200);
}

static void test_repeatable_limit(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	for (int i = 0; i < CONF_LISTEN_MAX; i++) {
		char v[32];
		snprintf(v, sizeof(v), "127.0.0.%d:53", i + 1);
		expect_ok(conf_set(&c, "listen-dns", v, CONF_SRC_CLI, err, sizeof(err)), err);
	}
	assert_int_equal(c.n_listen_dns, CONF_LISTEN_MAX);
	assert_int_equal(
	    conf_set(&c, "listen-dns", "127.0.0.99:53", CONF_SRC_CLI, err, sizeof(err)), SW_ECONF);
	expect_msg(err, "listen-dns");
	expect_msg(err, "8");
	assert_int_equal(c.n_listen_dns, CONF_LISTEN_MAX);
	assert_string_equal(c.listen_dns[CONF_LISTEN_MAX - 1], "127.0.0.8:53");
}

static void test_parse_text(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	const char *text = "# swarmdns configuration\n"
			   "\n"
			   "   # an indented comment\n"
			   "data-dir /srv/swarmdns   # where the zones live\n"
			   "\tmin-ttl\t60\n"
			   "max-ttl 3600   \n"
			   "log-level warn\r\n"
			   "api-token abc#def\n" /* '#' not after a blank is part of the value */
			   "udp-payload 1400";	 /* no final newline */
	expect_ok(conf_parse_text(&c, text, strlen(text), "swarmdns.conf", err, sizeof(err)), err);
	assert_string_equal(c.data_dir, "/srv/swarmdns");
	assert_int_equal(c.min_ttl, 60);
	assert_int_equal(c.max_ttl, 3600);
	assert_int_equal(c.log_level, SW_LOG_WARN);
	assert_string_equal(c.api_token, "abc#def");
	assert_int_equal(c.udp_payload, 1400);
	/* Untouched options keep their defaults. */
	assert_int_equal(c.tcp_max_clients, 1024);
	assert_string_equal(c.listen_dns[0], "127.0.0.1:5300");
	/* An empty file is fine. */
	expect_ok(conf_parse_text(&c, "", 0, "empty.conf", err, sizeof(err)), err);
}

static void expect_parse_error(const char *text, const char *prefix, const char *part)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	int ret = conf_parse_text(&c, text, strlen(text), "test.conf", err, sizeof(err));
	if (ret != SW_ECONF)
		fail_msg("expected SW_ECONF, got %d for:\n%s", ret, text);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message '%s' does not start with '%s'", err, prefix);
	expect_msg(err, part);
}

static void test_parse_text_errors(void **state)
{
	expect_parse_error("# ok\n"
			   "\n"
			   "min-ttl 60\n"
			   "min-ttl abc\n",
			   "test.conf:4: ", "min-ttl");
	expect_parse_error("data-dir /x\n"
			   "colour blue\n",
			   "test.conf:2: ", "colour");
	expect_parse_error("data-dir /x\n"
			   "# comment\n"
			   "max-ttl\n",
			   "test.conf:3: ", "max-ttl");
	expect_parse_error("max-ttl    # the value is only a comment\n",
			   "test.conf:1: ", "max-ttl");
	expect_parse_error("api-token #abc\n", "test.conf:1: ", "needs a value");
	expect_parse_error("max-ttl    # only a comment\n", "test.conf:1: ", "needs a value");
	expect_parse_error("\r\n\r\nlisten-dns nowhere\r\n", "test.conf:3: ", "nowhere");
	/* A NUL byte inside a line. */
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	const char nul[] = "min-ttl 60\nmax-ttl 6\0000\n";
	assert_int_equal(conf_parse_text(&c, nul, sizeof(nul) - 1, "n.conf", err, sizeof(err)),
			 SW_ECONF);
	assert_int_equal(strncmp(err, "n.conf:2:", 9), 0);
	/* A line longer than the parser's buffer. */
	size_t big = 5000;
	char *lng = malloc(big + 20);
	assert_non_null(lng);
	strcpy(lng, "min-ttl 1\ndata-dir ");
	memset(lng + strlen(lng), 'd', big);
	lng[big + 19] = '\0';
	assert_int_equal(conf_parse_text(&c, lng, strlen(lng), "l.conf", err, sizeof(err)),
			 SW_ECONF);
	assert_int_equal(strncmp(err, "l.conf:2:", 9), 0);
	free(lng);
}

/* '#' starts a comment only at the start of a line or after a blank. */
static void test_comments(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	const char *text = "#api-token one\n"
			   "api-token abc#def#  # the comment after a space\n"
			   "data-dir /srv/a#b\t# after a tab\n"
			   "key-suffix k#\n";
	expect_ok(conf_parse_text(&c, text, strlen(text), "c.conf", err, sizeof(err)), err);
	assert_string_equal(c.api_token, "abc#def#");
	assert_string_equal(c.data_dir, "/srv/a#b");
	assert_int_equal(c.n_key_suffix, 1);
	assert_string_equal(c.key_suffix[0], "k#");
}

/* Quoted values lose their quotes; "..." knows \" and \\, '...' nothing. */
static void test_quotes(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	const char *text = "api-token \"a b # c\"   # a real comment\n"
			   "data-dir '/srv/with space/x\\y'\n"
			   "tls-cert \"q\\\"uote\\\\back\"\n"
			   "tls-key \"\"\n"
			   "upstream \"127.0.0.1:5301\"\n";
	expect_ok(conf_parse_text(&c, text, strlen(text), "q.conf", err, sizeof(err)), err);
	assert_string_equal(c.api_token, "a b # c");
	assert_string_equal(c.data_dir, "/srv/with space/x\\y");
	assert_string_equal(c.tls_cert, "q\"uote\\back");
	assert_string_equal(c.tls_key, "");
	assert_string_equal(c.upstream[0], "127.0.0.1:5301");
	expect_parse_error("data-dir /x\napi-token \"abc\n", "test.conf:2: ", "closing");
	expect_parse_error("api-token 'abc\n", "test.conf:1: ", "closing");
	expect_parse_error("api-token \"abc\"def\n", "test.conf:1: ", "after the closing quote");
	expect_parse_error("api-token \"abc\"#def\n", "test.conf:1: ", "after the closing quote");
	expect_parse_error("api-token \"a\\nb\"\n", "test.conf:1: ", "escapes");
}

/* A single-value option twice in one source is an error naming both places; across sources
 * the later one still wins, and repeatable options collect their values. */
static void test_repeated(void **state)
{
	expect_parse_error("min-ttl 60\n"
			   "# comment\n"
			   "data-dir /x\n"
			   "min-ttl 70\n",
			   "test.conf:4: ", "lines 1 and 4");
	expect_parse_error("api-token a\napi-token a\n", "test.conf:2: ", "api-token");
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	const char *text = "min-ttl 60\nupstream 127.0.0.1:1\nupstream 127.0.0.1:2\n";
	expect_ok(conf_parse_text(&c, text, strlen(text), "r.conf", err, sizeof(err)), err);
	assert_int_equal(c.n_upstream, 2);
	/* The command line overrides the file once, not twice. */
	expect_ok(conf_set_arg(&c, "min-ttl", "80", 3, err, sizeof(err)), err);
	assert_int_equal(c.min_ttl, 80);
	assert_int_equal(conf_set_arg(&c, "min-ttl", "90", 5, err, sizeof(err)), SW_ECONF);
	expect_msg(err, "--min-ttl");
	expect_msg(err, "twice on the command line");
	expect_msg(err, "arguments 3 and 5");
	assert_int_equal(c.min_ttl, 80);
	expect_ok(conf_set_arg(&c, "upstream", "127.0.0.1:3", 7, err, sizeof(err)), err);
	expect_ok(conf_set_arg(&c, "upstream", "127.0.0.1:4", 9, err, sizeof(err)), err);
	assert_int_equal(c.n_upstream, 2);
	assert_string_equal(c.upstream[1], "127.0.0.1:4");
	assert_int_equal(conf_set_arg(&c, "colour", "x", 11, err, sizeof(err)), SW_ECONF);
	expect_msg(err, "colour");
}

static char *print_conf(const conf_t *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	conf_print(c, f);
	fclose(f);
	return buf;
}

/* Every line of --print-config without its origin comment. */
static void strip_origins(char *s)
{
	char *d = s;
	while (*s) {
		char *nl = strchr(s, '\n'), *o = strstr(s, "  # ");
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		size_t keep = o && o < s + n ? (size_t)(o - s) : n;
		memmove(d, s, keep);
		d += keep;
		*d++ = '\n';
		s += n + (nl != NULL);
	}
	*d = '\0';
}

/* --print-config says where each value came from and reads back to the same configuration. */
static void test_print_config(void **state)
{
	conf_t c, back;
	char err[ERRCAP] = "";
	conf_init(&c);
	const char *text = "api-token \"a b#c\"\n"
			   "\n"
			   "min-ttl 60\n"
			   "upstream 127.0.0.1:1\n"
			   "tls-cert 'has \"quote'\n"
			   "rrl-slip 0\n"
			   "dns-cookies no\n";
	expect_ok(conf_parse_text(&c, text, strlen(text), "p.conf", err, sizeof(err)), err);
	expect_ok(conf_set_arg(&c, "log-level", "debug", 2, err, sizeof(err)), err);
	char *out = print_conf(&c);
	expect_msg(out, "api-token \"a b#c\"  # p.conf:1\n");
	expect_msg(out, "min-ttl 60  # p.conf:3\n");
	expect_msg(out, "upstream 127.0.0.1:1  # p.conf:4\n");
	expect_msg(out, "tls-cert \"has \\\"quote\"  # p.conf:5\n");
	expect_msg(out, "dns-cookies no  # p.conf:7\n");
	expect_msg(out, "log-level debug  # command line\n");
	expect_msg(out, "max-ttl 86400  # default\n");
	expect_msg(out, "# forward (no value)  # default\n");
	conf_init(&back);
	expect_ok(conf_parse_text(&back, out, strlen(out), "printed.conf", err, sizeof(err)), err);
	assert_string_equal(back.api_token, "a b#c");
	assert_string_equal(back.tls_cert, "has \"quote");
	assert_int_equal(back.log_level, SW_LOG_DEBUG);
	assert_int_equal(back.n_bootstrap, c.n_bootstrap);
	char *again = print_conf(&back);
	strip_origins(out);
	strip_origins(again);
	assert_string_equal(out, again);
	free(out);
	free(again);
}

/* Every value has its slot for its origin, up to the last option of the table with every
 * repeatable option full. */
static void test_print_config_full(void **state)
{
	conf_t c;
	char err[ERRCAP] = "", line[128];
	size_t cap = 64 * 1024, len = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	conf_init(&c);
	for (int i = 0; i < CONF_PIN_MAX; i++)
		len += (size_t)snprintf(text + len, cap - len, "pin %052d\n", i);
	for (int i = 0; i < CONF_BOOTSTRAP_MAX; i++)
		len += (size_t)snprintf(text + len, cap - len, "private-domain d%d.example\n", i);
	len += (size_t)snprintf(text + len, cap - len, "unwanted-reply-threshold 7\n");
	expect_ok(conf_parse_text(&c, text, len, "full.conf", err, sizeof(err)), err);
	char *out = print_conf(&c);
	snprintf(line, sizeof(line), "private-domain d15.example  # full.conf:%d\n",
		 CONF_PIN_MAX + CONF_BOOTSTRAP_MAX);
	expect_msg(out, line);
	snprintf(line, sizeof(line), "unwanted-reply-threshold 7  # full.conf:%d\n",
		 CONF_PIN_MAX + CONF_BOOTSTRAP_MAX + 1);
	expect_msg(out, line);
	free(out);
	free(text);
}

/* --check-config opens the options that name files: tls-cert and tls-key, when set. */
static int collect(const char *name, const char *path, void *ctx)
{
	char *s = ctx;
	strcat(s, name);
	strcat(s, "=");
	strcat(s, path);
	strcat(s, ";");
	return strcmp(path, "stop") == 0 ? 7 : 0;
}

static void test_foreach_file(void **state)
{
	conf_t c;
	char err[ERRCAP] = "", seen[256] = "";
	conf_init(&c);
	expect_ok(conf_foreach_file(&c, collect, seen), err);
	assert_string_equal(seen, "");
	expect_ok(conf_set(&c, "tls-key", "/k.pem", CONF_SRC_FILE, err, sizeof(err)), err);
	expect_ok(conf_set(&c, "tls-cert", "/c.pem", CONF_SRC_FILE, err, sizeof(err)), err);
	expect_ok(conf_foreach_file(&c, collect, seen), err);
	assert_string_equal(seen, "tls-cert=/c.pem;tls-key=/k.pem;");
	seen[0] = '\0';
	expect_ok(conf_set(&c, "tls-cert", "stop", CONF_SRC_CLI, err, sizeof(err)), err);
	assert_int_equal(conf_foreach_file(&c, collect, seen), 7);
	assert_string_equal(seen, "tls-cert=stop;");
}

static void test_check(void **state)
{
	conf_t c;
	char err[ERRCAP] = "";
	conf_init(&c);
	expect_ok(conf_set(&c, "min-ttl", "500", CONF_SRC_FILE, err, sizeof(err)), err);
	expect_ok(conf_set(&c, "max-ttl", "400", CONF_SRC_FILE, err, sizeof(err)), err);
	err[0] = '\0';
	assert_int_equal(conf_check(&c, err, sizeof(err)), SW_ECONF);
	expect_msg(err, "min-ttl");
	expect_msg(err, "max-ttl");
	expect_msg(err, "500");
	expect_msg(err, "400");
	/* Equal is allowed. */
	expect_ok(conf_set(&c, "max-ttl", "500", CONF_SRC_FILE, err, sizeof(err)), err);
	expect_ok(conf_check(&c, err, sizeof(err)), err);
	/* An empty data-dir is not. */
	expect_ok(conf_set(&c, "data-dir", "", CONF_SRC_FILE, err, sizeof(err)), err);
	assert_int_equal(conf_check(&c, err, sizeof(err)), SW_ECONF);
	expect_msg(err, "data-dir");
}

/* `pin` takes a key, or a registered name under a key or a root (docs/registries.md "Pinning
 * a name"). */
static void test_pin_values(void **state)
{
	static const char key[] = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy";
	static const char reg[] = "yg4gxe7z1r7mr6orids9fh95y7gxhdsxjqi6nngsxxtakqaxr5no";
	uint8_t pk[32], rk[32], want[32];
	char label[64], v[200], err[ERRCAP] = "";
	conf_t c;
	conf_init(&c);
	snprintf(v, sizeof(v), "p2p=%s", reg);
	expect_ok(conf_set(&c, "root", v, CONF_SRC_FILE, err, sizeof(err)), err);
	assert_int_equal(sw_z32_decode_key(key, strlen(key), want), 0);
	assert_int_equal(sw_z32_decode_key(reg, strlen(reg), rk), 0);
	/* A key: no label. */
	assert_int_equal(conf_pin_parse(&c, key, pk, label), 0);
	assert_memory_equal(pk, want, 32);
	assert_string_equal(label, "");
	/* A name under a key, and under the root (case and a final dot as DNS takes them). */
	snprintf(v, sizeof(v), "Alice.%s", reg);
	assert_int_equal(conf_pin_parse(&c, v, pk, label), 0);
	assert_memory_equal(pk, rk, 32);
	assert_string_equal(label, "alice");
	assert_int_equal(conf_pin_parse(&c, "bob.P2P.", pk, label), 0);
	assert_memory_equal(pk, rk, 32);
	assert_string_equal(label, "bob");
	/* Refused: a root the node does not map, a label a registry never gives out, a name
	 * below a label, no label. */
	assert_int_equal(conf_pin_parse(&c, "alice.p2q", pk, label), SW_ECONF);
	assert_int_equal(conf_pin_parse(&c, "_policy.p2p", pk, label), SW_ECONF);
	assert_int_equal(conf_pin_parse(&c, "www.alice.p2p", pk, label), SW_ECONF);
	assert_int_equal(conf_pin_parse(&c, ".p2p", pk, label), SW_ECONF);
	/* conf_check() says what a pin takes. */
	expect_ok(conf_set(&c, "pin", "alice.p2p", CONF_SRC_FILE, err, sizeof(err)), err);
	expect_ok(conf_check(&c, err, sizeof(err)), err);
	expect_ok(conf_set(&c, "pin", "alice.p2q", CONF_SRC_FILE, err, sizeof(err)), err);
	assert_int_equal(conf_check(&c, err, sizeof(err)), SW_ECONF);
	expect_msg(err, "pin alice.p2q: needs a 52-character z-base32 key, or a registered name");
}

static void test_print_help(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	conf_print_help(f);
	fclose(f);
	const char *names[] = {"data-dir",	   "listen-dns",     "listen-api", "api-token",
			       "log-level",	   "min-ttl",	     "max-ttl",	   "udp-payload",
			       "tcp-idle-timeout", "tcp-max-clients"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char opt[64];
		snprintf(opt, sizeof(opt), "--%s ", names[i]);
		expect_msg(buf, opt);
		assert_true(conf_known(names[i]));
	}
	expect_msg(buf, "[default: 300]");
	expect_msg(buf, "[default: 127.0.0.1:5300]");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_set_good_values),
	    cmocka_unit_test(test_set_bad_values),
	    cmocka_unit_test(test_addr_split),
	    cmocka_unit_test(test_upstream_split),
	    cmocka_unit_test(test_repeatable_replacement),
	    cmocka_unit_test(test_repeatable_limit),
	    cmocka_unit_test(test_parse_text),
	    cmocka_unit_test(test_parse_text_errors),
	    cmocka_unit_test(test_comments),
	    cmocka_unit_test(test_quotes),
	    cmocka_unit_test(test_repeated),
	    cmocka_unit_test(test_print_config),
	    cmocka_unit_test(test_print_config_full),
	    cmocka_unit_test(test_foreach_file),
	    cmocka_unit_test(test_check),
	    cmocka_unit_test(test_pin_values),
	    cmocka_unit_test(test_print_help),
	};
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
