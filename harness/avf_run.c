/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-run: one VM on the fake backend through the whole stack, as real processes,
 * from createVm to onDied, then the event trace of every process of the run.
 *
 *   this program (client, libvmclient) --fork--> virtmgr --fork--> fakevmm
 *                                                   \--unix socket--> virtualizationservice
 *
 * It starts a private virtualizationservice in a temporary directory (unless
 * AVF_VS_SOCKET names a running one), runs the VM, and prints the trace file all
 * processes appended to (AVF_TRACE_FILE), times relative to the first event.
 *
 *   avf-run [--name NAME] [--raw] [--script "GUEST SCRIPT"] [--stop-after MS]
 *
 * --raw: a raw VM (no boot-hangup detection) instead of an app VM. --stop-after:
 * call stop() that many milliseconds after start. Exit status: 0 when the VM
 * died (whatever the reason, as `vm run`), 1 on an error, 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "base/fs_util.h"
#include "trace/trace_file.h"
#include "vs_process.h"

static const struct trace *tr;

static void usage(FILE *f)
{
	fprintf(f, "usage: avf-run [--name NAME] [--raw] [--script \"GUEST SCRIPT\"] "
		   "[--stop-after MS]\n");
}

static void on_started(struct avf_vm *vm, void *d)
{
	trace_emitf(tr, "client", "vm:%u onPayloadStarted", avf_vm_cid(vm));
}
static void on_ready(struct avf_vm *vm, void *d)
{
	trace_emitf(tr, "client", "vm:%u onPayloadReady", avf_vm_cid(vm));
}
static void on_finished(struct avf_vm *vm, int code, void *d)
{
	trace_emitf(tr, "client", "vm:%u onPayloadFinished(%d)", avf_vm_cid(vm), code);
}
static void on_error(struct avf_vm *vm, enum avf_error_code code, const char *msg, void *d)
{
	trace_emitf(tr, "client", "vm:%u onError(%d, \"%s\")", avf_vm_cid(vm), code, msg);
}
static void on_died(struct avf_vm *vm, enum avf_death_reason reason, void *d)
{
	trace_emitf(tr, "client", "vm:%u onDied(%s)", avf_vm_cid(vm), avf_death_reason_name(reason));
}

static const struct avf_vm_callbacks callbacks = {on_started, on_ready, on_finished, on_error,
						  on_died};

/* Print the shared trace: seconds since the first event, the process, its event. */
static void print_trace(const char *path, pid_t vs, pid_t virtmgr)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	double t0 = -1;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		double t;
		int pid, n = 0;
		const char *role;
		if (sscanf(line, "%lf %d %n", &t, &pid, &n) != 2)
			continue;
		if (t0 < 0)
			t0 = t;
		role = pid == vs ? "vs" : pid == virtmgr ? "virtmgr" : pid == getpid() ? "client" : "?";
		/* "<actor> <text>": name the process only when the actor does not. */
		const char *rest = line + n;
		size_t rl = strlen(role);
		if (!strncmp(rest, role, rl) && rest[rl] == ' ')
			printf("%10.6f %-8s %s", t - t0, role, rest + rl + 1);
		else
			printf("%10.6f %-8s %s", t - t0, role, rest);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'}, {"raw", no_argument, NULL, 'r'},
	    {"script", required_argument, NULL, 's'}, {"stop-after", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	struct avf_vm_config cfg;
	long stop_after = -1;
	int c;

	avf_vm_config_init(&cfg);
	cfg.kind = AVF_VM_KIND_APP;
	cfg.name = "demo";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': cfg.name = optarg; break;
		case 'r': cfg.kind = AVF_VM_KIND_RAW; break;
		case 's': cfg.fake_script = optarg; break;
		case 't': {
			char *end;
			errno = 0;
			stop_after = strtol(optarg, &end, 10);
			if (errno || *end || stop_after < 0) {
				fprintf(stderr, "avf-run: --stop-after: '%s' is not a number of ms\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "avf-run: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	char self[PATH_MAX], bindir[PATH_MAX], dir[] = "/tmp/avf-run-XXXXXX", path[PATH_MAX + 32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0 || !mkdtemp(dir))
		return 1;
	self[len] = '\0';
	snprintf(bindir, sizeof(bindir), "%s", dirname(self));
	snprintf(path, sizeof(path), "%s/virtmgr", bindir);
	if (!getenv("AVF_VIRTMGR"))
		setenv("AVF_VIRTMGR", path, 1);
	snprintf(path, sizeof(path), "%s/trace", dir);
	setenv(TRACE_FILE_ENV, path, 1);
	signal(SIGPIPE, SIG_IGN);

	struct trace_file *tf = NULL;
	struct avf_client *client = NULL;
	struct avf_vm *vm = NULL;
	enum avf_death_reason reason;
	struct vs_process vs = {0};
	pid_t virtmgr = 0;
	int status = 1;

	if (!getenv("AVF_VS_SOCKET")) {
		char vs_path[PATH_MAX + 32];
		snprintf(vs_path, sizeof(vs_path), "%s/virtualizationservice", bindir);
		if (vs_process_start(vs_path, dir, 10000, &vs) < 0)
			goto err;
		setenv("AVF_VS_SOCKET", vs.sock, 1);
	}
	if (trace_file_open(path, &tf) < 0)
		goto err;
	tr = trace_file_trace(tf);
	if (avf_client_connect(NULL, &client) < 0)
		goto err;
	virtmgr = avf_client_virtmgr_pid(client);
	trace_emitf(tr, "client", "createVm(\"%s\", %s)", cfg.name,
		    cfg.kind == AVF_VM_KIND_APP ? "app" : "raw");
	if (avf_vm_create(client, &cfg, -1, -1, -1, &vm) < 0)
		goto err;
	trace_emitf(tr, "client", "createVm -> vm:%u", avf_vm_cid(vm));
	if (avf_vm_register_callback(vm, &callbacks, NULL) < 0)
		goto err;
	trace_emitf(tr, "client", "vm:%u start()", avf_vm_cid(vm));
	if (avf_vm_start(vm) < 0)
		goto err;
	if (stop_after >= 0) {
		int r = avf_vm_wait_for_death(vm, (int)stop_after, &reason);
		if (r == -ETIMEDOUT) {
			trace_emitf(tr, "client", "vm:%u stop()", avf_vm_cid(vm));
			if (avf_vm_stop(vm) < 0)
				goto err;
		} else if (r < 0) {
			goto err;
		}
	}
	if (avf_vm_wait_for_death(vm, -1, &reason) < 0)
		goto err;
	trace_emitf(tr, "client", "vm:%u dropped", avf_vm_cid(vm));
	avf_vm_unref(vm);
	vm = NULL;
	avf_client_disconnect(client);
	client = NULL;
	status = 0;
	goto out;
err:
	fprintf(stderr, "avf-run: %s\n", avf_last_error()->message);
out:
	avf_vm_unref(vm);
	avf_client_disconnect(client);
	pid_t vs_pid = vs.pid;
	vs_process_stop(&vs, 10000);
	trace_file_close(tf);
	print_trace(path, vs_pid, virtmgr);
	if (status == 0)
		printf("VM ended: %s\n", avf_death_reason_name(reason));
	fs_remove_tree(dir);
	return status;
}
