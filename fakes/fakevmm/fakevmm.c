/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fakevmm: a VMM process that takes the crosvm `run` command line AVF builds
 * (research/crosvm-spec.md §1.2) and, instead of booting a guest, plays a guest
 * script (fakes/script). The real-process sibling of fakes/sim.
 *
 * Command line
 *   fakevmm [--extended-status] [--log-level X] run RUN-FLAG... [KERNEL]
 *   Every flag of crosvm-spec §1.2's table is accepted, as `--flag value` or as
 *   one word `--flag=value` (split at the first '='), and recorded. Exit 35
 *   (crosvm's InvalidArgs) with a message on stderr for: an unknown flag, no `run`,
 *   a global flag after `run` or a run flag before it, a missing value, a value
 *   given to a switch, a non-repeatable flag given twice, a bad number (--cid,
 *   --mem, --cpus, --swiotlb, --gdb), a bad --serial spec or a duplicate serial
 *   device, two kernels.
 *   fakevmm only: `--avf-guest-channel /proc/self/fd/N`, an inherited
 *   SOCK_SEQPACKET socket carrying the guest channel (backends/fake/guest_channel.h).
 *
 * Disks (fakevmm_disk.h): every --disk / --rwdisk is opened and, when it is a
 * composite, its spec, components and GPT are checked as crosvm (and the guest)
 * would, right after the fd checks; anything crosvm would refuse is exit 1 with
 * "fakevmm: disk N (--disk PATH): <why>" on stderr.
 *
 * Inherited fds: like crosvm, every path /proc/self/fd/N given (kernel, --bios,
 * --initrd, --disk, --rwdisk, --socket, --device-tree-overlay,
 * --protected-vm-with-firmware, --serial path=/input=, --avf-guest-channel) must
 * be an open fd without FD_CLOEXEC: otherwise EBADF, exit 1 (crosvm fails then
 * too, when it sets the device up: its "error returned from run" status). They
 * are checked before fakevmm opens anything, so a number cannot be one of its
 * own fds.
 *
 * Serial devices: at start-up, as crosvm, every `type=file` device's path is
 * opened (a /proc/self/fd/N path: an F_DUPFD_CLOEXEC duplicate of the inherited
 * fd; another path: append+create) and so is its `input=` (read-only);
 * `type=stdout` is a duplicate of stdout; every other type is a sink. The guest
 * uses ttyS1 (failure), hvc0 (console, and its input) and hvc2 (log).
 *
 * Guest script: the kernel parameter avf.fake_script=S in any --params word (the
 * last one wins), S percent-encoded (%XX; every other byte literal). Without it
 * the guest is GSCRIPT_DEFAULT. A script that does not decode or parse: exit 1.
 *   (boot)     before the first step (unless it is spawn-fail), the console
 *       (hvc0) gets the banner "fakevmm: booting fake guest, cid <--cid value or
 *       'none'>" and a newline.
 *   started, ready, finished C, error C T  one request on the guest channel, then
 *       wait for the manager's reply; a refusal is printed on stderr
 *       ("fakevmm: guest: notifyPayloadStarted refused: EX_...") and the script
 *       goes on. Without a guest channel the notification is dropped (stderr).
 *   failure T  T is written to ttyS1 (--serial ...,hardware=serial,num=2) when
 *       it is a file (/proc/self/fd/N, a path, or stdout); otherwise discarded.
 *   console T  T and a newline to the console (hvc0); log T: to the log (hvc2).
 *       A sink discards them; a write error (EPIPE: the reader went away) makes
 *       the device a sink from then on, said once on stderr; a reader that makes
 *       no room for 1 s loses lines while it stays full (fakevmm_out_line).
 *   echo-console  reads one line of hvc0's input (waiting for it in the poll
 *       loop) and writes "console-in: LINE" to the console; at the end of input,
 *       or without an input device, "console-in: <eof>".
 *   wait D     until now + D on CLOCK_MONOTONIC, by ppoll (libfaketime scales it).
 *   exit N     _exit(N); without --extended-status, 32 33 34 36 become 0 (crosvm).
 *   signal S   default action, unblocked, core dumps off (no core files from a
 *              script), raise(S).
 *   hang       wait forever.    spawn-fail  exit 1 (this VMM cannot start).
 * EOF or an error on the guest channel, at any time: exit 1.
 *
 * Control socket (--socket): a listening SOCK_SEQPACKET socket (an inherited fd
 * must have SO_ACCEPTCONN, as crosvm checks; a plain path is bound by fakevmm and
 * removed when it exits). Connections are served in the same poll loop as the
 * script: the request "Exit" is answered "Ok" and fakevmm exits 0 (crosvm-spec
 * §7); any other request gets {"ErrString":"..."}.
 *
 * Lifetime: PR_SET_PDEATHSIG(SIGKILL), then getppid() compared with its value
 * before the prctl (a parent that died in between). The fake backend also sets
 * the death signal before exec, where it knows the parent's pid, so no window is
 * left. Everything fakevmm allocated is freed before it exits (valgrind-clean).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/fake/guest_channel.h"
#include "base/avf_err.h"
#include "base/coverage_flush.h"
#include "fakes/fakevmm/fakevmm_agent.h"
#include "fakes/fakevmm/fakevmm_disk.h"
#include "fakes/script/guest_script.h"

#define FAKEVMM_EXIT_ERROR        1
#define FAKEVMM_EXIT_INVALID_ARGS 35
#define FAKEVMM_MAX_CONNS         8
#define FAKEVMM_SCRIPT_PARAM      "avf.fake_script="
#define PROC_FD                   "/proc/self/fd/"
/* How long one console or log line may wait for room (see fakevmm_out_line). */
#define FAKEVMM_OUTPUT_STALL_NS 1000000000ull
/* Console input lines longer than this are split. */
#define FAKEVMM_LINE_MAX 4096

enum {
	FL_VALUE = 1 << 0,  /* takes a value */
	FL_GLOBAL = 1 << 1, /* before `run` */
	FL_REPEAT = 1 << 2, /* may be given more than once */
	FL_PATH = 1 << 3,   /* the value is (or starts with, up to ',') a path */
	FL_NUM = 1 << 4,    /* the value is a decimal number */
};

