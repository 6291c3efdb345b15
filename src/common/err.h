/*
 * Error codes of swarmdns.
 *
 * Functions that can fail return int: 0 on success or a negative code. System errors are
 * -errno (libuv's codes pass through unchanged); our own codes live below -1000.
 * sw_strerror() turns any of them into a sentence a user can act on. Thread-safe.
 */
#pragma once

enum {
	SW_OK = 0,
	SW_EINVAL = -1001,  /* invalid argument or value */
	SW_ENOSPC = -1002,  /* output buffer too small */
	SW_EMALF = -1003,   /* malformed input */
	SW_ETOOBIG = -1004, /* zone packet over the BEP 44 limit */
	SW_EBADSIG = -1005, /* signature does not verify */
	SW_ENOTFOUND = -1006,
	SW_EOLDSEQ = -1007,  /* sequence number older than the stored one */
	SW_EEXIST = -1008,   /* refusing to overwrite */
	SW_ECRYPTO = -1009,  /* crypto library failure */
	SW_ESTORE = -1010,   /* storage (LMDB) failure */
	SW_EZONE = -1011,    /* zone file error */
	SW_EOUTZONE = -1012, /* record outside the zone */
	SW_ECONF = -1013,    /* configuration error */
	SW_ENOMEM = -1014,
	SW_EKEY = -1015,    /* bad key file */
	SW_ELIMIT = -1016,  /* a configured limit was reached */
	SW_ECONN = -1017,   /* cannot reach the node */
	SW_EHTTP = -1018,   /* unexpected HTTP answer */
	SW_EPOLICY = -1019, /* refused by a registry's policy (registry/check.h says why) */
};

const char *sw_strerror(int code);
