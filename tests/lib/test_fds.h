/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by tests that check nothing leaks. Linked into every test. */
#ifndef AVF_TESTS_LIB_TEST_FDS_H
#define AVF_TESTS_LIB_TEST_FDS_H

/* Entries of /proc/self/fd, counted the same way before and after (so the
 * directory's own fd and . / .. cancel out). Fails the test if unreadable. */
int count_fds(void);

/* How many of this process's fds are open on the file @fd is open on (@fd included). */
int count_fds_on_file(int fd);

#include <stdbool.h>

/* A fresh fd on its own open file: a pipe's read end (close-on-exec, write end closed). */
int fd_new_pipe_end(void);

/* Whether @a and @b are open on the same file (fstat's device and inode). */
bool fd_same_file(int a, int b);

/* A duplicate as the project makes them: another number, above stdio, close-on-exec,
 * the same open file as @orig. Fails the test otherwise. */
void fd_check_dup(int orig, int copy);

#endif
