/* test_fuzz_hfconfig.c — the hfconfig fuzz target (tests/fuzz/fuzz_hfconfig.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_hfconfig.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("hfconfig", am_fuzz_hfconfig); }
