/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_packet: the input shape shared by the targets that read IPC packets
 * (fuzz_ipc_msg, fuzz_proto_args), and the fds that travel with one.
 *
 * Input: byte 0 is the number of fds that "arrived" with the packet (0 up to one over
 * IPC_MSG_MAX_FDS as is, larger values modulo 4); bytes 1.. are the packet as recvmsg()
 * would hand it over. The fds are real (duplicates of /dev/null,
 * close-on-exec), so the targets can check who owns them: untouched after a refused
 * packet, all closed once an accepted message and whatever was taken from it are freed.
 */
#ifndef AVF_FUZZ_FUZZ_PACKET_H
#define AVF_FUZZ_FUZZ_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_check.h"
#include "ipc/ipc_msg.h"

struct fuzz_packet {
	const uint8_t *bytes;
	size_t len;
	int fds[IPC_MSG_MAX_FDS + 1];
	size_t nfds;
};

/* A read-only /dev/null, opened once, that the targets duplicate for the fds they send. */
int fuzz_devnull(void);
/* Splits @data and opens the fds. false (nothing open) for an empty input. */
bool fuzz_packet_open(struct fuzz_packet *p, const uint8_t *data, size_t size);
/* Whether @fd is one of the packet's fds. */
bool fuzz_packet_has_fd(const struct fuzz_packet *p, int fd);
/* Traps unless every fd of the packet is still open (the decoder refused it). */
void fuzz_packet_check_open(const struct fuzz_packet *p);
/* Traps unless every fd of the packet was closed by its owners. */
void fuzz_packet_check_closed(const struct fuzz_packet *p);
/* Closes the fds (after a refusal, when they are still ours). */
void fuzz_packet_close(struct fuzz_packet *p);

#endif
