/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for virtmgr as a hostile client sees it: virtmgr_server over vmgr over
 * the simulated backend (the "stub handler" of research/anchors.md), on a virtual clock,
 * with a local allocator of four CIDs and one client connection. The decoders have their
 * own targets; this one reaches what they feed: dispatch, objects and references, VM
 * lifetimes, callbacks, the state machine, composite disks, and the cleanup when a
 * client goes.
 *
 * Input: a session, a list of steps:
 *   op 0x00..0x7f  send one packet with op % (IPC_MSG_MAX_FDS + 2) fds (duplicates of
 *                  /dev/null; the largest count is one over the limit), then a u16
 *                  little-endian length and that many bytes
 *   op 0x80..0xff  let (op & 0x7f) x 250 ms of virtual time pass (simulated guests move)
 * After each step the loop runs until idle and whatever virtmgr sent back is read and
 * dropped (fds closed). A truncated last step is ignored. Then the client closes its end,
 * as a client process that dies, and nothing may be left (checked here; a violation traps
 * like a crash): no open client connection, no VM, no simulated VMM, no CID held, no loop
 * source, no fd, nothing in TMPDIR (composite disks). Seeds: fuzz/corpus/virtmgr_session/,
 * written by fuzz_seeds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cid/cid_alloc.h"
#include "fakes/sim/sim_backend.h"
#include "fuzz_packet.h"
#include "loop/loop.h"
#include "service/local_context.h"
#include "service/virtmgr_server.h"
#include "service/vmgr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SESSION_CIDS     4
#define STEP_NS          (250 * 1000 * 1000ull)
#define PUMP_ROUNDS_MAX  100000 /* a loop that never goes idle is a bug, not a slow input */
#define SCM_MAX_FD       253    /* the kernel's limit of fds in one message */

struct session {
	struct loop *l;
	struct cid_alloc *cids;
	struct local_context lc;
	struct backend *be;
	struct vmgr *mgr;
	struct virtmgr_server *srv;
	struct trace tr;
	int client; /* our end; -1 once closed */
	size_t traced;
};

/*
 * Traces are formatted (the fuzzer's strings go through them) and dropped; with
 * AVF_FUZZ_TRACE=1 in the environment they are printed, to read what an input does.
 */
