/*
 * Fuzz target for configuration parsing (src/conf/conf.h): the config file parser, the
 * per-option value parser behind it and behind the command line, and the whole-config
 * check. src/conf does no I/O: option values such as tls-cert or data-dir are only stored
 * here, never opened, so the target touches no file and writes nothing (messages go into
 * buffers, not through the log).
 *
 * Input: byte 0 chooses the mode (its value modulo 3):
 *   0  the rest is a config file, given to conf_parse_text();
 *   1  the rest is a command line: split into arguments at NUL and newline bytes, read as
 *      `swarmdns serve` reads them (src/cli/serve.c's second pass, mirrored here since the
 *      CLI is not in the core library): `--name value`, `--name=value`, `-c FILE` and
 *      `--config FILE` skipped (no file is read), `--check-config` ignored, anything else
 *      stops the parse; each option goes to conf_set() as CONF_SRC_CLI;
 *   2  both: the bytes before the first NUL are the config file, the rest the command line
 *      over it (precedence: file < command line); unlike serve, the command line is read
 *      even after the file was refused, so that it meets half-applied files too.
 * conf_check() then runs over the result, as serve does before it starts.
 *
 * Checked (a broken rule aborts):
 * - after every step, each option is within the bounds its table entry documents: numbers
 *   in [min, max], yes/no options 0 or 1, the log level one of four, strings terminated
 *   inside their field, lists within their maximum count, addresses `ip:port` /
 *   `[ipv6]:port` with an IP and a port up to 65535, bootstrap entries `host:port` with port
 *   1..65535 or `none`, forward and root `NAME=VALUE`; the bounds are written out here, not
 *   taken from conf.c;
 * - a value conf_set() refuses changes nothing and comes with a message; one it accepts is
 *   stored as given (strings, plain decimal numbers, yes/no words), and a repeatable option
 *   given on the command line holds exactly the values given there, in order (a later
 *   source replaces the list);
 * - a config file that parses leaves no `#` comment, line break or surrounding blanks in any
 *   string; one that does not comes with a "FILE:LINE: " message;
 * - a configuration conf_check() accepts has min-ttl <= max-ttl, a data-dir, tls-cert and
 *   tls-key when listen-dot or listen-doh is set, pins and root keys of 52 z-base32
 *   characters, and upstream and forward servers that are IP addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "conf/conf.h"
#include "fuzz.h"

#define FILENAME "fuzz.conf"
#define ARGS_MAX 1024
#define VALUES_MAX 64 /* the longest list: pin */

/* The numeric options and their bounds, as conf.c's table documents them. */
static const struct {
	const char *name;
	size_t off;
	uint32_t min, max;
} uints[] = {
    {"min-ttl", offsetof(conf_t, min_ttl), 0, 86400 * 7},
    {"max-ttl", offsetof(conf_t, max_ttl), 1, 86400 * 7},
    {"udp-payload", offsetof(conf_t, udp_payload), 512, 4096},
    {"tcp-idle-timeout", offsetof(conf_t, tcp_idle_timeout), 100, 3600000},
    {"tcp-max-clients", offsetof(conf_t, tcp_max_clients), 1, 1000000},
    {"dht-rate-limit", offsetof(conf_t, dht_rate_limit), 1, 10000000},
    {"stale-max", offsetof(conf_t, stale_max), 0, 86400 * 30},
    {"cache-size", offsetof(conf_t, cache_size), 1, 10000000},
    {"tls-max-clients", offsetof(conf_t, tls_max_clients), 1, 1000000},
    {"tls-idle-timeout", offsetof(conf_t, tls_idle_timeout), 100, 3600000},
    {"doh-max-streams", offsetof(conf_t, doh_max_streams), 1, 10000},
    {"rrl-rate", offsetof(conf_t, rrl_rate), 0, 1000000},
    {"rrl-slip", offsetof(conf_t, rrl_slip), 0, 100},
    {"max-pending", offsetof(conf_t, max_pending), 1, 1000000},
    {"dht-puts-per-minute", offsetof(conf_t, dht_puts_per_minute), 1, 1000000},
    {"dht-max-items", offsetof(conf_t, dht_max_items), 1, 10000000},
    /* Not below the largest BEP 44 item: v (1000 bytes) and salt (64). */
    {"dht-max-bytes", offsetof(conf_t, dht_max_bytes), 1024, 1073741824},
    {"api-max-clients", offsetof(conf_t, api_max_clients), 1, 100000},
    {"api-timeout", offsetof(conf_t, api_timeout), 1, 3600},
};

