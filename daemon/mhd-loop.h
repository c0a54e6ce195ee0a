/* SPDX-License-Identifier: MIT */
#pragma once

#include "loop.h"

struct MHD_Daemon;

/* A libmicrohttpd daemon (MHD_USE_EPOLL) run from our loop: its epoll fd is one watch. */
struct mhd_watch {
	struct MHD_Daemon *mhd;
	struct watch watch;
};

int mhd_watch_add(struct loop *l, struct MHD_Daemon *d, struct mhd_watch *ret);
void mhd_watch_remove(struct mhd_watch *mw);
/* Runs what is due (connection timeouts, queued responses), then returns the epoll timeout
 * the daemon needs (ms, -1 for none). */
int mhd_timeout_ms(struct mhd_watch *mw);
