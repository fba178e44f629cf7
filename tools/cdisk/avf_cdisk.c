/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avf-cdisk: make, flatten and show crosvm composite disks from the command line, over
 * core/disk (docs/composite-disk.md).
 *
 *   avf-cdisk create OUT.img --partition LABEL=PATH[:rw|:ro]... [--disk-guid UUID]
 *                            [--partition-guid LABEL=UUID]...
 *   avf-cdisk flatten COMPOSITE.img FLAT.img
 *   avf-cdisk show COMPOSITE.img
 *
 * Exit status: 0 done, 1 the operation failed (the message names the partition or file and
 * the rule), 2 bad usage. Messages go to stderr, results to stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/avf_err.h"
#include "disk/cdisk_build.h"
#include "disk/cdisk_gpt_read.h"
#include "disk/cdisk_image.h"
#include "disk/cdisk_layout.h"
#include "disk/cdisk_spec.h"
#include "disk/gpt.h"
#include "disk/gpt_guid.h"

#define PROG "avf-cdisk"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: " PROG " create OUT.img --partition LABEL=PATH[:rw|:ro]... [--disk-guid UUID]\n"
	    "                        [--partition-guid LABEL=UUID]...\n"
	    "       " PROG " flatten COMPOSITE.img FLAT.img\n"
	    "       " PROG " show COMPOSITE.img\n"
	    "       " PROG " --help | --version\n"
	    "\n"
	    "Composite disks in crosvm's format: a spec file (\"composite_disk\\x1d\" + protobuf)\n"
	    "naming a GPT header file, the partition images and a GPT footer file.\n"
	    "\n"
	    "create   writes OUT.img and, beside it, OUT-header.img, OUT-footer.img and (when a\n"
	    "         read-only partition's size is not a multiple of 4096) OUT-zero.img; the\n"
	    "         spec names every file by its absolute path. Existing files are not\n"
	    "         overwritten. Partitions are laid out in the order given.\n"
	    "  --partition LABEL=PATH[:rw|:ro]  a partition: GPT name LABEL (UTF-8, at most 36\n"
	    "                   UTF-16 code units, unique), image PATH, read-only unless :rw\n"
	    "                   (a writable one must be a multiple of 4096 bytes). The label\n"
	    "                   ends at the first '='; a PATH ending in :rw or :ro needs one\n"
	    "                   more :ro or :rw after it.\n"
	    "  --disk-guid UUID          the disk GUID (default: random v4)\n"
	    "  --partition-guid LABEL=UUID  the unique GUID of partition LABEL (default: random)\n"
	    "flatten  writes the disk the guest sees as one file (components at their offsets,\n"
	    "         zeros elsewhere), for tools such as sgdisk or fdisk\n"
	    "show     prints the spec's components and the GPT the guest sees\n"
	    "\n"
	    "Exit status: 0 done, 1 failed (the message says why), 2 bad usage.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs(PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry '" PROG " --help' for more information.\n", stderr);
	return EXIT_USAGE;
}

static int failed(void)
{
	fprintf(stderr, PROG ": %s\n", avf_err_last()->msg);
	return EXIT_FAILED;
}

/* ---- create --------------------------------------------------------------------------------- */

struct create_args {
	struct cdisk_build_part *parts;
	struct gpt_guid *guids; /* [n_parts] */
	size_t n_parts;
	bool have_disk_guid;
	struct gpt_guid disk_guid;
};

/* LABEL=PATH[:rw|:ro] into the next partition (strings point into @arg). */
static int add_partition(struct create_args *a, char *arg)
{
	char *eq = strchr(arg, '='), *path;
	struct cdisk_build_part *p;
	size_t len;

	if (!eq || !eq[1])
		return usage_error("--partition '%s': expected LABEL=PATH[:rw|:ro]", arg);
	if (a->n_parts == CDISK_MAX_PARTITIONS)
		return usage_error("more than %u partitions", CDISK_MAX_PARTITIONS);
	*eq = '\0';
	path = eq + 1;
	p = &a->parts[a->n_parts++];
	*p = (struct cdisk_build_part){.label = arg, .path = path, .fd = -1};
	len = strlen(path);
	if (len > 3 && (!strcmp(path + len - 3, ":rw") || !strcmp(path + len - 3, ":ro"))) {
		p->writable = path[len - 1] == 'w';
		path[len - 3] = '\0';
	}
	return 0;
}

/* LABEL=UUID for a partition given before or after. */
static int set_partition_guid(char *arg, char **pending, size_t *n_pending)
{
	char *eq = strrchr(arg, '=');
	struct gpt_guid g;

	if (!eq || gpt_guid_parse(eq + 1, &g) < 0)
		return usage_error("--partition-guid '%s': expected LABEL=UUID "
				   "(XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX)",
				   arg);
	pending[(*n_pending)++] = arg;
	return 0;
}

