/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stack_cycle: lifecycle cycles per second through the whole stack, in one run:
 *
 *   1. fakevmm   client (libvmclient) -> virtmgr -> virtualizationservice, one
 *                fakevmm process per VM: create + start + stop + drop;
 *   2. sim       the same IPC path, the VM simulated inside virtmgr
 *                (AVF_BACKEND=sim): what the processes-and-sockets part costs
 *                without a VMM fork/exec;
 *   3. libvirt   the peer: bench/libvirt_cycle (libvirt's test driver,
 *                test:///default, define + start + destroy + undefine) run as a
 *                child now, when it was built;
 *
 * and the ratios between them. Nothing is asserted: numbers only (docs/style.md).
 *
 *   stack_cycle [N_FAKE (default 2000)] [N_SIM (default 20000)] [N_LIBVIRT (default 20000)]
 *
 * The daemons are the ones beside this program (build/<preset>/bin).
 */
#include <errno.h>
#include <fcntl.h>
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
#include "vs_process.h"

static char bindir[PATH_MAX];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "stack_cycle: %s: %s\n", what, avf_last_error()->message);
	exit(1);
}

static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* N cycles on @backend; returns cycles/s. */
static double run(const char *backend, long n)
{
	struct avf_client *c;
	struct avf_vm_config cfg;
	double t0, t1;

	setenv("AVF_BACKEND", backend, 1);
	if (avf_client_connect(NULL, &c) < 0)
		die("connect");
	avf_vm_config_init(&cfg);
	cfg.name = "bench";
	cfg.fake_script = "hang";
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		struct avf_vm *vm;
		enum avf_death_reason reason;
		if (avf_vm_create(c, &cfg, -1, -1, -1, &vm) < 0 || avf_vm_start(vm) < 0 ||
		    avf_vm_stop(vm) < 0 || avf_vm_wait_for_death(vm, 10000, &reason) < 0)
			die("cycle");
		avf_vm_unref(vm);
	}
	t1 = now_s();
	long rss = rss_kib(avf_client_virtmgr_pid(c));
	avf_client_disconnect(c);
	double rate = (double)n / (t1 - t0);
	printf("avf-ref full stack, %-8s backend (create+start+stop+drop), N=%ld: %8.0f cycles/s "
	       "%8.1f us/cycle, virtmgr RSS %ld KiB\n",
	       backend, n, rate, 1e6 / rate, rss);
	return rate;
}

static double run_libvirt(long n)
{
	char cmd[PATH_MAX + 64], line[512];
	double rate = 0;

	snprintf(cmd, sizeof(cmd), "%s/libvirt_cycle", bindir);
	if (access(cmd, X_OK) < 0) {
		printf("libvirt peer: not built (libvirt-dev missing), no ratio\n");
		return 0;
	}
	snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %ld", n);
	FILE *p = popen(cmd, "re");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p)) {
		char *at = strstr(line, "cycles/s");
		fputs(line, stdout);
		if (at) {
			/* "...: 5847 cycles/s ..." : the number just before "cycles/s". */
			char *s = at;
			while (s > line && s[-1] == ' ')
				s--;
			while (s > line && (s[-1] == '.' || (s[-1] >= '0' && s[-1] <= '9')))
				s--;
			rate = strtod(s, NULL);
		}
	}
	pclose(p);
	return rate;
}

int main(int argc, char **argv)
{
	long n_fake = argc > 1 ? atol(argv[1]) : 2000;
	long n_sim = argc > 2 ? atol(argv[2]) : 20000;
	long n_virt = argc > 3 ? atol(argv[3]) : 20000;
	char self[PATH_MAX], dir[] = "/tmp/avf-bench-XXXXXX", vm[PATH_MAX + 16];
	ssize_t len;

	if (n_fake <= 0 || n_sim <= 0 || n_virt <= 0) {
		fprintf(stderr, "usage: stack_cycle [N_FAKE] [N_SIM] [N_LIBVIRT] (each > 0)\n");
		return 2;
	}
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		return 1;
	self[len] = '\0';
	snprintf(bindir, sizeof(bindir), "%s", dirname(self));
	snprintf(vm, sizeof(vm), "%s/virtmgr", bindir);
	setenv("AVF_VIRTMGR", vm, 1);
	unsetenv("AVF_TRACE_FILE"); /* tracing is not what is measured */
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(dir))
		return 1;
	struct vs_process vs;
	snprintf(self, sizeof(self), "%s/virtualizationservice", bindir);
	if (vs_process_start(self, dir, 10000, &vs) < 0)
		die("virtualizationservice");
	setenv("AVF_VS_SOCKET", vs.sock, 1);
	double fake = run("fake", n_fake);
	double sim = run("sim", n_sim);
	long vs_rss = rss_kib(vs.pid);
	vs_process_stop(&vs, 10000);
	fs_remove_tree(dir);
	printf("virtualizationservice RSS after the runs: %ld KiB\n", vs_rss);
	double virt = run_libvirt(n_virt);
	printf("ratio sim/fakevmm: %.1fx (what a VMM fork+exec+reap costs per cycle)\n", sim / fake);
	if (virt > 0)
		printf("ratio vs libvirt test driver (in-process, no VMM): fakevmm %.2fx, sim %.2fx\n",
		       fake / virt, sim / virt);
	return 0;
}
