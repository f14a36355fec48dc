/*
 * main.c - splinter-mirror: the program (its command line is
 * spl_mirror_main, mirror/cli.c, shared with `splinterctl mirror`).
 */
#include "splinter_mirror.h"

int main(int argc, char **argv) { return spl_mirror_main(argc, argv); }
