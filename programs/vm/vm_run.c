/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `vm run CONFIG.json` and `vm run-app PAYLOAD INSTANCE`: AVF's run.rs, step for step
 * (research/avf-spec.md 10; docs/vm.md). The VM lives while this process holds its
 * handle: the process waits for the VM's death and prints `VM ended: <Reason>`.
 *
 * Ctrl-C: AVF's `vm` simply dies and its VM dies with the handle. Here SIGINT, SIGTERM
 * and SIGHUP stop the VM, wait for its onDied, print `VM ended: Killed`, and then the
 * process dies of the same signal (so a shell still sees "killed by SIGINT"). virtmgr is
 * forked into its own process group, so the terminal's SIGINT reaches only us and the
 * order of events is ours to decide.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mono_time.h"
#include "config/vm_config_json.h"
#include "vm_args.h"
#include "vm_cli.h"
#include "vm_run.h"

/* AVF's defaults (run.rs): instance image and storage are 10 MiB. */
#define INSTANCE_FILE_SIZE (10ull * 1024 * 1024)
#define STORAGE_FILE_SIZE  (10ull * 1024 * 1024)
/* How long a stop may take to bring back onDied (virtmgr's own bound is 10 s). */
#define STOP_WAIT_MS 20000

enum {
	OPT_NAME = 1,
	OPT_CPU_TOPOLOGY,
	OPT_MEM,
	OPT_PROTECTED,
	OPT_DEBUG,
	OPT_CONSOLE,
	OPT_CONSOLE_IN,
	OPT_LOG,
	OPT_BACKEND,
	OPT_DETACH,
	OPT_DRY_RUN,
	OPT_FAKE_GUEST,
	OPT_STORAGE,
	OPT_STORAGE_SIZE,
	OPT_CONFIG_PATH,
};

#define COMMON_OPTS                                                                                \
	{"name", 0, "NAME", OPT_NAME}, {"cpu-topology", 0, "CPU_TOPOLOGY", OPT_CPU_TOPOLOGY},      \
	    {"mem", 'm', "MEM", OPT_MEM}, {"protected", 'p', NULL, OPT_PROTECTED},                 \
	    {"debug", 0, "DEBUG", OPT_DEBUG}, {"console", 0, "CONSOLE", OPT_CONSOLE},              \
	    {"console-in", 0, "CONSOLE_IN", OPT_CONSOLE_IN}, {"log", 0, "LOG", OPT_LOG},           \
	    {"backend", 0, "BACKEND", OPT_BACKEND}, {"detach", 0, NULL, OPT_DETACH},               \
	    {"fake-guest", 0, "SCRIPT", OPT_FAKE_GUEST}

static const struct vm_opt run_opts[] = {COMMON_OPTS, {"dry-run", 0, NULL, OPT_DRY_RUN}};
static const struct vm_opt run_app_opts[] = {
    COMMON_OPTS,
    {"storage", 0, "STORAGE", OPT_STORAGE},
    {"storage-size", 0, "STORAGE_SIZE", OPT_STORAGE_SIZE},
    {"config-path", 0, "CONFIG_PATH", OPT_CONFIG_PATH},
};

#define COMMON_HELP                                                                                \
	"      --name <NAME>                  Name of VM\n"                                       \
	"      --cpu-topology <CPU_TOPOLOGY>  one_cpu (default) or match_host\n"                  \
	"  -m, --mem <MEM>                    Memory size (in MiB) of the VM\n"                   \
	"  -p, --protected                    Run VM in protected mode\n"                         \
	"      --debug <DEBUG>                Debug level: full (default) or none; with none\n"   \
	"                                     the console and log are not passed\n"               \
	"      --console <CONSOLE>            File for the VM's console output (default: stdout)\n" \
	"      --console-in <CONSOLE_IN>      File for the VM's console input (default: stdin)\n" \
	"      --log <LOG>                    File for the VM's log output (default: stdout)\n"   \
	"      --backend <BACKEND>            fake (default), crosvm or qemu\n"                   \
	"      --detach                       Keep the VM running in the background; stop it\n"   \
	"                                     with 'vm stop <CID>', attach with 'vm console'\n"   \
	"      --fake-guest <SCRIPT>          The fake guest's behaviour (fake backend only;\n"   \
	"                                     docs/guest-script.md)\n"                            \
	"  -h, --help                         Print help\n"

