/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-guest-agent: our microdroid_manager (avf-spec 11.4), run inside the fake VM
 * by fakevmm's `agent` step (fakes/fakevmm/fakevmm_agent.h passes the arguments).
 *
 *   1. read and check the payload config (configPath) if there is one;
 *   2. check the instance image and read (or create) the VM's identity;
 *   3. check the payload is the one the config names;
 *   4. wait for the extra APKs the config lists (the fake VM has none: it waits
 *      forever, so the host sees a boot hangup, as with a missing device);
 *   5. notifyPayloadStarted, immediately before running the payload;
 *   6. run the payload (agent_launch) and serve its IVmPayloadService;
 *   7. exit code c: notifyPayloadFinished(c), then power off (exit 0: SHUTDOWN);
 *      killed by a signal: notifyError(UNKNOWN, "Payload exited due to signal:
 *      N (NAME)") and MICRODROID_UNKNOWN_RUNTIME_ERROR on the failure channel.
 * A boot error (1-3) is notifyError(code, message), the failure string on ttyS1,
 * then power off, as microdroid_manager does.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <avf/avf_types.h>

#include "agent_host.h"
#include "agent_instance.h"
#include "agent_launch.h"
#include "agent_payload_config.h"
#include "base/avf_err.h"
#include "base/coverage_flush.h"
#include "base/fs_util.h"
#include "guest/payload/payload_service.h"

#define AGENT "avf-guest-agent"

struct agent_args {
	const char *cid, *payload, *payload_name, *payload_config, *instance, *storage, *vm_dir;
	int channel_fd, failure_fd, log_fd;
};

static struct agent_host host = {.channel_fd = -1, .failure_fd = -1};

static void __attribute__((noreturn)) agent_exit(int status)
{
	coverage_flush();
	_exit(status);
}

static void __attribute__((noreturn)) usage(const char *why)
{
	fprintf(stderr, AGENT ": %s\n", why);
	agent_exit(1);
}

static int parse_fd(const char *s)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (!*s || *end || v < 0 || v > 65535)
		usage("an fd argument is not a number");
	return (int)v;
}

/* /proc/self/fd/N -> N; our arguments name inherited fds only. */
static int proc_fd(const char *s)
{
	if (!s || strncmp(s, "/proc/self/fd/", 14) != 0)
		usage("file arguments must be /proc/self/fd/N");
	return parse_fd(s + 14);
}

static void parse_args(int argc, char **argv, struct agent_args *a)
{
	*a = (struct agent_args){.channel_fd = -1, .failure_fd = -1, .log_fd = -1};
	for (int i = 1; i < argc; i += 2) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v)
			usage("a flag without its value");
		if (!strcmp(f, "--cid")) a->cid = v;
		else if (!strcmp(f, "--channel-fd")) a->channel_fd = parse_fd(v);
		else if (!strcmp(f, "--failure-fd")) a->failure_fd = parse_fd(v);
		else if (!strcmp(f, "--log-fd")) a->log_fd = parse_fd(v);
		else if (!strcmp(f, "--payload")) a->payload = v;
		else if (!strcmp(f, "--payload-name")) a->payload_name = v;
		else if (!strcmp(f, "--payload-config")) a->payload_config = v;
		else if (!strcmp(f, "--instance")) a->instance = v;
		else if (!strcmp(f, "--storage")) a->storage = v;
		else if (!strcmp(f, "--vm-dir")) a->vm_dir = v;
		else usage("unknown flag");
	}
	if (a->channel_fd < 0 || !a->payload || !a->payload_name || !a->instance)
		usage("needs --channel-fd, --payload, --payload-name and --instance");
}

/* microdroid_manager's error path: tell the host, leave the reason on ttyS1, power off. */
static void __attribute__((noreturn)) boot_error(enum avf_error_code code, const char *failure,
						 const char *msg)
{
	char text[1200];

	fprintf(stderr, AGENT ": %s\n", msg);
	agent_host_notify(&host, GUEST_ERROR, (int)code, msg); /* best effort, as AVF */
	if (code == AVF_ERROR_UNKNOWN)
		snprintf(text, sizeof(text), "%s|%s", failure, msg);
	else
		snprintf(text, sizeof(text), "%s", failure);
	agent_host_write_failure(&host, text);
	agent_exit(0);
}

static void notify_or_die(enum guest_event_kind kind, int value)
{
	int r = agent_host_notify(&host, kind, value, NULL);

	/* A refusal is the host's verdict (logged); a dead channel ends the guest. */
	if (r < 0 && (r == -EPIPE || r == -ECONNRESET || r == -EPROTO || r == -EBADMSG)) {
		fprintf(stderr, AGENT ": %s\n", avf_err_last()->msg);
		agent_exit(1);
	}
}

/* Read the whole payload config (through its fd, from the start). */
static void load_config(const char *path, struct agent_payload_config *cfg)
{
	char *text = NULL, msg[256];
	size_t len = 0;
	int r;

	(void)proc_fd(path); /* checks the form */
	/* A fresh open of /proc/self/fd/N reads from the start, whatever the fd's offset. */
	if ((r = fs_read_file(AT_FDCWD, path, AGENT_CONFIG_MAX, &text, &len)) < 0) {
		snprintf(msg, sizeof(msg), "Failed to read the VM payload config: %s",
			 strerror(-r));
		boot_error(AVF_ERROR_PAYLOAD_INVALID_CONFIG, "MICRODROID_INVALID_PAYLOAD_CONFIG",
			   msg);
	}
	if (agent_payload_config_parse(text, len, cfg) < 0) {
		free(text);
		boot_error(AVF_ERROR_PAYLOAD_INVALID_CONFIG, "MICRODROID_INVALID_PAYLOAD_CONFIG",
			   avf_err_last()->msg);
	}
	free(text);
}

