/*
 * fuzz_config.c - libFuzzer harness for the configuration and URL parsers:
 * the input is tried as a Redis/store URL (redis_url_parse, rsent_url_parse for
 * redis+sentinel://, the redaction of secrets for logs), as a listen address (http_parse_listen), and as a config
 * file (config_load, then the sections read by auth and rate limits against a
 * real LMDB store). Bad input must give an error naming it, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "auth/auth.h"
#include "auth/ratelimit.h"
#include "fuzz_util.h"
#include "http/server.h"
#include "store/redis_sentinel.h"

static store_t *store;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char dir[] = "/tmp/ragd-fuzz-config-XXXXXX";
    if (!mkdtemp(dir))
        exit(1);
    store_config sc;
    store_config_default(&sc);
    sc.data_dir = dir;
    sc.map_size = 64ull << 20;
    ragd_error err;
    if (store_open(&sc, &store, &err) != 0) {
        fprintf(stderr, "fuzz_config: store: %s\n", err.msg);
        exit(1);
    }
    unsetenv("RAGD_CONFIG");
    return 0;
}

static void fuzz__as_url(const char *s)
{
    redis_url u;
    ragd_error err;
    if (redis_url_parse(s, &u, &err) == 0) {
        if (u.port < 0 || u.port > 65535 || !u.host[0])
            abort();
        redis_url_free(&u);
    }
    rsent_url su;
    if (rsent_url_parse(s, &su, &err) == 0) {
        if (su.n < 1 || su.n > RSENT_MAX || !su.master[0])
            abort();
        for (int i = 0; i < su.n; i++)
            if (su.sentinels[i].port < 1 || su.sentinels[i].port > 65535)
                abort();
        rsent_url_free(&su);
    }
    char red[512];
    config_redact_url(s, red, sizeof red);
    char host[256];
    int port;
    if (http_parse_listen(s, host, sizeof host, &port) == 0 && (port < 0 || port > 65535))
        abort();
}

static void fuzz__as_file(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0)
        return;
    char *argv[] = { "--config", path };
    ragd_config cfg;
    config_init(&cfg);
    ragd_error err;
    if (config_load(&cfg, 2, argv, &err) == 0) {
        FILE *null = fopen("/dev/null", "w");
        config_print(&cfg, null);
        fclose(null);
        /* The sections as app.c hands them to auth and rate limits. */
        const cJSON *f = cfg.file;
        auth_opts ao = { .admin_key = cfg.admin_key,
                         .api_keys = cJSON_GetObjectItemCaseSensitive(f, "api_keys"),
                         .jwt = cJSON_GetObjectItemCaseSensitive(f, "jwt"),
                         .section = cJSON_GetObjectItemCaseSensitive(f, "auth") };
        ratelimit_opts ro = { .rules = cJSON_GetObjectItemCaseSensitive(f, "rate_limits") };
        auth_t *a = NULL;
        if (auth_create(&ao, store, &a, &err) == 0)
            auth_destroy(a);
        ratelimit_t *rl = NULL;
        if (ratelimit_create(&ro, store, &rl, &err) == 0)
            ratelimit_destroy(rl);
    }
    config_free(&cfg);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    fuzz__as_url(s);
    free(s);
    fuzz__as_file(data, size);
    return 0;
}
