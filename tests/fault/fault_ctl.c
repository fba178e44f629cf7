/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fault_ctl: the shim's state in one process — the shared control page, whether
 * main() has started, whether this program is the target — and the one decision
 * every wrapper asks for: count this call, and fail it if it is the Nth.
 */
#include "fault_internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <unwind.h>

#define FAULT_MAGIC 0x41564646u /* "AVFF" */

__thread int fault_busy __attribute__((tls_model("initial-exec")));

static struct fault_ctl *ctl;
static char ctl_path[4096];
static bool in_main;      /* set when main() starts: start-up work never counts */
static char self_name[32];
static uint32_t seen_epoch = UINT32_MAX;
static bool is_target;

static const char *const kind_names[FAULT_KINDS] = {
	[FAULT_ALLOC] = "alloc",   [FAULT_SOCKET] = "socket",       [FAULT_SPAWN] = "spawn",
	[FAULT_EXEC] = "exec",     [FAULT_STATEFILE] = "statefile", [FAULT_PIDFD] = "pidfd_open",
};

const char *fault_kind_name(enum fault_kind kind)
{
	return (unsigned)kind < FAULT_KINDS ? kind_names[kind] : "?";
}

int fault_kind_parse(const char *name)
{
	for (int k = 0; k < FAULT_KINDS; k++)
		if (strcmp(name, kind_names[k]) == 0)
			return k;
	return -1;
}

void *fault_real(const char *name)
{
	void *fn;

	fault_busy++;
	fn = dlsym(RTLD_NEXT, name);
	fault_busy--;
	if (!fn) {
		static const char msg[] = "libavf_fault: a wrapped function is missing\n";
		/* write(2) would come back to our own wrapper: go to the kernel's. */
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			_exit(70);
		_exit(70);
	}
	return fn;
}

static void set_self_name(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

	snprintf(self_name, sizeof(self_name), "%s",
		 slash ? slash + 1 : argv0 ? argv0 : program_invocation_short_name);
	seen_epoch = UINT32_MAX;
}

static struct fault_ctl *map_ctl(const char *path, bool create)
{
	struct fault_ctl *p;
	int fd;

	fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
	if (fd < 0)
		return NULL;
	if (create && ftruncate(fd, sizeof(struct fault_ctl)) < 0) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, sizeof(*p), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p == MAP_FAILED ? NULL : p;
}

/* Every process that loads the shim: find the page the sweep made. */
__attribute__((constructor)) static void fault_init(void)
{
	const char *path = getenv("AVF_FAULT_CTL");

	fault_busy++;
	set_self_name(NULL);
	if (path && (ctl = map_ctl(path, false)) && ctl->magic != FAULT_MAGIC) {
		munmap(ctl, sizeof(*ctl));
		ctl = NULL;
	}
	fault_busy--;
}

typedef int (*main_fn)(int, char **, char **);
static main_fn real_main;

static int main_hook(int argc, char **argv, char **envp)
{
	set_self_name(argc > 0 ? argv[0] : NULL);
	in_main = true;
	return real_main(argc, argv, envp);
}

/* glibc calls main() from here: the first moment the program's own code runs. */
int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end);
int __libc_start_main(main_fn main, int argc, char **argv, void (*init)(void), void (*fini)(void),
		      void (*rtld_fini)(void), void *stack_end)
{
	int (*real)(main_fn, int, char **, void (*)(void), void (*)(void), void (*)(void),
		    void *) = fault_real("__libc_start_main");

	real_main = main;
	return real(main_hook, argc, argv, init, fini, rtld_fini, stack_end);
}

bool fault_counting(enum fault_kind kind)
{
	if (fault_busy || !ctl || !in_main || !__atomic_load_n(&ctl->armed, __ATOMIC_ACQUIRE))
		return false;
	if (kind == FAULT_STATEFILE && ctl->kind != FAULT_STATEFILE)
		return false; /* telling a state-file call apart costs a readlink: only when swept */
	if (seen_epoch != ctl->epoch) {
		seen_epoch = ctl->epoch;
		is_target = !ctl->target[0] || strcmp(ctl->target, self_name) == 0;
	}
	return is_target;
}

struct unwind_state {
	void **frames;
	int n, max;
};

