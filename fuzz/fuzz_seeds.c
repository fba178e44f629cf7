/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_seeds: writes the seed corpora of the binary-input fuzz targets from the
 * project's own encoders, so the seeds are what real peers send and anyone can
 * regenerate them after a wire change (docs/fuzzing.md, "Seeds"):
 *
 *   OUTDIR/ipc_msg/NAME.bin        byte 0 fd count + packet (fuzz_packet.h)
 *   OUTDIR/proto_args/NAME.bin     the same shape: createVm calls, debugListVms replies
 *   OUTDIR/guest_channel/NAME.bin  one guest channel packet each
 *   OUTDIR/payload_msg/NAME.bin    one payload service request or reply each
 *   OUTDIR/virtmgr_session/NAME.bin  client sessions (fuzz_virtmgr_session.c: packets
 *                                  and virtual time steps)
 *
 * Usage: fuzz_seeds OUTDIR   (the subdirectories are created; files are overwritten).
 * The fds a packet carries are duplicates of /dev/null: only their count is on the wire.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"
#include "config/vm_config.h"
#include "ipc/ipc_msg.h"
#include "payload_msg.h"
#include "proto/avf_proto.h"

static const char *outdir;
static int devnull = -1;
static unsigned written;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_seeds: %s: %s\n", what, avf_err_last()->msg);
	exit(1);
}

static void write_file(const char *target, const char *name, const uint8_t *b, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s/%s.bin", outdir, target, name);
	f = fopen(path, "wbe");
	if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "fuzz_seeds: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	written++;
}

/* One packet seed: @m under @h, prefixed with its fd count; frees @m. */
static void packet(const char *target, const char *name, struct ipc_msg *m, struct ipc_hdr h)
{
	static uint8_t buf[1 + IPC_MSG_MAX];
	unsigned nfds;
	size_t len;

	ipc_msg_fds(m, &nfds);
	buf[0] = (uint8_t)nfds;
	if (ipc_msg_encode(m, &h, buf + 1, sizeof(buf) - 1, &len) < 0)
		die(name);
	write_file(target, name, buf, 1 + len);
	ipc_msg_free(m);
}

static struct ipc_msg *msg(void)
{
	struct ipc_msg *m;

	if (ipc_msg_new(&m) < 0)
		die("ipc_msg_new");
	return m;
}

