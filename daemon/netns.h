/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

/*
 * Network namespaces by fd. A namespace is pinned by keeping its fd open (never trust a pid or
 * a name later). netns_socket() creates a socket *inside* a namespace: a netlink socket stays
 * in the namespace it was created in, so we enter, call socket(), and return at once.
 */

#define NETNS_RUN_DIR "/run/netns"

/* Opens /run/netns/NAME (O_RDONLY|O_CLOEXEC). -ENOENT if absent, -EINVAL for a bad name,
 * -ENOTTY if it is not (yet) a network namespace. */
int netns_open_name(const char *name, int *ret_fd);
/* Opens a namespace by path: a file under /run/netns or /var/run/netns (no "..", no symlink
 * games: the result must be a network namespace), or /proc/PID/ns/net. -EINVAL for any other
 * path, -ENOENT if absent, -ENOTTY if what was opened is not a network namespace. */
int netns_open_path(const char *path, int *ret_fd);
/* Inode of our own (the host's) network namespace. */
int netns_host_inode(ino_t *ret);
/* st_ino of the namespace behind fd (for identity checks). */
int netns_inode(int nsfd, ino_t *ret);
/* A namespace's identity: the device and inode of its nsfs file (the same namespace, however
 * it was opened: by name, by path, by pid). */
int netns_ident(int nsfd, dev_t *ret_dev, ino_t *ret_ino);
/* socket(domain, type|SOCK_CLOEXEC, protocol) inside nsfd; the caller's namespace is restored
 * before returning (a failure to restore aborts: continuing in the wrong netns is unsafe). */
int netns_socket(int nsfd, int domain, int type, int protocol, int *ret_fd);

/* Runs fn(userdata) inside nsfd and returns to the caller's namespace (abort if that fails). */
int netns_call(int nsfd, int (*fn)(void *userdata), void *userdata);
