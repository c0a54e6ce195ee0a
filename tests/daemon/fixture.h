/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * A private kernel for rootless tests: the test process moves into a new user namespace (the
 * caller's uid mapped to root), a new network namespace and a new mount namespace with its own
 * /run, so it may create network namespaces, name them under /run/netns, commit nf_tables
 * transactions and open netlink sockets there: real kernel, no root, nothing shared with the
 * host. When the kernel refuses user namespaces the test is skipped (exit 77).
 */
#include <stdbool.h>

/* Enters the private kernel; exits 77 (skip) when impossible. Call first, single-threaded. */
void fixture_enter(void);
/* A new network namespace with loopback up, named /run/netns/NAME; its fd (pinned). */
int fixture_netns(const char *name, int *ret_fd);
/* Removes /run/netns/NAME (the namespace lives on while fds pin it). */
void fixture_netns_delete(const char *name);
/* Runs a command (argv, NULL-terminated) inside the namespace nsfd; its exit status. */
int fixture_run_in(int nsfd, const char *const *argv);
/* A veth pair between two namespaces with the given addresses ("10.0.0.1/24"), up. */
int fixture_veth(int nsfd_a, const char *addr_a, int nsfd_b, const char *addr_b);
/* A temporary directory, removed with its contents at exit. */
const char *fixture_tmpdir(void);
