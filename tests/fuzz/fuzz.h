/* SPDX-License-Identifier: Apache-2.0 */
/* What every libFuzzer target here shares. */
#ifndef RAMPART_TESTS_FUZZ_H
#define RAMPART_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: a broken one aborts, which the
 * fuzzer reports with the input that broke it. */
#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#endif /* RAMPART_TESTS_FUZZ_H */
