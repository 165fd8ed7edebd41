/*
 * main.c - the ragd command line: `ragd serve`, `ragd config`, `ragd --help`,
 * `ragd --version`. Signals are blocked before any thread starts so that only
 * the main thread receives SIGINT/SIGTERM (through sigwait) and can shut the
 * server down gracefully.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/config.h"
#include "cli/ingest.h"

static void usage(FILE *out)
{
    fprintf(out,
            "ragd %s - AI cache and retrieval server\n\n"
            "Usage:\n"
            "  ragd serve [--listen HOST:PORT] [--data-dir DIR] [--config FILE] [options]\n"
            "  ragd config [options]     print the effective configuration (secrets redacted)\n"
            "  ragd ingest <namespace> <path...> [--url URL] [--api-key KEY] [--ext LIST]\n"
            "              [--no-wait] | --resume JOB[,JOB...]\n"
            "                            load text and JSONL files into a running server as\n"
            "                            background jobs (ragd ingest --help)\n"
            "  ragd --help | --version\n\n",
            RAGD_VERSION);
    config_print_help(out);
}

static int load_config(ragd_config *cfg, int argc, char **argv)
{
    ragd_error err;
    config_init(cfg);
    if (config_load(cfg, argc, argv, &err)) {
        fprintf(stderr, "ragd: %s\n", err.msg);
        return 2;
    }
    return 0;
}

static int cmd_serve(int argc, char **argv)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    app_t app;
    memset(&app, 0, sizeof app);
    if (load_config(&app.cfg, argc, argv))
        return 2;
    ragd_error err;
    if (app_open(&app, &err) || app_start(&app, &err)) {
        fprintf(stderr, "ragd: %s\n", err.msg);
        app_close(&app);
        config_free(&app.cfg);
        return 1;
    }
    app_wait_for_signal(&app);
    app_close(&app);
    config_free(&app.cfg);
    return 0;
}

static int cmd_config(int argc, char **argv)
{
    ragd_config cfg;
    if (load_config(&cfg, argc, argv))
        return 2;
    config_print(&cfg, stdout);
    config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ragd %s\n", RAGD_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "config"))
        return cmd_config(argc - 2, argv + 2);
    if (!strcmp(argv[1], "ingest"))
        return ingest_main(argc - 2, argv + 2);
    fprintf(stderr, "ragd: unknown command '%s' (see ragd --help)\n", argv[1]);
    return 2;
}