struct fakevmm_flag {
	const char *name;
	unsigned flags;
};

/* crosvm-spec §1.2, in its order; then ours. */
static const struct fakevmm_flag fakevmm_flags[] = {
    {"--extended-status", FL_GLOBAL},
    {"--log-level", FL_GLOBAL | FL_VALUE},
    {"--disable-sandbox", 0},
    {"--cid", FL_VALUE | FL_NUM},
    {"--balloon-page-reporting", 0},
    {"--no-balloon", 0},
    {"--protected-vm-with-firmware", FL_VALUE | FL_PATH},
    {"--protected-vm", 0},
    {"--swiotlb", FL_VALUE | FL_NUM},
    {"--unmap-guest-memory-on-fork", 0},
    {"--params", FL_VALUE | FL_REPEAT},
    {"--mem", FL_VALUE},
    {"--cpus", FL_VALUE},
    {"--host-cpu-topology", 0},
    {"--virt-cpufreq", 0},
    {"--gdb", FL_VALUE | FL_NUM},
    {"--serial", FL_VALUE | FL_REPEAT},
    {"--bios", FL_VALUE | FL_PATH},
    {"--initrd", FL_VALUE | FL_PATH},
    {"--rwdisk", FL_VALUE | FL_PATH | FL_REPEAT},
    {"--disk", FL_VALUE | FL_PATH | FL_REPEAT},
    {"--socket", FL_VALUE | FL_PATH},
    {"--device-tree-overlay", FL_VALUE | FL_PATH | FL_REPEAT},
    {"--gpu", FL_VALUE},
    {"--gpu-display", FL_VALUE | FL_REPEAT},
    {"--android-display-service", FL_VALUE},
    {"--net", FL_VALUE | FL_REPEAT},
    {"--input", FL_VALUE | FL_REPEAT},
    {"--hugepages", 0},
    {"--boost-uclamp", 0},
    {"--vfio", FL_VALUE | FL_REPEAT},
    {"--virtio-snd", FL_VALUE},
    {"--avf-guest-channel", FL_VALUE | FL_PATH},
    /* An app VM's payload, for the `agent` step (backends/fake: add_payload_args). */
    {"--avf-payload", FL_VALUE | FL_PATH},
    {"--avf-payload-name", FL_VALUE},
    {"--avf-payload-config", FL_VALUE | FL_PATH},
    {"--avf-instance", FL_VALUE | FL_PATH},
    {"--avf-storage", FL_VALUE | FL_PATH},
    {"--avf-vm-dir", FL_VALUE},
};

/* One accepted flag as given; @value points into argv (NULL for a switch). */
struct fakevmm_arg {
	const struct fakevmm_flag *flag;
	const char *value;
};

enum serial_type { SER_SINK, SER_FILE, SER_STDOUT, SER_SYSLOG, SER_UNIX, SER_UNIX_STREAM };
enum serial_hw { HW_SERIAL, HW_VIRTIO_CONSOLE, HW_DEBUGCON, HW_LEGACY_VIRTIO_CONSOLE };

struct fakevmm_serial {
	enum serial_type type;
	enum serial_hw hw;
	unsigned num;
	char *path;  /* NULL if none */
	char *input; /* NULL if none */
	int out_fd;  /* where its output goes (ours, close-on-exec); -1: nowhere */
	int in_fd;   /* its input (ours, close-on-exec); -1: none */
};

/* A device the guest writes lines to: the console (hvc0) or the log (hvc2). */
struct fakevmm_out {
	const char *name;
	int fd;       /* a serial's out_fd (not owned); -1: a sink */
	bool broken;  /* a write failed (EPIPE, ...): a sink from then on */
	bool stalled; /* the last write found no room for FAKEVMM_OUTPUT_STALL_NS */
};

struct fakevmm {
	struct fakevmm_arg *args;
	size_t n_args;
	bool extended_status;
	const char *kernel;
	struct fakevmm_serial *serials;
	size_t n_serials;
	struct gscript *script;
	int failure_fd; /* ttyS1's out_fd (not owned); -1: sink */
	struct fakevmm_out console, log;
	int console_in_fd; /* hvc0's in_fd (not owned); -1: none */
	char in_buf[FAKEVMM_LINE_MAX];
	size_t in_len;
	bool in_eof;
	int guest_fd;
	int control_fd;
	char *control_path; /* a socket file we bound ourselves */
	int conns[FAKEVMM_MAX_CONNS];
	size_t n_conns;
	uint32_t seq;
};

static struct fakevmm fv = {.failure_fd = -1,
			    .console = {.name = "console (hvc0)", .fd = -1},
			    .log = {.name = "log (hvc2)", .fd = -1},
			    .console_in_fd = -1,
			    .guest_fd = -1,
			    .control_fd = -1};

static void fakevmm_cleanup(void)
{
	for (size_t i = 0; i < fv.n_conns; i++)
		close(fv.conns[i]);
	fv.n_conns = 0;
	if (fv.control_path) {
		close(fv.control_fd);
		unlink(fv.control_path);
		free(fv.control_path);
		fv.control_path = NULL;
	}
	fv.failure_fd = fv.console.fd = fv.log.fd = fv.console_in_fd = -1;
	for (size_t i = 0; i < fv.n_serials; i++) {
		if (fv.serials[i].out_fd >= 0)
			close(fv.serials[i].out_fd);
		if (fv.serials[i].in_fd >= 0)
			close(fv.serials[i].in_fd);
		free(fv.serials[i].path);
		free(fv.serials[i].input);
	}
	free(fv.serials);
	fv.serials = NULL;
	fv.n_serials = 0;
	free(fv.args);
	fv.args = NULL;
	fv.script = gscript_free(fv.script);
}

static void __attribute__((noreturn)) fakevmm_exit(int status)
{
	fakevmm_cleanup();
	coverage_flush(); /* _exit() skips gcov's exit handler */
	_exit(status);
}

