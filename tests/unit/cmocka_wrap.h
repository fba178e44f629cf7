/* SPDX-License-Identifier: Apache-2.0 */
/* cmocka needs these before its header; every test includes this instead. */
#ifndef AVF_TESTS_CMOCKA_WRAP_H
#define AVF_TESTS_CMOCKA_WRAP_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#endif