/* The --partition-guid options, matched to partitions once all are known. */
static int apply_guids(struct create_args *a, char **pending, size_t n_pending)
{
	for (size_t i = 0; i < n_pending; i++) {
		char *eq = strrchr(pending[i], '=');
		size_t k;

		*eq = '\0';
		for (k = 0; k < a->n_parts && strcmp(a->parts[k].label, pending[i]); k++)
			;
		if (k == a->n_parts)
			return usage_error("--partition-guid: no partition labelled '%s'",
					   pending[i]);
		if (a->parts[k].guid)
			return usage_error("--partition-guid: two GUIDs for '%s'", pending[i]);
		gpt_guid_parse(eq + 1, &a->guids[k]);
		a->parts[k].guid = &a->guids[k];
	}
	return 0;
}

static int cmd_create(int argc, char **argv)
{
	enum { OPT_PARTITION = 1, OPT_DISK_GUID, OPT_PART_GUID, OPT_HELP };
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, OPT_HELP},
	    {"partition", required_argument, NULL, OPT_PARTITION},
	    {"disk-guid", required_argument, NULL, OPT_DISK_GUID},
	    {"partition-guid", required_argument, NULL, OPT_PART_GUID},
	    {NULL, 0, NULL, 0},
	};
	struct create_args a = {0};
	char **pending = NULL;
	size_t n_pending = 0;
	struct cdisk_built b;
	char gbuf[GPT_GUID_STR_LEN];
	int c, r = -1;

	/* at most one partition or GUID per argument */
	a.parts = calloc(CDISK_MAX_PARTITIONS, sizeof(*a.parts));
	a.guids = calloc(CDISK_MAX_PARTITIONS, sizeof(*a.guids));
	pending = calloc((size_t)argc, sizeof(*pending));
	if (!a.parts || !a.guids || !pending) {
		fprintf(stderr, PROG ": out of memory\n");
		r = EXIT_FAILED;
		goto out;
	}
	optind = 1;
	opterr = 0;
	while (r < 0 && (c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PARTITION: r = add_partition(&a, optarg) ? EXIT_USAGE : -1; break;
		case OPT_DISK_GUID:
			if (a.have_disk_guid)
				r = usage_error("--disk-guid given twice");
			else if (gpt_guid_parse(optarg, &a.disk_guid) < 0)
				r = usage_error("--disk-guid '%s': expected "
						"XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
						optarg);
			a.have_disk_guid = true;
			break;
		case OPT_PART_GUID:
			r = set_partition_guid(optarg, pending, &n_pending) ? EXIT_USAGE : -1;
			break;
		case OPT_HELP:
			usage(stdout);
			r = 0;
			break;
		case ':':
			r = usage_error("create: option '%s' needs a value", argv[optind - 1]);
			break;
		default: r = usage_error("create: unknown option '%s'", argv[optind - 1]); break;
		}
	}
	if (r >= 0)
		goto out;
	if (optind != argc - 1) {
		r = usage_error(optind == argc
				    ? "create: OUT.img is missing"
				    : "create: one OUT.img expected, got more arguments");
		goto out;
	}
	if (a.n_parts == 0) {
		r = usage_error("create: no --partition given");
		goto out;
	}
	if (apply_guids(&a, pending, n_pending)) {
		r = EXIT_USAGE;
		goto out;
	}
	if (cdisk_build_paths(argv[optind], a.parts, a.n_parts,
			      a.have_disk_guid ? &a.disk_guid : NULL, &b) < 0) {
		r = failed();
		goto out;
	}
	printf("%s: %zu partitions, %" PRIu64 " bytes, disk GUID %s\n", argv[optind], a.n_parts,
	       b.disk_size, gpt_guid_format(&b.disk_guid, gbuf));
	r = 0;
out:
	free(a.parts);
	free(a.guids);
	free(pending);
	return r;
}

/* ---- flatten -------------------------------------------------------------------------------- */