/* The yes/no options. */
static const struct {
	const char *name;
	size_t off;
} bools[] = {
    {"dns-cookies", offsetof(conf_t, dns_cookies)},
    {"minimal-any", offsetof(conf_t, minimal_any)},
};

enum { K_STR, K_ADDR, K_HOSTPORT, K_PAIR };

/* The string options: one value (count_off 0) or a list. */
static const struct {
	const char *name;
	int kind;
	size_t off, size, count_off;
	unsigned max;
} strs[] = {
    {"data-dir", K_STR, offsetof(conf_t, data_dir), CONF_PATH_LEN, 0, 1},
    {"listen-api", K_ADDR, offsetof(conf_t, listen_api), CONF_ADDR_LEN, 0, 1},
    {"api-token", K_STR, offsetof(conf_t, api_token), 128, 0, 1},
    {"dht-listen", K_ADDR, offsetof(conf_t, dht_listen), CONF_ADDR_LEN, 0, 1},
    {"tls-cert", K_STR, offsetof(conf_t, tls_cert), CONF_PATH_LEN, 0, 1},
    {"tls-key", K_STR, offsetof(conf_t, tls_key), CONF_PATH_LEN, 0, 1},
    {"listen-dns", K_ADDR, offsetof(conf_t, listen_dns), CONF_ADDR_LEN,
     offsetof(conf_t, n_listen_dns), CONF_LISTEN_MAX},
    {"bootstrap", K_HOSTPORT, offsetof(conf_t, bootstrap), CONF_ADDR_LEN,
     offsetof(conf_t, n_bootstrap), CONF_BOOTSTRAP_MAX},
    {"upstream", K_STR, offsetof(conf_t, upstream), CONF_ADDR_LEN, offsetof(conf_t, n_upstream),
     CONF_LISTEN_MAX},
    {"forward", K_PAIR, offsetof(conf_t, forward), CONF_PAIR_LEN, offsetof(conf_t, n_forward),
     CONF_BOOTSTRAP_MAX},
    {"root", K_PAIR, offsetof(conf_t, root), CONF_PAIR_LEN, offsetof(conf_t, n_root),
     CONF_BOOTSTRAP_MAX},
    {"key-suffix", K_STR, offsetof(conf_t, key_suffix), CONF_ADDR_LEN,
     offsetof(conf_t, n_key_suffix), CONF_BOOTSTRAP_MAX},
    {"pin", K_STR, offsetof(conf_t, pin), CONF_ADDR_LEN, offsetof(conf_t, n_pin), CONF_PIN_MAX},
    {"listen-dot", K_ADDR, offsetof(conf_t, listen_dot), CONF_ADDR_LEN,
     offsetof(conf_t, n_listen_dot), CONF_LISTEN_MAX},
    {"listen-doh", K_ADDR, offsetof(conf_t, listen_doh), CONF_ADDR_LEN,
     offsetof(conf_t, n_listen_doh), CONF_LISTEN_MAX},
};
#define NUINTS (sizeof(uints) / sizeof(uints[0]))
#define NBOOLS (sizeof(bools) / sizeof(bools[0]))
#define NSTRS (sizeof(strs) / sizeof(strs[0]))

static unsigned str_count(const conf_t *c, size_t i)
{
	return strs[i].count_off ? *(const unsigned *)((const char *)c + strs[i].count_off) : 1;
}

static const char *str_value(const conf_t *c, size_t i, unsigned j)
{
	return (const char *)c + strs[i].off + j * strs[i].size;
}

