/*
 * `swarmdns testnet`: many DHT nodes in one process on 127.0.0.1, bootstrapped from each
 * other, for trying swarmdns without the internet and for the end-to-end tests.
 * Main thread only.
 */
#pragma once
#include <stdint.h>

typedef struct {
	unsigned nodes;
	uint16_t base_port;
	uint32_t rate_limit; /* KRPC queries per second per IP (all share 127.0.0.1) */
	unsigned seconds;    /* 0: until SIGINT/SIGTERM */
	const char *bootstrap; /* also join through this ip:port (another swarm), or NULL */
} testnet_opts_t;

/* Runs until interrupted. Returns 0, or a negative code when a port cannot be bound. */
int daemon_testnet(const testnet_opts_t *o);