static int on_ready(void *ctx)
{
	(void)ctx;
	return agent_host_notify(&host, GUEST_PAYLOAD_READY, 0, NULL);
}

/* Serve the payload until it exits; *ret_sig: the signal that killed it, else 0. */
static int run_payload(const struct agent_launch *l, int service_fd,
		       const struct payload_service_identity *id, int *ret_sig)
{
	const struct payload_service_ops ops = {.notify_ready = on_ready};
	struct child_watch w;
	int status = 0;

	if (agent_launch(l, &w) < 0)
		boot_error(AVF_ERROR_UNKNOWN, "MICRODROID_UNKNOWN_RUNTIME_ERROR",
			   avf_err_last()->msg);
	close(l->service_fd); /* the payload's end */
	for (;;) {
		struct pollfd p[2] = {{.fd = service_fd, .events = POLLIN},
				      {.fd = w.fd, .events = POLLIN}};

		struct pollfd *child = service_fd >= 0 ? &p[1] : &p[0];

		if (service_fd < 0)
			p[0] = p[1];
		if (poll(p, service_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (service_fd >= 0 && p[0].revents) {
			int r = payload_service_serve_one(service_fd, id, &ops, NULL);

			if (r <= 0) { /* the payload closed its end (or broke it): no more calls */
				close(service_fd);
				service_fd = -1;
			}
			continue;
		}
		if (child->revents && child_watch_reap(&w, &status))
			break;
	}
	child_watch_close(&w);
	if (service_fd >= 0)
		close(service_fd);
	*ret_sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int main(int argc, char **argv)
{
	struct agent_payload_config cfg = {0};
	struct payload_service_identity id = {0};
	struct agent_args a;
	char vsock[4096], store[4096];
	int sv[2], code, sig;
	struct agent_launch l;

	parse_args(argc, argv, &a);
	signal(SIGPIPE, SIG_IGN);
	/* microdroid_manager logs to logcat: our messages go to the VM's log (hvc2) too. */
	if (a.log_fd >= 0)
		dup2(a.log_fd, STDERR_FILENO);
	host.channel_fd = a.channel_fd;
	host.failure_fd = a.failure_fd;

	if (a.payload_config) {
		load_config(a.payload_config, &cfg);
		id.restricted_allowed = true; /* "restricted APIs allowed" iff config_path */
	}
	if (agent_instance_seed(proc_fd(a.instance), id.secret_seed) < 0)
		boot_error(AVF_ERROR_PAYLOAD_VERIFICATION_FAILED,
			   "MICRODROID_PAYLOAD_VERIFICATION_FAILED", avf_err_last()->msg);
	if (cfg.command && strcmp(cfg.command, a.payload_name) != 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "Payload binary %.255s not found (the VM has %.255s)",
			 cfg.command, a.payload_name);
		boot_error(AVF_ERROR_UNKNOWN, "MICRODROID_UNKNOWN_RUNTIME_ERROR", msg);
	}
	if (cfg.extra_apks) {
		/* microdroid_manager waits for each extra APK's device; the fake VM has none. */
		fprintf(stderr, AGENT ": waiting for %zu extra APK(s); the fake VM provides none\n",
			cfg.extra_apks);
		for (;;)
			pause();
	}
	l = (struct agent_launch){.library = a.payload, .log_fd = a.log_fd};
	if (a.vm_dir) {
		snprintf(vsock, sizeof(vsock), "%s/vsock", a.vm_dir);
		if (fs_mkdir_p(vsock, 0700) < 0)
			boot_error(AVF_ERROR_UNKNOWN, "MICRODROID_UNKNOWN_RUNTIME_ERROR",
				   avf_err_last()->msg);
		l.vsock_dir = vsock;
		if (a.storage) {
			snprintf(store, sizeof(store), "%s/encryptedstore", a.vm_dir);
			if (fs_mkdir_p(store, 0700) < 0)
				boot_error(AVF_ERROR_UNKNOWN, "MICRODROID_UNKNOWN_RUNTIME_ERROR",
					   avf_err_last()->msg);
			l.encrypted_store = store;
		}
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		boot_error(AVF_ERROR_UNKNOWN, "MICRODROID_UNKNOWN_RUNTIME_ERROR",
			   "payload service socketpair failed");
	l.service_fd = sv[1];
	agent_payload_config_clear(&cfg);

	notify_or_die(GUEST_PAYLOAD_STARTED, 0); /* immediately before the payload runs */
	code = run_payload(&l, sv[0], &id, &sig);
	if (!sig) {
		notify_or_die(GUEST_PAYLOAD_FINISHED, code);
		agent_exit(0); /* sys.powerctl=shutdown: crosvm exits 0 */
	} else {
		char msg[128];
		const char *name = sigabbrev_np(sig);

		snprintf(msg, sizeof(msg), "Payload exited due to signal: %d (SIG%s)", sig,
			 name ? name : "UNKNOWN");
		boot_error(AVF_ERROR_UNKNOWN, "MICRODROID_UNKNOWN_RUNTIME_ERROR", msg);
	}
}