static void __attribute__((noreturn, format(printf, 2, 3)))
fakevmm_die(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("fakevmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fakevmm_exit(status);
}

#define fakevmm_invalid(...) fakevmm_die(FAKEVMM_EXIT_INVALID_ARGS, __VA_ARGS__)

/* ---- command line ---- */

static const struct fakevmm_flag *fakevmm_find_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(fakevmm_flags) / sizeof(fakevmm_flags[0]); i++)
		if (strlen(fakevmm_flags[i].name) == len &&
		    strncmp(fakevmm_flags[i].name, name, len) == 0)
			return &fakevmm_flags[i];
	return NULL;
}

/* Digits only, at least one, fitting in 64 bits; @end: where the number must stop. */
static bool fakevmm_is_number(const char *s, const char **end)
{
	const char *p = s;
	unsigned long long v = 0;

	while (*p >= '0' && *p <= '9') {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (unsigned)(*p - '0');
		p++;
	}
	if (end)
		*end = p;
	return p > s;
}

static bool fakevmm_is_whole_number(const char *s)
{
	const char *end;

	return fakevmm_is_number(s, &end) && !*end;
}

/* --mem N | size=N;  --cpus N | num-cores=N[,more options] */
static void fakevmm_check_value(const struct fakevmm_flag *f, const char *v)
{
	const char *end;
	bool ok = true;

	if (f->flags & FL_NUM)
		ok = fakevmm_is_whole_number(v);
	else if (strcmp(f->name, "--mem") == 0)
		ok = fakevmm_is_whole_number(strncmp(v, "size=", 5) == 0 ? v + 5 : v);
	else if (strcmp(f->name, "--cpus") == 0 && strncmp(v, "num-cores=", 10) == 0)
		ok = fakevmm_is_number(v + 10, &end) && (!*end || *end == ',');
	else if (strcmp(f->name, "--cpus") == 0)
		ok = fakevmm_is_whole_number(v);
	if (!ok)
		fakevmm_invalid("invalid value '%s' for '%s'", v, f->name);
}

static char *fakevmm_strndup(const char *s, size_t n)
{
	char *d = strndup(s, n);

	if (!d)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "out of memory");
	return d;
}

/*
 * type=file|stdout|sink|syslog|unix|unix-stream, path=, input=,
 * hardware=serial|virtio-console|debugcon|legacy-virtio-console, num=N, console,
 * earlycon, stdin, max-queue-sizes=[..], pci-address=, name=, out-timestamp,
 * debugcon-port= (crosvm-spec §1.7). Commas inside [...] do not split.
 */
static void fakevmm_parse_serial(const char *spec, struct fakevmm_serial *s)
{
	static const char *const types[] = {
	    [SER_SINK] = "sink",     [SER_FILE] = "file", [SER_STDOUT] = "stdout",
	    [SER_SYSLOG] = "syslog", [SER_UNIX] = "unix", [SER_UNIX_STREAM] = "unix-stream"};
	static const char *const hws[] = {[HW_SERIAL] = "serial",
					  [HW_VIRTIO_CONSOLE] = "virtio-console",
					  [HW_DEBUGCON] = "debugcon",
					  [HW_LEGACY_VIRTIO_CONSOLE] = "legacy-virtio-console"};
	static const char *const other_keys[] = {"console",         "earlycon",     "stdin",
						 "max-queue-sizes", "pci-address",  "name",
						 "out-timestamp",   "debugcon-port"};
	const char *p = spec;

	*s = (struct fakevmm_serial){
	    .type = SER_SINK, .hw = HW_SERIAL, .num = 1, .out_fd = -1, .in_fd = -1};
	while (*p) {
		const char *kv = p, *eq, *val;
		size_t klen, vlen, i;
		int depth = 0;

		while (*p && (depth > 0 || *p != ',')) {
			depth += *p == '[' ? 1 : *p == ']' ? -1 : 0;
			p++;
		}
		if (depth != 0)
			fakevmm_invalid("--serial '%s': unbalanced '['", spec);
		eq = memchr(kv, '=', (size_t)(p - kv));
		klen = (size_t)((eq ? eq : p) - kv);
		val = eq ? eq + 1 : p;
		vlen = (size_t)(p - val);
		if (*p == ',')
			p++;
#define KEY_IS(k) (klen == strlen(k) && strncmp(kv, k, klen) == 0)
#define VAL_IS(v) (vlen == strlen(v) && strncmp(val, v, vlen) == 0)
		if (klen == 0) {
			fakevmm_invalid("--serial '%s': empty option", spec);
		} else if (KEY_IS("type")) {
			for (i = 0; i < sizeof(types) / sizeof(types[0]) && !VAL_IS(types[i]); i++)
				;
			if (i == sizeof(types) / sizeof(types[0]))
				fakevmm_invalid("--serial '%s': unknown type '%.*s'", spec,
						(int)vlen, val);
			s->type = (enum serial_type)i;
		} else if (KEY_IS("hardware")) {
			for (i = 0; i < sizeof(hws) / sizeof(hws[0]) && !VAL_IS(hws[i]); i++)
				;
			if (i == sizeof(hws) / sizeof(hws[0]))
				fakevmm_invalid("--serial '%s': unknown hardware '%.*s'", spec,
						(int)vlen, val);
			s->hw = (enum serial_hw)i;
		} else if (KEY_IS("num")) {
			char buf[8] = "";
			const char *end;

			if (vlen < sizeof(buf))
				memcpy(buf, val, vlen);
			if (vlen >= sizeof(buf) || !fakevmm_is_number(buf, &end) || *end ||
			    atoi(buf) < 1)
				fakevmm_invalid("--serial '%s': num must be a number >= 1", spec);
			s->num = (unsigned)atoi(buf);
		} else if (KEY_IS("path") || KEY_IS("input")) {
			char **dst = KEY_IS("path") ? &s->path : &s->input;

			if (!eq || !vlen || *dst)
				fakevmm_invalid("--serial '%s': '%.*s' needs one non-empty value",
						spec, (int)klen, kv);
			*dst = fakevmm_strndup(val, vlen);
		} else {
			for (i = 0; i < sizeof(other_keys) / sizeof(other_keys[0]); i++)
				if (KEY_IS(other_keys[i]))
					break;
			if (i == sizeof(other_keys) / sizeof(other_keys[0]))
				fakevmm_invalid("--serial '%s': unknown option '%.*s'", spec,
						(int)klen, kv);
		}
#undef KEY_IS
#undef VAL_IS
	}
	if (s->hw == HW_SERIAL && s->num > 4)
		fakevmm_invalid("--serial '%s': serial num must be 1..4", spec);
	if (s->type == SER_FILE && !s->path)
		fakevmm_invalid("--serial '%s': type=file needs a path", spec);
}