/* A port: digits only (no space, no sign), all of the text after the colon, at most 65535. */
static int port_ok(const char *s, unsigned long min)
{
	char *end;
	errno = 0;
	unsigned long p = strtoul(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && *end == '\0' && errno == 0 && p >= min && p <= 65535;
}

static int ip_ok(const char *s, size_t n)
{
	char host[CONF_PAIR_LEN];
	uint8_t buf[16];
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, s, n);
	host[n] = '\0';
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* "ip:port" or "[ipv6]:port"; with bare_ok, a bare IP too. */
static int addr_ok(const char *s, int bare_ok)
{
	if (bare_ok && ip_ok(s, strlen(s)))
		return 1;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		return close && close[1] == ':' && ip_ok(s + 1, (size_t)(close - s - 1)) &&
		       port_ok(close + 2, 0);
	}
	const char *colon = strchr(s, ':');
	return colon && strchr(colon + 1, ':') == NULL && ip_ok(s, (size_t)(colon - s)) &&
	       port_ok(colon + 1, 0);
}

static int z32_key_ok(const char *s)
{
	static const char alphabet[] = "ybndrfg8ejkmcpqxot1uwisza345h769YBNDRFGEJKMCPQXOTUWISZAH";
	return strlen(s) == 52 && strspn(s, alphabet) == 52;
}

/* Every option within its documented bounds. */
static void check_bounds(const conf_t *c)
{
	for (size_t i = 0; i < NUINTS; i++) {
		uint32_t v = *(const uint32_t *)((const char *)c + uints[i].off);
		FUZZ_CHECK(v >= uints[i].min && v <= uints[i].max, "%s is %u, outside [%u, %u]",
			   uints[i].name, v, uints[i].min, uints[i].max);
	}
	FUZZ_CHECK(c->log_level >= SW_LOG_ERROR && c->log_level <= SW_LOG_DEBUG, "log-level is %d",
		   (int)c->log_level);
	/* Read as a byte: a bool holding anything but 0 or 1 would be undefined to load. */
	for (size_t i = 0; i < NBOOLS; i++) {
		uint8_t b = *((const uint8_t *)c + bools[i].off);
		FUZZ_CHECK(b <= 1, "%s holds the byte %u", bools[i].name, b);
	}
	for (size_t i = 0; i < NSTRS; i++) {
		unsigned n = str_count(c, i);
		FUZZ_CHECK(n <= strs[i].max, "%s holds %u values, at most %u", strs[i].name, n,
			   strs[i].max);
		for (unsigned j = 0; j < n; j++) {
			const char *s = str_value(c, i, j);
			FUZZ_CHECK(strnlen(s, strs[i].size) < strs[i].size,
				   "%s value %u is not terminated", strs[i].name, j);
			switch (strs[i].kind) {
			case K_ADDR:
				FUZZ_CHECK(addr_ok(s, 0), "%s holds '%s', not ip:port",
					   strs[i].name, s);
				break;
			case K_HOSTPORT: {
				const char *colon = strrchr(s, ':');
				FUZZ_CHECK(strcmp(s, "none") == 0 ||
					       (colon && colon != s && port_ok(colon + 1, 1)),
					   "%s holds '%s', not host:port", strs[i].name, s);
				break;
			}
			case K_PAIR: {
				const char *eq = strchr(s, '=');
				FUZZ_CHECK(eq && eq != s && eq[1] != '\0',
					   "%s holds '%s', not NAME=VALUE", strs[i].name, s);
				break;
			}
			default:
				break;
			}
		}
	}
}

/* What conf_check() promises when it accepts. */
static void check_accepted(const conf_t *c)
{
	FUZZ_CHECK(c->min_ttl <= c->max_ttl, "accepted min-ttl %u > max-ttl %u", c->min_ttl,
		   c->max_ttl);
	FUZZ_CHECK(c->data_dir[0] != '\0', "accepted an empty data-dir");
	FUZZ_CHECK(!(c->n_listen_dot || c->n_listen_doh) || (c->tls_cert[0] && c->tls_key[0]),
		   "accepted listen-dot/listen-doh without tls-cert and tls-key");
	for (unsigned j = 0; j < c->n_pin; j++)
		FUZZ_CHECK(z32_key_ok(c->pin[j]), "accepted pin '%s'", c->pin[j]);
	for (unsigned j = 0; j < c->n_root; j++) {
		const char *eq = strchr(c->root[j], '=');
		FUZZ_CHECK(eq && eq != c->root[j] && z32_key_ok(eq + 1), "accepted root '%s'",
			   c->root[j]);
	}
	for (unsigned j = 0; j < c->n_upstream; j++)
		FUZZ_CHECK(strcmp(c->upstream[j], "none") == 0 || addr_ok(c->upstream[j], 1),
			   "accepted upstream '%s'", c->upstream[j]);
	for (unsigned j = 0; j < c->n_forward; j++) {
		const char *eq = strchr(c->forward[j], '=');
		FUZZ_CHECK(eq && addr_ok(eq + 1, 1), "accepted forward '%s'", c->forward[j]);
	}
}

