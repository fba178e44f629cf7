/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whole stack as real processes: this test (the client, through libvmclient),
 * the virtmgr it forks, the virtualizationservice it starts, and fakevmm VMMs.
 * Every wait has a deadline; nothing sleeps to "wait long enough".
 *
 * The test process is a child subreaper, so VMMs orphaned by a killed virtmgr
 * are reparented here and their end can be observed (and reaped) exactly.
 */
#include "cmocka_wrap.h"
#include "test_fds.h"
#include "test_vmm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <avf/vmclient.h>

#include "vm_recorder.h"

#include "base/fs_util.h"
#include "ipc/ipc_msg.h"
#include "vs_process.h"

#define DEADLINE_MS 20000

struct stack {
	char dir[256];
	char trace[300];
	struct vs_process vs;
};

static struct stack S;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for @pid (our child) to exit within the deadline; returns its status. */
static int wait_child(pid_t pid, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int st = -1;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			fail_msg("waitpid(%d): %s", (int)pid, strerror(errno));
		if (now_ms() > deadline)
			fail_msg("pid %d did not exit within %d ms", (int)pid, timeout_ms);
		if (pidfd >= 0) {
			struct pollfd p = {.fd = pidfd, .events = POLLIN};
			poll(&p, 1, 100);
		} else {
			struct timespec ts = {0, 5000000}; /* valgrind: no pidfd; poll waitpid */
			nanosleep(&ts, NULL);
		}
	}
	if (pidfd >= 0)
		close(pidfd);
	return st;
}

static void vs_start(void)
{
	if (vs_process_start(AVF_VS_PATH, S.dir, DEADLINE_MS, &S.vs) < 0)
		fail_msg("%s", avf_last_error()->message);
}

static void vs_stop(void)
{
	int st = vs_process_stop(&S.vs, DEADLINE_MS);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int setup(void **state)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(S.dir, sizeof(S.dir), "%s/avf-stack-XXXXXX", tmp);
	if (!mkdtemp(S.dir))
		return -1;
	snprintf(S.trace, sizeof(S.trace), "%s/trace", S.dir);
	snprintf(S.vs.sock, sizeof(S.vs.sock), "%s/vs.sock", S.dir);
	setenv("AVF_VS_SOCKET", S.vs.sock, 1);
	setenv("AVF_VIRTMGR", AVF_VIRTMGR_PATH, 1);
	setenv("AVF_FAKEVMM", AVF_FAKEVMM_PATH, 1);
	setenv("AVF_BACKEND", "fake", 1);
	setenv("AVF_TRACE_FILE", S.trace, 1);
	vs_start();
	return 0;
}

static int teardown(void **state)
{
	vs_stop();
	fs_remove_tree(S.dir);
	return 0;
}

/* ---- helpers ---- */

static struct avf_client *connect_client(void)
{
	struct avf_client *c;
	int r = avf_client_connect(NULL, &c);
	if (r < 0)
		fail_msg("connect: %d %s", r, avf_last_error()->message);
	return c;
}

static struct avf_vm *create_vm(struct avf_client *c, enum avf_vm_kind kind, const char *script)
{
	struct avf_vm_config cfg;
	struct avf_vm *vm;
	int r;

	avf_vm_config_init(&cfg);
	cfg.kind = kind;
	cfg.name = "stack-test";
	cfg.fake_script = script;
	r = avf_vm_create(c, &cfg, -1, -1, -1, &vm);
	if (r < 0)
		fail_msg("create: %d %s", r, avf_last_error()->message);
	return vm;
}

static bool listed(struct avf_client *c, uint32_t cid, struct avf_vm_info *out_row)
{
	struct avf_vm_info *rows;
	size_t n;
	bool found = false;

	assert_int_equal(avf_client_list_vms(c, &rows, &n), 0);
	for (size_t i = 0; i < n; i++) {
		if (rows[i].cid == cid) {
			found = true;
			if (out_row) {
				*out_row = rows[i];
				out_row->name = strdup(rows[i].name);
				out_row->temp_dir = strdup(rows[i].temp_dir);
			}
		}
	}
	avf_vm_info_free(rows, n);
	return found;
}

/* Poll debugListVms until @cid is gone (its context released), with a deadline. */
static void wait_unlisted(struct avf_client *c, uint32_t cid)
{
	int64_t deadline = now_ms() + DEADLINE_MS;

	while (listed(c, cid, NULL)) {
		if (now_ms() > deadline)
			fail_msg("cid %u still listed after %d ms", cid, DEADLINE_MS);
		/* Nothing to wait on here but another process's close: dispatch briefly. */
		avf_client_dispatch(c, 20);
	}
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Children of @pid (all its threads), from /proc. */
static int children_of(pid_t pid, pid_t *out, int max)
{
	char path[64], buf[1024];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		char *save, *tok;
		for (tok = strtok_r(buf, " \n", &save); tok && n < max;
		     tok = strtok_r(NULL, " \n", &save))
			out[n++] = (pid_t)atoi(tok);
	}
	fclose(f);
	return n;
}

static int fds_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	return count_dir(path);
}

