/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scn_trace_xml: text into XML (the timeline page, JUnit reports). Whatever the bytes,
 * the output is valid UTF-8 that XML 1.0 accepts: & < > " ' become entities, invalid
 * UTF-8 (overlong, surrogates, cut sequences) becomes U+FFFD, and the characters XML 1.0
 * forbids (C0 controls other than tab, newline, carriage return; DEL; U+FFFE, U+FFFF)
 * are left out.
 */
#ifndef AVF_HARNESS_SCENARIO_SCN_TRACE_XML_H
#define AVF_HARNESS_SCENARIO_SCN_TRACE_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/*
 * Write @s escaped. @attr: also tab, newline and CR as character references (so an
 * attribute value keeps them); otherwise only CR is (XML turns a literal CR into a
 * newline). @max_chars > 0: at most that many characters, the last one "…" when @s
 * was cut. Returns the number of characters written.
 */
size_t scn_xml_write(FILE *f, const char *s, bool attr, size_t max_chars);
/* The number of characters scn_xml_write would write without a limit. */
size_t scn_xml_chars(const char *s);

#endif
