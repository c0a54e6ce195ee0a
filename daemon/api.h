/* SPDX-License-Identifier: MIT */
#pragma once

struct api;
struct manager;

/*
 * The control API: HTTP/1.1 + JSON on a unix socket, served by libmicrohttpd from our epoll
 * loop (no threads). Peers are identified with SO_PEERCRED/SO_PEERGROUPS: root and members of
 * `group` may use it; everyone else gets 403. Bodies over POLICY_MAX_INPUT_BYTES get 413.
 */
/* Root and members of `group` may read and change; members of `audit_group` may only read
 * (GET); anyone else gets 403. */
int api_new(struct manager *m, const char *socket_path, const char *group,
	    const char *audit_group, struct api **ret);
struct api *api_free(struct api *a);
/* Lets libmicrohttpd do its timed work; returns the next timeout for epoll (ms, -1 none). */
int api_timeout_ms(struct api *a);

struct MHD_Daemon;
/* For a libmicrohttpd daemon run from our epoll loop: runs what is due, then returns the
 * epoll timeout it needs (-1 for none). */
int mhd_timeout_ms(struct MHD_Daemon *d);
