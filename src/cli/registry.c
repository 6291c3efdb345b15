/*
 * `swarmdns register` and `swarmdns registry init|approve|reject|transfer|renew|release|log|
 * verify`: the client side of a registry (docs/registries.md "Running a registry"). Each command
 * talks to the registrar's node over its API (src/api/registrar.c), signs what the registrar
 * asks for with the user's key (the claimant's, a moderator's, the owner's), and for an
 * `open` registry does the commit, the wait and the proof of work, with a progress line.
 * `registry log` fetches the whole log and checks it against the signed tree head;
 * `registry verify` also replays every entry (registry/audit.h) and checks each label item
 * the node finds in the DHT against the log and the policy (registry/check.h).
 */
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/codec.h"
#include "common/err.h"
#include "crypto/crypto.h"
#include "registrar/registrar.h"
#include "registry/audit.h"
#include "registry/entry.h"
#include "registry/pow.h"
#include "registry/sign.h"
#include "registry/sth.h"

#define RESP_MAX (1 << 20)
static uint8_t resp[RESP_MAX];

#define API_OPT                                                                                    \
	"  -a, --api URL       the registrar's node [default: $SWARMDNS_API, "                     \
	"else " CLI_DEFAULT_API "]\n"                                                              \
	"  -h, --help          show this help\n"

static void register_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: swarmdns register NAME -k OWNER_KEY [--registry-key KEYFILE] [--dns DOMAIN]\n"
	    "                         [--api URL]\n\n"
	    "Claims NAME, a label of a registry: alice.<registry key>, or alice.p2p where\n"
	    "the node at --api maps the root p2p onto the registry (its option\n"
	    "root p2p=<registry key>; GET /v1/status lists its roots). The registrar's node\n"
	    "checks the claim against the registry's published policy and logs it. Prints\n"
	    "the log index of the registration, or that the claim waits for moderators\n"
	    "(a moderated registry; 'swarmdns registry approve'). For an open registry it\n"
	    "first commits to the claim, waits the policy's delay (so that nobody who sees\n"
	    "the claim can take the name first), and does the proof of work, showing its\n"
	    "progress. The name then delegates to OWNER_KEY's zone.\n\n"
	    "  -k, --key KEYFILE   the owner's key file ('swarmdns keygen')\n"
	    "      --registry-key KEYFILE\n"
	    "                      the registry's own key: a closed registry registers\n"
	    "                      only names its key holder signs\n"
	    "      --dns DOMAIN    dns-proof: the domain in ordinary DNS that shows the claim,\n"
	    "                      the same label under a suffix the policy allows, whose\n"
	    "                      TXT record <dns-prefix>.DOMAIN says\n"
	    "                      swarmdns-claim=<registry key>,<owner key> (the registrar\n"
	    "                      looks it up through its upstream) [default: the label\n"
	    "                      under the policy's suffix when it lists just one]\n" API_OPT
	    "\nExit status: 0 registered (or waiting for moderators); 1 refused or an error\n"
	    "(said why: name taken, policy not met, bad label, a root the node does not\n"
	    "know, registry unreachable, too many requests); 2 a usage error.\n");
}

static void registry_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: swarmdns registry init --policy POLICY [policy options] [-r REGISTRY] [--api "
	    "URL]\n"
	    "       swarmdns registry approve|reject NAME -k MODERATOR_KEY [--api URL]\n"
	    "       swarmdns registry transfer NAME --to KEY -k OWNER_KEY [--api URL]\n"
	    "       swarmdns registry renew|release NAME -k OWNER_KEY [--api URL]\n"
	    "       swarmdns registry log REGISTRY [--api URL]\n"
	    "       swarmdns registry verify REGISTRY [--no-dht] [--label L]... [--api URL]\n\n"
	    "A registry gives out human-readable names, alice.<registry key>, under a policy\n"
	    "it publishes, every registration in a public log (docs/registries.md). Its node\n"
	    "holds its key (option 'registrar KEYFILE'). NAME is alice.<registry key>, or\n"
	    "alice.p2p where the node at --api has the option root p2p=<registry key>.\n\n"
	    "  init        publish the policy and the log (from loopback or with --token)\n"
	    "  approve     a moderator's approval of a waiting claim (reject: drop it)\n"
	    "  transfer    give a name to another key, signed by its owner\n"
	    "  renew       extend a name that expires, by its owner\n"
	    "  release     give a name up, by its owner\n"
	    "  log         print the log, checked against the registry's signed tree head\n"
	    "  verify      check the whole log: its signed tree head, each entry against the\n"
	    "              ones before it, and every label item the node finds in the DHT\n"
	    "              against the log and the policy; prints each inconsistency; exit 0\n"
	    "              only when all is consistent (docs/registries.md \"Verifying a log\")\n\n"
	    "init options:\n"
	    "  -p, --policy POLICY   closed, or open, moderated and dns-proof joined by '+'\n"
	    "                        (open+moderated, dns-proof, moderated+dns-proof, ...)\n"
	    "  -r, --registry KEY    the registry (z-base32) [default: the node's only one]\n"
	    "      --label-min N, --label-max N   label lengths [1, 63]\n"
	    "      --expiry S        seconds a registration lasts [0: never expires]\n"
	    "      --renew S         seconds before expiry when renewal opens\n"
	    "      --pow-difficulty BITS, --pow-ops N, --pow-mem BYTES   open: the work\n"
	    "                        [8 bits, 1 pass, 65536 bytes]\n"
	    "      --reveal-min S, --reveal-max S   open: delay from commit to reveal [2, 86400]\n"
	    "      --mod KEY         moderated: a moderator key (repeat, in order)\n"
	    "      --mod-k K         moderated: approvals needed [1]\n"
	    "      --dns-prefix LABEL   dns-proof: the underscore label of the TXT record that\n"
	    "                        shows a claim, <LABEL>.<claimant's domain> [_swarmdns]\n"
	    "      --dns-suffix DOMAIN  dns-proof: a parent domain claims may name (repeat, at\n"
	    "                        most 4) [any]; the registrar's node checks each claim's\n"
	    "                        TXT record through its upstream, so it needs one\n"
	    "      --url URL         where claimants send registrations (published)\n"
	    "other options:\n"
	    "  -k, --key KEYFILE     the moderator's or owner's key file\n"
	    "      --to KEY          transfer: the new owner (z-base32 key)\n"
	    "      --no-dht          verify: the log alone, no DHT lookups of label "
	    "items\n" API_OPT);
}

