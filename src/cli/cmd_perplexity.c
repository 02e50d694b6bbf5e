/* cmd_perplexity.c — `agentmem perplexity` (being written). */
#include <stdio.h>

#include "cli/commands.h"

int am_cmd_perplexity(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "agentmem %s: not available in this build yet\n", argv[0]);
    return 1;
}
