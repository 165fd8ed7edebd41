/*
 * main.c - the ragd command line: serve, config, ingest, --help, --version.
 */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("ragd %s\n", RAGD_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: ragd serve|config|--help|--version\n");
    return 2;
}
