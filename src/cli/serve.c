/*
 * `swarmdns serve`: the options from the config file and the command line (conf.h), their
 * checks (--check-config also opens the files they name), --print-config, then the node.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/err.h"
#include "conf/conf.h"
#include "daemon/daemon.h"
#include "net/tls.h"

static void usage(FILE *f)
{
	fprintf(f, "Usage: swarmdns serve [-c FILE] [--check-config] [--print-config] [--OPTION "
		   "VALUE ...]\n\n"
		   "Runs a node: serves its own zones over DNS (UDP and TCP) and the HTTP API.\n"
		   "Every option can be given as --name value or --name=value here, or as a\n"
		   "'name value' line in the config file; the command line wins over the file.\n"
		   "In the file, '#' starts a comment at the start of a line or after a space or\n"
		   "tab (so 'api-token abc#def' is abc#def); a value may be quoted, \"...\" (with\n"
		   "\\\" and \\\\) or '...', and \"\" is an empty value. A single-value option\n"
		   "given twice in the file, or twice on the command line, is an error.\n\n"
		   "  -c, --config FILE   read options from FILE (also --config=FILE)\n"
		   "      --check-config  check the configuration, open the files it names\n"
		   "                      (tls-cert, tls-key) and exit: 0 valid, 1 not\n"
		   "      --print-config  print the effective configuration, each value with\n"
		   "                      where it came from, in the config-file syntax, and exit\n"
		   "  -h, --help          show this help\n\nOptions:\n");
	conf_print_help(f);
}

typedef struct {
	char *err;
	size_t cap;
} check_t;

static int check_one_file(const char *name, const char *path, void *ctx)
{
	check_t *k = ctx;
	char *data = NULL;
	size_t len;
	int ret = cli_file_read(path, 16 * 1024 * 1024, &data, &len);
	free(data);
	if (ret)
		snprintf(k->err, k->cap, "%s %s: cannot read it: %s", name, path, sw_strerror(ret));
	return ret;
}

/* --check-config: what the node would read at start must be readable and parse, so that a
 * broken file is found before a restart rather than by it. */
static int check_files(const conf_t *c, char *err, size_t cap)
{
	check_t k = {err, cap};
	struct stat st;
	int ret = conf_foreach_file(c, check_one_file, &k);
	if (ret)
		return ret;
	if (c->tls_cert[0] || c->tls_key[0]) {
		net_tls_creds_t *creds = NULL;
		/* GnuTLS parses them as the DoT and DoH listeners would. */
		ret = net_tls_creds_new(c->tls_cert, c->tls_key, &creds, err, cap);
		net_tls_creds_free(creds);
		if (ret == SW_ECONF)
			snprintf(err, cap, "tls-cert and tls-key go together: %s is not set",
				 c->tls_cert[0] ? "tls-key" : "tls-cert");
		if (ret)
			return ret;
	}
	if (stat(c->data_dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
		snprintf(err, cap, "data-dir %s: not a directory", c->data_dir);
		return SW_ECONF;
	}
	return 0;
}

int cli_serve(int argc, char **argv)
{
	conf_t c;
	char err[1200];
	const char *config = NULL;
	bool check = false, print = false;
	conf_init(&c);
	/* First pass: the config file, so that the command line can override it. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "swarmdns serve: %s needs a file name\n", argv[i]);
				return 2;
			}
			if (config) {
				fprintf(stderr, "swarmdns serve: give one config file\n");
				return 2;
			}
			config = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			if (config) {
				fprintf(stderr, "swarmdns serve: give one config file\n");
				return 2;
			}
			config = argv[i] + 9;
		}
	}
	if (config) {
		char *text = NULL;
		size_t len;
		int ret = cli_file_read(config, 1024 * 1024, &text, &len);
		if (ret) {
			fprintf(stderr, "swarmdns serve: cannot read config file %s: %s\n", config,
				sw_strerror(ret));
			return 1;
		}
		ret = conf_parse_text(&c, text, len, config, err, sizeof(err));
		free(text);
		if (ret) {
			fprintf(stderr, "swarmdns serve: %s\n", err);
			return 1;
		}
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			i++;
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0)
			continue;
		if (strcmp(a, "--check-config") == 0) {
			check = true;
			continue;
		}
		if (strcmp(a, "--print-config") == 0) {
			print = true;
			continue;
		}
		if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
			fprintf(stderr, "swarmdns serve: unexpected argument '%s' (see --help)\n",
				a);
			return 2;
		}
		char name[64];
		const char *value;
		const char *eq = strchr(a + 2, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		if (nl >= sizeof(name)) {
			fprintf(stderr, "swarmdns serve: unknown option '%s' (see --help)\n", a);
			return 2;
		}
		memcpy(name, a + 2, nl);
		name[nl] = '\0';
		if (eq) {
			value = eq + 1;
		} else if (!conf_known(name)) {
			fprintf(stderr, "swarmdns serve: unknown option '--%s' (see --help)\n",
				name);
			return 2;
		} else if (i + 1 >= argc) {
			fprintf(stderr, "swarmdns serve: --%s needs a value\n", name);
			return 2;
		} else {
			value = argv[++i];
		}
		if (conf_set_arg(&c, name, value, (unsigned)i, err, sizeof(err)) != 0) {
			fprintf(stderr, "swarmdns serve: %s\n", err);
			return 2;
		}
	}
	if (conf_check(&c, err, sizeof(err)) != 0) {
		fprintf(stderr, "swarmdns serve: %s\n", err);
		return 1;
	}
	if (print) {
		conf_print(&c, stdout);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (check) {
		if (check_files(&c, err, sizeof(err)) != 0) {
			fprintf(stderr, "swarmdns serve: %s\n", err);
			return 1;
		}
		printf("configuration is valid\n");
		return 0;
	}
	return daemon_run(&c) == 0 ? 0 : 1;
}