/* Builders fail only on limits and memory: one check per seed is enough. */
#define PUT(expr)                                                                              \
	do {                                                                                   \
		if ((expr) < 0)                                                                \
			die(#expr);                                                            \
	} while (0)

static void ipc_seeds(void)
{
	static const uint8_t bytes[] = {0, 1, 0x7f, 0x80, 0xff};
	struct ipc_msg *m = msg();

	PUT(ipc_msg_put_i32(m, -2));
	PUT(ipc_msg_put_u32(m, 7));
	PUT(ipc_msg_put_i64(m, -4294967296ll));
	PUT(ipc_msg_put_bool(m, true));
	PUT(ipc_msg_put_string(m, "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80"));
	PUT(ipc_msg_put_bytes(m, bytes, sizeof(bytes)));
	PUT(ipc_msg_put_fd(m, devnull));
	PUT(ipc_msg_put_object_id(m, 5));
	PUT(ipc_msg_put_null(m));
	packet("ipc_msg", "call_every_type", m,
	       (struct ipc_hdr){.kind = IPC_CALL, .object = 1, .method = 3, .call_id = 1});

	packet("ipc_msg", "call_empty", msg(),
	       (struct ipc_hdr){.kind = IPC_CALL, .method = PROTO_VS_DEBUG_LIST_VMS, .call_id = 9});

	m = msg();
	for (unsigned i = 0; i < IPC_MSG_MAX_FDS; i++)
		PUT(ipc_msg_put_fd(m, devnull));
	packet("ipc_msg", "call_16_fds", m,
	       (struct ipc_hdr){.kind = IPC_CALL, .object = 2, .method = 1, .call_id = 3});

	m = msg();
	PUT(ipc_msg_put_i32(m, 2048));
	PUT(ipc_msg_put_string(m, ""));
	packet("ipc_msg", "reply_values", m, (struct ipc_hdr){.kind = IPC_REPLY, .call_id = 1});

	m = msg();
	PUT(ipc_msg_put_i32(m, AVF_EX_ILLEGAL_STATE));
	PUT(ipc_msg_put_i32(m, 0));
	PUT(ipc_msg_put_string(m, "VM is not running"));
	packet("ipc_msg", "reply_error", m,
	       (struct ipc_hdr){.kind = IPC_REPLY, .flags = IPC_F_ERROR, .call_id = 2});

	m = msg();
	PUT(ipc_msg_put_i32(m, 2048));
	PUT(ipc_msg_put_i32(m, 4));
	packet("ipc_msg", "oneway_on_died", m,
	       (struct ipc_hdr){.kind = IPC_ONEWAY, .object = 3, .method = PROTO_CB_ON_DIED});

	m = msg();
	PUT(ipc_msg_put_u32(m, 1));
	packet("ipc_msg", "acquire", m, (struct ipc_hdr){.kind = IPC_ACQUIRE, .object = 4});

	m = msg();
	PUT(ipc_msg_put_u32(m, 3));
	packet("ipc_msg", "release", m, (struct ipc_hdr){.kind = IPC_RELEASE, .object = 4});
}

static const struct ipc_hdr create_vm_hdr = {
    .kind = IPC_CALL, .object = 0, .method = PROTO_VS_CREATE_VM, .call_id = 1};

/* createVm's arguments: @c, then console out, console in and log (fd or NULL). */
static struct ipc_msg *create_vm(const struct vm_config *c, bool out, bool in, bool log)
{
	struct ipc_msg *m = msg();

	PUT(proto_put_config(m, c));
	PUT(out ? ipc_msg_put_fd(m, devnull) : ipc_msg_put_null(m));
	PUT(in ? ipc_msg_put_fd(m, devnull) : ipc_msg_put_null(m));
	PUT(log ? ipc_msg_put_fd(m, devnull) : ipc_msg_put_null(m));
	return m;
}

static void proto_seeds(void)
{
	struct vm_config_partition parts[2] = {
	    {.label = "boot", .fd = devnull, .writable = false},
	    {.label = "data", .fd = devnull, .writable = true},
	};
	struct vm_config_disk disks[2] = {
	    {.image_fd = devnull, .writable = true},
	    {.image_fd = -1, .partitions = parts, .n_partitions = 2},
	};
	struct proto_debug_row rows[2] = {
	    {.cid = 2048, .state = AVF_VM_STATE_READY, .requester_uid = 1000,
	     .requester_pid = 42, .name = "vm1", .temp_dir = "/tmp/avf/2048"},
	    {.cid = 2049, .state = AVF_VM_STATE_DEAD, .name = "", .temp_dir = ""},
	};
	struct vm_config c;
	struct ipc_msg *m;

	vm_config_init(&c);
	c.name = "minimal";
	packet("proto_args", "create_vm_minimal", create_vm(&c, false, false, false),
	       create_vm_hdr);

	c.name = "raw-files";
	c.memory_mib = 256;
	c.cpus = 2;
	c.kernel_fd = devnull;
	c.initrd_fd = devnull;
	c.params = "console=hvc0 root=/dev/vda";
	c.disks = disks;
	c.n_disks = 2;
	packet("proto_args", "create_vm_files", create_vm(&c, true, true, false), create_vm_hdr);
	packet("ipc_msg", "create_vm_files", create_vm(&c, true, true, false), create_vm_hdr);

	vm_config_init(&c);
	c.kind = VM_CONFIG_APP;
	c.name = "app";
	c.protected_vm = true;
	c.guest_script = "wait 1s; started; ready; finished 0; exit 0";
	c.bootloader_fd = devnull;
	packet("proto_args", "create_vm_app", create_vm(&c, false, false, true), create_vm_hdr);

	m = msg();
	PUT(ipc_msg_put_u32(m, 2));
	for (int i = 0; i < 2; i++)
		PUT(proto_put_debug_row(m, &rows[i]));
	packet("proto_args", "debug_list_reply", m, (struct ipc_hdr){.kind = IPC_REPLY, .call_id = 5});

	m = msg();
	PUT(ipc_msg_put_u32(m, 0));
	packet("proto_args", "debug_list_empty", m, (struct ipc_hdr){.kind = IPC_REPLY, .call_id = 6});
}

static void channel(const char *name, const struct guest_channel_msg *m)
{
	uint8_t buf[GUEST_CHANNEL_PACKET_MAX];
	size_t len;

	if (guest_channel_encode(m, buf, sizeof(buf), &len) < 0)
		die(name);
	write_file("guest_channel", name, buf, len);
}

static void channel_seeds(void)
{
	static const struct {
		const char *name;
		struct guest_event ev;
	} requests[] = {
	    {"started", {.kind = GUEST_PAYLOAD_STARTED}},
	    {"ready", {.kind = GUEST_PAYLOAD_READY}},
	    {"finished", {.kind = GUEST_PAYLOAD_FINISHED, .value = -3}},
	    {"error", {.kind = GUEST_ERROR, .value = 1, .message = "payload crashed: \xc3\xa9"}},
	};
	struct guest_channel_msg m;

	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		if (guest_channel_from_event(&requests[i].ev, (uint32_t)i + 1, &m) < 0)
			die(requests[i].name);
		channel(requests[i].name, &m);
	}
	guest_channel_make_reply(7, 0, 0, NULL, &m);
	channel("reply_ok", &m);
	guest_channel_make_reply(8, -EINVAL, AVF_EX_ILLEGAL_STATE, "payload already started", &m);
	channel("reply_refused", &m);
}