static void fakevmm_parse_args(int argc, char **argv)
{
	bool in_run = false;

	fv.args = calloc((size_t)argc, sizeof(*fv.args));
	fv.serials = calloc((size_t)argc, sizeof(*fv.serials));
	if (!fv.args || !fv.serials)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "out of memory");
	for (int i = 1; i < argc; i++) {
		const char *w = argv[i], *eq, *value = NULL;
		const struct fakevmm_flag *f;
		size_t len;

		if (!in_run && strcmp(w, "run") == 0) {
			in_run = true;
			continue;
		}
		if (w[0] != '-') {
			if (!in_run)
				fakevmm_invalid("unknown subcommand '%s' (fakevmm knows 'run')", w);
			if (fv.kernel)
				fakevmm_invalid("two kernels: '%s' and '%s'", fv.kernel, w);
			fv.kernel = w;
			continue;
		}
		/* crosvm splits any --x=y word at the first '=' before parsing */
		eq = strchr(w, '=');
		len = eq ? (size_t)(eq - w) : strlen(w);
		f = fakevmm_find_flag(w, len);
		if (!f)
			fakevmm_invalid("unknown flag '%.*s'", (int)len, w);
		if ((f->flags & FL_GLOBAL) && in_run)
			fakevmm_invalid("'%s' is a global flag: it goes before 'run'", f->name);
		if (!(f->flags & FL_GLOBAL) && !in_run)
			fakevmm_invalid("'%s' is a 'run' flag: it goes after 'run'", f->name);
		if (f->flags & FL_VALUE) {
			if (eq)
				value = eq + 1;
			else if (i + 1 < argc)
				value = argv[++i];
			else
				fakevmm_invalid("'%s' needs a value", f->name);
			fakevmm_check_value(f, value);
		} else if (eq) {
			fakevmm_invalid("'%s' takes no value, got '%s'", f->name, eq + 1);
		}
		if (!(f->flags & FL_REPEAT))
			for (size_t j = 0; j < fv.n_args; j++)
				if (fv.args[j].flag == f)
					fakevmm_invalid("'%s' given twice", f->name);
		if (strcmp(f->name, "--extended-status") == 0)
			fv.extended_status = true;
		if (strcmp(f->name, "--serial") == 0) {
			/* counted first, so cleanup frees its strings even if parsing dies */
			struct fakevmm_serial *s = &fv.serials[fv.n_serials++];

			fakevmm_parse_serial(value, s);
			for (size_t j = 0; j + 1 < fv.n_serials; j++)
				if (fv.serials[j].hw == s->hw && fv.serials[j].num == s->num)
					fakevmm_invalid(
					    "--serial '%s': that device is already given", value);
		}
		fv.args[fv.n_args++] = (struct fakevmm_arg){.flag = f, .value = value};
	}
	if (!in_run)
		fakevmm_invalid("no subcommand: expected 'run'");
}

/* ---- inherited fds ---- */

/* The fd number of a /proc/self/fd/N path (@len bytes), -1 if it is another path. */
static int fakevmm_proc_fd(const char *path, size_t len, const char *what)
{
	size_t plen = strlen(PROC_FD);
	long v = 0;

	if (len <= plen || strncmp(path, PROC_FD, plen) != 0)
		return -1;
	for (size_t i = plen; i < len; i++) {
		if (path[i] < '0' || path[i] > '9' || v > 1000000)
			fakevmm_die(FAKEVMM_EXIT_ERROR, "%s '%.*s': No such file or directory",
				    what, (int)len, path);
		v = v * 10 + (path[i] - '0');
	}
	return (int)v;
}

/* crosvm (safe_descriptor_from_path): the fd must be open and not close-on-exec. */
static int fakevmm_check_fd(const char *path, size_t len, const char *what)
{
	int fd = fakevmm_proc_fd(path, len, what), fl;

	if (fd < 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR,
			    "%s '%.*s': Bad file descriptor (fd %d is not open)", what, (int)len,
			    path, fd);
	if (fl & FD_CLOEXEC)
		fakevmm_die(
		    FAKEVMM_EXIT_ERROR,
		    "%s '%.*s': Bad file descriptor (fd %d has FD_CLOEXEC set; an inherited fd "
		    "must not be close-on-exec)",
		    what, (int)len, path, fd);
	return fd;
}

static void fakevmm_check_fds(void)
{
	for (size_t i = 0; i < fv.n_args; i++) {
		const char *v = fv.args[i].value;

		if (fv.args[i].flag->flags & FL_PATH)
			fakevmm_check_fd(v, strcspn(v, ","), fv.args[i].flag->name);
	}
	for (size_t i = 0; i < fv.n_serials; i++) {
		if (fv.serials[i].path)
			fakevmm_check_fd(fv.serials[i].path, strlen(fv.serials[i].path),
					 "--serial path");
		if (fv.serials[i].input)
			fakevmm_check_fd(fv.serials[i].input, strlen(fv.serials[i].input),
					 "--serial input");
	}
	if (fv.kernel)
		fakevmm_check_fd(fv.kernel, strlen(fv.kernel), "kernel");
}

/* ---- setup ---- */

/* Every disk in the guest's order (crosvm sorts them by their place on the command line). */
static void fakevmm_check_disks(void)
{
	size_t index = 0;

	for (size_t i = 0; i < fv.n_args; i++) {
		const char *name = fv.args[i].flag->name, *v = fv.args[i].value;

		if (strcmp(name, "--disk") != 0 && strcmp(name, "--rwdisk") != 0)
			continue;
		if (fakevmm_disk_check(index++, name, v, strcspn(v, ",")) < 0)
			fakevmm_die(FAKEVMM_EXIT_ERROR, "%s", avf_err_last()->msg);
	}
}

