/* SPDX-License-Identifier: MIT */
#pragma once

/* Between registry.c and registry-addrs.c. */
#include "registry.h"

/* e joined the registry: its held addresses wait for the next settle. */
void registry_addrs_join(struct registry *r, struct endpoint *e);
/* e leaves: its addresses leave the map (whoever shared one is settled again), and it leaves
 * the pending and address-event lists. */
void registry_addrs_leave(struct registry *r, struct endpoint *e);
void registry_addrs_done(struct registry *r);