static bool trace_has(const char *needle)
{
	FILE *f = fopen(S.trace, "re");
	char line[512];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* ---- tests ---- */

/* The default journey: callbacks in order, the row in debugListVms, released at the end. */
static void full_cycle(void **state)
{
	int fds = count_fds();
	struct avf_client *c = connect_client();
	struct avf_vm *vm = create_vm(c, AVF_VM_KIND_APP, "started; ready; finished 0; exit 0");
	struct vm_recorder rec = {{0}};
	struct avf_vm_info row;
	enum avf_death_reason reason;
	enum avf_vm_state st;
	uint32_t cid = avf_vm_cid(vm);

	assert_true(cid >= AVF_GUEST_CID_MIN && cid <= AVF_GUEST_CID_MAX);
	assert_int_equal(avf_vm_get_state(vm, &st), 0);
	assert_int_equal(st, AVF_VM_STATE_NOT_STARTED);
	assert_true(listed(c, cid, &row));
	assert_int_equal(row.requester_pid, getpid());
	assert_int_equal(row.requester_uid, getuid());
	assert_string_equal(row.name, "stack-test");
	assert_true(row.temp_dir[0] == '/');
	struct stat sb;
	assert_int_equal(stat(row.temp_dir, &sb), 0);
	assert_int_equal(avf_vm_register_callback(vm, &vm_recorder_cbs, &rec), 0);
	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(avf_vm_wait_for_state(vm, AVF_VM_STATE_READY, DEADLINE_MS), 0);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &reason), 0);
	assert_int_equal(reason, AVF_DEATH_SHUTDOWN);
	assert_string_equal(rec.log, "started ready finished(0) died(SHUTDOWN)");
	/* A second start of a dead VM is AVF's service-specific -1. */
	assert_int_equal(avf_vm_start(vm), -EREMOTEIO);
	assert_int_equal(avf_last_error()->exception, -8);
	assert_int_equal(avf_last_error()->service_code, -1);
	assert_non_null(strstr(avf_last_error()->message, "VM already started or failed"));
	/* Dead but still held: listed. Dropped: released, temp dir gone. */
	assert_true(listed(c, cid, NULL));
	avf_vm_unref(vm);
	wait_unlisted(c, cid);
	assert_int_not_equal(stat(row.temp_dir, &sb), 0);
	free(row.name);
	free(row.temp_dir);
	avf_client_disconnect(c);
	assert_int_equal(count_fds(), fds);
}

/* Everything @fd gives until EOF, within the deadline. */
static void read_to_eof(int fd, char *buf, size_t len)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	size_t got = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (now_ms() > deadline)
			fail_msg("no EOF within %d ms; got so far:\n%.*s", DEADLINE_MS, (int)got,
				 buf);
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + got, len - 1 - got);
		assert_true(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
}

/*
 * createVm's console and log fds through the whole stack (libvmclient -> virtmgr
 * -> fakevmm): the boot banner and the script's console lines on the console pipe,
 * its log lines on the log pipe, a line typed on the console input echoed back;
 * both reach EOF once the VM is dead (no process kept a copy; avf-spec 12.2).
 */
static void console_and_log(void **state)
{
	int fds = count_fds(), out[2], in[2], log[2];
	struct avf_client *c = connect_client();
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;
	enum avf_death_reason reason;
	char con[1024], lg[1024], want[256];

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC), 0);
	avf_vm_config_init(&cfg);
	cfg.name = "console-test";
	cfg.fake_script = "console hello from the guest; log a log line; echo-console; "
			  "log done; exit 0";
	if (avf_vm_create(c, &cfg, out[1], in[0], log[1], &vm) < 0)
		fail_msg("create: %s", avf_last_error()->message);
	/* the library sent duplicates: ours go, or EOF could never come */
	close(out[1]);
	close(in[0]);
	close(log[1]);
	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(write(in[1], "typed on the console\n", 21), 21);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &reason), 0);
	assert_int_equal(reason, AVF_DEATH_SHUTDOWN);
	read_to_eof(out[0], con, sizeof(con));
	snprintf(want, sizeof(want),
		 "fakevmm: booting fake guest, cid %u\nhello from the guest\n"
		 "console-in: typed on the console\n",
		 avf_vm_cid(vm));
	assert_string_equal(con, want);
	read_to_eof(log[0], lg, sizeof(lg));
	assert_string_equal(lg, "a log line\ndone\n");
	avf_vm_unref(vm);
	avf_client_disconnect(c);
	close(out[0]);
	close(in[1]);
	close(log[0]);
	assert_int_equal(count_fds(), fds);
}

