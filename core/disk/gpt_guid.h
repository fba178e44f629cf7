/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gpt_guid: the GUIDs of a GPT. A struct gpt_guid holds the 16 bytes in the order the text
 * form reads (RFC 4122 order, libuuid's uuid_t); GPT stores the first three groups
 * little-endian, so gpt_guid_to_disk / gpt_guid_from_disk swap them
 * (0FC63DAF-8483-4772-8E79-3D69D8477DE4 <-> af 3d c6 0f 83 84 72 47 8e 79 3d 69 d8 47 7d e4,
 * crosvm-spec.md §4.7).
 */
#ifndef AVF_CORE_DISK_GPT_GUID_H
#define AVF_CORE_DISK_GPT_GUID_H

#include <stdbool.h>
#include <stdint.h>

struct gpt_guid {
	uint8_t b[16];
};

/* "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" plus NUL. */
#define GPT_GUID_STR_LEN 37

/* The partition type AVF gives every partition: Linux filesystem data. */
extern const struct gpt_guid gpt_guid_linux_fs;

/* Parse the 36-character text form, either case; -EINVAL (no message) if malformed. */
int gpt_guid_parse(const char *s, struct gpt_guid *ret);

/* Upper-case text form, as gdisk prints it; returns @buf. */
char *gpt_guid_format(const struct gpt_guid *g, char buf[GPT_GUID_STR_LEN]);

/* A random version-4 GUID (libuuid's uuid_generate_random). */
void gpt_guid_random(struct gpt_guid *ret);

bool gpt_guid_is_zero(const struct gpt_guid *g);

/* To and from the 16 bytes GPT stores (mixed-endian). */
void gpt_guid_to_disk(const struct gpt_guid *g, uint8_t out[16]);
void gpt_guid_from_disk(const uint8_t in[16], struct gpt_guid *ret);

#endif
