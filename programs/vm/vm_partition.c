/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `vm create-partition <path> <size> [-t raw|instance|encryptedstore]`: AVF's
 * create_partition.rs. The file is created with O_EXCL (an existing file is an error),
 * then initializeWritablePartition (virtmgr) sizes it and writes the type's header.
 * Unlike AVF, a file this command created is removed again when initialising fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vm_args.h"
#include "vm_cli.h"

enum { OPT_TYPE = 1 };

static const struct vm_opt opts[] = {{"type", 't', "PARTITION_TYPE", OPT_TYPE}};
static const char *const pos_names[] = {"<PATH>", "<SIZE>"};
static const char help[] =
    "Create a new empty partition to be used as a writable partition for a VM\n"
    "\n"
    "Usage: vm create-partition [OPTIONS] <PATH> <SIZE>\n"
    "\n"
    "Arguments:\n"
    "  <PATH>  Path at which to create the image file\n"
    "  <SIZE>  The desired size of the partition, in bytes\n"
    "\n"
    "Options:\n"
    "  -t, --type <PARTITION_TYPE>  Type of the partition: raw (default), instance or\n"
    "                               encryptedstore [default: raw]\n"
    "  -h, --help                   Print help\n";
static const struct vm_args_spec spec = {"create-partition", "[OPTIONS] <PATH> <SIZE>", help,
					 opts, 1, pos_names, 2, 2};

static int on_opt(void *ctx, const struct vm_opt *o, const char *v)
{
	enum avf_partition_type *t = ctx;

	if (!strcmp(v, "raw"))
		*t = AVF_PARTITION_RAW;
	else if (!strcmp(v, "instance"))
		*t = AVF_PARTITION_ANDROID_VM_INSTANCE;
	else if (!strcmp(v, "encryptedstore"))
		*t = AVF_PARTITION_ENCRYPTEDSTORE;
	else
		return vm_usage_error(spec.cmd, spec.usage,
				      "invalid value '%s' for '--type <PARTITION_TYPE>': Invalid "
				      "partition type %s",
				      v, v);
	return 0;
}

int vm_create_partition(struct avf_client *c, const char *path, uint64_t size,
			enum avf_partition_type type)
{
	int fd;

	if (size > INT64_MAX)
		/* AVF: size.try_into() for the AIDL's i64 */
		return vm_error("out of range integral type conversion attempted");
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0)
		return vm_error_path("Failed to create", path, errno);
	if (avf_client_init_partition(c, fd, (int64_t)size, type) < 0) {
		vm_error_client("Failed to initialize partition");
		close(fd);
		unlink(path);
		return VM_EXIT_ERROR;
	}
	close(fd);
	return VM_EXIT_OK;
}

int vm_cmd_create_partition(int argc, char **argv)
{
	enum avf_partition_type type = AVF_PARTITION_RAW;
	struct avf_client *c = NULL;
	const char *pos[2];
	uint64_t size;
	int r;

	r = vm_args_parse(&spec, argc, argv, on_opt, &type, pos);
	if (r)
		return r < 0 ? VM_EXIT_OK : r;
	if (!vm_parse_u64(pos[1], UINT64_MAX, &size))
		return vm_usage_error(spec.cmd, spec.usage,
				      "invalid value '%s' for '<SIZE>': %s", pos[1],
				      vm_int_error(pos[1]));
	if (avf_client_connect(NULL, &c) < 0)
		return vm_error_client("Failed to spawn VirtualizationService");
	r = vm_create_partition(c, pos[0], size, type);
	avf_client_disconnect(c);
	return r;
}
