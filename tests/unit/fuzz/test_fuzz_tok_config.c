/* test_fuzz_tok_config.c — the tok_config fuzz target (tests/fuzz/fuzz_tok_config.c)
 * over its corpus: seeds and every reproducer of a fixed bug stay clean,
 * normally and under `make asan`. */
#include "fuzz/fuzz_tok_config.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("tok_config", am_fuzz_tok_config); }
