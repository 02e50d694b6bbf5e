/* test_fuzz_tok_gguf.c — the tok_gguf fuzz target (tests/fuzz/fuzz_tok_gguf.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_tok_gguf.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("tok_gguf", am_fuzz_tok_gguf); }