/* A config file that parsed: every string is one trimmed value of one line. */
static void check_from_file(const conf_t *c)
{
	for (size_t i = 0; i < NSTRS; i++) {
		for (unsigned j = 0; j < str_count(c, i); j++) {
			const char *s = str_value(c, i, j);
			size_t n = strlen(s);
			FUZZ_CHECK(strpbrk(s, "#\n") == NULL,
				   "%s holds '%s': a comment or a line "
				   "break",
				   strs[i].name, s);
			FUZZ_CHECK(n == 0 || (s[0] != ' ' && s[0] != '\t' && s[n - 1] != ' ' &&
					      s[n - 1] != '\t' && s[n - 1] != '\r'),
				   "%s holds '%s' with blanks around it", strs[i].name, s);
		}
	}
}

static void parse_file(conf_t *c, const char *text, size_t len)
{
	char err[1200];
	err[0] = '\0';
	int ret = conf_parse_text(c, text, len, FILENAME, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == SW_ECONF, "conf_parse_text: %d", ret);
	check_bounds(c);
	if (ret == 0) {
		check_from_file(c);
		return;
	}
	/* "FILE:LINE: problem" */
	size_t n = strlen(FILENAME ":");
	FUZZ_CHECK(strncmp(err, FILENAME ":", n) == 0 && err[n] >= '1' && err[n] <= '9' &&
		       strstr(err + n, ": ") != NULL,
		   "a refused config file without a \"" FILENAME ":LINE: \" message: '%s'", err);
}

/* The values the command line gave one option, in order. */
typedef struct {
	unsigned n;
	const char *v[VALUES_MAX + 1];
} given_t;

