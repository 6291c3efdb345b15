/*
 * The node: wires storage, the resolver, the DNS transports and the API onto one libuv
 * loop, and runs until SIGINT or SIGTERM. Main thread only.
 */
#pragma once
#include "conf/conf.h"

/* Runs the node with configuration c. Returns 0 after a clean stop, or a negative error
 * code when it cannot start (the reason is logged). */
int daemon_run(const conf_t *c);
