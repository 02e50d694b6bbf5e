/* cmd_mkmodel.c — `agentmem mkmodel` (being written). */
#include <stdio.h>

#include "cli/commands.h"

int am_cmd_mkmodel(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "agentmem %s: not available in this build yet\n", argv[0]);
    return 1;
}