static int cmd_flatten(int argc, char **argv)
{
	struct cdisk_image *img = NULL;
	bool created = false;
	int fd, r;

	if (argc != 3)
		return usage_error("flatten: expected COMPOSITE.img FLAT.img");
	if (cdisk_image_open(argv[1], &img) < 0)
		return failed();
	/* created if absent (and removed again on failure); an existing file is overwritten */
	fd = open(argv[2], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0)
		created = true;
	else if (errno == EEXIST)
		fd = open(argv[2], O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PROG ": '%s': %s\n", argv[2], strerror(errno));
		cdisk_image_free(img);
		return EXIT_FAILED;
	}
	r = cdisk_image_flatten(img, fd) < 0 ? failed() : 0;
	if (close(fd) < 0 && r == 0) {
		fprintf(stderr, PROG ": '%s': %s\n", argv[2], strerror(errno));
		r = EXIT_FAILED;
	}
	if (r && created)
		unlink(argv[2]);
	if (r == 0)
		printf("%s: %" PRIu64 " bytes\n", argv[2], cdisk_image_spec(img)->length);
	cdisk_image_free(img);
	return r;
}

/* ---- show ----------------------------------------------------------------------------------- */

static void show_spec(const char *path, const struct cdisk_spec *s)
{
	printf("composite: %s\n", path);
	printf("version: %" PRIu64 "\n", s->version);
	printf("length: %" PRIu64 " bytes (%" PRIu64 " sectors)\n", s->length, s->length / 512);
	printf("components: %zu\n", s->n_components);
	printf("  %-12s  %-12s  %-4s  %s\n", "offset", "length", "mode", "path");
	for (size_t i = 0; i < s->n_components; i++) {
		const struct cdisk_component *c = &s->components[i];

		printf("  %-12" PRIu64 "  %-12" PRIu64 "  %-4s  %s", c->offset, c->length,
		       c->writable ? "rw" : "ro", c->path);
		if (c->file_offset)
			printf("  (from file offset %" PRIu64 ")", c->file_offset);
		putchar('\n');
	}
}

static void show_gpt(const struct cdisk_gpt *g)
{
	char disk[GPT_GUID_STR_LEN], type[GPT_GUID_STR_LEN], uniq[GPT_GUID_STR_LEN];
	char name[GPT_NAME_UTF8_MAX];

	printf("gpt:\n");
	printf("  disk guid: %s\n", gpt_guid_format(&g->primary.disk_guid, disk));
	printf("  protective MBR sectors: %" PRIu32 "\n", g->pmbr_sectors);
	printf("  primary header: LBA %" PRIu64 ", entries at LBA %" PRIu64 "\n", g->primary.my_lba,
	       g->primary.entries_lba);
	printf("  backup header: LBA %" PRIu64 ", entries at LBA %" PRIu64 "\n", g->backup.my_lba,
	       g->backup.entries_lba);
	printf("  usable LBAs: %" PRIu64 "-%" PRIu64 "\n", g->primary.first_usable_lba,
	       g->primary.last_usable_lba);
	printf("partitions: %zu\n", g->n_parts);
	printf("  %-3s  %-10s  %-10s  %-12s  %-36s  %-36s  %s\n", "#", "first-lba", "last-lba",
	       "bytes", "type", "guid", "name");
	for (size_t i = 0; i < g->n_parts; i++) {
		const struct gpt_entry *e = &g->parts[i];
		uint64_t bytes = e->last_lba >= e->first_lba
				     ? (e->last_lba - e->first_lba + 1) * GPT_SECTOR_SIZE
				     : 0;

		gpt_name_to_utf8(e->name, name, sizeof(name));
		printf("  %-3u  %-10" PRIu64 "  %-10" PRIu64 "  %-12" PRIu64 "  %s  %s  %s\n",
		       g->slots[i] + 1, e->first_lba, e->last_lba, bytes,
		       gpt_guid_format(&e->type, type), gpt_guid_format(&e->unique, uniq), name);
	}
}

static int cmd_show(int argc, char **argv)
{
	struct cdisk_spec *s = NULL;
	struct cdisk_image *img = NULL;
	struct cdisk_gpt *g = NULL;
	int r = 0;

	if (argc != 2)
		return usage_error("show: expected COMPOSITE.img");
	if (cdisk_spec_load(AT_FDCWD, argv[1], &s) < 0)
		return failed();
	show_spec(argv[1], s);
	cdisk_spec_free(s);
	/* the spec is shown even when its files cannot be read (another process's fds, say) */
	fflush(stdout);
	if (cdisk_image_open(argv[1], &img) < 0 || cdisk_gpt_read(img, &g) < 0)
		r = failed();
	else
		show_gpt(g);
	cdisk_gpt_free(g);
	cdisk_image_free(img);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage_error("a command is needed: create, flatten or show");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf(PROG " (avf-ref) " AVF_VERSION "\n");
		return 0;
	}
	if (!strcmp(argv[1], "create"))
		return cmd_create(argc - 1, argv + 1);
	if (!strcmp(argv[1], "flatten"))
		return cmd_flatten(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return cmd_show(argc - 1, argv + 1);
	return usage_error("unknown command '%s' (create, flatten or show)", argv[1]);
}