/* NAME, `label.<registry key>` or `label.<root>` (a root the node at api knows, option
 * `root p2p=<R>`): the label (lower-cased) and the registry key. The node's roots come from
 * its GET /v1/status ("roots"), asked only for a name that does not end in a key. Every
 * command that takes a NAME goes through here. Returns 0, 1 (refused, said) or 2 (usage,
 * said). */
static int name_resolve(const char *cmd, const char *api, const char *name,
			char label[REG_LABEL_MAX + 1], uint8_t registry[32])
{
	const char *rest;
	size_t rl, n;
	int status, ret = reg_name_split(name, label, &rest, &rl);
	if (ret == SW_EMALF) {
		fprintf(stderr,
			"swarmdns %s: '%s' is not a registry name: give label.<registry key> "
			"(52 characters of z-base32) or label.<root>, a root the node knows (its "
			"option root, e.g. alice.p2p under root p2p=<registry key>)\n",
			cmd, name);
		return 2;
	}
	if (ret) {
		fprintf(stderr,
			"swarmdns %s: '%.*s' is not a label a registry gives out: lower-case "
			"letters, digits and hyphens (not first or last), 1 to 63 of them, not "
			"starting with '_'\n",
			cmd, (int)strcspn(name, "."), name);
		return 1;
	}
	if (sw_z32_decode_key(rest, rl, registry) == 0)
		return 0;
	if ((ret = cli_api_call(cmd, api, "GET", "/v1/status", NULL, 0, &status, resp, sizeof(resp),
				&n)))
		return ret;
	json_t *st = status == 200 ? json_loads((const char *)resp, 0, NULL) : NULL;
	json_t *roots = json_object_get(st, "roots"), *v;
	const char *root;
	char known[512] = "";
	size_t kl = 0;
	ret = -1;
	json_object_foreach(roots, root, v)
	{
		const char *key = json_string_value(v);
		if (strlen(root) == rl && strncasecmp(root, rest, rl) == 0 && key &&
		    sw_z32_decode_key(key, strlen(key), registry) == 0)
			ret = 0;
		if (kl < sizeof(known))
			kl += (size_t)snprintf(known + kl, sizeof(known) - kl, "%s%s",
					       kl ? ", " : "", root);
	}
	if (ret && roots == NULL)
		fprintf(stderr,
			"swarmdns %s: the node at %s does not say its roots (an older version?); "
			"give %s.<registry key>\n",
			cmd, cli_api_url(api), label);
	else if (ret)
		fprintf(stderr,
			"swarmdns %s: %.*s is not %s the node at %s knows (its roots: %s); give "
			"%s.<registry key>, or add 'root %.*s=<registry key>' to the node's "
			"configuration\n",
			cmd, (int)rl, rest,
			rl == SW_Z32_KEY_LEN ? "a registry key (z-base32), nor a root" : "a root",
			cli_api_url(api), kl ? known : "none", label, (int)rl, rest);
	json_decref(st);
	return ret ? 1 : 0;
}

