/* cmd_logits.c — `agentmem logits` (being written). */
#include <stdio.h>

#include "cli/commands.h"

int am_cmd_logits(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "agentmem %s: not available in this build yet\n", argv[0]);
    return 1;
}