static void trace_sink(const struct trace_event *ev, void *data)
{
	static int print = -1;
	struct session *s = data;
	char line[TRACE_TEXT_MAX + 64];

	if (print < 0)
		print = getenv("AVF_FUZZ_TRACE") != NULL;
	s->traced += strlen(ev->text);
	if (print) {
		trace_event_format(ev, line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
}

static uint64_t trace_clock(void *data)
{
	return loop_now(data);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;

	FUZZ_CHECK(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Composite disks go to $TMPDIR when a VM has no temp dir: a private one, checked empty. */
static char tmpdir[] = "/tmp/fuzz_virtmgr_session.XXXXXX";

static void remove_tmpdir(void)
{
	rmdir(tmpdir); /* empty unless a check failed; then it is evidence */
}

static const char *private_tmpdir(void)
{
	static bool made;

	if (!made) {
		FUZZ_CHECK(mkdtemp(tmpdir) != NULL);
		FUZZ_CHECK(setenv("TMPDIR", tmpdir, 1) == 0);
		atexit(remove_tmpdir);
		made = true;
	}
	return tmpdir;
}

/* Everything virtmgr sent: read and dropped, fds closed. */
static void drain(struct session *s)
{
	static uint8_t buf[IPC_MSG_MAX + 1];
	union {
		char buf[CMSG_SPACE(sizeof(int) * SCM_MAX_FD)];
		struct cmsghdr align;
	} cbuf;

	while (s->client >= 0) {
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
				    .msg_controllen = sizeof(cbuf.buf)};
		ssize_t n = recvmsg(s->client, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0)
			return; /* EAGAIN: all read; anything else shows at the next send */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int fds[SCM_MAX_FD];

				memcpy(fds, CMSG_DATA(c), k * sizeof(int));
				for (size_t i = 0; i < k; i++)
					close(fds[i]);
			}
		if (n == 0)
			return;
	}
}

/* Run the loop until nothing is ready, reading replies as they come. */
static void pump(struct session *s)
{
	int rounds = 0;

	do {
		drain(s);
		FUZZ_CHECK(++rounds < PUMP_ROUNDS_MAX);
	} while (loop_run_once(s->l, 0) > 0);
	drain(s);
}

static void send_packet(struct session *s, const uint8_t *p, size_t len, size_t nfds)
{
	int fds[IPC_MSG_MAX_FDS + 1];
	/* Aligned for cmsghdr and zeroed: the kernel reads the padding too. */
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t n;

	if (s->client < 0)
		return;
	for (size_t i = 0; i < nfds; i++) {
		fds[i] = fcntl(fuzz_devnull(), F_DUPFD_CLOEXEC, 3);
		FUZZ_CHECK(fds[i] >= 0);
	}
	if (nfds) {
		struct cmsghdr *c;

		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	n = sendmsg(s->client, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	/* The peer has its own copies now (or none: it closed the connection). */
	for (size_t i = 0; i < nfds; i++)
		close(fds[i]);
	/* EPIPE / ECONNRESET: virtmgr dropped us for a protocol error; EAGAIN cannot
	 * happen after a pump, but would only lose this packet. */
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
		close(s->client);
		s->client = -1;
	}
}

static void session_open(struct session *s)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	FUZZ_CHECK(loop_new(LOOP_CLOCK_VIRTUAL, &s->l) == 0);
	s->tr = (struct trace){.sink = trace_sink, .sink_data = s, .clock = trace_clock,
			       .clock_data = s->l};
	FUZZ_CHECK(cid_alloc_new(2048, 2048 + SESSION_CIDS - 1, NULL, &s->cids) == 0);
	s->lc = (struct local_context){.cids = s->cids, .trace = &s->tr};
	FUZZ_CHECK(sim_backend_new(s->l, &s->tr, &s->be) == 0);
	FUZZ_CHECK(vmgr_new(&(struct vmgr_params){.loop = s->l,
						  .backend = s->be,
						  .context = &local_context_ops,
						  .context_data = &s->lc,
						  .trace = &s->tr},
			    &s->mgr) == 0);
	FUZZ_CHECK(virtmgr_server_new(&(struct virtmgr_server_params){.loop = s->l,
								     .mgr = s->mgr,
								     .trace = &s->tr,
								     .requester_uid = 1000,
								     .requester_pid = 1},
				      &s->srv) == 0);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_CHECK(virtmgr_server_add_client(s->srv, sv[0]) == 0);
	s->client = sv[1];
}

/* The client dies; then nothing of it may be left anywhere. */
static void session_close(struct session *s)
{
	if (s->client >= 0)
		close(s->client);
	s->client = -1;
	pump(s);
	FUZZ_CHECK(virtmgr_server_open_clients(s->srv) == 0);
	FUZZ_CHECK(vmgr_vm_count(s->mgr) == 0);
	FUZZ_CHECK(sim_backend_live_children(s->be) == 0);
	FUZZ_CHECK(cid_alloc_held_count(s->cids) == 0);
	virtmgr_server_free(s->srv);
	vmgr_free(s->mgr);
	backend_free(s->be);
	cid_alloc_free(s->cids);
	FUZZ_CHECK(loop_source_count(s->l) == 0);
	loop_free(s->l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *tmp = private_tmpdir();
	int fds_before, tmp_before = count_entries(tmp);
	struct session s;
	size_t off = 0;

	fuzz_devnull();
	fds_before = count_entries("/proc/self/fd");
	session_open(&s);
	while (off < size) {
		uint8_t op = data[off++];
		size_t len;

		if (op & 0x80) {
			FUZZ_CHECK(loop_advance(s.l, (op & 0x7fu) * STEP_NS) >= 0);
		} else {
			if (size - off < 2)
				break;
			len = (size_t)data[off] | (size_t)data[off + 1] << 8;
			off += 2;
			if (len > size - off)
				break;
			send_packet(&s, data + off, len, op % (IPC_MSG_MAX_FDS + 2));
			off += len;
		}
		pump(&s);
	}
	session_close(&s);
	FUZZ_CHECK(count_entries("/proc/self/fd") == fds_before);
	FUZZ_CHECK(count_entries(tmp) == tmp_before);
	return 0;
}
