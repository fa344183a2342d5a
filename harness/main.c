/* main.c — the hippodrome binary: every verb lives in harness/cli.c and verb_*.c.
 * Build: make; run: build/hippodrome --help. */
#include "cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }
