/* main.c - the kaiwu command: dispatches to one cmd_*.c per subcommand. */
#include "kaiwu.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("kaiwu %s\n", KW_VERSION);
    return 0;
}
