/*
 * main.c - the ragd command line: `ragd serve`, `ragd config`, `ragd ingest`,
 * `ragd completion bash`, `ragd --help`, `ragd --version` (each command also
 * takes --help). Signals are blocked before any thread starts so that only
 * the main thread receives SIGINT/SIGTERM (through sigwait) and can shut the
 * server down gracefully.
 */
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "app/config.h"
#include "cli/ingest.h"
#include "ragd_revision.h" /* generated at build time (cmake/revision.cmake) */

static const char ragd__commands[] =
    "  ragd serve [--listen HOST:PORT] [--data-dir DIR] [--config FILE] [options]\n"
    "                            start the server (the settings below apply)\n"
    "  ragd config [options]     print the effective configuration: every setting,\n"
    "                            resolved, secrets redacted, with its source\n"
    "  ragd config --example [options]\n"
    "                            print an example config file with every setting\n"
    "  ragd ingest <namespace> <path...> [--url URL] [--api-key KEY] [--ext LIST]\n"
    "              [--no-wait] | --resume JOB[,JOB...]\n"
    "                            load text and JSONL files into a running server as\n"
    "                            background jobs (ragd ingest --help)\n"
    "  ragd completion bash      print a bash completion script\n"
    "                            (source <(ragd completion bash))\n"
    "  ragd --help | --version\n\n";

static void usage(FILE *out)
{
    fprintf(out, "ragd %s - AI cache and retrieval server\n\nUsage:\n%s", RAGD_VERSION,
            ragd__commands);
    config_print_help(out);
}

/* `ragd <cmd> --help` for serve and config. */
static void usage_command(const char *cmd)
{
    if (!strcmp(cmd, "serve"))
        printf("Usage: ragd serve [options]\n\nStarts the server on the embedded store "
               "(or Redis with --redis-url) and\nserves until SIGINT/SIGTERM.\n\n");
    else
        printf("Usage: ragd config [--example] [options]\n\nPrints the configuration the "
               "same options would give `ragd serve`.\n--example prints instead a config file "
               "with every setting commented out at its\ndefault (ragd.conf.example); settings "
               "given as flags appear set.\n\n");
    config_print_help(stdout);
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* Words completed after `ragd`, and the flags of serve/config from the settings. */
static int cmd_completion(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "bash") != 0) {
        fprintf(stderr, "usage: ragd completion bash\n");
        return 2;
    }
    printf("# bash completion for ragd: source <(ragd completion bash)\n"
           "_ragd() {\n"
           "    local cur=${COMP_WORDS[COMP_CWORD]}\n"
           "    if [ \"$COMP_CWORD\" -eq 1 ]; then\n"
           "        COMPREPLY=($(compgen -W 'serve config ingest completion --help --version' "
           "-- \"$cur\"))\n"
           "        return\n"
           "    fi\n"
           "    case ${COMP_WORDS[1]} in\n"
           "    serve|config)\n"
           "        case ${COMP_WORDS[COMP_CWORD-1]} in\n"
           "        --data-dir|--model-dir|--config) COMPREPLY=($(compgen -d -- \"$cur\")); "
           "return ;;\n"
           "        esac\n"
           "        COMPREPLY=($(compgen -W '--help --config ");
    config_print_flags(stdout);
    printf("' -- \"$cur\")) ;;\n"
           "    ingest) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
           "    completion) COMPREPLY=($(compgen -W 'bash' -- \"$cur\")) ;;\n"
           "    esac\n"
           "}\n"
           "complete -F _ragd ragd\n");
    return 0;
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

/* `ragd config [--example] [options]`: --example prints ragd.conf.example
 * (settings given as flags appear set) instead of the effective values. */
static int cmd_config(int argc, char **argv)
{
    bool example = argc > 0 && !strcmp(argv[0], "--example");
    ragd_config cfg;
    if (load_config(&cfg, argc - example, argv + example))
        return 2;
    if (example)
        config_print_example(&cfg, stdout);
    else
        config_print(&cfg, stdout);
    config_free(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    /* Threads that are not joined (a warm-up's pump) may still hash through
     * OpenSSL while the process exits: OpenSSL must not tear itself down then. */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("ragd %s (revision %s)\n", RAGD_VERSION, RAGD_REVISION);
        return 0;
    }
    if ((!strcmp(argv[1], "serve") || !strcmp(argv[1], "config")) &&
        wants_help(argc - 2, argv + 2)) {
        usage_command(argv[1]);
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "config"))
        return cmd_config(argc - 2, argv + 2);
    if (!strcmp(argv[1], "completion"))
        return cmd_completion(argc - 2, argv + 2);
    if (!strcmp(argv[1], "ingest"))
        return ingest_main(argc - 2, argv + 2);
    fprintf(stderr, "ragd: unknown command '%s' (see ragd --help)\n", argv[1]);
    return 2;
}