static const char run_help[] =
    "Run a virtual machine\n"
    "\n"
    "Usage: vm run [OPTIONS] <CONFIG>\n"
    "\n"
    "Arguments:\n"
    "  <CONFIG>  Path to VM config JSON\n"
    "\n"
    "Options:\n" COMMON_HELP
    "      --dry-run                      With --backend crosvm: print the crosvm command\n"
    "                                     line, one argument per line, and start nothing\n";

static const char run_app_help[] =
    "Run a virtual machine with a payload (our run-app: a payload library or binary\n"
    "instead of an APK)\n"
    "\n"
    "Usage: vm run-app [OPTIONS] <PAYLOAD> <INSTANCE>\n"
    "\n"
    "Arguments:\n"
    "  <PAYLOAD>   Path to the VM payload (a library with AVmPayload_main, or a binary)\n"
    "  <INSTANCE>  Path to the instance image. Created if not exists\n"
    "\n"
    "Options:\n" COMMON_HELP
    "      --storage <STORAGE>            Path to the file backing the storage. Created if\n"
    "                                     the option is used but the path does not exist\n"
    "      --storage-size <STORAGE_SIZE>  Size of the storage, used only if it is created\n"
    "                                     (default 10485760)\n"
    "      --config-path <CONFIG_PATH>    VM payload config JSON (AVF's config_path; its\n"
    "                                     task names the payload). Allows the restricted API\n";

static const char *const run_pos[] = {"<CONFIG>"};
static const char *const run_app_pos[] = {"<PAYLOAD>", "<INSTANCE>"};

static const struct vm_args_spec run_spec = {
    "run", "[OPTIONS] <CONFIG>", run_help, run_opts, sizeof(run_opts) / sizeof(run_opts[0]),
    run_pos, 1, 1};
static const struct vm_args_spec run_app_spec = {
    "run-app", "[OPTIONS] <PAYLOAD> <INSTANCE>", run_app_help, run_app_opts,
    sizeof(run_app_opts) / sizeof(run_app_opts[0]), run_app_pos, 2, 2};

/* What the command line says, before any file is touched. */
struct run_args {
	const struct vm_args_spec *spec;
	const char *name, *console, *console_in, *log, *backend, *fake_guest, *storage;
	const char *config_path;
	bool mem_set, match_host, protected_vm, debug_none, detach, storage_size_set;
	bool dry_run;
	uint32_t mem;
	uint64_t storage_size;
};

/* clap's message for a bad integer. */
static int bad_int(const struct run_args *a, const struct vm_opt *o, const char *v)
{
	return vm_usage_error(a->spec->cmd, a->spec->usage, "invalid value '%s' for '--%s <%s>': %s",
			      v, o->name, o->value, vm_int_error(v));
}