static void payload_request(const char *name, struct payload_request rq)
{
	uint8_t buf[PAYLOAD_MSG_MAX];
	int n = payload_msg_encode_request(&rq, buf, sizeof(buf));

	if (n < 0)
		die(name);
	write_file("payload_msg", name, buf, (size_t)n);
}

static void payload_reply(const char *name, struct payload_reply rp)
{
	uint8_t buf[PAYLOAD_MSG_MAX];
	int n = payload_msg_encode_reply(&rp, buf, sizeof(buf));

	if (n < 0)
		die(name);
	write_file("payload_msg", name, buf, (size_t)n);
}

static void payload_seeds(void)
{
	static const uint8_t id[] = "instance-secret-id", challenge[16] = {1, 2, 3, 4, 5};
	static const uint8_t secret[PAYLOAD_SECRET_MAX] = {0xa5, 0x5a}, chain[100] = {0x84};
	static const char refused[] = "requested secret size out of range";

	payload_request("req_notify_ready", (struct payload_request){.method = PAYLOAD_NOTIFY_READY});
	payload_request("req_secret",
			(struct payload_request){.method = PAYLOAD_GET_VM_INSTANCE_SECRET,
						 .size = 32, .data = id,
						 .data_len = sizeof(id) - 1});
	payload_request("req_dice_chain",
			(struct payload_request){.method = PAYLOAD_GET_DICE_ATTESTATION_CHAIN});
	payload_request("req_dice_cdi",
			(struct payload_request){.method = PAYLOAD_GET_DICE_ATTESTATION_CDI});
	payload_request("req_attestation",
			(struct payload_request){.method = PAYLOAD_REQUEST_ATTESTATION,
						 .test_mode = true, .data = challenge,
						 .data_len = sizeof(challenge)});
	payload_reply("reply_ready", (struct payload_reply){.method = PAYLOAD_NOTIFY_READY});
	payload_reply("reply_secret",
		      (struct payload_reply){.method = PAYLOAD_GET_VM_INSTANCE_SECRET,
					     .data = secret, .data_len = sizeof(secret)});
	payload_reply("reply_dice_chain",
		      (struct payload_reply){.method = PAYLOAD_GET_DICE_ATTESTATION_CHAIN,
					     .data = chain, .data_len = sizeof(chain)});
	payload_reply("reply_service_error",
		      (struct payload_reply){.method = PAYLOAD_GET_VM_INSTANCE_SECRET,
					     .ex = AVF_EX_SERVICE_SPECIFIC, .service_code = -1,
					     .data = (const uint8_t *)refused,
					     .data_len = sizeof(refused) - 1});
	payload_reply("reply_unreadable",
		      (struct payload_reply){.ex = AVF_EX_BAD_PARCELABLE,
					     .data = (const uint8_t *)"bad magic",
					     .data_len = 9});
	payload_reply("reply_attestation_unsupported",
		      (struct payload_reply){.method = PAYLOAD_REQUEST_ATTESTATION,
					     .ex = AVF_EX_UNSUPPORTED_OPERATION});
}