static _Unwind_Reason_Code unwind_one(struct _Unwind_Context *uc, void *data)
{
	struct unwind_state *st = data;

	if (st->n == st->max)
		return _URC_END_OF_STACK;
	st->frames[st->n++] = (void *)_Unwind_GetIP(uc);
	return _URC_NO_REASON;
}

/*
 * "module+0xoffset" (or the exported symbol) of each caller, into the fire record.
 * libgcc's unwinder directly, not backtrace(): that one dlopens libgcc_s on first
 * use, from inside the failing malloc (and LeakSanitizer then blames the loader).
 */
static void record_where(struct fault_fire *f)
{
	void *frames[FAULT_WHERE_FRAMES + 3];
	struct unwind_state st = {frames, 0, FAULT_WHERE_FRAMES + 3};
	int out = 0;

	_Unwind_Backtrace(unwind_one, &st);
	/* frames[0] is record_where, [1] fault_hit, [2] the wrapper: callers start at 3.
	 * Return addresses point past the call: step back one byte into it. */
	for (int i = 3; i < st.n && out < FAULT_WHERE_FRAMES; i++, out++) {
		char *pc = (char *)frames[i] - 1;
		Dl_info di;
		const char *mod;

		if (!dladdr(pc, &di) || !di.dli_fname) {
			snprintf(f->where[out], FAULT_WHERE_LEN, "%p", (void *)pc);
			continue;
		}
		mod = strrchr(di.dli_fname, '/') ? strrchr(di.dli_fname, '/') + 1 : di.dli_fname;
		if (di.dli_sname)
			snprintf(f->where[out], FAULT_WHERE_LEN, "%s:%s", mod, di.dli_sname);
		else
			snprintf(f->where[out], FAULT_WHERE_LEN, "%s+%#lx", mod,
				 (unsigned long)(pc - (char *)di.dli_fbase));
	}
}

int fault_hit(enum fault_kind kind, int dflt)
{
	uint64_t n;
	int err;

	if (!fault_counting(kind))
		return 0;
	n = __atomic_add_fetch(&ctl->calls[kind], 1, __ATOMIC_ACQ_REL);
	if ((int)kind != ctl->kind || ctl->nth == 0 || n != ctl->nth)
		return 0;
	/* Exactly one call sees n == nth, whichever process makes it. */
	err = ctl->err ? ctl->err : dflt;
	fault_busy++;
	ctl->fire.pid = getpid();
	ctl->fire.kind = kind;
	ctl->fire.err = err;
	ctl->fire.n = n;
	snprintf(ctl->fire.proc, sizeof(ctl->fire.proc), "%s", self_name);
	record_where(&ctl->fire);
	__atomic_add_fetch(&ctl->fired, 1, __ATOMIC_RELEASE);
	fault_busy--;
	return err;
}

/* ---- the sweep's side ---- */

struct fault_ctl *fault_setup(const char *path)
{
	fault_busy++;
	if (snprintf(ctl_path, sizeof(ctl_path), "%s", path) >= (int)sizeof(ctl_path)) {
		fault_busy--;
		errno = ENAMETOOLONG;
		return NULL;
	}
	ctl = map_ctl(path, true);
	if (ctl) {
		ctl->magic = FAULT_MAGIC;
		setenv("AVF_FAULT_CTL", path, 1);
	}
	fault_busy--;
	/* The sweep calls this from main(), with or without the start hook. */
	in_main = true;
	return ctl;
}

void fault_arm(enum fault_kind kind, uint64_t nth, int err, const char *target)
{
	__atomic_store_n(&ctl->armed, 0, __ATOMIC_RELEASE);
	ctl->kind = kind;
	ctl->nth = nth;
	ctl->err = err;
	snprintf(ctl->target, sizeof(ctl->target), "%s", target ? target : "");
	memset(ctl->calls, 0, sizeof(ctl->calls));
	memset(&ctl->fire, 0, sizeof(ctl->fire));
	ctl->fired = 0;
	ctl->epoch++;
	__atomic_store_n(&ctl->armed, 1, __ATOMIC_RELEASE);
}

void fault_disarm(void)
{
	if (ctl)
		__atomic_store_n(&ctl->armed, 0, __ATOMIC_RELEASE);
}

void fault_teardown(void)
{
	if (!ctl)
		return;
	fault_busy++;
	munmap(ctl, sizeof(*ctl));
	ctl = NULL;
	unlink(ctl_path);
	unsetenv("AVF_FAULT_CTL");
	fault_busy--;
}
