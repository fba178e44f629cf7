/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by tests that check nothing leaks. Linked into every test. */
#ifndef AVF_TESTS_LIB_TEST_FDS_H
#define AVF_TESTS_LIB_TEST_FDS_H

/* Entries of /proc/self/fd, counted the same way before and after (so the
 * directory's own fd and . / .. cancel out). Fails the test if unreadable. */
int count_fds(void);

/* How many of this process's fds are open on the file @fd is open on (@fd included). */
int count_fds_on_file(int fd);

#endif