/* Every fd of process @pid open on @path (numbers into @out, up to @max); the count. */
static int fds_on(pid_t pid, const char *path, int *out, int max)
{
	char dir[64], fd_path[128], link[PATH_MAX];
	struct dirent *e;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	assert_non_null(d);
	while ((e = readdir(d))) {
		ssize_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(fd_path, sizeof(fd_path), "%s/%s", dir, e->d_name);
		len = readlink(fd_path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, path) == 0) {
			if (n < max)
				out[n] = atoi(e->d_name);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* The VMM's argv (from the fakevmm path on: valgrind's words come first under memcheck). */
static int vmm_argv(pid_t pid, char *buf, size_t len, char **words, int max)
{
	char path[64];
	int n = 0, first = -1;
	size_t got;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	got = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[got] = '\0';
	for (char *p = buf; p < buf + got; p += strlen(p) + 1) {
		if (first < 0 && strcmp(p, AVF_FAKEVMM_PATH) == 0)
			first = 0;
		if (first >= 0 && n < max)
			words[n++] = p;
	}
	assert_true(first >= 0);
	return n;
}

/* The fd /proc/self/fd/N after @flag in @words (the kernel: @flag NULL, the word before --socket). */
static int argv_fd(char **words, int n, const char *flag, int nth)
{
	int fd = -1;

	for (int i = 1; i < n; i++) {
		const char *w = NULL;

		if (!flag && strcmp(words[i], "--socket") == 0)
			w = words[i - 1];
		else if (flag && strcmp(words[i - 1], flag) == 0 && nth-- == 0)
			w = words[i];
		if (w) {
			assert_int_equal(sscanf(w, "/proc/self/fd/%d", &fd), 1);
			return fd;
		}
	}
	fail_msg("no %s in the VMM's argv", flag ? flag : "kernel");
	return -1;
}

/*
 * The config's files through the whole stack (libvmclient -> virtmgr -> fakevmm):
 * the VMM holds each file at the number its argv names (the kernel positional,
 * --initrd, --disk / --rwdisk in config order; a disk of partitions as the composite
 * virtmgr built in the VM's temp dir), a composite's partitions at numbers of their
 * own, named in the composite only; virtmgr keeps none of them once the VMM runs,
 * and this process nothing extra.
 */
static void config_files(void **state)
{
	static const char *const names[] = {"kernel", "initrd", "rootfs.img", "data.img",
					    "part-a.img", "part-b.img"};
	int fds = count_fds(), fd[6], got[4];
	char path[6][400], buf[8192], *words[64];
	struct avf_client *c = connect_client();
	struct avf_vm_partition parts[2];
	struct avf_vm_disk disks[3];
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;
	enum avf_death_reason reason;
	pid_t vmgr = avf_client_virtmgr_pid(c), vmm;
	int n;

	for (int i = 0; i < 6; i++) {
		snprintf(path[i], sizeof(path[i]), "%s/%s", S.dir, names[i]);
		fd[i] = open(path[i], O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
		assert_true(fd[i] >= 0);
		/* partitions: a read-only one of any size, a writable one in 4 KiB units */
		assert_int_equal(ftruncate(fd[i], i == 4 ? 100 : i == 5 ? 4096 : 0), 0);
		close(fd[i]);
		/* as AVF's vm opens them: writable ones read-write */
		fd[i] = open(path[i], (i == 3 || i == 5 ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		assert_true(fd[i] >= 0);
	}
	parts[0] = (struct avf_vm_partition){"payload", fd[4], false};
	parts[1] = (struct avf_vm_partition){"data", fd[5], true};
	disks[0] = (struct avf_vm_disk){.image_fd = fd[2]};
	disks[1] = (struct avf_vm_disk){.image_fd = -1, .partitions = parts, .n_partitions = 2};
	disks[2] = (struct avf_vm_disk){.image_fd = fd[3], .writable = true};
	avf_vm_config_init(&cfg);
	assert_int_equal(cfg.kernel_fd, -1);
	cfg.name = "files";
	cfg.fake_script = "started; hang";
	cfg.kernel_fd = fd[0];
	cfg.initrd_fd = fd[1];
	cfg.params = "console=hvc0";
	cfg.disks = disks;
	cfg.n_disks = 3;
	if (avf_vm_create(c, &cfg, -1, -1, -1, &vm) < 0)
		fail_msg("create: %s", avf_last_error()->message);
	/* the library sent duplicates: ours may go at once */
	for (int i = 0; i < 6; i++)
		close(fd[i]);
	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(avf_vm_wait_for_state(vm, AVF_VM_STATE_STARTED, DEADLINE_MS), 0);
	assert_int_equal(children_of(vmgr, &vmm, 1), 1);
	n = vmm_argv(vmm, buf, sizeof(buf), words, 64);
	/* named files: at exactly the number argv says, and nowhere else in the VMM */
	{
		const struct {
			const char *flag;
			int nth, file;
		} named[] = {{NULL, 0, 0}, {"--initrd", 0, 1}, {"--disk", 0, 2}, {"--rwdisk", 0, 3}};

		for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
			int want = argv_fd(words, n, named[i].flag, named[i].nth);

			assert_int_equal(fds_on(vmm, path[named[i].file], got, 4), 1);
			assert_int_equal(got[0], want);
		}
	}
	/* three disks in argv, the second the composite's spec in the VM's temp dir */
	{
		int disk_words = 0;
		char link[64], target[512];
		ssize_t len;

		for (int i = 0; i < n; i++)
			disk_words += !strcmp(words[i], "--disk") || !strcmp(words[i], "--rwdisk");
		assert_int_equal(disk_words, 3);
		snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)vmm,
			 argv_fd(words, n, "--disk", 1));
		len = readlink(link, target, sizeof(target) - 1);
		assert_true(len > 0);
		target[len] = '\0';
		assert_non_null(strstr(target, "/composite-0.img"));
		assert_non_null(strstr(target, S.dir)); /* the service's state dir holds VM dirs */
	}
	/* the partitions: inherited, one fd each */
	assert_int_equal(fds_on(vmm, path[4], got, 4), 1);
	assert_int_equal(fds_on(vmm, path[5], got, 4), 1);
	/* nobody else holds any of them */
	for (int i = 0; i < 6; i++) {
		assert_int_equal(fds_on(vmgr, path[i], got, 4), 0);
		assert_int_equal(fds_on(getpid(), path[i], got, 4), 0);
	}
	assert_int_equal(avf_vm_stop(vm), 0);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &reason), 0);
	assert_int_equal(reason, AVF_DEATH_KILLED);
	avf_vm_unref(vm);
	avf_client_disconnect(c);
	for (int i = 0; i < 6; i++)
		unlink(path[i]);
	assert_int_equal(count_fds(), fds);
}