static const char *fakevmm_value(const char *flag)
{
	const char *v = NULL;

	for (size_t i = 0; i < fv.n_args; i++)
		if (strcmp(fv.args[i].flag->name, flag) == 0)
			v = fv.args[i].value;
	return v;
}

static int fakevmm_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The script in the last avf.fake_script= kernel parameter, decoded; NULL if none. */
static char *fakevmm_script_param(void)
{
	const char *found = NULL;
	size_t found_len = 0;
	char *out, *o;

	for (size_t i = 0; i < fv.n_args; i++) {
		const char *p = fv.args[i].value;

		if (strcmp(fv.args[i].flag->name, "--params") != 0)
			continue;
		/* one --params word may hold several space-separated parameters */
		while (*p) {
			size_t n = strcspn(p, " \t\n");

			if (n > strlen(FAKEVMM_SCRIPT_PARAM) &&
			    strncmp(p, FAKEVMM_SCRIPT_PARAM, strlen(FAKEVMM_SCRIPT_PARAM)) == 0) {
				found = p + strlen(FAKEVMM_SCRIPT_PARAM);
				found_len = n - strlen(FAKEVMM_SCRIPT_PARAM);
			}
			p += n;
			p += strspn(p, " \t\n");
		}
	}
	if (!found)
		return NULL;
	out = o = malloc(found_len + 1); /* decoding never grows the text */
	if (!out)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "out of memory");
	for (size_t i = 0; i < found_len; i++) {
		if (found[i] != '%') {
			*o++ = found[i];
			continue;
		}
		/* two hex digits; %00 would cut the script short */
		if (i + 2 >= found_len || fakevmm_hexval(found[i + 1]) < 0 ||
		    fakevmm_hexval(found[i + 2]) < 0 ||
		    (found[i + 1] == '0' && found[i + 2] == '0')) {
			free(out);
			fakevmm_die(FAKEVMM_EXIT_ERROR, "%s: bad escape at offset %zu",
				    FAKEVMM_SCRIPT_PARAM, i);
		}
		*o++ = (char)(fakevmm_hexval(found[i + 1]) << 4 | fakevmm_hexval(found[i + 2]));
		i += 2;
	}
	*o = '\0';
	return out;
}

static void fakevmm_load_script(void)
{
	char *src = fakevmm_script_param();
	/* As the backends: a VM with a payload boots its guest agent by default. */
	const char *def = fakevmm_value("--avf-payload") ? GSCRIPT_AGENT_DEFAULT : GSCRIPT_DEFAULT;
	int r = gscript_parse(src ? src : def, &fv.script);

	free(src);
	if (r < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "%s", avf_err_last()->msg);
}

/*
 * A serial device's file, as crosvm opens it at start-up: a /proc/self/fd/N path
 * (checked by fakevmm_check_fds: open, not close-on-exec) is used through an
 * F_DUPFD_CLOEXEC duplicate; another path is opened, append+create for output
 * (mode 0666 before the umask, as Rust's OpenOptions), read-only for input.
 */
static int fakevmm_open_serial_file(const char *path, bool input)
{
	const char *what = input ? "--serial input" : "--serial path";
	int fd = fakevmm_proc_fd(path, strlen(path), what), dup;

	if (fd >= 0) {
		dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (dup < 0)
			fakevmm_die(FAKEVMM_EXIT_ERROR, "%s '%s': %s", what, path, strerror(errno));
		return dup;
	}
	fd = input ? open(path, O_RDONLY | O_CLOEXEC)
		   : open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "%s '%s': %s", what, path, strerror(errno));
	return fd;
}

static struct fakevmm_serial *fakevmm_serial(enum serial_hw hw, unsigned num)
{
	for (size_t i = 0; i < fv.n_serials; i++)
		if (fv.serials[i].hw == hw && fv.serials[i].num == num)
			return &fv.serials[i];
	return NULL;
}

/* Open every serial device's files (type=file and stdout; the other types are sinks
 * here), then pick the ones the guest uses: ttyS1, hvc0 (and its input), hvc2. */
static void fakevmm_setup_serials(void)
{
	const struct fakevmm_serial *s;

	for (size_t i = 0; i < fv.n_serials; i++) {
		struct fakevmm_serial *d = &fv.serials[i];

		if (d->type == SER_FILE)
			d->out_fd = fakevmm_open_serial_file(d->path, false);
		else if (d->type == SER_STDOUT)
			d->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		if (d->input)
			d->in_fd = fakevmm_open_serial_file(d->input, true);
	}
	if ((s = fakevmm_serial(HW_SERIAL, 2)))
		fv.failure_fd = s->out_fd;
	if ((s = fakevmm_serial(HW_VIRTIO_CONSOLE, 1))) {
		fv.console.fd = s->out_fd;
		fv.console_in_fd = s->in_fd;
	}
	if ((s = fakevmm_serial(HW_VIRTIO_CONSOLE, 3)))
		fv.log.fd = s->out_fd;
}

static int fakevmm_sockopt(int fd, int opt)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, opt, &v, &len) < 0)
		return -1;
	return v;
}

static void fakevmm_setup_guest_channel(void)
{
	const char *v = fakevmm_value("--avf-guest-channel");

	if (!v)
		return;
	fv.guest_fd = fakevmm_proc_fd(v, strlen(v), "--avf-guest-channel");
	if (fv.guest_fd < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR,
			    "--avf-guest-channel '%s': must be an inherited fd (/proc/self/fd/N)",
			    v);
	if (fakevmm_sockopt(fv.guest_fd, SO_TYPE) != SOCK_SEQPACKET)
		fakevmm_die(FAKEVMM_EXIT_ERROR,
			    "--avf-guest-channel '%s': not a SOCK_SEQPACKET socket", v);
}

