/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

/*
 * Network namespaces by fd. A namespace is pinned by keeping its fd open (never trust a pid or
 * a name later). netns_socket() creates a socket *inside* a namespace: a netlink socket stays
 * in the namespace it was created in, so we enter, call socket(), and return at once.
 */

#define NETNS_RUN_DIR "/run/netns"
#define NETNS_PATH_MAX 4096

/* Opens /run/netns/NAME (O_RDONLY|O_CLOEXEC). -ENOENT if absent, -EINVAL for a bad name,
 * -ENOTTY if it is not (yet) a network namespace. */
int netns_open_name(const char *name, int *ret_fd);
/* Opens a namespace by path: a file under /run/netns or /var/run/netns (no "..", no symlink
 * games: the result must be a network namespace), or /proc/PID/ns/net. -EINVAL for any other
 * path, -ENOENT if absent, -ENOTTY if what was opened is not a network namespace. */
int netns_open_path(const char *path, int *ret_fd);
/* Opens any clean absolute path (no ".", "..", "//"; last component not a symlink, but for
 * /proc/PID/ns/net) that is a network namespace, without opening anything else for reading:
 * -EINVAL for an unclean path, -ENOTTY if it is not a network namespace, else -errno. For
 * paths proved some other way (netns_open_container) or only compared, never attached to. */
int netns_open_nsfs(const char *path, int *ret_fd);
/* A container's namespace from what its engine reports: its pid (/proc/PID/ns/net) and/or its
 * sandbox path (anywhere: Docker's are under its exec root). A path is taken only when it is a
 * network namespace and the pid's (-EXDEV if another one), or, without a live pid, when it is
 * under /run/netns or /var/run/netns (-EPERM otherwise: nothing proves it). A path that does
 * not exist here (another mount namespace) leaves the pid's. *ret_by_path says which was
 * taken. -ESRCH: the pid's process is gone (and the path cannot be taken without it): the
 * container is exiting. -ENXIO: neither a path nor a pid. */
int netns_open_container(const char *path, int pid, int *ret_fd, bool *ret_by_path);
/* Inode of our own (the host's) network namespace. */
int netns_host_inode(ino_t *ret);
/* st_ino of the namespace behind fd (for identity checks). */
int netns_inode(int nsfd, ino_t *ret);
/* A namespace's identity: the device and inode of its nsfs file (the same namespace, however
 * it was opened: by name, by path, by pid). */
int netns_ident(int nsfd, dev_t *ret_dev, ino_t *ret_ino);
/* The namespace sockfd lives in (SIOCGSKNS): a new fd (O_CLOEXEC) the caller closes. A socket
 * keeps its namespace alive, so an endpoint's nf_tables socket is its only pin, and this gives
 * the namespace back whenever a namespace fd is needed (sockets taken back from the fd store
 * too: a socket's namespace is the one it was created in, in whatever process). */
int netns_of_socket(int sockfd, int *ret_fd);
/* socket(domain, type|SOCK_CLOEXEC, protocol) inside nsfd; the caller's namespace is restored
 * before returning (a failure to restore aborts: continuing in the wrong netns is unsafe). */
int netns_socket(int nsfd, int domain, int type, int protocol, int *ret_fd);

/* Runs fn(userdata) inside nsfd and returns to the caller's namespace (abort if that fails). */
int netns_call(int nsfd, int (*fn)(void *userdata), void *userdata);
