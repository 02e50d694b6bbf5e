/* test_fuzz_hf.c — the hf fuzz target (tests/fuzz/fuzz_hf.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_hf.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("hf", am_fuzz_hf); }