/* Read @fd until @needle has come (within the deadline); what came, in @buf. */
static void read_until(int fd, const char *needle, char *buf, size_t len)
{
	int64_t deadline = now_ms() + DEADLINE_MS;
	size_t got = 0;

	buf[0] = '\0';
	while (!strstr(buf, needle)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (now_ms() > deadline || got == len - 1)
			fail_msg("no '%s' within %d ms; got:\n%s", needle, DEADLINE_MS, buf);
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = read(fd, buf + got, len - 1 - got);
		if (n <= 0)
			fail_msg("EOF before '%s'; got:\n%s", needle, buf);
		got += (size_t)n;
		buf[got] = '\0';
	}
}

/* Microdroid's disks (avf-spec 8.4): system, vendor, writable and payload composites. */
#define MD_APEXES     30
#define MD_EXTRA_APKS 2
#define MD_PARTS      (2 + 1 + 2 + 1 + MD_APEXES + 2 + 2 * MD_EXTRA_APKS)

/*
 * A Microdroid-sized config through the whole stack: kernel, initrd and four composites
 * of 42 partitions in all (30 APEXes, two extra APKs), plus the three console fds: 47
 * fds in one createVm, far over the 16 of the old packet limit. virtmgr builds the four
 * composites, fakevmm opens and checks every one of them and their GPTs before its guest
 * says a word on the console.
 */
static void microdroid_sized_config(void **state)
{
	static char labels[MD_PARTS][40];
	int fds = count_fds(), ro, rw, kernel, pfd[MD_PARTS], k = 0, disk_words = 0, n;
	char ro_path[400], rw_path[400], buf[16384], *words[128];
	struct avf_client *c = connect_client();
	struct avf_vm_partition parts[MD_PARTS];
	struct avf_vm_disk disks[4];
	size_t first[5];
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;
	enum avf_death_reason reason;
	pid_t vmgr = avf_client_virtmgr_pid(c), vmm;
	int out[2], in[2], log[2];

	snprintf(ro_path, sizeof(ro_path), "%s/ro.img", S.dir);
	snprintf(rw_path, sizeof(rw_path), "%s/rw.img", S.dir);
	ro = open(ro_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	rw = open(rw_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
	assert_true(ro >= 0 && rw >= 0);
	assert_int_equal(ftruncate(ro, 3000), 0);
	assert_int_equal(ftruncate(rw, 8192), 0);
	kernel = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* labels in avf-spec 8.4's order; each partition its own fd, as `vm` opens them */
#define PART(writable, ...)                                                                        \
	do {                                                                                       \
		snprintf(labels[k], sizeof(labels[k]), __VA_ARGS__);                               \
		pfd[k] = open(writable ? rw_path : ro_path,                                       \
			      (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);                         \
		assert_true(pfd[k] >= 0);                                                          \
		parts[k] = (struct avf_vm_partition){labels[k], pfd[k], writable};                 \
		k++;                                                                               \
	} while (0)
	first[0] = (size_t)k;
	PART(false, "vbmeta_a");
	PART(false, "super");
	first[1] = (size_t)k;
	PART(false, "microdroid-vendor");
	first[2] = (size_t)k;
	PART(true, "vm-instance");
	PART(true, "encryptedstore");
	first[3] = (size_t)k;
	PART(false, "payload-metadata");
	for (int i = 0; i < MD_APEXES; i++)
		PART(false, "microdroid-apex-%d", i);
	PART(false, "microdroid-apk");
	PART(false, "microdroid-apk-idsig");
	for (int i = 0; i < MD_EXTRA_APKS; i++) {
		PART(false, "extra-apk-%d", i);
		PART(false, "extra-idsig-%d", i);
	}
	first[4] = (size_t)k;
#undef PART
	assert_int_equal(k, MD_PARTS);
	for (int d = 0; d < 4; d++)
		disks[d] = (struct avf_vm_disk){.image_fd = -1,
						.partitions = &parts[first[d]],
						.n_partitions = first[d + 1] - first[d],
						.writable = d == 2};
	avf_vm_config_init(&cfg);
	cfg.name = "microdroid-sized";
	cfg.fake_script = "console disks checked; hang";
	cfg.kernel_fd = kernel;
	cfg.initrd_fd = ro;
	cfg.disks = disks;
	cfg.n_disks = 4;
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(log, O_CLOEXEC), 0);
	if (avf_vm_create(c, &cfg, out[1], in[0], log[1], &vm) < 0)
		fail_msg("create: %s", avf_last_error()->message);
	for (int i = 0; i < MD_PARTS; i++)
		close(pfd[i]);
	close(out[1]);
	close(in[0]);
	close(log[1]);
	assert_int_equal(avf_vm_start(vm), 0);
	/* the guest's console line comes after fakevmm checked every disk (exit 1 otherwise) */
	read_until(out[0], "disks checked\n", buf, sizeof(buf));
	assert_int_equal(children_of(vmgr, &vmm, 1), 1);
	n = vmm_argv(vmm, buf, sizeof(buf), words, 128);
	for (int i = 0; i < n; i++)
		disk_words += !strcmp(words[i], "--disk") || !strcmp(words[i], "--rwdisk");
	assert_int_equal(disk_words, 4);
	/* every partition, and each composite's header and footer, inherited (+ zero filler) */
	assert_true(fds_of(vmm) >= MD_PARTS + 4 * 2 + 1);
	assert_int_equal(avf_vm_stop(vm), 0);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &reason), 0);
	assert_int_equal(reason, AVF_DEATH_KILLED);
	read_to_eof(out[0], buf, sizeof(buf));
	read_to_eof(log[0], buf, sizeof(buf));
	avf_vm_unref(vm);
	avf_client_disconnect(c);
	close(out[0]);
	close(in[1]);
	close(log[0]);
	close(ro);
	close(rw);
	close(kernel);
	unlink(ro_path);
	unlink(rw_path);
	assert_int_equal(count_fds(), fds);
}

