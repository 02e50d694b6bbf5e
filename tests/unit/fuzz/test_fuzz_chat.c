/* test_fuzz_chat.c — the chat fuzz target (tests/fuzz/fuzz_chat.c) over its corpus:
 * seeds and every reproducer of a fixed bug stay clean, normally and under
 * `make asan`. */
#include "fuzz/fuzz_chat.c"
#include "fuzz/regress.h"

int main(void) { return am_fuzz_regress("chat", am_fuzz_chat); }
