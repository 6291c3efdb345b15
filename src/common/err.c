#include <string.h>

#include "common/err.h"

const char *sw_strerror(int code)
{
	switch (code) {
	case SW_OK:
		return "success";
	case SW_EINVAL:
		return "invalid value";
	case SW_ENOSPC:
		return "output does not fit in the buffer";
	case SW_EMALF:
		return "malformed data";
	case SW_ETOOBIG:
		return "zone packet is larger than the BEP 44 limit of 996 bytes";
	case SW_EBADSIG:
		return "signature does not verify";
	case SW_ENOTFOUND:
		return "not found";
	case SW_EOLDSEQ:
		return "sequence number is older than the one already stored";
	case SW_EEXIST:
		return "file exists; refusing to overwrite it";
	case SW_ECRYPTO:
		return "cryptographic library failure";
	case SW_ESTORE:
		return "storage failure";
	case SW_EZONE:
		return "zone file error";
	case SW_EOUTZONE:
		return "record is outside the zone";
	case SW_ECONF:
		return "configuration error";
	case SW_ENOMEM:
		return "out of memory";
	case SW_EKEY:
		return "key file must hold 64 hex characters (a 32-byte Ed25519 seed)";
	case SW_ELIMIT:
		return "limit reached";
	case SW_ECONN:
		return "cannot connect to the node";
	case SW_EHTTP:
		return "unexpected HTTP response";
	case SW_EPOLICY:
		return "refused by the registry's policy";
	}
	if (code < 0 && code > -1000)
		return strerror(-code);
	return "unknown error";
}