static void fakevmm_setup_control_socket(void)
{
	const char *v = fakevmm_value("--socket");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	if (!v)
		return;
	fv.control_fd = fakevmm_proc_fd(v, strlen(v), "--socket");
	if (fv.control_fd >= 0) {
		/* crosvm takes an fd only if it is a listening socket */
		if (fakevmm_sockopt(fv.control_fd, SO_ACCEPTCONN) != 1)
			fakevmm_die(FAKEVMM_EXIT_ERROR, "--socket '%s': not a listening socket", v);
		return;
	}
	if (strlen(v) >= sizeof(sa.sun_path))
		fakevmm_die(FAKEVMM_EXIT_ERROR, "--socket '%s': path too long", v);
	strcpy(sa.sun_path, v);
	fv.control_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fv.control_fd < 0 || bind(fv.control_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (fv.control_fd >= 0)
			close(fv.control_fd);
		fv.control_fd = -1;
		fakevmm_die(FAKEVMM_EXIT_ERROR, "--socket '%s': %s", v, strerror(e));
	}
	fv.control_path = fakevmm_strndup(v, strlen(v));
	if (listen(fv.control_fd, 128) < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "--socket '%s': listen: %s", v, strerror(errno));
}

/* ---- the guest ---- */

static uint64_t fakevmm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void fakevmm_control_close(size_t i)
{
	close(fv.conns[i]);
	fv.conns[i] = fv.conns[--fv.n_conns];
}

static void fakevmm_control_accept(void)
{
	int fd = accept4(fv.control_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return; /* the peer gave up already, or EMFILE: it can retry */
	if (fv.n_conns == FAKEVMM_MAX_CONNS) {
		close(fd);
		return;
	}
	fv.conns[fv.n_conns++] = fd;
}

/* One request on connection @i: crosvm's VmRequest as JSON (crosvm-spec §7). */
static void fakevmm_control_serve(size_t i)
{
	static const char err[] = "{\"ErrString\":\"fakevmm supports only \\\"Exit\\\"\"}";
	char buf[4096];
	ssize_t n = recv(fv.conns[i], buf, sizeof(buf), MSG_DONTWAIT);
	char *p = buf, *end;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fakevmm_control_close(i);
		return;
	}
	end = buf + n;
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\n' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	if (end - p == 6 && memcmp(p, "\"Exit\"", 6) == 0) {
		send(fv.conns[i], "\"Ok\"", 4, MSG_NOSIGNAL);
		fakevmm_exit(0);
	}
	send(fv.conns[i], err, sizeof(err) - 1, MSG_NOSIGNAL);
}

/* The guest channel is readable: the host's reply (true), or the end of the guest. */
static bool fakevmm_guest_readable(struct guest_channel_msg *reply)
{
	struct guest_channel_msg m;
	int r = guest_channel_recv(fv.guest_fd, &m, MSG_DONTWAIT);

	if (r == -EAGAIN)
		return false;
	if (r == 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "guest channel closed by the host");
	if (r < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "%s", avf_err_last()->msg);
	if (!reply || m.kind != GUEST_CHANNEL_REPLY)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "guest channel: unexpected %s from the host",
			    guest_channel_kind_name((int)m.kind));
	*reply = m;
	return true;
}

enum fakevmm_woke { WOKE_TIMEOUT, WOKE_REPLY, WOKE_IO };

/*
 * The one poll loop: serve the control socket and watch the guest channel until
 * @deadline (CLOCK_MONOTONIC ns; UINT64_MAX: forever) or, given @reply, until the
 * host's reply arrives (WOKE_REPLY) or, given @io_fd >= 0, until it has any of
 * @io_events (or an error, or a hangup: WOKE_IO).
 */
static enum fakevmm_woke fakevmm_wait(uint64_t deadline, struct guest_channel_msg *reply, int io_fd,
				      short io_events)
{
	struct pollfd pfd[3 + FAKEVMM_MAX_CONNS];
	int conn_fds[FAKEVMM_MAX_CONNS];

	for (;;) {
		struct timespec ts, *tsp = NULL;
		nfds_t n = 0, g = (nfds_t)-1, l = (nfds_t)-1, io = (nfds_t)-1, c0;
		uint64_t now;

		if (io_fd >= 0) {
			io = n;
			pfd[n++] = (struct pollfd){.fd = io_fd, .events = io_events};
		}
		if (fv.guest_fd >= 0) {
			g = n;
			pfd[n++] = (struct pollfd){.fd = fv.guest_fd, .events = POLLIN};
		}
		if (fv.control_fd >= 0) {
			l = n;
			pfd[n++] = (struct pollfd){.fd = fv.control_fd, .events = POLLIN};
		}
		c0 = n;
		for (size_t i = 0; i < fv.n_conns; i++) {
			conn_fds[i] = fv.conns[i];
			pfd[n++] = (struct pollfd){.fd = fv.conns[i], .events = POLLIN};
		}
		if (deadline != UINT64_MAX) {
			now = fakevmm_now();
			if (now >= deadline)
				return WOKE_TIMEOUT;
			ts.tv_sec = (time_t)((deadline - now) / 1000000000ull);
			ts.tv_nsec = (long)((deadline - now) % 1000000000ull);
			tsp = &ts;
		}
		if (ppoll(n ? pfd : NULL, n, tsp, NULL) < 0) {
			if (errno == EINTR)
				continue;
			fakevmm_die(FAKEVMM_EXIT_ERROR, "ppoll: %s", strerror(errno));
		}
		if (g != (nfds_t)-1 && pfd[g].revents && fakevmm_guest_readable(reply))
			return WOKE_REPLY;
		if (l != (nfds_t)-1 && (pfd[l].revents & POLLIN))
			fakevmm_control_accept();
		/* Serving may close connections and reorder fv.conns: find each by fd. */
		for (nfds_t k = c0; k < n; k++) {
			if (!pfd[k].revents)
				continue;
			for (size_t i = 0; i < fv.n_conns; i++)
				if (fv.conns[i] == conn_fds[k - c0]) {
					fakevmm_control_serve(i);
					break;
				}
		}
		if (io != (nfds_t)-1 && pfd[io].revents)
			return WOKE_IO;
	}
}

