/* SPDX-License-Identifier: Apache-2.0 */
/* utf8: strict UTF-8 (utf8.h). */
#include "disk/utf8.h"

#include <errno.h>

int utf8_next(const unsigned char *s, size_t len, uint32_t *ret)
{
	uint32_t c = s[0], min;
	size_t n;

	if (c < 0x80)
		n = 0, min = 0;
	else if ((c & 0xE0) == 0xC0)
		n = 1, min = 0x80, c &= 0x1F;
	else if ((c & 0xF0) == 0xE0)
		n = 2, min = 0x800, c &= 0x0F;
	else if ((c & 0xF8) == 0xF0)
		n = 3, min = 0x10000, c &= 0x07;
	else
		return -EILSEQ;
	if (n >= len)
		return -EILSEQ;
	for (size_t i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -EILSEQ;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -EILSEQ;
	*ret = c;
	return (int)n + 1;
}

bool utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t c;

	while (len > 0) {
		int k = utf8_next(p, len, &c);

		if (k < 0)
			return false;
		p += k;
		len -= (size_t)k;
	}
	return true;
}

size_t utf8_put(uint32_t c, char out[4])
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3F));
	out[2] = (char)(0x80 | (c >> 6 & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}