/* AVF's createVm rules on files reach the client with AVF's codes and words. */
static void config_file_rules(void **state)
{
	int fds = count_fds(), k = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct avf_client *c = connect_client();
	struct avf_vm_disk both = {.image_fd = k, .partitions = (struct avf_vm_partition[]){{"p", k, false}},
				   .n_partitions = 1};
	struct avf_vm_config cfg;
	struct avf_vm *vm = NULL;

	avf_vm_config_init(&cfg);
	cfg.bootloader_fd = k;
	cfg.initrd_fd = k;
	assert_int_equal(avf_vm_create(c, &cfg, -1, -1, -1, &vm), -EREMOTEIO);
	assert_int_equal(avf_last_error()->exception, -8);
	assert_int_equal(avf_last_error()->service_code, -1);
	assert_string_equal(avf_last_error()->message,
			    "Can't have both bootloader and kernel/initrd image.");
	avf_vm_config_init(&cfg);
	cfg.kernel_fd = k;
	cfg.disks = &both;
	cfg.n_disks = 1;
	assert_int_equal(avf_vm_create(c, &cfg, -1, -1, -1, &vm), -EREMOTEIO);
	assert_int_equal(avf_last_error()->exception, -3);
	assert_string_equal(avf_last_error()->message,
			    "DiskImage contains both image and partitions");
	assert_null(vm);
	avf_client_disconnect(c);
	close(k);
	assert_int_equal(count_fds(), fds);
}

struct outcome {
	const char *script;
	enum avf_vm_kind kind;
	enum avf_death_reason reason;
	const char *callbacks;
};

/* Every fakevmm outcome maps to AVF's DeathReason and callback sequence. */
static void script_outcomes(void **state)
{
	static const struct outcome table[] = {
	    {"exit 0", AVF_VM_KIND_RAW, AVF_DEATH_SHUTDOWN, "died(SHUTDOWN)"},
	    {"exit 1", AVF_VM_KIND_RAW, AVF_DEATH_START_FAILED, "died(START_FAILED)"},
	    {"exit 32", AVF_VM_KIND_RAW, AVF_DEATH_REBOOT, "died(REBOOT)"},
	    {"exit 33", AVF_VM_KIND_RAW, AVF_DEATH_CRASH, "died(CRASH)"},
	    {"exit 36", AVF_VM_KIND_RAW, AVF_DEATH_WATCHDOG_REBOOT, "died(WATCHDOG_REBOOT)"},
	    {"exit 7", AVF_VM_KIND_RAW, AVF_DEATH_UNKNOWN, "died(UNKNOWN)"},
	    {"signal KILL", AVF_VM_KIND_RAW, AVF_DEATH_KILLED, "died(KILLED)"},
	    {"signal SEGV", AVF_VM_KIND_RAW, AVF_DEATH_KILLED, "died(KILLED)"},
	    {"started; finished 7; exit 0", AVF_VM_KIND_APP, AVF_DEATH_SHUTDOWN,
	     "started finished(7) died(SHUTDOWN)"},
	    {"started; error 3 bad config; failure MICRODROID_INVALID_PAYLOAD_CONFIG; exit 0",
	     AVF_VM_KIND_APP, AVF_DEATH_MICRODROID_INVALID_PAYLOAD_CONFIG,
	     "started error(3,bad config) died(MICRODROID_INVALID_PAYLOAD_CONFIG)"},
	    {"ready; started; exit 0", AVF_VM_KIND_APP, AVF_DEATH_SHUTDOWN,
	     "ready died(SHUTDOWN)"}, /* started after ready is refused: forward only */
	    {"failure MICRODROID_UNKNOWN_RUNTIME_ERROR; exit 1", AVF_VM_KIND_APP,
	     AVF_DEATH_MICRODROID_UNKNOWN_RUNTIME_ERROR, "died(MICRODROID_UNKNOWN_RUNTIME_ERROR)"},
	};
	struct avf_client *c = connect_client();

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct avf_vm *vm = create_vm(c, table[i].kind, table[i].script);
		struct vm_recorder rec = {{0}};
		enum avf_death_reason reason;

		assert_int_equal(avf_vm_register_callback(vm, &vm_recorder_cbs, &rec), 0);
		assert_int_equal(avf_vm_start(vm), 0);
		if (avf_vm_wait_for_death(vm, DEADLINE_MS, &reason) < 0)
			fail_msg("'%s': %s", table[i].script, avf_last_error()->message);
		if (reason != table[i].reason || strcmp(rec.log, table[i].callbacks))
			fail_msg("'%s': got %s [%s], expected %s [%s]", table[i].script,
				 avf_death_reason_name(reason), rec.log,
				 avf_death_reason_name(table[i].reason), table[i].callbacks);
		avf_vm_unref(vm);
	}
	avf_client_disconnect(c);
}

/* stop() of a hanging guest: KILLED; stop again: "VM is not running". */
static void stop_and_drop(void **state)
{
	struct avf_client *c = connect_client();
	struct avf_vm *vm = create_vm(c, AVF_VM_KIND_RAW, "hang");
	struct avf_vm *vm2 = create_vm(c, AVF_VM_KIND_RAW, "hang");
	enum avf_death_reason reason;
	pid_t kids[8];

	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(avf_vm_start(vm2), 0);
	assert_int_equal(children_of(avf_client_virtmgr_pid(c), kids, 8), 2);
	assert_int_equal(avf_vm_stop(vm), 0);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &reason), 0);
	assert_int_equal(reason, AVF_DEATH_KILLED);
	assert_int_equal(avf_vm_stop(vm), -EREMOTEIO);
	assert_non_null(strstr(avf_last_error()->message, "VM is not running"));
	/* Dropping the last handle of a running VM kills it: its VMM goes away. */
	uint32_t cid2 = avf_vm_cid(vm2);
	avf_vm_unref(vm2);
	wait_unlisted(c, cid2);
	assert_int_equal(children_of(avf_client_virtmgr_pid(c), kids, 8), 0);
	avf_vm_unref(vm);
	avf_client_disconnect(c);
}

/* Two clients: distinct CIDs; each virtmgr only knows its own VMs. */
static void two_clients(void **state)
{
	struct avf_client *a = connect_client(), *b = connect_client();
	struct avf_vm *va = create_vm(a, AVF_VM_KIND_RAW, "hang");
	struct avf_vm *vb = create_vm(b, AVF_VM_KIND_RAW, "hang");

	assert_int_not_equal(avf_client_virtmgr_pid(a), avf_client_virtmgr_pid(b));
	assert_int_not_equal(avf_vm_cid(va), avf_vm_cid(vb));
	/* virtualizationservice lists both, to either client. */
	assert_true(listed(a, avf_vm_cid(vb), NULL));
	assert_true(listed(b, avf_vm_cid(va), NULL));
	/* Disconnecting a kills a's VM only. */
	assert_int_equal(avf_vm_start(vb), 0);
	uint32_t cid_a = avf_vm_cid(va);
	avf_client_disconnect(a);
	wait_unlisted(b, cid_a);
	enum avf_vm_state st;
	assert_int_equal(avf_vm_get_state(vb, &st), 0);
	assert_int_equal(st, AVF_VM_STATE_STARTING);
	/* a's handle outlives its client: calls fail cleanly. */
	assert_int_equal(avf_vm_start(va), -EPIPE);
	avf_vm_unref(va);
	avf_vm_unref(vb);
	avf_client_disconnect(b);
}

/* A client process SIGKILLed: its virtmgr exits, its VMs die KILLED, its CIDs and temp dirs go. */
static void client_sigkilled(void **state)
{
	int pp[2];
	struct {
		uint32_t cid;
		pid_t virtmgr;
	} info;

	assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
	pid_t child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct avf_client *c;
		struct avf_vm *vm;
		struct avf_vm_config cfg;
		avf_vm_config_init(&cfg);
		cfg.fake_script = "started; hang";
		cfg.kind = AVF_VM_KIND_APP;
		if (avf_client_connect(NULL, &c) < 0 || avf_vm_create(c, &cfg, -1, -1, -1, &vm) < 0 ||
		    avf_vm_start(vm) < 0 ||
		    avf_vm_wait_for_state(vm, AVF_VM_STATE_STARTED, DEADLINE_MS) < 0)
			_exit(1);
		info.cid = avf_vm_cid(vm);
		info.virtmgr = avf_client_virtmgr_pid(c);
		if (write(pp[1], &info, sizeof(info)) != sizeof(info))
			_exit(1);
		for (;;)
			pause(); /* until SIGKILL */
	}
	close(pp[1]);
	struct pollfd p = {.fd = pp[0], .events = POLLIN};
	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	assert_int_equal(read(pp[0], &info, sizeof(info)), sizeof(info));
	close(pp[0]);

	struct avf_client *watcher = connect_client();
	struct avf_vm_info row;
	pid_t vmm[4];
	assert_true(listed(watcher, info.cid, &row));
	assert_int_equal(children_of(info.virtmgr, vmm, 4), 1);
	kill(child, SIGKILL);
	int st = wait_child(child, DEADLINE_MS);
	assert_true(WIFSIGNALED(st));
	/* virtmgr is reparented to us (subreaper) and exits after killing its VMM. */
	st = wait_child(info.virtmgr, DEADLINE_MS);
	assert_true(WIFEXITED(st));
	wait_unlisted(watcher, info.cid);
	struct stat sb;
	assert_int_not_equal(stat(row.temp_dir, &sb), 0);
	assert_int_equal(kill(vmm[0], 0), -1);
	char needle[64];
	snprintf(needle, sizeof(needle), " vm:%u exit: signal 9", info.cid);
	assert_true(trace_has(needle));
	snprintf(needle, sizeof(needle), "vm:%u ", info.cid);
	free(row.name);
	free(row.temp_dir);
	avf_client_disconnect(watcher);
}