static int on_opt(void *ctx, const struct vm_opt *o, const char *v)
{
	struct run_args *a = ctx;
	uint64_t n;

	switch (o->id) {
	case OPT_NAME: a->name = v; break;
	case OPT_CPU_TOPOLOGY:
		if (strcmp(v, "one_cpu") && strcmp(v, "match_host"))
			return vm_usage_error(a->spec->cmd, a->spec->usage,
					      "invalid value '%s' for '--cpu-topology "
					      "<CPU_TOPOLOGY>': Invalid cpu topology %s",
					      v, v);
		a->match_host = !strcmp(v, "match_host");
		break;
	case OPT_MEM:
		if (!vm_parse_u64(v, UINT32_MAX, &n))
			return bad_int(a, o, v);
		a->mem_set = true;
		a->mem = (uint32_t)n;
		break;
	case OPT_PROTECTED: a->protected_vm = true; break;
	case OPT_DEBUG:
		if (strcmp(v, "full") && strcmp(v, "none"))
			return vm_usage_error(a->spec->cmd, a->spec->usage,
					      "invalid value '%s' for '--debug <DEBUG>': Invalid "
					      "debug level %s",
					      v, v);
		a->debug_none = !strcmp(v, "none");
		break;
	case OPT_CONSOLE: a->console = v; break;
	case OPT_CONSOLE_IN: a->console_in = v; break;
	case OPT_LOG: a->log = v; break;
	case OPT_BACKEND: a->backend = v; break;
	case OPT_DETACH: a->detach = true; break;
	case OPT_DRY_RUN: a->dry_run = true; break;
	case OPT_FAKE_GUEST: a->fake_guest = v; break;
	case OPT_STORAGE: a->storage = v; break;
	case OPT_CONFIG_PATH: a->config_path = v; break;
	case OPT_STORAGE_SIZE:
		if (!vm_parse_u64(v, UINT64_MAX, &n))
			return bad_int(a, o, v);
		a->storage_size_set = true;
		a->storage_size = n;
		break;
	}
	return 0;
}

/* open(2) with AVF's context message: `<what> "<path>"` (the path in Rust's {:?}). */
static int open_or_report(const char *what, const char *path, int flags, int *ret)
{
	int fd = open(path, flags | O_CLOEXEC, 0666);

	if (fd < 0)
		return vm_error_path(what, path, errno);
	*ret = fd;
	return VM_EXIT_OK;
}

/*
 * Every file the config names is opened as libs/vmconfig's to_parcelable opens it
 * (read-only, or read-write when writable), so a missing or unreadable file fails here
 * with AVF's message. The fds go into the plan's config (@p owns them): virtmgr gets
 * duplicates at createVm and hands them to the VMM.
 */
static int check_config_files(const struct vm_config_json *j, struct run_plan *p)
{
	const char *ro[] = {j->kernel, j->initrd, j->bootloader};
	int *fds[] = {&p->cfg.kernel_fd, &p->cfg.initrd_fd, &p->cfg.bootloader_fd};
	size_t n_parts = 0, k = 0;
	int r;

	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		if (ro[i] && (r = open_or_report("Failed to open", ro[i], O_RDONLY, fds[i])) != 0)
			return r;
	for (size_t d = 0; d < j->n_disks; d++)
		n_parts += j->disks[d].n_partitions;
	if (j->n_disks) {
		p->disks = calloc(j->n_disks, sizeof(*p->disks));
		p->partitions = calloc(n_parts ? n_parts : 1, sizeof(*p->partitions));
		if (!p->disks || !p->partitions)
			return vm_error("out of memory");
	}
	/* Counted as they are filled: run_plan_close_fds() closes exactly what was opened. */
	for (size_t d = 0; d < j->n_disks; d++) {
		const struct vm_config_json_disk *disk = &j->disks[d];
		struct avf_vm_disk *out = &p->disks[d];

		*out = (struct avf_vm_disk){.image_fd = -1,
					    .partitions = disk->n_partitions ? &p->partitions[k]
									     : NULL,
					    .n_partitions = disk->n_partitions,
					    .writable = disk->writable};
		p->n_disks = d + 1;
		if (disk->image) {
			r = open_or_report("Failed to open", disk->image,
					   disk->writable ? O_RDWR : O_RDONLY, &out->image_fd);
			if (r)
				return r;
		}
		for (size_t i = 0; i < disk->n_partitions; i++, k++) {
			p->partitions[k] = (struct avf_vm_partition){
			    .label = disk->partitions[i].label,
			    .fd = -1,
			    .writable = disk->partitions[i].writable};
			p->n_partitions = k + 1;
			r = open_or_report("Failed to open", disk->partitions[i].path,
					   disk->partitions[i].writable ? O_RDWR : O_RDONLY,
					   &p->partitions[k].fd);
			if (r)
				return r;
		}
	}
	p->cfg.disks = p->disks;
	p->cfg.n_disks = p->n_disks;
	return VM_EXIT_OK;
}

