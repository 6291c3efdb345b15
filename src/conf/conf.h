/*
 * Configuration: one table of options (conf.c). Each option has one name, used as
 * `--name value` on the command line and as a `name value` line in the config file.
 * Precedence: built-in default < config file < command line; for a repeatable option the
 * values of the later source replace the earlier ones. No I/O: the caller reads the file.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/log.h"

#define CONF_LISTEN_MAX 8
#define CONF_BOOTSTRAP_MAX 16
#define CONF_PAIR_LEN 320
#define CONF_PIN_MAX 64
#define CONF_ADDR_LEN 64
#define CONF_PATH_LEN 1024
#define CONF_WHERE_MAX 320
#define CONF_RELAY_MAX 8
#define CONF_URL_LEN 256
#define CONF_REGISTRAR_MAX 8
#define CONF_AUDIT_MAX 8

typedef struct {
	char data_dir[CONF_PATH_LEN];
	char listen_dns[CONF_LISTEN_MAX][CONF_ADDR_LEN];
	unsigned n_listen_dns;
	char listen_api[CONF_ADDR_LEN];
	char api_token[128];
	sw_log_level_t log_level;
	uint32_t min_ttl;
	uint32_t max_ttl;
	uint32_t udp_payload;
	uint32_t udp_rcvbuf;
	uint32_t workers;	/* DNS serving threads; 0: one per online CPU (docs/workers.md) */
	uint32_t udp_spread_at; /* percent busy of the one worker taking UDP; 0: spread always */
	uint32_t tcp_idle_timeout; /* milliseconds */
	uint32_t tcp_max_clients;
	char dht_listen[CONF_ADDR_LEN];
	char bootstrap[CONF_BOOTSTRAP_MAX][CONF_ADDR_LEN]; /* host:port, or "none" */
	unsigned n_bootstrap;
	uint32_t dht_rate_limit; /* KRPC queries per second per IP */
	/* addr[:port], tls://addr[:port][#name], https://host[:port]/path; none: empty list */
	char upstream[CONF_LISTEN_MAX][CONF_PAIR_LEN];
	unsigned n_upstream;
	char upstream_ca[CONF_PATH_LEN]; /* PEM CAs of encrypted upstreams; "": the system's */
	char forward[CONF_BOOTSTRAP_MAX][CONF_PAIR_LEN]; /* SUFFIX=addr[:port] */
	unsigned n_forward;
	char root[CONF_BOOTSTRAP_MAX][CONF_PAIR_LEN]; /* SUFFIX=<z32> */
	unsigned n_root;
	char key_suffix[CONF_BOOTSTRAP_MAX][CONF_ADDR_LEN];
	unsigned n_key_suffix;
	char pin[CONF_PIN_MAX][CONF_ADDR_LEN]; /* <z32> */
	unsigned n_pin;
	uint32_t stale_max;
	uint32_t unconverged_ttl; /* docs/design.md §3 step 2 */
	uint32_t cache_size;
	/* Encrypted DNS (RFC 7858, RFC 8484): off while no listen-dot / listen-doh is given. */
	char listen_dot[CONF_LISTEN_MAX][CONF_ADDR_LEN];
	unsigned n_listen_dot;
	char listen_doh[CONF_LISTEN_MAX][CONF_ADDR_LEN];
	unsigned n_listen_doh;
	char tls_cert[CONF_PATH_LEN]; /* PEM certificate chain */
	char tls_key[CONF_PATH_LEN];  /* PEM private key */
	uint32_t tls_max_clients;
	uint32_t tls_idle_timeout; /* milliseconds */
	uint32_t doh_max_streams;
	/* Abuse limits (docs/limits.md). */
	uint32_t rrl_rate, rrl_slip;
	bool dns_cookies, minimal_any;
	uint32_t max_pending, lookup_rate;
	uint32_t lookup_pool;
	/* DNS rebinding protection (docs/design.md §6). */
	bool rebind_protection;
	char private_domain[CONF_BOOTSTRAP_MAX][CONF_PAIR_LEN];
	unsigned n_private_domain;
	uint32_t dht_puts_per_minute, dht_max_items, dht_max_bytes;
	uint32_t dht_paths, dht_reply_nodes, dht_ip_slots, dht_net_slots;
	uint32_t dht_quorum, dht_quorum_private, dht_quorum_paths, dht_quorum_net_nodes;
	uint32_t dht_answer_deadline, dht_id_vote_nets; /* ms */
	bool dht_enforce_node_id;
	uint32_t dht_net_share, dht_seq_memory;
	uint32_t api_max_clients, api_timeout;
	uint32_t relay_put_rate;       /* public relay PUTs a minute per client address */
	char query_log[CONF_PATH_LEN]; /* a file, "stderr", or "" (off) */
	uint32_t upstream_max_waiters, unwanted_reply_threshold;
	/* pkarr relays (docs/design.md §7 "Relays as a source"). */
	char relay[CONF_RELAY_MAX][CONF_URL_LEN]; /* base URL, http(s):// */
	unsigned n_relay;
	uint32_t relay_timeout, relay_max_requests; /* ms; requests in flight */
	char relay_ca[CONF_PATH_LEN];		    /* PEM CA certificates; "": the system's */
	/* Registries this node runs (docs/registries.md): their key files. */
	char registrar[CONF_REGISTRAR_MAX][CONF_PATH_LEN];
	unsigned n_registrar;
	uint32_t registrar_rate; /* their requests a second per client network (/24, /56) */
	/* Registries whose tree heads this node audits: `<z32>` or `<z32>=<URL>` of a node that
	 * serves the log (else the policy's api=), and how often (docs/registries.md). */
	char audit[CONF_AUDIT_MAX][CONF_PAIR_LEN];
	unsigned n_audit;
	uint32_t audit_interval; /* seconds */
	bool audit_mirror;	 /* keep a copy of each audited log and serve it */
	/* Internal: which source last set each option (for repeatable replacement). */
	uint8_t source[128];
	/* Internal: where each value was set (config-file line, or command-line argument
	 * number; 0: not known), one slot per value, for --print-config. */
	uint32_t where[CONF_WHERE_MAX];
	char file[CONF_PATH_LEN]; /* the config file read, for --print-config */
} conf_t;

