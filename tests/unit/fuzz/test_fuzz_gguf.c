/* test_fuzz_gguf.c — the gguf fuzz target (tests/fuzz/fuzz_gguf.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_gguf.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("gguf", am_fuzz_gguf); }
