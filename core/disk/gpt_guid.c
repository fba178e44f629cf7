/* SPDX-License-Identifier: Apache-2.0 */
/* gpt_guid: text, random and on-disk forms of GPT GUIDs (gpt_guid.h). */
#include "disk/gpt_guid.h"

#include <errno.h>
#include <string.h>

#include <uuid/uuid.h>

const struct gpt_guid gpt_guid_linux_fs = {{0x0f, 0xc6, 0x3d, 0xaf, 0x84, 0x83, 0x47, 0x72, 0x8e,
					    0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4}};

int gpt_guid_parse(const char *s, struct gpt_guid *ret)
{
	uuid_t u;

	/* the length first: nothing may follow the 36 characters */
	if (!s || strlen(s) != GPT_GUID_STR_LEN - 1 || uuid_parse(s, u) < 0)
		return -EINVAL;
	memcpy(ret->b, u, 16);
	return 0;
}

char *gpt_guid_format(const struct gpt_guid *g, char buf[GPT_GUID_STR_LEN])
{
	uuid_unparse_upper(g->b, buf);
	return buf;
}

void gpt_guid_random(struct gpt_guid *ret)
{
	uuid_t u;

	uuid_generate_random(u);
	memcpy(ret->b, u, 16);
}

bool gpt_guid_is_zero(const struct gpt_guid *g)
{
	for (int i = 0; i < 16; i++)
		if (g->b[i])
			return false;
	return true;
}

/* Byte i of the disk form comes from byte swap[i] of the text form (and back: it is its own
 * inverse). */
static const uint8_t swap[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

void gpt_guid_to_disk(const struct gpt_guid *g, uint8_t out[16])
{
	for (int i = 0; i < 16; i++)
		out[i] = g->b[swap[i]];
}

void gpt_guid_from_disk(const uint8_t in[16], struct gpt_guid *ret)
{
	for (int i = 0; i < 16; i++)
		ret->b[i] = in[swap[i]];
}