static void path_of(char *out, size_t cap, const uint8_t registry[32], const char *what)
{
	char z[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(registry, z);
	snprintf(out, cap, "/v1/registry/%s/%s", z, what);
}

/* A request to the registrar; *j gets the JSON of a 2xx answer. A refusal is said on stderr
 * with the registrar's reason ("swarmdns register: refused: ..."). Returns 0, 1 or 2. */
static int call(const char *cmd, const char *api, const char *method, const char *path,
		json_t *body, int *status, json_t **j)
{
	char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
	size_t n;
	json_decref(body);
	int ret = cli_api_request(cmd, api, method, path, (const uint8_t *)b, b ? strlen(b) : 0,
				  status, resp, sizeof(resp), &n);
	free(b);
	if (ret)
		return ret;
	*j = NULL;
	if (*status >= 200 && *status < 300 &&
	    (*j = json_loads((const char *)resp, 0, NULL)) != NULL)
		return 0;
	size_t tl = strlen((const char *)resp);
	while (tl > 0 && (resp[tl - 1] == '\n' || resp[tl - 1] == '\r'))
		tl--;
	if (*status == 409)
		fprintf(stderr, "swarmdns %s: taken: %.*s\n", cmd, (int)tl, (char *)resp);
	else if (*status == 429) /* the text says how long to wait (Retry-After) */
		fprintf(stderr,
			"swarmdns %s: the registrar at %s is limiting requests from this network "
			"(HTTP 429, its option registrar-rate): %.*s\n",
			cmd, cli_api_url(api), (int)tl, (char *)resp);
	else if (*status >= 400 && *status < 500)
		fprintf(stderr, "swarmdns %s: refused by the registrar at %s (HTTP %d): %.*s\n",
			cmd, cli_api_url(api), *status, (int)tl, (char *)resp);
	else
		fprintf(stderr, "swarmdns %s: the registrar at %s answered HTTP %d: %.*s\n", cmd,
			cli_api_url(api), *status, (int)tl, (char *)resp);
	return 1;
}

static json_t *hexj(const uint8_t *p, size_t len)
{
	char buf[2 * 64 + 1];
	sw_hex_encode(p, len, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *z32j(const uint8_t key[32])
{
	char z[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(key, z);
	return json_string(z);
}

static uint64_t jint(const json_t *j, const char *name)
{
	return (uint64_t)json_integer_value(json_object_get(j, name));
}

static int sign_op(const char *what, const uint8_t registry[32], const char *label,
		   const uint8_t key[32], uint64_t n, const uint8_t sk[64], uint8_t sig[64])
{
	uint8_t msg[REG_MSG_MAX];
	size_t len;
	int ret = registrar_op_msg(what, registry, label, strlen(label), key, n, msg, &len);
	if (ret == 0)
		sw_ed25519_sign(sk, msg, len, sig);
	return ret;
}

/* ---- open registries: commit, wait, work ---- */

static void pow_progress(void *ctx, uint64_t attempts)
{
	const unsigned *bits = ctx;
	fprintf(stderr,
		"\rproof of work (%u bits, about %.0f attempts on average): %" PRIu64 " attempts",
		*bits, *bits < 64 ? (double)(1ull << *bits) : 1.8e19, attempts);
	fflush(stderr);
}

/* Commits to the claim, waits the policy's reveal-min, solves the work; fills the reveal
 * fields of body. Returns 0 or 1 (said). */
static int open_claim(const char *api, const json_t *pol, const uint8_t registry[32],
		      const char *label, const uint8_t owner[32], json_t *body)
{
	uint8_t secret[32], commit[32], claim[REG_POW_CLAIM_MAX], salt[REG_POW_SALT_LEN];
	size_t clen;
	int status;
	json_t *j;
	char path[256];
	sw_random_bytes(secret, sizeof(secret));
	reg_commit_hash(registry, label, strlen(label), owner, secret, commit);
	path_of(path, sizeof(path), registry, "commit");
	int ret = call("register", api, "POST", path,
		       json_pack("{s:o}", "commit", hexj(commit, 32)), &status, &j);
	if (ret)
		return ret;
	uint64_t index = jint(j, "index"), wait = jint(pol, "reveal_min");
	json_decref(j);
	fprintf(stderr, "committed to the claim at log index %" PRIu64 "\n", index);
	/* The registrar counts whole seconds: one more than the minimum is never too early. */
	for (uint64_t left = wait + 1; left > 0; left--) {
		fprintf(stderr, "\rwaiting %" PRIu64 " s before the reveal (commit-then-reveal) ",
			left);
		fflush(stderr);
		sleep(1);
	}
	fprintf(stderr, "\n");
	reg_pow_params_t p = {(uint32_t)jint(pol, "pow_difficulty"), (uint32_t)jint(pol, "pow_ops"),
			      (uint32_t)jint(pol, "pow_mem")};
	uint64_t nonce = 0, attempts = 0, first;
	unsigned bits = p.difficulty;
	sw_random_bytes(&first, sizeof(first));
	first >>= 2; /* JSON integers are signed 64-bit (jansson): the nonce stays below 2^63 */
	reg_pow_salt(registry, salt);
	reg_pow_claim_write(label, strlen(label), owner, commit, claim, sizeof(claim), &clen);
	reg_pow_solve_opts_t o = {
	    .first_nonce = first, .progress_every = 16, .progress = pow_progress, .ctx = &bits};
	ret = reg_pow_solve(&p, salt, claim, clen, &o, &nonce, &attempts);
	if (ret) {
		fprintf(stderr, "\nswarmdns register: the proof of work failed: %s\n",
			sw_strerror(ret));
		return 1;
	}
	fprintf(stderr, "\rproof of work done after %" PRIu64 " attempts%30s\n", attempts, "");
	json_object_set_new(body, "secret", hexj(secret, 32));
	json_object_set_new(body, "commit_index", json_integer((json_int_t)index));
	json_object_set_new(body, "pow", json_integer((json_int_t)nonce));
	return 0;
}

int cli_register(int argc, char **argv)
{
	static const struct option lopts[] = {
	    {"key", required_argument, NULL, 'k'}, {"registry-key", required_argument, NULL, 'R'},
	    {"dns", required_argument, NULL, 'D'}, {"api", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},	   {0}};
	const char *key = NULL, *regkey = NULL, *api = NULL, *dns = NULL;
	int ch, status, ret;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "k:a:h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'k':
			key = optarg;
			break;
		case 'R':
			regkey = optarg;
			break;
		case 'D':
			dns = optarg;
			break;
		case 'a':
			api = optarg;
			break;
		case 'h':
			register_usage(stdout);
			return 0;
		default:
			register_usage(stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || key == NULL) {
		fprintf(stderr, "swarmdns register: give one NAME and -k OWNER_KEY\n");
		register_usage(stderr);
		return 2;
	}
	char label[REG_LABEL_MAX + 1], path[256], z[SW_Z32_KEY_LEN + 1];
	uint8_t registry[32], pk[32], sk[64], sig[64], rpk[32], rsk[64];
	json_t *pol, *j;
	if ((ret = name_resolve("register", api, argv[optind], label, registry)))
		return ret;
	if (cli_key_read(key, pk, sk))
		return 1;
	if (regkey && cli_key_read(regkey, rpk, rsk))
		return 1;
	if (regkey && memcmp(rpk, registry, 32) != 0) {
		fprintf(stderr, "swarmdns register: %s is not the key of the registry in %s\n",
			regkey, argv[optind]);
		return 1;
	}
	path_of(path, sizeof(path), registry, "policy");
	if ((ret = call("register", api, "GET", path, NULL, &status, &pol)))
		return ret;
	sign_op("claim", registry, label, pk, 0, sk, sig);
	json_t *body =
	    json_pack("{s:s, s:o, s:o}", "label", label, "owner", z32j(pk), "sig", hexj(sig, 64));
	if (regkey) {
		sign_op("claim", registry, label, pk, 0, rsk, sig);
		json_object_set_new(body, "registry_sig", hexj(sig, 64));
	}
	sw_memzero(sk, sizeof(sk));
	sw_memzero(rsk, sizeof(rsk));
	const char *rules = json_string_value(json_object_get(pol, "rules"));
	/* dns-proof: the domain named, else the label under the policy's one suffix. */
	const json_t *sfx = json_object_get(pol, "dns_suffixes");
	char domain[REG_DOMAIN_MAX + 2];
	if (dns) /* without the final dot, as the label item holds it */
		snprintf(domain, sizeof(domain), "%.*s",
			 (int)(strlen(dns) - (dns[0] && dns[strlen(dns) - 1] == '.')), dns);
	else if (json_array_size(sfx) == 1)
		snprintf(domain, sizeof(domain), "%s.%s", label,
			 json_string_value(json_array_get(sfx, 0)));
	if (dns || json_array_size(sfx) == 1)
		json_object_set_new(body, "dns", json_string(domain));
	if (rules && strstr(rules, "open") &&
	    (ret = open_claim(api, pol, registry, label, pk, body))) {
		json_decref(body);
		json_decref(pol);
		return ret;
	}
	json_decref(pol);
	path_of(path, sizeof(path), registry, "register");
	if ((ret = call("register", api, "POST", path, body, &status, &j)))
		return ret;
	sw_z32_encode_key(registry, z);
	if (status == 202)
		printf("%s.%s: the claim waits for moderators (%" PRIu64 " of %" PRIu64
		       " approvals)\n",
		       label, z, jint(j, "approvals"), jint(j, "needed"));
	else
		printf("%s.%s: registered at log index %" PRIu64 "\n", label, z, jint(j, "index"));
	json_decref(j);
	return 0;
}

/* ---- swarmdns registry ---- */

typedef struct {
	const char *api, *key, *to, *registry;
	json_t *policy; /* init's fields */
} reg_args_t;

static int reg_init(reg_args_t *a)
{
	uint8_t registry[32];
	char path[256];
	int status, ret;
	json_t *j;
	if (a->registry) {
		if (sw_z32_decode_key(a->registry, strlen(a->registry), registry)) {
			fprintf(stderr, "swarmdns registry init: '%s' is not a z-base32 key\n",
				a->registry);
			return 2;
		}
	} else {
		/* The node's only registry. */
		if ((ret =
			 call("registry init", a->api, "GET", "/v1/registry/", NULL, &status, &j)))
			return ret;
		json_t *list = json_object_get(j, "registries");
		const char *only = json_string_value(json_array_get(list, 0));
		if (json_array_size(list) != 1 || sw_z32_decode_key(only, strlen(only), registry)) {
			fprintf(
			    stderr, "swarmdns registry init: the node runs %zu registries; %s\n",
			    json_array_size(list),
			    json_array_size(list)
				? "name one with -r REGISTRY"
				: "give it one with the option 'registrar KEYFILE' and restart it");
			json_decref(j);
			return 1;
		}
		json_decref(j);
	}
	path_of(path, sizeof(path), registry, "init");
	json_incref(a->policy);
	if ((ret = call("registry init", a->api, "POST", path, a->policy, &status, &j)))
		return ret;
	char z[SW_Z32_KEY_LEN + 1];
	sw_z32_encode_key(registry, z);
	printf("registry %s: policy %s published, log of %" PRIu64 " entries\n", z,
	       json_string_value(json_object_get(j, "rules")), jint(j, "log_size"));
	json_decref(j);
	return 0;
}

/* approve, reject: as a moderator of the registry's policy. */
static int reg_moderate(reg_args_t *a, const char *cmd, const char *name, bool approve)
{
	char label[REG_LABEL_MAX + 1], path[256], z[SW_Z32_KEY_LEN + 1];
	uint8_t registry[32], pk[32], sk[64], sig[64], claimant[32], msg[REG_MSG_MAX];
	size_t len, mod;
	int status, ret;
	json_t *pol, *cl, *j;
	if ((ret = name_resolve(cmd, a->api, name, label, registry)))
		return ret;
	if (cli_key_read(a->key, pk, sk))
		return 1;
	path_of(path, sizeof(path), registry, "policy");
	if ((ret = call(cmd, a->api, "GET", path, NULL, &status, &pol)))
		return ret;
	json_t *mods = json_object_get(pol, "mods");
	sw_z32_encode_key(pk, z);
	for (mod = 0; mod < json_array_size(mods); mod++)
		if (strcmp(json_string_value(json_array_get(mods, mod)), z) == 0)
			break;
	bool found = mod < json_array_size(mods);
	json_decref(pol);
	if (!found) {
		fprintf(stderr, "swarmdns %s: %s is not a moderator of this registry\n", cmd, z);
		return 1;
	}
	char sub[96], p2[256];
	snprintf(sub, sizeof(sub), "name/%s", label);
	path_of(p2, sizeof(p2), registry, sub);
	if ((ret = call(cmd, a->api, "GET", p2, NULL, &status, &cl)))
		return ret;
	const char *st = json_string_value(json_object_get(cl, "state"));
	const char *c = json_string_value(json_object_get(cl, "claimant"));
	uint64_t registered = jint(cl, "registered");
	if (st == NULL || strcmp(st, "pending") != 0 || c == NULL ||
	    sw_z32_decode_key(c, strlen(c), claimant)) {
		fprintf(stderr, "swarmdns %s: no claim of %s waits for moderators (%s)\n", cmd,
			name, st ? st : "?");
		json_decref(cl);
		return 1;
	}
	json_decref(cl);
	if (approve)
		ret = reg_mod_msg(registry, label, strlen(label), claimant, registered, msg, &len);
	else
		ret = registrar_op_msg("reject", registry, label, strlen(label), claimant,
				       registered, msg, &len);
	if (ret == 0)
		sw_ed25519_sign(sk, msg, len, sig);
	sw_memzero(sk, sizeof(sk));
	path_of(path, sizeof(path), registry, approve ? "approve" : "reject");
	if ((ret = call(cmd, a->api, "POST", path,
			json_pack("{s:s, s:i, s:o}", "label", label, "mod", (int)mod, "sig",
				  hexj(sig, 64)),
			&status, &j)))
		return ret;
	if (!approve)
		printf("%s: claim rejected\n", name);
	else if (status == 202)
		printf("%s: approved (%" PRIu64 " of %" PRIu64 " approvals)\n", name,
		       jint(j, "approvals"), jint(j, "needed"));
	else
		printf("%s: approved and registered at log index %" PRIu64 "\n", name,
		       jint(j, "index"));
	json_decref(j);
	return 0;
}

/* transfer, renew, release: as the name's owner. */
static int reg_owner(reg_args_t *a, const char *cmd, const char *op, const char *name)
{
	char label[REG_LABEL_MAX + 1], path[256], sub[96], z[SW_Z32_KEY_LEN + 1];
	uint8_t registry[32], pk[32], sk[64], sig[64], owner[32], to[32], msg[REG_MSG_MAX];
	size_t len;
	int status, ret;
	json_t *cur, *j;
	if ((ret = name_resolve(cmd, a->api, name, label, registry)))
		return ret;
	if (strcmp(op, "transfer") == 0 &&
	    (a->to == NULL || sw_z32_decode_key(a->to, strlen(a->to), to))) {
		fprintf(stderr, "swarmdns %s: give the new owner with --to KEY (z-base32)\n", cmd);
		return 2;
	}
	if (cli_key_read(a->key, pk, sk))
		return 1;
	snprintf(sub, sizeof(sub), "name/%s", label);
	path_of(path, sizeof(path), registry, sub);
	if ((ret = call(cmd, a->api, "GET", path, NULL, &status, &cur)))
		return ret;
	const char *o = json_string_value(json_object_get(cur, "owner"));
	uint64_t index = jint(cur, "index");
	bool live = o && sw_z32_decode_key(o, strlen(o), owner) == 0 &&
		    strcmp(json_string_value(json_object_get(cur, "state")), "registered") == 0;
	json_decref(cur);
	if (!live || memcmp(owner, pk, 32) != 0) {
		sw_z32_encode_key(pk, z);
		fprintf(stderr, "swarmdns %s: %s is not the owner of %s%s\n", cmd, z, name,
			live ? "" : " (not registered)");
		sw_memzero(sk, sizeof(sk));
		return 1;
	}
	json_t *body = json_pack("{s:s}", "label", label);
	if (strcmp(op, "transfer") == 0) {
		reg_xfer_msg(registry, label, strlen(label), pk, to, index, msg, &len);
		sw_ed25519_sign(sk, msg, len, sig);
		json_object_set_new(body, "to", z32j(to));
	} else {
		sign_op(op, registry, label, pk, index, sk, sig);
	}
	sw_memzero(sk, sizeof(sk));
	json_object_set_new(body, "sig", hexj(sig, 64));
	path_of(path, sizeof(path), registry, op);
	if ((ret = call(cmd, a->api, "POST", path, body, &status, &j)))
		return ret;
	if (strcmp(op, "transfer") == 0)
		printf("%s: transferred to %s at log index %" PRIu64 "\n", name, a->to,
		       jint(j, "index"));
	else
		printf("%s: %s at log index %" PRIu64 "\n", name,
		       strcmp(op, "renew") == 0 ? "renewed" : "released", jint(j, "index"));
	json_decref(j);
	return 0;
}

/* Called with each entry of the log, parsed, in order. Returns 0 to go on. */
typedef int (*entry_cb)(void *ctx, uint64_t index, const reg_entry_t *e);

/* Fetches entries 0..size-1 of registry's log from the API in pages, appends each to log and
 * calls cb. Returns 0, or 1 (said on stderr: unreachable, an entry that does not parse, an
 * answer that stops short). */
static int walk_entries(const char *cmd, const char *api, const uint8_t registry[32], uint64_t size,
			reg_mlog_t *log, entry_cb cb, void *ctx)
{
	uint8_t ebuf[REG_ENTRY_MAX + 16];
	char path[256], sub[96];
	int status, ret;
	json_t *j;
	for (uint64_t start = 0; start < size;) {
		snprintf(sub, sizeof(sub), "log/entries?start=%" PRIu64 "&end=%" PRIu64, start,
			 size - 1);
		path_of(path, sizeof(path), registry, sub);
		if ((ret = call(cmd, api, "GET", path, NULL, &status, &j)))
			return ret;
		json_t *list = json_object_get(j, "entries"), *e;
		size_t i;
		ret = 0;
		json_array_foreach(list, i, e)
		{
			const char *hx = json_string_value(json_object_get(e, "entry"));
			size_t hl = hx ? strlen(hx) : 0;
			reg_entry_t en;
			if (hl == 0 || hl % 2 || hl / 2 > sizeof(ebuf) ||
			    sw_hex_decode(hx, hl, ebuf, hl / 2) ||
			    reg_entry_parse(ebuf, hl / 2, &en)) {
				fprintf(stderr, "swarmdns %s: entry %" PRIu64 " does not parse\n",
					cmd, start + i);
				ret = 1;
				break;
			}
			if ((ret = reg_mlog_append(log, ebuf, hl / 2, NULL)) ||
			    (ret = cb(ctx, start + i, &en)))
				break;
		}
		json_decref(j);
		if (ret)
			return 1;
		if (i == 0) {
			fprintf(stderr,
				"swarmdns %s: the node returned no entries from %" PRIu64
				" of the %" PRIu64 " its tree head announces\n",
				cmd, start, size);
			return 1;
		}
		start += i;
	}
	return 0;
}

/* A signed item as the API gives it ({"seq", "sig", "v"}) into it (v, seq) and sig.
 * Returns 0, or -1 when a field is missing or not hex of the right length. */
static int item_from_json(const json_t *j, item_t *it, uint8_t sig[64])
{
	const char *v = json_string_value(json_object_get(j, "v"));
	const char *sg = json_string_value(json_object_get(j, "sig"));
	if (v == NULL || sg == NULL || strlen(v) % 2 || strlen(v) / 2 > ITEM_V_MAX ||
	    strlen(sg) != 128 || sw_hex_decode(v, strlen(v), it->v, strlen(v) / 2) ||
	    sw_hex_decode(sg, 128, sig, 64))
		return -1;
	it->v_len = (uint16_t)(strlen(v) / 2);
	it->seq = (int64_t)jint(j, "seq");
	return 0;
}

/* Verifies the registry's signed tree head (the `_log` item, as the API's log/sth gives it)
 * and that the entries in log give its root. Returns 0 with *h the head, or 1 (said). */
static int verify_head(const char *cmd, const uint8_t registry[32], const json_t *head,
		       const reg_mlog_t *log, reg_sth_t *h)
{
	item_t it;
	uint8_t sig[64], root[32];
	const uint8_t *pkt;
	size_t plen;
	if (item_from_json(head, &it, sig)) {
		fprintf(stderr, "swarmdns %s: the node has no signed tree head\n", cmd);
		return 1;
	}
	if (item_str(&it, &pkt, &plen) ||
	    reg_item_verify(registry, "_log", 4, (uint64_t)it.seq, pkt, plen, sig) ||
	    reg_sth_parse(registry, pkt, plen, h) || h->size > log->size ||
	    reg_mlog_root(log, h->size, root) || memcmp(root, h->root, 32) != 0) {
		fprintf(stderr,
			"swarmdns %s: the entries do not match the registry's signed tree "
			"head: this log is not the one the registry signed\n",
			cmd);
		return 1;
	}
	return 0;
}

static int print_entry(void *ctx, uint64_t index, const reg_entry_t *en)
{
	char z[SW_Z32_KEY_LEN + 1], when[32];
	time_t t = (time_t)en->time;
	(void)ctx;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if (en->op == REG_OP_COMMIT) {
		printf("%6" PRIu64 "  %s  commit\n", index, when);
	} else {
		sw_z32_encode_key(en->owner, z);
		printf("%6" PRIu64 "  %s  %-8s  %s  owner %s\n", index, when, reg_op_str(en->op),
		       en->label, z);
	}
	return 0;
}

/* The registry key given on the command line. Returns 0 or 2 (said). */
static int registry_arg(const char *cmd, const char *reg, uint8_t registry[32])
{
	if (sw_z32_decode_key(reg, strlen(reg), registry) == 0)
		return 0;
	fprintf(stderr, "swarmdns %s: '%s' is not a registry key (z-base32)\n", cmd, reg);
	return 2;
}

/* Every entry of the log, its root computed here and compared with the signed tree head. */
static int reg_log(reg_args_t *a, const char *reg)
{
	uint8_t registry[32];
	char path[256], rh[65];
	int status, ret;
	json_t *sth;
	reg_sth_t h;
	if ((ret = registry_arg("registry log", reg, registry)))
		return ret;
	path_of(path, sizeof(path), registry, "log/sth");
	if ((ret = call("registry log", a->api, "GET", path, NULL, &status, &sth)))
		return ret;
	reg_mlog_mem_t *mem = reg_mlog_mem_new();
	reg_mlog_store_t st = reg_mlog_mem_store(mem);
	reg_mlog_t log;
	reg_mlog_init(&log, &st, 0);
	ret = walk_entries("registry log", a->api, registry, jint(sth, "size"), &log, print_entry,
			   NULL);
	/* The signed tree head (the `_log` item) against what the entries give. */
	if (ret == 0 && (ret = verify_head("registry log", registry, json_object_get(sth, "head"),
					   &log, &h)) == 0) {
		sw_hex_encode(h.root, 32, rh, sizeof(rh));
		printf("%" PRIu64 " entries; signed tree head of size %" PRIu64
		       ", root %s: verified\n",
		       log.size, h.size, rh);
	}
	json_decref(sth);
	reg_mlog_mem_free(mem);
	return ret ? 1 : 0;
}

/* ---- registry verify ---- */

#define VERIFY_LABELS_MAX 64 /* --label */

typedef struct {
	const char *api;
	uint8_t registry[32];
	reg_replay_t *replay;
	uint64_t size; /* entries announced */
	unsigned problems, notes;
	bool has_policy, progress;
	reg_policy_t pol;
	uint64_t labels, done, found, now;
	const char *const *extra; /* --label: names to look up besides the log's */
	size_t nextra;
} verify_t;

__attribute__((format(printf, 2, 3))) static void problem(verify_t *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (v->progress)
		fprintf(stderr, "\r%60s\r", "");
	printf("INCONSISTENT: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	v->problems++;
}

__attribute__((format(printf, 2, 3))) static void note(verify_t *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (v->progress)
		fprintf(stderr, "\r%60s\r", "");
	printf("note: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	v->notes++;
}

static int verify_entry(void *ctx, uint64_t index, const reg_entry_t *e)
{
	verify_t *v = ctx;
	char why[256];
	int ret = reg_replay_add(v->replay, index, e, why, sizeof(why));
	if (ret == SW_EPOLICY)
		problem(v, "entry %" PRIu64 ": %s", index, why);
	else if (ret)
		return ret;
	if (v->progress && (index + 1) % 1000 == 0) {
		fprintf(stderr, "\rchecking entries: %" PRIu64 " of %" PRIu64, index + 1, v->size);
		fflush(stderr);
	}
	return 0;
}

/* A salted item of the registry found by the node's DHT get (GET /v1/dht/<R>?salt=), its
 * signature checked here under the registry key: 0 with its packet in it, SW_ENOTFOUND,
 * SW_EBADSIG, or 1 (the node could not be asked, said). */
static int dht_item(verify_t *v, const char *salt, item_t *it, const uint8_t **pkt, size_t *plen)
{
	char path[256], z[SW_Z32_KEY_LEN + 1];
	uint8_t sig[64];
	size_t n;
	int status;
	sw_z32_encode_key(v->registry, z);
	snprintf(path, sizeof(path), "/v1/dht/%s?salt=%s", z, salt);
	int ret = cli_api_call("registry verify", v->api, "GET", path, NULL, 0, &status, resp,
			       sizeof(resp), &n);
	if (ret)
		return 1;
	json_t *j = status == 200 ? json_loads((const char *)resp, 0, NULL) : NULL;
	if (j == NULL)
		return SW_ENOTFOUND;
	ret = item_from_json(j, it, sig);
	json_decref(j);
	if (ret || item_str(it, pkt, plen) ||
	    reg_item_verify(v->registry, salt, strlen(salt), (uint64_t)it->seq, *pkt, *plen, sig))
		return SW_EBADSIG;
	return 0;
}

/* Entry `index` of the log, from the API. Returns 0 or 1 (said). */
static int log_entry(verify_t *v, uint64_t index, reg_entry_t *e)
{
	char path[256], sub[96];
	uint8_t ebuf[REG_ENTRY_MAX + 16];
	int status, ret;
	json_t *j;
	snprintf(sub, sizeof(sub), "log/entries?start=%" PRIu64 "&end=%" PRIu64, index, index);
	path_of(path, sizeof(path), v->registry, sub);
	if ((ret = call("registry verify", v->api, "GET", path, NULL, &status, &j)))
		return ret;
	const char *hx = json_string_value(
	    json_object_get(json_array_get(json_object_get(j, "entries"), 0), "entry"));
	size_t hl = hx ? strlen(hx) : 0;
	ret = hl == 0 || hl % 2 || hl / 2 > sizeof(ebuf) || sw_hex_decode(hx, hl, ebuf, hl / 2) ||
	      reg_entry_parse(ebuf, hl / 2, e);
	json_decref(j);
	if (ret)
		fprintf(stderr, "swarmdns registry verify: entry %" PRIu64 " does not parse\n",
			index);
	return ret ? 1 : 0;
}

/* The label item of one label of the log, if the DHT has it: in the log at the index it
 * claims, its transfer from the owner the log had before, its evidence as the policy wants. */
static int verify_label(void *ctx, const char *label, const reg_replay_label_t *st)
{
	verify_t *v = ctx;
	item_t it;
	const uint8_t *pkt;
	size_t plen, len = strlen(label);
	reg_record_t rec;
	reg_entry_t e, commit;
	reg_why_t why;
	v->done++;
	if (v->progress) {
		fprintf(stderr, "\rlooking up label items in the DHT: %" PRIu64 " of %" PRIu64,
			v->done, v->labels);
		fflush(stderr);
	}
	int ret = dht_item(v, label, &it, &pkt, &plen);
	if (ret == 1)
		return 1;
	if (ret == SW_ENOTFOUND)
		return 0;
	v->found++;
	if (ret == SW_EBADSIG || reg_label_parse(v->registry, label, len, pkt, plen, &rec, NULL)) {
		problem(v, "the label item of %s in the DHT does not verify or parse", label);
		return 0;
	}
	if (rec.index >= v->size) {
		problem(v,
			"the label item of %s claims log index %" PRIu64
			", beyond the log's %" PRIu64 " entries",
			label, rec.index, v->size);
		return 0;
	}
	if ((ret = log_entry(v, rec.index, &e)))
		return ret;
	if (reg_entry_matches(&e, v->registry, label, len, &rec)) {
		problem(v,
			"the label item of %s claims log index %" PRIu64
			", but that entry is a %s of %s: the item is not in the log",
			label, rec.index, reg_op_str(e.op), e.op == REG_OP_COMMIT ? "-" : e.label);
		return 0;
	}
	if (rec.index != st->index) {
		note(v,
		     "the label item of %s in the DHT is of entry %" PRIu64
		     "; the log's latest for it is a %s at %" PRIu64 " (the DHT still holds an "
		     "older item)",
		     label, rec.index, reg_op_str(st->last_op), st->index);
		return 0;
	}
	/* The signature is over the index that made the previous owner the owner (label.h
	 * reg_xfer_msg); the log says which one that was. */
	if (st->last_op == REG_OP_TRANSFER &&
	    (!(rec.has & REG_HAS_FROM) || rec.from_index != st->prev_index ||
	     memcmp(rec.from, st->prev_owner, 32) != 0)) {
		problem(v,
			"the transfer of %s at entry %" PRIu64
			" is not signed by the owner the log had before it",
			label, st->index);
		return 0;
	}
	if (!v->has_policy)
		return 0;
	if (v->pol.rules & REG_RULE_DNS_PROOF) {
		note(v, "%s: dns-proof evidence is not checked by verify", label);
		return 0;
	}
	reg_check_in_t in = {.now = v->now};
	if ((rec.has & REG_HAS_OPEN) && rec.commit_index < v->size) {
		if ((ret = log_entry(v, rec.commit_index, &commit)))
			return ret;
		in.commit = &commit;
	}
	ret = reg_check_record(&v->pol, v->registry, label, len, &rec, &in, &why);
	if (ret == SW_EPOLICY && why == REG_WHY_EXPIRED)
		note(v, "%s: the registration has expired", label);
	else if (ret == SW_EPOLICY)
		problem(v, "the label item of %s does not satisfy the registry's policy: %s", label,
			reg_why_str(why));
	else if (ret)
		problem(v, "the label item of %s could not be checked: %s", label,
			sw_strerror(ret));
	return 0;
}

/* The whole log against its signed tree head, each entry against the ones before it, and
 * every label item the DHT holds against the log and the policy. */
static int reg_verify(reg_args_t *a, const char *reg, bool dht, const char *const *extra,
		      size_t nextra)
{
	uint8_t seed[16];
	char path[256], rh[65];
	int status, ret;
	json_t *sth;
	reg_sth_t h;
	verify_t v = {.api = a->api,
		      .progress = isatty(2),
		      .now = (uint64_t)time(NULL),
		      .extra = extra,
		      .nextra = nextra};
	if ((ret = registry_arg("registry verify", reg, v.registry)))
		return ret;
	path_of(path, sizeof(path), v.registry, "log/sth");
	if ((ret = call("registry verify", a->api, "GET", path, NULL, &status, &sth)))
		return ret;
	reg_mlog_mem_t *mem = reg_mlog_mem_new();
	reg_mlog_store_t st = reg_mlog_mem_store(mem);
	reg_mlog_t log;
	reg_mlog_init(&log, &st, 0);
	sw_random_bytes(seed, sizeof(seed));
	v.replay = reg_replay_new(seed);
	v.size = jint(sth, "size");
	if (mem == NULL || v.replay == NULL) {
		fprintf(stderr, "swarmdns registry verify: out of memory\n");
		ret = 1;
		goto out;
	}
	if ((ret = walk_entries("registry verify", a->api, v.registry, v.size, &log, verify_entry,
				&v)))
		goto out;
	if (v.progress)
		fprintf(stderr, "\r%60s\r", "");
	if ((ret = verify_head("registry verify", v.registry, json_object_get(sth, "head"), &log,
			       &h)))
		goto out;
	sw_hex_encode(h.root, 32, rh, sizeof(rh));
	printf("%" PRIu64 " entries, %zu names; signed tree head of size %" PRIu64
	       ", root %s: verified\n",
	       log.size, reg_replay_count(v.replay), h.size, rh);
	/* Label items claim entries up to what the registrar signed. */
	v.size = h.size;
	if (dht) {
		item_t it;
		const uint8_t *pkt;
		size_t plen;
		ret = dht_item(&v, "_policy", &it, &pkt, &plen);
		if (ret == 1)
			goto out;
		if (ret == 0 && reg_policy_parse(v.registry, pkt, plen, &v.pol) == 0)
			v.has_policy = true;
		else if (ret == SW_ENOTFOUND)
			note(&v, "no policy item found in the DHT: evidence not checked");
		else
			problem(&v, "the policy item in the DHT does not verify or parse");
		v.labels = reg_replay_count(v.replay);
		if ((ret = reg_replay_foreach(v.replay, verify_label, &v)))
			goto out;
		/* A label item the log has no entry of: a name given out behind the log's back
		 * (or a log rewritten without it). Only names someone knows of can be asked. */
		for (size_t i = 0; i < v.nextra; i++) {
			reg_replay_label_t ls;
			reg_record_t rec;
			const char *l = v.extra[i];
			if (reg_replay_find(v.replay, l, strlen(l), &ls) == 0)
				continue;
			ret = dht_item(&v, l, &it, &pkt, &plen);
			if (ret == 1)
				goto out;
			if (ret == 0 &&
			    reg_label_parse(v.registry, l, strlen(l), pkt, plen, &rec, NULL) == 0)
				problem(&v,
					"the label item of %s (log index %" PRIu64
					") is in the DHT, but the log has no entry of %s",
					l, rec.index, l);
			else if (ret == 0 || ret == SW_EBADSIG)
				problem(&v,
					"the label item of %s in the DHT does not verify or parse",
					l);
			else
				printf("%s: no label item in the DHT, none in the log\n", l);
		}
		if (v.progress)
			fprintf(stderr, "\r%60s\r", "");
		printf("%" PRIu64 " of %" PRIu64 " names have a label item in the DHT\n", v.found,
		       v.labels);
	}
	ret = 0;
out:
	if (ret == 0 && v.problems == 0)
		printf("consistent\n");
	else if (ret == 0)
		printf("%u inconsistencies\n", v.problems);
	json_decref(sth);
	reg_replay_free(v.replay);
	reg_mlog_mem_free(mem);
	return ret || v.problems ? 1 : 0;
}

int cli_registry(int argc, char **argv)
{
	enum {
		O_TO = 256,
		O_LMIN,
		O_LMAX,
		O_EXP,
		O_REN,
		O_PD,
		O_PO,
		O_PM,
		O_RMIN,
		O_RMAX,
		O_MOD,
		O_MODK,
		O_URL,
		O_NODHT,
		O_LABEL,
		O_DNSP,
		O_DNSS
	};
	static const struct option lopts[] = {{"api", required_argument, NULL, 'a'},
					      {"key", required_argument, NULL, 'k'},
					      {"policy", required_argument, NULL, 'p'},
					      {"registry", required_argument, NULL, 'r'},
					      {"to", required_argument, NULL, O_TO},
					      {"label-min", required_argument, NULL, O_LMIN},
					      {"label-max", required_argument, NULL, O_LMAX},
					      {"expiry", required_argument, NULL, O_EXP},
					      {"renew", required_argument, NULL, O_REN},
					      {"pow-difficulty", required_argument, NULL, O_PD},
					      {"pow-ops", required_argument, NULL, O_PO},
					      {"pow-mem", required_argument, NULL, O_PM},
					      {"reveal-min", required_argument, NULL, O_RMIN},
					      {"reveal-max", required_argument, NULL, O_RMAX},
					      {"mod", required_argument, NULL, O_MOD},
					      {"mod-k", required_argument, NULL, O_MODK},
					      {"url", required_argument, NULL, O_URL},
					      {"no-dht", no_argument, NULL, O_NODHT},
					      {"label", required_argument, NULL, O_LABEL},
					      {"dns-prefix", required_argument, NULL, O_DNSP},
					      {"dns-suffix", required_argument, NULL, O_DNSS},
					      {"help", no_argument, NULL, 'h'},
					      {0}};
	static const char *const uint_names[] = {
	    [O_LMIN - O_LMIN] = "label_min",	[O_LMAX - O_LMIN] = "label_max",
	    [O_EXP - O_LMIN] = "expiry",	[O_REN - O_LMIN] = "renew",
	    [O_PD - O_LMIN] = "pow_difficulty", [O_PO - O_LMIN] = "pow_ops",
	    [O_PM - O_LMIN] = "pow_mem",	[O_RMIN - O_LMIN] = "reveal_min",
	    [O_RMAX - O_LMIN] = "reveal_max",	[O_MODK - O_LMIN] = "mod_k"};
	reg_args_t a = {0};
	json_t *mods = json_array(), *suffixes = json_array();
	a.policy = json_object();
	int ch, ret = 2;
	bool has_policy = false, no_dht = false;
	const char *extra[VERIFY_LABELS_MAX];
	size_t nextra = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:k:p:r:h", lopts, NULL)) != -1) {
		char *end;
		unsigned long long v;
		switch (ch) {
		case 'a':
			a.api = optarg;
			break;
		case 'k':
			a.key = optarg;
			break;
		case 'p':
			json_object_set_new(a.policy, "rules", json_string(optarg));
			has_policy = true;
			break;
		case 'r':
			a.registry = optarg;
			break;
		case O_TO:
			a.to = optarg;
			break;
		case O_MOD:
			json_array_append_new(mods, json_string(optarg));
			break;
		case O_URL:
			json_object_set_new(a.policy, "api", json_string(optarg));
			break;
		case O_DNSP:
			json_object_set_new(a.policy, "dns_prefix", json_string(optarg));
			break;
		case O_DNSS:
			json_array_append_new(suffixes, json_string(optarg));
			break;
		case O_NODHT:
			no_dht = true;
			break;
		case O_LABEL:
			if (nextra == VERIFY_LABELS_MAX ||
			    reg_label_check(optarg, strlen(optarg))) {
				fprintf(
				    stderr,
				    "swarmdns registry verify: --label takes a label (lower-case "
				    "LDH), at most %d of them\n",
				    VERIFY_LABELS_MAX);
				goto out;
			}
			extra[nextra++] = optarg;
			break;
		case 'h':
			registry_usage(stdout);
			ret = 0;
			goto out;
		default:
			if (ch >= O_LMIN && ch <= O_MODK && ch != O_MOD) {
				v = strtoull(optarg, &end, 10);
				if (*optarg == '\0' || *end != '\0' || *optarg == '-') {
					fprintf(
					    stderr,
					    "swarmdns registry: --%s wants a number, not '%s'\n",
					    uint_names[ch - O_LMIN], optarg);
					goto out;
				}
				json_object_set_new(a.policy, uint_names[ch - O_LMIN],
						    json_integer((json_int_t)v));
				break;
			}
			registry_usage(stderr);
			goto out;
		}
	}
	if (json_array_size(mods))
		json_object_set(a.policy, "mods", mods);
	if (json_array_size(suffixes))
		json_object_set(a.policy, "dns_suffixes", suffixes);
	const char *sub = optind < argc ? argv[optind] : NULL;
	int rest = argc - optind - 1;
	if (sub && strcmp(sub, "init") == 0 && rest == 0) {
		if (!has_policy) {
			fprintf(stderr, "swarmdns registry init: give --policy (closed, or open, "
					"moderated and dns-proof joined by '+')\n");
			goto out;
		}
		ret = reg_init(&a);
	} else if (sub && strcmp(sub, "log") == 0 && rest == 1) {
		ret = reg_log(&a, argv[optind + 1]);
	} else if (sub && strcmp(sub, "verify") == 0 && rest == 1) {
		ret = reg_verify(&a, argv[optind + 1], !no_dht, extra, nextra);
	} else if (sub && rest == 1 &&
		   (strcmp(sub, "approve") == 0 || strcmp(sub, "reject") == 0 ||
		    strcmp(sub, "transfer") == 0 || strcmp(sub, "renew") == 0 ||
		    strcmp(sub, "release") == 0)) {
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "registry %s", sub);
		if (a.key == NULL) {
			fprintf(stderr, "swarmdns %s: give the key file with -k KEYFILE\n", cmd);
			goto out;
		}
		if (strcmp(sub, "approve") == 0 || strcmp(sub, "reject") == 0)
			ret = reg_moderate(&a, cmd, argv[optind + 1], sub[0] == 'a');
		else
			ret = reg_owner(&a, cmd, sub, argv[optind + 1]);
	} else {
		fprintf(stderr, "swarmdns registry: %s\n",
			sub ? "unknown subcommand or wrong number of arguments"
			    : "give a subcommand: init, approve, reject, transfer, renew, release, "
			      "log or verify");
		registry_usage(stderr);
	}
out:
	json_decref(mods);
	json_decref(suffixes);
	json_decref(a.policy);
	return ret;
}