static int plan_from_config(const struct run_args *a, const char *path, struct run_plan *p)
{
	struct vm_config_json *j = NULL;
	char *desc = NULL;
	size_t len = 0;
	FILE *m;
	int r;

	r = vm_config_json_load(path, &j);
	if (r < 0)
		/* AVF: "Failed to open config file" or "Failed to parse config file". */
		return vm_error("Failed to %s config file: %s",
				r == -EINVAL || r == -EFBIG ? "parse" : "open",
				avf_last_error()->message);
	/* The plan keeps the parsed file: the config's params and labels point into it. */
	p->json = j;
	if ((r = check_config_files(j, p)) != 0)
		return r;
	/* run.rs: --mem and --name override the file, the CLI's topology always wins. */
	p->cfg.kind = AVF_VM_KIND_RAW;
	p->cfg.params = j->params;
	p->cfg.memory_mib = a->mem_set ? a->mem : j->memory_mib;
	p->cfg.protected_vm = j->protected_vm; /* `run` does not apply --protected (AVF) */
	p->name = strdup(a->name ? a->name : "VmRun");
	m = open_memstream(&desc, &len);
	if (m) {
		vm_print_debug_str(m, path);
		fclose(m);
	}
	if (!p->name || !m || !desc) {
		free(desc);
		return vm_error("out of memory");
	}
	p->description = desc;
	return VM_EXIT_OK;
}

/* vm create-partition's core, also used by run-app for its instance and storage. */
static int ensure_partition(struct avf_client *c, const char *path, uint64_t size,
			    enum avf_partition_type type)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return VM_EXIT_OK;
	return vm_create_partition(c, path, size, type);
}

static int plan_for_app(const struct run_args *a, const char *payload, const char *instance,
			struct avf_client *c, struct run_plan *p)
{
	char *desc = NULL, *copy = NULL;
	size_t len = 0;
	FILE *m;
	int r;

	/* Opened as AVF opens the APK, instance and storage; the fds go to the VM, where
	 * the guest agent runs the payload (docs/payload-api.md). @p owns them. */
	if ((r = open_or_report("Failed to open payload file", payload, O_RDONLY,
				&p->cfg.payload_fd)) != 0)
		return r;
	if (a->config_path &&
	    (r = open_or_report("Failed to open config file", a->config_path, O_RDONLY,
				&p->cfg.payload_config_fd)) != 0)
		return r;
	if ((r = ensure_partition(c, instance, INSTANCE_FILE_SIZE,
				  AVF_PARTITION_ANDROID_VM_INSTANCE)) != 0)
		return r;
	if (a->storage) {
		r = ensure_partition(c, a->storage,
				     a->storage_size_set ? a->storage_size : STORAGE_FILE_SIZE,
				     AVF_PARTITION_ENCRYPTEDSTORE);
		if (r)
			return r;
		if ((r = open_or_report("Failed to open", a->storage, O_RDWR, &p->cfg.storage_fd)) != 0)
			return r;
	}
	if ((r = open_or_report("Failed to open", instance, O_RDWR, &p->cfg.instance_fd)) != 0)
		return r;
	p->cfg.kind = AVF_VM_KIND_APP;
	p->cfg.memory_mib = a->mem_set ? a->mem : 0;
	p->cfg.protected_vm = a->protected_vm;
	p->name = strdup(a->name ? a->name : "VmRunApp");
	copy = strdup(payload);
	p->binary_name = copy ? strdup(basename(copy)) : NULL;
	p->cfg.payload_binary_name = p->binary_name;
	m = open_memstream(&desc, &len);
	if (m && copy) {
		/* AVF: format!("{:?}!{:?}", apk, payload) */
		vm_print_debug_str(m, payload);
		fputs("!PayloadConfig(VirtualMachinePayloadConfig { payloadBinaryName: ", m);
		vm_print_debug_str(m, basename(copy));
		fputs(", extraApks: [] })", m);
	}
	if (m)
		fclose(m);
	free(copy);
	if (!p->name || !p->binary_name || !m || !desc) {
		free(desc);
		return vm_error("out of memory");
	}
	p->description = desc;
	return VM_EXIT_OK;
}