/* ---- virtmgr sessions ---- */

struct session {
	uint8_t b[8192];
	size_t len;
};

/* A packet step: fd count, u16 length, the packet; frees @m. */
static void send_step(struct session *se, struct ipc_msg *m, struct ipc_hdr h)
{
	unsigned nfds;
	size_t len;

	ipc_msg_fds(m, &nfds);
	if (nfds > 0x7f || se->len + 3 + ipc_msg_wire_len(m) > sizeof(se->b))
		die("session too long");
	se->b[se->len] = (uint8_t)nfds;
	if (ipc_msg_encode(m, &h, se->b + se->len + 3, sizeof(se->b) - se->len - 3, &len) < 0)
		die("session packet");
	se->b[se->len + 1] = (uint8_t)len;
	se->b[se->len + 2] = (uint8_t)(len >> 8);
	se->len += 3 + len;
	ipc_msg_free(m);
}

/* A time step: @quarters x 250 ms of virtual time (at most 127). */
static void time_step(struct session *se, unsigned quarters)
{
	se->b[se->len++] = (uint8_t)(0x80 | quarters);
}

/* A call without arguments on @object. */
static void call0(struct session *se, uint32_t object, uint32_t method, uint32_t id)
{
	send_step(se, msg(),
		  (struct ipc_hdr){.kind = IPC_CALL, .object = object, .method = method,
				   .call_id = id});
}

/* createVm of a config named @name running @script, no console fds. */
static void create_vm_step(struct session *se, enum vm_config_kind kind, const char *name,
			   const char *script, uint32_t id)
{
	struct vm_config c;
	struct ipc_hdr h = create_vm_hdr;

	vm_config_init(&c);
	c.kind = kind;
	c.name = (char *)name;
	c.guest_script = (char *)script;
	h.call_id = id;
	send_step(se, create_vm(&c, false, false, false), h);
}