static void fakevmm_notify(const struct gscript_step *st)
{
	struct guest_event ev = {.value = (int)st->value, .message = st->text};
	struct guest_channel_msg req, rep;

	switch (st->op) {
	case GS_STARTED:
		ev.kind = GUEST_PAYLOAD_STARTED;
		ev.value = 0;
		break;
	case GS_READY:
		ev.kind = GUEST_PAYLOAD_READY;
		ev.value = 0;
		break;
	case GS_FINISHED:
		ev.kind = GUEST_PAYLOAD_FINISHED;
		ev.message = NULL;
		break;
	default: ev.kind = GUEST_ERROR; break;
	}
	/* A message above GUEST_CHANNEL_TEXT_MAX is cut (guest_channel_from_event). */
	if (guest_channel_from_event(&ev, ++fv.seq, &req) < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "%s", avf_err_last()->msg);
	if (fv.guest_fd < 0) {
		fprintf(stderr, "fakevmm: guest: no guest channel, %s dropped\n",
			guest_channel_kind_name((int)req.kind));
		return;
	}
	if (guest_channel_send(fv.guest_fd, &req, 0) < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "%s", avf_err_last()->msg);
	fakevmm_wait(UINT64_MAX, &rep, -1, 0);
	if (rep.seq != req.seq)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "guest channel: reply to request %u, expected %u",
			    rep.seq, req.seq);
	if (rep.value < 0)
		fprintf(stderr, "fakevmm: guest: %s refused: %s (%d): %s\n",
			guest_channel_kind_name((int)req.kind), avf_ex_name(rep.ex), (int)rep.value,
			rep.text);
}

static void fakevmm_write_failure(const char *text)
{
	size_t len = strlen(text), off = 0;
	ssize_t n;

	if (fv.failure_fd < 0)
		return; /* a sink */
	while (off < len) {
		n = write(fv.failure_fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fakevmm_die(FAKEVMM_EXIT_ERROR, "failure channel: %s", strerror(errno));
		off += (size_t)n;
	}
}

/* Can @fd take a write now, or (@deadline: CLOCK_MONOTONIC ns) before @deadline? */
static bool fakevmm_writable(int fd, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = POLLOUT};

	if (deadline)
		return fakevmm_wait(deadline, NULL, fd, POLLOUT) == WOKE_IO;
	while (poll(&p, 1, 0) < 0)
		if (errno != EINTR)
			return true; /* let write() report it */
	return p.revents != 0;
}

/*
 * Write @prefix, @len bytes of @text and a newline to @o. The guest never dies of
 * its console: a write error (EPIPE: the reader went away; SIGPIPE is ignored)
 * turns the device into a sink, said once on stderr. Nor does it block forever:
 * the fd shares its file description with the client's (its stdout, maybe), so
 * fakevmm never sets O_NONBLOCK on it; instead each piece of at most PIPE_BUF
 * bytes is written only once poll() says there is room, so the blocking write()
 * does not wait, and the wait serves the control socket and the guest channel
 * as every wait does. A reader that makes no room for FAKEVMM_OUTPUT_STALL_NS
 * loses the rest of that line (said once on stderr); from then on lines are
 * written only if there is room at once, else dropped, until one goes through
 * whole. (A real guest's console would stall instead; a fake guest that stops
 * its script for a stuck reader would hide every later step.) poll() calls a
 * pipe writable only while a whole page of it is free, so a pipe shrunk to one
 * page looks full as soon as it holds a byte: the default 16 pages do not.
 */
static void fakevmm_out_line(struct fakevmm_out *o, const char *prefix, const char *text,
			     size_t len)
{
	size_t plen = strlen(prefix), total = plen + len + 1, off = 0;
	uint64_t deadline = o->stalled ? 0 : fakevmm_now() + FAKEVMM_OUTPUT_STALL_NS;
	char *line;
	ssize_t n;

	if (o->fd < 0 || o->broken)
		return; /* a sink */
	line = malloc(total);
	if (!line)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "out of memory");
	memcpy(line, prefix, plen);
	memcpy(line + plen, text, len);
	line[total - 1] = '\n';
	while (off < total) {
		if (!fakevmm_writable(o->fd, deadline)) {
			if (!o->stalled)
				fprintf(stderr,
					"fakevmm: %s: no room for %llu ms, output dropped while "
					"it stays full\n",
					o->name, FAKEVMM_OUTPUT_STALL_NS / 1000000ull);
			o->stalled = true;
			break;
		}
		n = write(o->fd, line + off, total - off < PIPE_BUF ? total - off : PIPE_BUF);
		if (n > 0) {
			off += (size_t)n;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
			fprintf(stderr, "fakevmm: %s: %s, output dropped from now on\n", o->name,
				n == 0 ? "nothing written" : strerror(errno));
			o->broken = true;
			break;
		}
	}
	if (off == total)
		o->stalled = false;
	free(line);
}

/*
 * One line of console input (hvc0's input=) into @line, without its newline (a
 * line longer than FAKEVMM_LINE_MAX is split); returns its length, or -1 at the
 * end of input (or when there is no input device). Waits for it in the poll loop.
 * The fd is never made non-blocking (it may be the client's terminal): it is read
 * only once poll() says so, and what follows the line is kept for the next one.
 */
static ssize_t fakevmm_console_read_line(char *line)
{
	for (;;) {
		char *nl = memchr(fv.in_buf, '\n', fv.in_len);
		size_t n;
		ssize_t r;

		if (nl || fv.in_len == sizeof(fv.in_buf) || (fv.in_eof && fv.in_len)) {
			n = nl ? (size_t)(nl - fv.in_buf) : fv.in_len;
			memcpy(line, fv.in_buf, n);
			fv.in_len -= n + (nl ? 1 : 0);
			memmove(fv.in_buf, fv.in_buf + n + (nl ? 1 : 0), fv.in_len);
			return (ssize_t)n;
		}
		if (fv.in_eof || fv.console_in_fd < 0)
			return -1;
		fakevmm_wait(UINT64_MAX, NULL, fv.console_in_fd, POLLIN);
		r = read(fv.console_in_fd, fv.in_buf + fv.in_len, sizeof(fv.in_buf) - fv.in_len);
		if (r > 0) {
			fv.in_len += (size_t)r;
		} else if (r == 0) {
			fv.in_eof = true;
		} else if (errno != EINTR && errno != EAGAIN) {
			fprintf(stderr, "fakevmm: console input (hvc0): %s, taken as its end\n",
				strerror(errno));
			fv.in_eof = true;
		}
	}
}