/* AVF's run(): console out, console in, log; each a named file or a dup of stdio. */
static int open_console_files(const struct run_args *a, struct run_plan *p)
{
	int r;

	p->console_out = p->console_in = p->log = -1;
	if (a->console)
		r = open_or_report("Failed to open console output file", a->console,
				   O_WRONLY | O_CREAT | O_TRUNC, &p->console_out);
	else
		r = (p->console_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)) < 0
			? vm_error("dup stdout: %s", strerror(errno))
			: 0;
	if (r)
		return r;
	if (a->console_in)
		r = open_or_report("Failed to open console input file", a->console_in, O_RDONLY,
				   &p->console_in);
	else
		/* stdin may be closed (a daemon's): then the VM simply has no console input. */
		p->console_in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
	if (r)
		return r;
	if (a->log)
		r = open_or_report("Failed to open log file", a->log, O_WRONLY | O_CREAT | O_TRUNC,
				   &p->log);
	else
		r = (p->log = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)) < 0
			? vm_error("dup stdout: %s", strerror(errno))
			: 0;
	if (r)
		return r;
	p->console_out_given = a->console;
	p->console_in_given = a->console_in;
	p->log_given = a->log;
	/* Debug level NONE: the VM's console and log never reach the user (AVF's rule for
	 * non-debuggable VMs), even when a file was named; the files are still created. */
	if (a->debug_none) {
		close(p->console_out);
		close(p->log);
		p->console_out = p->log = -1;
	}
	return VM_EXIT_OK;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void run_plan_close_fds(struct run_plan *p)
{
	int *fds[] = {&p->console_out, &p->console_in, &p->log,
		      &p->cfg.kernel_fd, &p->cfg.initrd_fd, &p->cfg.bootloader_fd,
		      &p->cfg.payload_fd, &p->cfg.payload_config_fd, &p->cfg.instance_fd,
		      &p->cfg.storage_fd};

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		close_fd(fds[i]);
	for (size_t d = 0; d < p->n_disks; d++)
		close_fd(&p->disks[d].image_fd);
	for (size_t k = 0; k < p->n_partitions; k++)
		close_fd(&p->partitions[k].fd);
}

/* A plan with no file open (every fd -1), as run_plan_clear() leaves it. */
static void run_plan_init(struct run_plan *p)
{
	memset(p, 0, sizeof(*p));
	avf_vm_config_init(&p->cfg);
	p->console_out = p->console_in = p->log = -1;
}

void run_plan_clear(struct run_plan *p)
{
	run_plan_close_fds(p);
	free(p->name);
	free(p->binary_name);
	free(p->description);
	free(p->disks);
	free(p->partitions);
	vm_config_json_free(p->json);
	run_plan_init(p);
}

/* ---- the session ---- */

static void cb_started(struct avf_vm *vm, void *data)
{
	struct vm_session *s = data;

	fprintf(s->events, "payload started\n");
	fflush(s->events);
}

static void cb_ready(struct avf_vm *vm, void *data)
{
	struct vm_session *s = data;

	fprintf(s->events, "payload is ready\n");
	fflush(s->events);
}

static void cb_finished(struct avf_vm *vm, int code, void *data)
{
	struct vm_session *s = data;

	fprintf(s->events, "payload finished with exit code %d\n", code);
	fflush(s->events);
}

