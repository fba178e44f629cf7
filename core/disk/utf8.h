/* SPDX-License-Identifier: Apache-2.0 */
/* utf8: strict UTF-8 decoding (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF), for GPT names and for the paths of a spec (proto3 strings are UTF-8). */
#ifndef AVF_CORE_DISK_UTF8_H
#define AVF_CORE_DISK_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The code point starting at @s (of @len > 0 bytes) into *ret; returns its length in bytes,
 * or -EILSEQ if the bytes there are not one well-formed UTF-8 sequence.
 */
int utf8_next(const unsigned char *s, size_t len, uint32_t *ret);

bool utf8_valid(const char *s, size_t len);

/* Encode @c (at most U+10FFFF, not a surrogate) into @out; returns 1..4. */
size_t utf8_put(uint32_t c, char out[4]);

#endif