/* virtmgr SIGKILLed: the client sees the service as dead, the VMMs die, the CIDs go. */
static void virtmgr_sigkilled(void **state)
{
	struct avf_client *c = connect_client(), *watcher = connect_client();
	struct avf_vm *vm = create_vm(c, AVF_VM_KIND_RAW, "hang");
	enum avf_death_reason reason;
	pid_t vmm[4], vmgr = avf_client_virtmgr_pid(c);
	uint32_t cid = avf_vm_cid(vm);

	assert_int_equal(avf_vm_start(vm), 0);
	assert_int_equal(children_of(vmgr, vmm, 4), 1);
	kill(vmgr, SIGKILL);
	assert_int_equal(avf_vm_wait_for_death(vm, DEADLINE_MS, &reason), -EPIPE);
	assert_false(avf_client_is_alive(c));
	/* The orphaned VMM (reparented to us) dies promptly (test_vmm.h: how). */
	int st = wait_child(vmm[0], DEADLINE_MS);
	assert_true(vmm_orphan_status_ok(st));
	wait_unlisted(watcher, cid);
	assert_int_equal(avf_vm_start(vm), -EPIPE);
	assert_int_equal(avf_client_dispatch(c, 0), -EPIPE);
	avf_vm_unref(vm);
	avf_client_disconnect(c);
	avf_client_disconnect(watcher);
}

/* virtualizationservice restarted: running VMs keep their CIDs, new VMs get others. */
static void vs_restarted(void **state)
{
	struct avf_client *c = connect_client();
	struct avf_vm *old = create_vm(c, AVF_VM_KIND_RAW, "hang");
	uint32_t old_cid = avf_vm_cid(old);
	enum avf_vm_state st;

	assert_int_equal(avf_vm_start(old), 0);
	vs_stop();
	/* Without the service nothing new can be created; the running VM is untouched. */
	struct avf_vm_config cfg;
	struct avf_vm *none;
	avf_vm_config_init(&cfg);
	assert_true(avf_vm_create(c, &cfg, -1, -1, -1, &none) < 0);
	assert_non_null(strstr(avf_last_error()->message, "virtualizationservice"));
	assert_int_equal(avf_vm_get_state(old, &st), 0);
	assert_int_equal(st, AVF_VM_STATE_STARTING);
	vs_start();
	struct avf_vm *fresh = create_vm(c, AVF_VM_KIND_RAW, "hang");
	assert_int_not_equal(avf_vm_cid(fresh), old_cid);
	assert_true(avf_vm_cid(fresh) > old_cid); /* persisted last CID: no wrap here */
	/* The old VM's CID was re-claimed: listed again, never granted twice. */
	assert_true(listed(c, old_cid, NULL));
	assert_true(listed(c, avf_vm_cid(fresh), NULL));
	assert_int_equal(avf_vm_get_state(old, &st), 0);
	assert_int_equal(st, AVF_VM_STATE_STARTING);
	avf_vm_unref(fresh);
	avf_vm_unref(old);
	wait_unlisted(c, old_cid);
	avf_client_disconnect(c);
}

