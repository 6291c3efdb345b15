/*
 * Self-signed certificates for trying DoT and DoH out (tls.h, `swarmdns cert`): an ECDSA
 * P-256 key and an X.509 v3 certificate (RFC 5280) for a name, localhost, 127.0.0.1 and ::1.
 * P-256 rather than Ed25519: every TLS client (kdig, curl, stubby, browsers) takes it.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "common/err.h"
#include "net/tls.h"

/* Adds name to the subjectAltName (RFC 5280 §4.2.1.6): an address as iPAddress, else dNSName. */
static int add_san(gnutls_x509_crt_t crt, const char *name)
{
	uint8_t ip[16];
	if (inet_pton(AF_INET, name, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 4,
							    GNUTLS_FSAN_APPEND);
	if (inet_pton(AF_INET6, name, ip) == 1)
		return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip, 16,
							    GNUTLS_FSAN_APPEND);
	return gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, name,
						    (unsigned)strlen(name), GNUTLS_FSAN_APPEND);
}

int net_tls_selfsigned(const char *name, unsigned days, char *cert, size_t cert_cap,
		       size_t *cert_len, char *key, size_t key_cap, size_t *key_len)
{
	int ret = SW_ECRYPTO;
	gnutls_x509_privkey_t pk = NULL;
	gnutls_x509_crt_t crt = NULL;
	uint8_t serial[16], keyid[64];
	size_t idlen = sizeof(keyid), len;
	static const char *const fixed[] = {"localhost", "127.0.0.1", "::1"};
	if (name == NULL || name[0] == '\0')
		name = "localhost";
	time_t now = time(NULL);

	if (gnutls_x509_privkey_init(&pk) < 0 ||
	    gnutls_x509_privkey_generate(pk, GNUTLS_PK_ECDSA,
					 GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0 ||
	    gnutls_x509_crt_init(&crt) < 0)
		goto fail;
	/* RFC 5280 §4.1.2.2: a positive serial of at most 20 bytes, unpredictable. */
	if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
		goto fail;
	serial[0] &= 0x7f;
	serial[0] |= 0x01;
	if (gnutls_x509_crt_set_version(crt, 3) < 0 ||
	    gnutls_x509_crt_set_serial(crt, serial, sizeof(serial)) < 0 ||
	    /* An hour back, for clocks a little behind ours. */
	    gnutls_x509_crt_set_activation_time(crt, now - 3600) < 0 ||
	    gnutls_x509_crt_set_expiration_time(crt, now + (time_t)days * 86400) < 0 ||
	    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, name,
					  (unsigned)strlen(name)) < 0 ||
	    gnutls_x509_crt_set_key(crt, pk) < 0 ||
	    /* An end-entity certificate, trusted directly (a client pins it or takes it as
	     * its CA file). */
	    gnutls_x509_crt_set_basic_constraints(crt, 0, -1) < 0 ||
	    gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE) < 0 ||
	    gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0) < 0)
		goto fail;
	if (gnutls_x509_crt_get_key_id(crt, 0, keyid, &idlen) < 0 ||
	    gnutls_x509_crt_set_subject_key_id(crt, keyid, idlen) < 0 ||
	    gnutls_x509_crt_set_authority_key_id(crt, keyid, idlen) < 0)
		goto fail;
	bool listed = false;
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		if (add_san(crt, fixed[i]) < 0)
			goto fail;
		listed |= strcmp(fixed[i], name) == 0;
	}
	if (!listed && add_san(crt, name) < 0)
		goto fail;
	if (gnutls_x509_crt_sign2(crt, crt, pk, GNUTLS_DIG_SHA256, 0) < 0)
		goto fail;

	len = cert_cap;
	int g = gnutls_x509_crt_export(crt, GNUTLS_X509_FMT_PEM, cert, &len);
	if (g == GNUTLS_E_SHORT_MEMORY_BUFFER) {
		ret = SW_ENOSPC;
		goto fail;
	}
	if (g < 0)
		goto fail;
	*cert_len = len;
	len = key_cap;
	g = gnutls_x509_privkey_export_pkcs8(pk, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, key,
					     &len);
	if (g == GNUTLS_E_SHORT_MEMORY_BUFFER) {
		ret = SW_ENOSPC;
		goto fail;
	}
	if (g < 0)
		goto fail;
	*key_len = len;
	ret = 0;
fail:
	if (crt)
		gnutls_x509_crt_deinit(crt);
	if (pk)
		gnutls_x509_privkey_deinit(pk);
	return ret;
}
