/* cmd_template.c — `agentmem template` (being written). */
#include <stdio.h>

#include "cli/commands.h"

int am_cmd_template(int argc, char **argv) {
    (void)argc;
    fprintf(stderr, "agentmem %s: not available in this build yet\n", argv[0]);
    return 1;
}