static void cb_error(struct avf_vm *vm, enum avf_error_code code, const char *msg, void *data)
{
	struct vm_session *s = data;

	fprintf(s->events, "VM encountered an error: code=%s, message=%s\n",
		vm_error_code_debug(code), msg ? msg : "");
	fflush(s->events);
}

static void cb_died(struct avf_vm *vm, enum avf_death_reason reason, void *data)
{
	struct vm_session *s = data;

	/* vmclient: the first death reason wins. */
	if (!s->died) {
		s->died = true;
		s->reason = reason;
	}
}

int vm_session_start(const struct run_plan *p, struct vm_session *s)
{
	static const struct avf_vm_callbacks cbs = {cb_started, cb_ready, cb_finished, cb_error,
						    cb_died};
	struct avf_client_options o = {.own_process_group = true};

	if (!s->events)
		s->events = stderr;
	if (!s->c && avf_client_connect(&o, &s->c) < 0)
		return vm_error_client("Failed to spawn VirtualizationService");
	if (avf_vm_create(s->c, &p->cfg, p->console_out, p->console_in, p->log, &s->vm) < 0) {
		vm_error_client("Failed to create VM");
		goto fail;
	}
	if (avf_vm_register_callback(s->vm, &cbs, s) < 0) {
		vm_error_client("Failed to create VM");
		goto fail;
	}
	if (avf_vm_start(s->vm) < 0) {
		vm_error_client("Failed to start VM");
		goto fail;
	}
	return VM_EXIT_OK;
fail:
	vm_session_end(s);
	return VM_EXIT_ERROR;
}

void vm_session_print_created(const struct run_plan *p, struct vm_session *s, FILE *out)
{
	enum avf_vm_state st;
	int state = avf_vm_get_state(s->vm, &st) < 0 ? -1 : (int)st;

	/* get_debug_level(): only an app config has one; a raw config counts as NONE. */
	fprintf(out, "Created %s from %s with CID %u, state is %s.\n",
		p->app && p->debug_full ? "debuggable VM" : "VM", p->description,
		avf_vm_cid(s->vm), vm_state_str(state));
	fflush(out);
}

void vm_session_dispatch(struct vm_session *s)
{
	if (!s->died && avf_client_dispatch(s->c, 0) == -EPIPE && !s->died) {
		s->died = true;
		s->reason = (enum avf_death_reason)-1; /* VirtualizationServiceDied */
	}
}

void vm_session_stop(struct vm_session *s)
{
	int64_t deadline = mono_ms() + STOP_WAIT_MS;

	if (!s->died)
		avf_vm_stop(s->vm);
	while (!s->died && mono_ms() < deadline) {
		int r = avf_client_dispatch(s->c, (int)(deadline - mono_ms()));

		if (r == -EPIPE && !s->died) {
			s->died = true;
			s->reason = (enum avf_death_reason)-1;
		}
	}
}

void vm_session_print_ended(const struct vm_session *s, FILE *out)
{
	fprintf(out, "VM ended: %s\n",
		(int)s->reason == -1 ? "VirtualizationServiceDied"
				     : vm_death_reason_debug(s->reason));
	fflush(out);
}

void vm_session_end(struct vm_session *s)
{
	avf_vm_unref(s->vm);
	s->vm = NULL;
	avf_client_disconnect(s->c);
	s->c = NULL;
}

/* ---- the foreground run ---- */