/* echo-console: "console-in: LINE", or "console-in: <eof>" when no line will come. */
static void fakevmm_echo_console(void)
{
	static char line[FAKEVMM_LINE_MAX];
	ssize_t n = fakevmm_console_read_line(line);

	if (n < 0)
		fakevmm_out_line(&fv.console, "console-in: ", "<eof>", 5);
	else
		fakevmm_out_line(&fv.console, "console-in: ", line, (size_t)n);
}

static void __attribute__((noreturn)) fakevmm_exit_status(int status)
{
	/* crosvm without --extended-status reports every VM outcome as 0 */
	if (!fv.extended_status && (status == 32 || status == 33 || status == 34 || status == 36))
		status = 0;
	fakevmm_exit(status);
}

static void __attribute__((noreturn)) fakevmm_raise(int sig)
{
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	struct rlimit core;
	sigset_t set;

	fakevmm_cleanup();
	coverage_flush();
	/* A scripted crash must not leave core (or vgcore) files behind. */
	if (getrlimit(RLIMIT_CORE, &core) == 0) {
		core.rlim_cur = 0;
		setrlimit(RLIMIT_CORE, &core);
	}
	sigaction(sig, &dfl, NULL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
	/* Still here: the default action of @sig does not terminate (CHLD, CONT, ...). */
	fprintf(stderr, "fakevmm: signal %d did not end the VMM\n", sig);
	_exit(FAKEVMM_EXIT_ERROR);
}

/*
 * The `agent` step: the guest agent takes over the guest channel and the failure
 * channel; fakevmm serves its control socket until the agent ends. Its end is the
 * guest's: exit 0 after it asked for a shutdown, and a crash (status 33) if it
 * died by a signal, as a kernel whose init died would.
 */
static void __attribute__((noreturn)) fakevmm_run_agent(void)
{
	struct fakevmm_agent a = {
	    .cid = fakevmm_value("--cid"),
	    .channel_fd = fv.guest_fd,
	    .failure_fd = fv.failure_fd,
	    .log_fd = fv.log.broken ? -1 : fv.log.fd,
	    .payload = fakevmm_value("--avf-payload"),
	    .payload_name = fakevmm_value("--avf-payload-name"),
	    .payload_config = fakevmm_value("--avf-payload-config"),
	    .instance = fakevmm_value("--avf-instance"),
	    .storage = fakevmm_value("--avf-storage"),
	    .vm_dir = fakevmm_value("--avf-vm-dir"),
	};
	struct child_watch w;
	int status = 0;

	if (fv.guest_fd < 0 || !a.payload || !a.payload_name || !a.instance)
		fakevmm_die(FAKEVMM_EXIT_ERROR,
			    "agent: needs --avf-guest-channel, --avf-payload, --avf-payload-name "
			    "and --avf-instance (an app VM with a payload)");
	if (fakevmm_agent_spawn(&a, &w) < 0)
		fakevmm_die(FAKEVMM_EXIT_ERROR, "agent: cannot start the guest agent");
	/* The channel is the agent's now: we neither read it nor keep it open. */
	close(fv.guest_fd);
	fv.guest_fd = -1;
	do
		fakevmm_wait(UINT64_MAX, NULL, w.fd, POLLIN);
	while (!child_watch_reap(&w, &status));
	child_watch_close(&w);
	if (WIFEXITED(status))
		fakevmm_exit_status(WEXITSTATUS(status));
	fprintf(stderr, "fakevmm: guest agent died by signal %d: guest crash\n", WTERMSIG(status));
	fakevmm_exit_status(33);
}

static void __attribute__((noreturn)) fakevmm_run(void)
{
	char banner[128];
	const char *cid = fakevmm_value("--cid");

	/* The guest's first console line; a VMM that cannot start boots nothing. */
	if (fv.script->steps[0].op != GS_SPAWN_FAIL) {
		snprintf(banner, sizeof(banner), "booting fake guest, cid %.32s",
			 cid ? cid : "none");
		fakevmm_out_line(&fv.console, "fakevmm: ", banner, strlen(banner));
	}
	for (size_t pc = 0; pc < fv.script->n; pc++) {
		const struct gscript_step *st = &fv.script->steps[pc];

		switch (st->op) {
		case GS_WAIT: fakevmm_wait(fakevmm_now() + (uint64_t)st->value, NULL, -1, 0); break;
		case GS_STARTED:
		case GS_READY:
		case GS_FINISHED:
		case GS_ERROR: fakevmm_notify(st); break;
		case GS_FAILURE: fakevmm_write_failure(st->text); break;
		case GS_CONSOLE:
			fakevmm_out_line(&fv.console, "", st->text, strlen(st->text));
			break;
		case GS_LOG: fakevmm_out_line(&fv.log, "", st->text, strlen(st->text)); break;
		case GS_ECHO_CONSOLE: fakevmm_echo_console(); break;
		case GS_EXIT: fakevmm_exit_status((int)st->value);
		case GS_SIGNAL: fakevmm_raise((int)st->value);
		case GS_HANG: fakevmm_wait(UINT64_MAX, NULL, -1, 0); break;
		case GS_SPAWN_FAIL:
			fakevmm_die(FAKEVMM_EXIT_ERROR, "spawn-fail: this VMM cannot start");
		case GS_AGENT: fakevmm_run_agent();
		}
	}
	/* The parser guarantees a final exit, signal, hang or spawn-fail. */
	fakevmm_die(FAKEVMM_EXIT_ERROR, "guest script ended without exit");
}

int main(int argc, char **argv)
{
	struct sigaction ign = {.sa_handler = SIG_IGN};
	pid_t parent = getppid();

	/* Never outlive the manager; a parent gone before the prctl shows as a new ppid. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(FAKEVMM_EXIT_ERROR);
	/* Writes to a vanished reader are errors we report, not deaths by SIGPIPE. */
	sigaction(SIGPIPE, &ign, NULL);
	fakevmm_parse_args(argc, argv);
	fakevmm_check_fds(); /* before we open anything */
	fakevmm_check_disks();
	fakevmm_load_script();
	fakevmm_setup_serials();
	fakevmm_setup_guest_channel();
	fakevmm_setup_control_socket();
	fakevmm_run();
}
