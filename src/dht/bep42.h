/*
 * BEP 42 "DHT Security extension": node IDs tied to the node's IP address.
 *
 * A conforming ID has its first 21 bits taken from CRC32C of the masked IP address combined
 * with 3 random bits r, and r in the low 3 bits of its last byte. This module computes
 * CRC32C, makes a conforming ID from an IP and random bytes, and checks another node's ID
 * against its IP. Local-network and loopback addresses are exempt from the check, as the BEP
 * says. The CRC input is 4 bytes for IPv4 and 8 for IPv6, as the BEP's vectors and
 * libtorrent do (docs/design.md §4).
 *
 * Pure functions; any thread.
 */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli, reflected polynomial 0x82f63b78), as BEP 42 "Node ID restriction" uses. */
uint32_t dht_bep42_crc32c(const uint8_t *buf, size_t len);

/* Makes a conforming node ID for ip (4 or 16 bytes). r is the random byte stored in the last
 * byte (its low 3 bits enter the CRC); rnd supplies the 139 free bits (20 bytes; bytes 0, 1
 * and 19 are not used). Returns 0 or SW_EINVAL (iplen not 4 or 16). */
int dht_bep42_id_make(const uint8_t *ip, size_t iplen, uint8_t r, const uint8_t rnd[20],
		      uint8_t id[20]);

/* Whether id conforms to ip. Exempt (local) addresses always conform. */
bool dht_bep42_id_check(const uint8_t *ip, size_t iplen, const uint8_t id[20]);

/* Whether ip is a local-network or loopback address, exempt from BEP 42. */
bool dht_bep42_ip_exempt(const uint8_t *ip, size_t iplen);