static void session_seeds(void)
{
	struct session se = {.len = 0};
	struct ipc_msg *m;

	/* One VM from createVm to its end: callback, start, the default guest runs, stop,
	 * the client drops its reference. The server exports its first VM as object 1. */
	create_vm_step(&se, VM_CONFIG_RAW, "lifecycle", NULL, 1);
	m = msg();
	PUT(ipc_msg_put_object_id(m, 1));
	send_step(&se, m,
		  (struct ipc_hdr){.kind = IPC_CALL, .object = 1,
				   .method = PROTO_VM_REGISTER_CALLBACK, .call_id = 2});
	call0(&se, 1, PROTO_VM_START, 3);
	time_step(&se, 6);
	call0(&se, 1, PROTO_VM_GET_STATE, 4);
	call0(&se, 1, PROTO_VM_GET_CID, 5);
	time_step(&se, 6);
	call0(&se, 1, PROTO_VM_STOP, 6);
	m = msg();
	PUT(ipc_msg_put_u32(m, 1));
	send_step(&se, m, (struct ipc_hdr){.kind = IPC_RELEASE, .object = 1});
	write_file("virtmgr_session", "lifecycle", se.b, se.len);

	/* An app VM whose payload never starts: the 30 s boot hangup. */
	se.len = 0;
	create_vm_step(&se, VM_CONFIG_APP, "hangs", "hang", 1);
	call0(&se, 1, PROTO_VM_START, 2);
	time_step(&se, 127);
	call0(&se, 1, PROTO_VM_GET_STATE, 3);
	call0(&se, 1, PROTO_VM_START, 4);
	write_file("virtmgr_session", "hangup", se.b, se.len);

	/* Every IVirtualizationService call, and the VM calls that are refused. */
	se.len = 0;
	m = msg();
	PUT(ipc_msg_put_string(m, "com.android.kvm.NETWORK"));
	send_step(&se, m,
		  (struct ipc_hdr){.kind = IPC_CALL, .method = PROTO_VS_IS_FEATURE_ENABLED,
				   .call_id = 1});
	m = msg();
	PUT(ipc_msg_put_fd(m, devnull));
	PUT(ipc_msg_put_i64(m, 4097));
	PUT(ipc_msg_put_i32(m, PROTO_PARTITION_ANDROID_VM_INSTANCE));
	send_step(&se, m,
		  (struct ipc_hdr){.kind = IPC_CALL, .method = PROTO_VS_INIT_WRITABLE_PARTITION,
				   .call_id = 2});
	create_vm_step(&se, VM_CONFIG_RAW, "refusals", "wait 1s; exit 3", 3);
	call0(&se, 1, PROTO_VM_STOP, 4);
	m = msg();
	PUT(ipc_msg_put_i32(m, 5000));
	send_step(&se, m,
		  (struct ipc_hdr){.kind = IPC_CALL, .object = 1,
				   .method = PROTO_VM_CONNECT_VSOCK, .call_id = 5});
	call0(&se, 0, PROTO_VS_DEBUG_LIST_VMS, 6);
	call0(&se, 7, PROTO_VM_GET_CID, 7); /* an object never exported */
	write_file("virtmgr_session", "service_calls", se.b, se.len);

	/* More VMs than CIDs (the session has four), each started, then the list. */
	se.len = 0;
	for (uint32_t i = 1; i <= 5; i++) {
		create_vm_step(&se, VM_CONFIG_RAW, "many", "started; ready; hang", 2 * i);
		call0(&se, i, PROTO_VM_START, 2 * i + 1);
	}
	time_step(&se, 1);
	call0(&se, 0, PROTO_VS_DEBUG_LIST_VMS, 20);
	write_file("virtmgr_session", "cid_exhaustion", se.b, se.len);

	/* Files: a kernel and a disk of two partitions (a composite is built), consoles. */
	se.len = 0;
	{
		struct vm_config_partition parts[2] = {
		    {.label = "boot", .fd = devnull},
		    {.label = "data", .fd = devnull, .writable = true},
		};
		struct vm_config_disk disk = {.image_fd = -1, .partitions = parts,
					      .n_partitions = 2};
		struct vm_config c;

		vm_config_init(&c);
		c.name = "files";
		c.kernel_fd = devnull;
		c.disks = &disk;
		c.n_disks = 1;
		send_step(&se, create_vm(&c, true, true, true), create_vm_hdr);
	}
	call0(&se, 1, PROTO_VM_START, 2);
	time_step(&se, 12);
	write_file("virtmgr_session", "composite_disk", se.b, se.len);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: fuzz_seeds OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		perror("fuzz_seeds: /dev/null");
		return 1;
	}
	ipc_seeds();
	proto_seeds();
	channel_seeds();
	payload_seeds();
	session_seeds();
	close(devnull);
	printf("fuzz_seeds: %u seeds written under %s\n", written, outdir);
	return 0;
}
