/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libno_entry.so: a library without AVmPayload_main. The launcher reports
 * "Failed to find entrypoint `AVmPayload_main`" and exits 1 (AVF's
 * bootFailsWhenBinaryIsMissingEntryFunction).
 */
int not_the_entry_point(void);

int not_the_entry_point(void)
{
	return 0;
}
