/* SPDX-License-Identifier: Apache-2.0 */
/* scn_trace_xml: escaping for XML 1.0; contract in scn_trace_xml.h. */
#include "scn_trace_xml.h"

#include <stdint.h>
#include <string.h>

#define REPLACEMENT 0xfffd

/* Decode one character at @s; its length (>= 1), the code point in *ret (U+FFFD if invalid). */
static size_t decode(const unsigned char *s, uint32_t *ret)
{
	static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	uint32_t c = s[0];
	size_t n;

	if (c < 0x80) {
		*ret = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0)
		n = 2, c &= 0x1f;
	else if ((c & 0xf0) == 0xe0)
		n = 3, c &= 0x0f;
	else if ((c & 0xf8) == 0xf0)
		n = 4, c &= 0x07;
	else
		goto bad;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the NUL */
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*ret = c;
	return n;
bad:
	*ret = REPLACEMENT;
	return 1;
}

static bool allowed(uint32_t c)
{
	if (c < 0x20)
		return c == '\t' || c == '\n' || c == '\r';
	return c != 0x7f && c != 0xfffe && c != 0xffff;
}

static void put(FILE *f, const unsigned char *s, size_t n, uint32_t c, bool attr)
{
	switch (c) {
	case '&': fputs("&amp;", f); return;
	case '<': fputs("&lt;", f); return;
	case '>': fputs("&gt;", f); return;
	case '"': fputs("&quot;", f); return;
	case '\'': fputs("&#39;", f); return;
	case '\r': fputs("&#13;", f); return;
	case '\t':
	case '\n':
		if (attr) {
			fprintf(f, "&#%u;", (unsigned)c);
			return;
		}
		break;
	case REPLACEMENT: fputs("\xef\xbf\xbd", f); return;
	}
	fwrite(s, 1, n, f);
}

size_t scn_xml_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;

	while (*p) {
		uint32_t c;

		p += decode(p, &c);
		chars += allowed(c);
	}
	return chars;
}

size_t scn_xml_write(FILE *f, const char *s, bool attr, size_t max_chars)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;
	bool cut = max_chars && scn_xml_chars(s) > max_chars;

	while (*p) {
		uint32_t c;
		size_t n = decode(p, &c);

		if (allowed(c)) {
			if (cut && chars + 1 == max_chars) {
				fputs("\xe2\x80\xa6", f); /* … */
				return chars + 1;
			}
			put(f, p, n, c, attr);
			chars++;
		}
		p += n;
	}
	return chars;
}