static int run_foreground(struct run_plan *p, struct vm_session *s)
{
	sigset_t stop_sigs;
	int sfd, r, sig = 0;

	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGINT);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_sigs, NULL);
	sfd = signalfd(-1, &stop_sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return vm_error("signalfd: %s", strerror(errno));
	if ((r = vm_session_start(p, s)) != 0) {
		close(sfd);
		return r;
	}
	vm_session_print_created(p, s, stdout);
	for (;;) {
		struct pollfd pfd[2] = {{avf_client_fd(s->c), POLLIN, 0}, {sfd, POLLIN, 0}};
		struct signalfd_siginfo si;

		vm_session_dispatch(s);
		if (s->died)
			break;
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if ((pfd[1].revents & POLLIN) && read(sfd, &si, sizeof(si)) == sizeof(si)) {
			sig = (int)si.ssi_signo;
			vm_session_stop(s);
			break;
		}
	}
	close(sfd);
	if (s->died)
		vm_session_print_ended(s, stdout);
	vm_session_end(s);
	if (sig) {
		/* Die of the signal, as AVF's vm does when it is interrupted. */
		run_plan_clear(p);
		signal(sig, SIG_DFL);
		sigprocmask(SIG_UNBLOCK, &stop_sigs, NULL);
		raise(sig);
		return 128 + sig;
	}
	return s->died ? VM_EXIT_OK : vm_error("lost the VM without a death reason");
}

/* --dry-run: only with --backend crosvm (the command line it prints is crosvm's), and not
 * with --detach (nothing runs to detach from). */
static int check_dry_run(const struct run_args *a)
{
	int r;

	if (a->backend && (r = vm_check_backend(a->spec->cmd, a->spec->usage, a->backend)) != 0)
		return r;
	if (!a->backend || strcmp(a->backend, "crosvm") != 0)
		return vm_usage_error(a->spec->cmd, a->spec->usage,
				      "the argument '--dry-run' requires '--backend crosvm'");
	if (a->detach)
		return vm_usage_error(a->spec->cmd, a->spec->usage,
				      "the argument '--dry-run' cannot be used with '--detach'");
	return VM_EXIT_OK;
}

int vm_cmd_run(int argc, char **argv)
{
	bool app = !strcmp(argv[0], "run-app");
	struct run_args a = {.spec = app ? &run_app_spec : &run_spec};
	struct run_plan p;
	struct vm_session s = {0};
	const char *pos[2];
	int r;

	run_plan_init(&p);
	r = vm_args_parse(a.spec, argc, argv, on_opt, &a, pos);
	if (r)
		return r < 0 ? VM_EXIT_OK : r;
	/* A dry run starts nothing, so needs no crosvm: the name is checked, not the backend. */
	if (a.dry_run && (r = check_dry_run(&a)) != 0)
		return r;
	if (!a.dry_run && a.backend &&
	    (r = vm_select_backend(a.spec->cmd, a.spec->usage, a.backend)) != 0)
		return r;
	p.app = app;
	p.detach = a.detach;
	p.debug_full = !a.debug_none;
	p.cfg.cpus = a.match_host ? (uint32_t)sysconf(_SC_NPROCESSORS_ONLN) : 1;
	p.cfg.fake_script = a.fake_guest;
	if (app) {
		/* run-app talks to the service first (instance image), as AVF's does. */
		struct avf_client_options o = {.own_process_group = true};

		if (avf_client_connect(&o, &s.c) < 0)
			return vm_error_client("Failed to spawn VirtualizationService");
		r = plan_for_app(&a, pos[0], pos[1], s.c, &p);
	} else {
		r = plan_from_config(&a, pos[0], &p);
	}
	if (!r && a.dry_run) {
		/* the console fds a run would pass: stdout / stdin dups unless told otherwise */
		struct vm_dry_run_consoles io = {
		    .console_out = !a.debug_none,
		    .console_in = a.console_in || fcntl(STDIN_FILENO, F_GETFD) >= 0,
		    .log = !a.debug_none};

		p.cfg.name = p.name;
		r = vm_dry_run(&p, &io);
		run_plan_clear(&p);
		return r;
	}
	if (!r)
		r = open_console_files(&a, &p);
	if (!r) {
		p.cfg.name = p.name;
		if (p.detach) {
			vm_session_end(&s); /* the holder connects on its own */
			r = vm_detach_run(&p);
		} else {
			r = run_foreground(&p, &s);
		}
	}
	vm_session_end(&s);
	run_plan_clear(&p);
	return r;
}