static int str_index(const char *name)
{
	for (size_t i = 0; i < NSTRS; i++)
		if (strcmp(strs[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* One option from the command line; returns 0 when it was accepted. */
static int set_cli(conf_t *c, const char *name, const char *value, given_t *given)
{
	static conf_t before;
	char err[1200];
	err[0] = '\0';
	memcpy(&before, c, sizeof(before)); /* bytewise, padding included, for memcmp */
	int ret = conf_set(c, name, value, CONF_SRC_CLI, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == SW_ECONF, "conf_set: %d", ret);
	check_bounds(c);
	if (ret != 0) {
		FUZZ_CHECK(memcmp(&before, c, sizeof(*c)) == 0,
			   "--%s '%s' was refused (%s) but "
			   "changed the configuration",
			   name, value, err);
		FUZZ_CHECK(err[0] != '\0', "--%s '%s' was refused without a message", name, value);
		return -1;
	}
	for (size_t k = 0; k < NUINTS; k++) {
		/* A plain decimal number is stored as its value. */
		if (strcmp(uints[k].name, name) != 0 || value[strspn(value, "0123456789")] != '\0')
			continue;
		uint64_t want = 0;
		for (const char *d = value; *d && want <= UINT32_MAX; d++)
			want = want * 10 + (uint64_t)(*d - '0');
		FUZZ_CHECK(want == *(const uint32_t *)((const char *)c + uints[k].off),
			   "--%s '%s' stored as %u", name, value,
			   *(const uint32_t *)((const char *)c + uints[k].off));
	}
	for (size_t k = 0; k < NBOOLS; k++) {
		if (strcmp(bools[k].name, name) != 0)
			continue;
		uint8_t b = *((const uint8_t *)c + bools[k].off);
		int yes = strcmp(value, "yes") == 0 || strcmp(value, "on") == 0 ||
			  strcmp(value, "true") == 0 || strcmp(value, "1") == 0;
		int no = strcmp(value, "no") == 0 || strcmp(value, "off") == 0 ||
			 strcmp(value, "false") == 0 || strcmp(value, "0") == 0;
		FUZZ_CHECK((yes && b == 1) || (no && b == 0), "--%s '%s' stored as %u", name, value,
			   b);
	}
	int i = str_index(name);
	if (i >= 0) {
		given_t *g = &given[i];
		if (g->n <= VALUES_MAX)
			g->v[g->n++] = value;
		if (strs[i].count_off == 0)
			FUZZ_CHECK(strcmp(str_value(c, (size_t)i, 0), value) == 0,
				   "--%s '%s' stored as '%s'", name, value,
				   str_value(c, (size_t)i, 0));
	}
	return 0;
}

/* The command line after the config file: the values of each list given here replace the
 * file's, in the order given. */
static void check_cli_lists(const conf_t *c, const given_t *given)
{
	for (size_t i = 0; i < NSTRS; i++) {
		const given_t *g = &given[i];
		if (strs[i].count_off == 0 || g->n == 0)
			continue;
		FUZZ_CHECK(str_count(c, i) == g->n,
			   "%s: %u values given on the command line, "
			   "%u held",
			   strs[i].name, g->n, str_count(c, i));
		for (unsigned j = 0; j < g->n; j++)
			FUZZ_CHECK(strcmp(str_value(c, i, j), g->v[j]) == 0,
				   "%s value %u: '%s' given, '%s' held", strs[i].name, j, g->v[j],
				   str_value(c, i, j));
	}
}

/* serve.c's command-line loop over argv (no program name). */
static void parse_cli(conf_t *c, char **argv, int argc)
{
	static given_t given[NSTRS];
	memset(given, 0, sizeof(given));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strcmp(a, "--check-config") == 0)
			continue;
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0')
			break; /* "unexpected argument" */
		char name[64];
		const char *value;
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof(name))
			break;
		memcpy(name, a + 2, nl);
		name[nl] = '\0';
		if (eq)
			value = eq + 1;
		else if (!conf_known(name) || i + 1 >= argc)
			break;
		else
			value = argv[++i];
		/* A list given more often than it may hold is refused at the first extra value;
		 * the counting below stops with it. */
		if (set_cli(c, name, value, given) != 0)
			break;
	}
	check_cli_lists(c, given);
}

/* Splits buf (len bytes, writable, one spare byte after it) into arguments at NUL and
 * newline bytes. */
static int split_args(char *buf, size_t len, char **argv)
{
	int argc = 0;
	size_t start = 0;
	buf[len] = '\0';
	for (size_t i = 0; i <= len && argc < ARGS_MAX; i++) {
		if (i == len || buf[i] == '\0' || buf[i] == '\n') {
			buf[i] = '\0';
			if (i > start || i < len)
				argv[argc++] = buf + start;
			start = i + 1;
		}
	}
	return argc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static conf_t c;
	static char *argv[ARGS_MAX];
	char err[1200];
	if (size == 0)
		return 0;
	int mode = data[0] % 3;
	const char *text = (const char *)data + 1;
	size_t len = size - 1, flen = len;
	if (mode == 2) {
		const char *nul = memchr(text, '\0', len);
		flen = nul ? (size_t)(nul - text) : len;
	}

	conf_init(&c);
	check_bounds(&c);
	FUZZ_CHECK(conf_check(&c, err, sizeof(err)) == 0, "the defaults are refused: %s", err);
	if (mode == 0 || mode == 2)
		parse_file(&c, text, flen);
	if (mode == 1 || mode == 2) {
		size_t skip = mode == 2 ? (flen < len ? flen + 1 : len) : 0;
		char *buf = malloc(len - skip + 1);
		FUZZ_CHECK(buf != NULL, "out of memory");
		memcpy(buf, text + skip, len - skip);
		int argc = split_args(buf, len - skip, argv);
		parse_cli(&c, argv, argc);
		free(buf);
	}
	err[0] = '\0';
	int ret = conf_check(&c, err, sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == SW_ECONF, "conf_check: %d", ret);
	if (ret == 0)
		check_accepted(&c);
	else
		FUZZ_CHECK(err[0] != '\0', "conf_check refused without a message");
	return 0;
}