static int raw_connect(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Send a CALL on raw ids and read the reply's header and exception. */
static int raw_call_exception(int fd, uint32_t object, uint32_t method)
{
	uint8_t buf[IPC_MSG_MAX];
	struct ipc_hdr hdr = {.kind = IPC_CALL, .object = object, .method = method, .call_id = 1};
	struct ipc_msg *m, *reply;
	size_t len;
	int32_t ex;

	assert_int_equal(ipc_msg_new(&m), 0);
	assert_int_equal(ipc_msg_encode(m, &hdr, buf, sizeof(buf), &len), 0);
	ipc_msg_free(m);
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	ssize_t n = recv(fd, buf, sizeof(buf), 0);
	assert_true(n > 0);
	assert_int_equal(ipc_msg_decode(buf, (size_t)n, NULL, 0, &reply), 0);
	assert_int_equal(ipc_msg_hdr(reply)->flags & IPC_F_ERROR, IPC_F_ERROR);
	assert_int_equal(ipc_msg_get_i32(reply, &ex), 0);
	ipc_msg_free(reply);
	return ex;
}

/* Malformed traffic to virtualizationservice: errors, and everyone else is still served. */
static void malformed_to_vs(void **state)
{
	struct avf_client *c = connect_client();
	int fd = raw_connect(S.vs.sock);
	uint8_t junk[64];

	/* An object this connection was never given. */
	assert_int_equal(raw_call_exception(fd, 77, 1), -3 /* EX_ILLEGAL_ARGUMENT */);
	/* An unknown method on the root. */
	assert_int_equal(raw_call_exception(fd, 0, 999), -7 /* EX_UNSUPPORTED_OPERATION */);
	/* A header announcing an fd that is not attached: refused, the connection lives on. */
	{
		uint8_t pkt[IPC_MSG_MAX];
		struct ipc_hdr hdr = {.kind = IPC_CALL, .object = 0, .method = 2, .call_id = 9};
		struct ipc_msg *m, *reply;
		size_t len;
		int32_t ex;
		assert_int_equal(ipc_msg_new(&m), 0);
		assert_int_equal(ipc_msg_encode(m, &hdr, pkt, sizeof(pkt), &len), 0);
		ipc_msg_free(m);
		pkt[24] = 1; /* nfds = 1, none sent */
		assert_int_equal(send(fd, pkt, len, MSG_NOSIGNAL), (ssize_t)len);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
		ssize_t n = recv(fd, pkt, sizeof(pkt), 0);
		assert_true(n > 0);
		assert_int_equal(ipc_msg_decode(pkt, (size_t)n, NULL, 0, &reply), 0);
		assert_int_equal(ipc_msg_get_i32(reply, &ex), 0);
		assert_int_equal(ex, -2 /* EX_BAD_PARCELABLE */);
		ipc_msg_free(reply);
		/* Still served on the same connection. */
		assert_int_equal(raw_call_exception(fd, 0, 999), -7);
	}
	/* A truncated header: the connection is closed, nothing else is disturbed. */
	memset(junk, 0xA5, sizeof(junk));
	assert_int_equal(send(fd, junk, 10, MSG_NOSIGNAL), 10);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	assert_int_equal(recv(fd, junk, sizeof(junk), 0), 0);
	close(fd);
	/* An oversized packet on another connection: closed as well. */
	fd = raw_connect(S.vs.sock);
	size_t big = IPC_MSG_MAX + 4096;
	uint8_t *huge = calloc(1, big);
	assert_int_equal(send(fd, huge, big, MSG_NOSIGNAL), (ssize_t)big);
	free(huge);
	p.fd = fd;
	assert_int_equal(poll(&p, 1, DEADLINE_MS), 1);
	assert_int_equal(recv(fd, junk, sizeof(junk), 0), 0);
	close(fd);
	/* The client still gets contexts. */
	struct avf_vm *vm = create_vm(c, AVF_VM_KIND_RAW, "exit 0");
	assert_true(listed(c, avf_vm_cid(vm), NULL));
	avf_vm_unref(vm);
	avf_client_disconnect(c);
}

static int cycles(void)
{
	const char *s = getenv("AVF_STACK_CYCLES");
	return s ? atoi(s) : 10000;
}

/* N create/start/stop/drop cycles: no growth of fds, children, CIDs or temp dirs. */
static void no_growth(void **state)
{
	struct avf_client *c = connect_client();
	pid_t vmgr = avf_client_virtmgr_pid(c), kids[8];
	char vmdir[400];
	int n = cycles(), warm = n < 200 ? n / 2 : 100; /* measure after warm-up */
	int fds0 = 0, vmgr_fds0 = 0, vs_fds0 = 0;

	snprintf(vmdir, sizeof(vmdir), "%s/vm", S.vs.state);
	for (int i = 0; i < n; i++) {
		if (i == warm) {
			fds0 = count_fds();
			vmgr_fds0 = fds_of(vmgr);
			vs_fds0 = fds_of(S.vs.pid);
		}
		struct avf_vm *vm = create_vm(c, AVF_VM_KIND_RAW, "hang");
		enum avf_death_reason reason;
		if (avf_vm_start(vm) < 0 || avf_vm_stop(vm) < 0 ||
		    avf_vm_wait_for_death(vm, DEADLINE_MS, &reason) < 0)
			fail_msg("cycle %d: %s", i, avf_last_error()->message);
		assert_int_equal(reason, AVF_DEATH_KILLED);
		avf_vm_unref(vm);
	}
	struct avf_vm_info *rows;
	size_t nrows;
	/* The last drop's release may still be in flight to virtualizationservice. */
	int64_t deadline = now_ms() + DEADLINE_MS;
	for (;;) {
		assert_int_equal(avf_client_list_vms(c, &rows, &nrows), 0);
		avf_vm_info_free(rows, nrows);
		if (nrows == 0 && count_dir(vmdir) == 0)
			break;
		if (now_ms() > deadline)
			fail_msg("%zu contexts / %d temp dirs left", nrows, count_dir(vmdir));
		avf_client_dispatch(c, 20);
	}
	assert_int_equal(children_of(vmgr, kids, 8), 0);
	assert_int_equal(count_fds(), fds0);
	assert_int_equal(fds_of(vmgr), vmgr_fds0);
	assert_int_equal(fds_of(S.vs.pid), vs_fds0);
	print_message("%d cycles: fds %d, virtmgr fds %d, vs fds %d, contexts 0, temp dirs 0\n", n,
		      fds0, vmgr_fds0, vs_fds0);
	avf_client_disconnect(c);
}

int main(void)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(full_cycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(console_and_log, setup, teardown),
	    cmocka_unit_test_setup_teardown(config_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(config_file_rules, setup, teardown),
	    cmocka_unit_test_setup_teardown(microdroid_sized_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(script_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(stop_and_drop, setup, teardown),
	    cmocka_unit_test_setup_teardown(two_clients, setup, teardown),
	    cmocka_unit_test_setup_teardown(client_sigkilled, setup, teardown),
	    cmocka_unit_test_setup_teardown(virtmgr_sigkilled, setup, teardown),
	    cmocka_unit_test_setup_teardown(vs_restarted, setup, teardown),
	    cmocka_unit_test_setup_teardown(malformed_to_vs, setup, teardown),
	    cmocka_unit_test_setup_teardown(no_growth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
