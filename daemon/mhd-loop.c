/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>

#include <microhttpd.h>

#include "log.h"
#include "macro.h"
#include "mhd-loop.h"

static int on_event(struct watch *w, uint32_t events)
{
	struct mhd_watch *mw = container_of(w, struct mhd_watch, watch);

	if (MHD_run(mw->mhd) != MHD_YES)
		log_warning("libmicrohttpd failed to process events, ignoring");
	return 0;
}

int mhd_watch_add(struct loop *l, struct MHD_Daemon *d, struct mhd_watch *ret)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);

	if (!di)
		return -EIO;
	ret->mhd = d;
	return loop_add(l, &ret->watch, di->epoll_fd, EPOLLIN, on_event);
}

void mhd_watch_remove(struct mhd_watch *mw)
{
	loop_remove(&mw->watch);
}

int mhd_timeout_ms(struct mhd_watch *mw)
{
	MHD_UNSIGNED_LONG_LONG t;

	if (!mw || !mw->mhd)
		return -1;
	(void)MHD_run(mw->mhd);
	if (MHD_get_timeout(mw->mhd, &t) != MHD_YES)
		return -1;
	return t > INT_MAX ? INT_MAX : (int)t;
}