typedef enum { CONF_SRC_DEFAULT = 0, CONF_SRC_FILE, CONF_SRC_CLI } conf_source_t;

/* Fills every option with its default. */
void conf_init(conf_t *c);
/* Sets option `name` from text. Returns 0, or SW_ECONF with a message in err (unknown
 * option, bad value, too many values). */
int conf_set(conf_t *c, const char *name, const char *value, conf_source_t src, char *err,
	     size_t errcap);
/* The same for the command line: `argi` is the argument's position, named in the message
 * when a single-value option is given twice there (an error, not a silent override). */
int conf_set_arg(conf_t *c, const char *name, const char *value, unsigned argi, char *err,
		 size_t errcap);
/* Parses config-file text: `name value` per line, blank lines, and comments: `#` at the start
 * of a line or after a space or tab (`api-token abc#def` keeps `abc#def`). A value may be
 * quoted: "..." (with \" and \\ as escapes) or '...' (no escapes); the quotes are removed.
 * A single-value option on two lines is an error naming both. Messages carry "FILE:LINE:".
 * Returns 0 or SW_ECONF. */
int conf_parse_text(conf_t *c, const char *text, size_t len, const char *filename, char *err,
		    size_t errcap);
/* Checks the options together (e.g. min-ttl <= max-ttl). Returns 0 or SW_ECONF. */
int conf_check(const conf_t *c, char *err, size_t errcap);
/* A `pin` value: a key (<z32>; label is set to "") or a registered name `L.<z32>` or `L.ROOT`
 * under one of c's `root` options (docs/registries.md "Pinning a name"): pk receives the key
 * (the registry's for a name), label L lower-cased. Returns 0 or SW_ECONF. */
int conf_pin_parse(const conf_t *c, const char *value, uint8_t pk[32], char label[64]);
/* Is `name` an option of the table? */
bool conf_known(const char *name);
/* Prints every option with its default and help text. */
void conf_print_help(FILE *f);
/* Prints the effective configuration in the config-file syntax (so that it can be read back
 * with the same result), each value with where it came from: default, FILE:LINE or command
 * line. Options without a value are shown as comments. */
void conf_print(const conf_t *c, FILE *f);
/* Calls cb for each option that names a file (tls-cert, tls-key) and is set; a non-zero
 * return stops the walk and is returned. For --check-config, which opens them. */
int conf_foreach_file(const conf_t *c, int (*cb)(const char *name, const char *path, void *ctx),
		      void *ctx);
/* Parses "ip:port", "[ipv6]:port" into host and port (text). Returns 0 or SW_ECONF. */
int conf_addr_split(const char *s, char *host, size_t hostcap, uint16_t *port);
/* Splits an `upstream` value: addr[:port] (plain DNS, port 53), tls://addr[:port][#name]
 * (RFC 7858, port 853; name: what the server's certificate must carry, "" without one) or
 * https://host[:port]/path (RFC 8484; name: the whole URL, host and port not set). *kind
 * is CONF_UPSTREAM_PLAIN, _TLS or _HTTPS. Returns 0 or SW_ECONF. */
enum { CONF_UPSTREAM_PLAIN, CONF_UPSTREAM_TLS, CONF_UPSTREAM_HTTPS };
int conf_upstream_split(const char *s, int *kind, char *host, size_t hostcap, uint16_t *port,
			char *name, size_t namecap);
/* The same, where the port may be left out (then defport). */
int conf_addr_split_default(const char *s, uint16_t defport, char *host, size_t hostcap,
			    uint16_t *port);
