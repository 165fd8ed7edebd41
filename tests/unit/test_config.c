/*
 * test_config.c - settings precedence (flag > env > file > default), parsing of
 * sizes, enums and decimals, refusal of bad values by name, URL redaction,
 * config files with comments, the generated example file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/config.h"
#include "testing.h"

TEST(defaults_are_the_seed_values)
{
    ragd_config c;
    config_init(&c);
    ASSERT_EQ_STR(c.listen, "127.0.0.1:8080");
    ASSERT_EQ_INT(c.cache_default_ttl, 3600);
    ASSERT_EQ_INT(c.cache_embedding_ttl, 604800);
    ASSERT_EQ_INT(c.cache_response_ttl, 21600);
    ASSERT_EQ_INT(c.cache_compression_threshold, 1024);
    config_free(&c);
}

TEST(precedence_flag_env_file_default)
{
    char path[] = "/tmp/ragd-cfg-XXXXXX";
    int fd = mkstemp(path);
    const char *json = "{\"cache_default_ttl\": 10, \"key_prefix\": \"file\", \"listen\": \"127.0.0.1:1\"}";
    ASSERT_TRUE(write(fd, json, strlen(json)) == (ssize_t)strlen(json));
    close(fd);
    setenv("CACHE_DEFAULT_TTL", "20", 1);
    char *argv[] = { "--config", path, "--listen", "127.0.0.1:3", "--max-bytes=64MiB" };
    ragd_config c;
    config_init(&c);
    ragd_error err;
    ASSERT_OK(config_load(&c, 5, argv, &err));
    ASSERT_EQ_INT(c.cache_default_ttl, 20);          /* env over file */
    ASSERT_EQ_STR(c.key_prefix, "file");             /* file over default */
    ASSERT_EQ_STR(c.listen, "127.0.0.1:3");          /* flag over file */
    ASSERT_EQ_INT(c.store_max_bytes, 64 * 1048576);  /* sizes with units */
    config_free(&c);
    unsetenv("CACHE_DEFAULT_TTL");
    unlink(path);
}

static int load_one(const char *env, const char *val, ragd_error *err)
{
    ragd_config c;
    config_init(&c);
    setenv(env, val, 1);
    int rc = config_load(&c, 0, NULL, err);
    unsetenv(env);
    config_free(&c);
    return rc;
}

TEST(bad_values_are_refused_by_name)
{
    ragd_error err;
    ASSERT_EQ_INT(load_one("CACHE_DEFAULT_TTL", "abc", &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "CACHE_DEFAULT_TTL") != NULL);
    ASSERT_EQ_INT(load_one("CACHE_DEFAULT_TTL", "-1", &err), RAGD_EINVAL);
    ASSERT_EQ_INT(load_one("RAGD_STORE_MAX_BYTES", "12 parsecs", &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "RAGD_STORE_MAX_BYTES") != NULL);
    ASSERT_EQ_INT(load_one("RAGD_STORE_FSYNC", "sometimes", &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "always|everysec|no") != NULL);
    ASSERT_EQ_INT(load_one("RAGD_KEY_PREFIX", "a:b", &err), RAGD_EINVAL);
    ASSERT_EQ_INT(load_one("RAGD_KEY_PREFIX", "ok_prefix-1.2", &err), 0);
    char *argv[] = { "--bogus", "1" };
    ragd_config c;
    config_init(&c);
    ASSERT_EQ_INT(config_load(&c, 2, argv, &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "--bogus") != NULL);
    config_free(&c);
}

TEST(float_settings_are_checked_at_load)
{
    ragd_error err;
    ragd_config c;
    config_init(&c);
    ASSERT_NEAR(c.route_threshold, 0.35, 1e-12);
    ASSERT_NEAR(c.semantic_threshold, 0.85, 1e-12);
    ASSERT_NEAR(c.semantic_max_temperature, 0.3, 1e-12);
    config_free(&c);
    ASSERT_EQ_INT(load_one("RAGD_ROUTE_THRESHOLD", "high", &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "RAGD_ROUTE_THRESHOLD") != NULL);
    ASSERT_EQ_INT(load_one("RAGD_ROUTE_THRESHOLD", "1.5", &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "[-1, 1]") != NULL);
    ASSERT_EQ_INT(load_one("RAGD_ROUTE_THRESHOLD", "nan", &err), RAGD_EINVAL);
    ASSERT_EQ_INT(load_one("RAGD_ROUTE_THRESHOLD", "", &err), RAGD_EINVAL);
    ASSERT_EQ_INT(load_one("RAGD_ROUTE_THRESHOLD", "-0.2", &err), 0);
    ASSERT_EQ_INT(load_one("RAGD_SEMANTIC_THRESHOLD", "1.01", &err), RAGD_EINVAL);
    ASSERT_TRUE(strstr(err.msg, "RAGD_SEMANTIC_THRESHOLD") != NULL);
    ASSERT_EQ_INT(load_one("RAGD_SEMANTIC_MAX_TEMPERATURE", "0.5x", &err), RAGD_EINVAL);
    /* A JSON number in the config file keeps its fraction. */
    char path[] = "/tmp/ragd-cfg-XXXXXX";
    int fd = mkstemp(path);
    const char *json = "{\"route_threshold\": 0.55, \"semantic_max_temperature\": 1.5}";
    ASSERT_TRUE(write(fd, json, strlen(json)) == (ssize_t)strlen(json));
    close(fd);
    char *argv[] = { "--config", path };
    config_init(&c);
    int rc = config_load(&c, 2, argv, &err);
    double route = c.route_threshold, temp = c.semantic_max_temperature;
    config_free(&c);
    ASSERT_OK(rc);
    ASSERT_NEAR(route, 0.55, 1e-12);
    ASSERT_NEAR(temp, 1.5, 1e-12);
    unlink(path);
}

TEST(urls_are_redacted)
{
    char out[256];
    config_redact_url("redis://app:s3cret@host:6379/2", out, sizeof out);
    ASSERT_EQ_STR(out, "redis://app:***@host:6379/2");
    config_redact_url("rediss://:pw@host:6380", out, sizeof out);
    ASSERT_EQ_STR(out, "rediss://:***@host:6380");
    config_redact_url("redis://host:6379/0", out, sizeof out);
    ASSERT_EQ_STR(out, "redis://host:6379/0");
}

static void strip(const char *in, const char *want)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", in);
    config_strip_comments(buf, strlen(buf));
    ASSERT_EQ_STR(buf, want);
}

TEST(comments_and_trailing_commas_are_blanked_outside_strings)
{
    strip("{\"a\": 1, // one\n}", "{\"a\": 1        \n}");
    strip("// head\n{\"u\": \"redis://h:1/0\",}", "       \n{\"u\": \"redis://h:1/0\" }");
    strip("[1,\n  // last\n]", "[1 \n         \n]");
    strip("{\"q\": \"a\\\"//b,}\"}", "{\"q\": \"a\\\"//b,}\"}");   /* inside a string */
    strip("{\"a\": 1,,}", "{\"a\": 1, }");                          /* still malformed */
    strip("{\"a\": 1, \"b\": 2}", "{\"a\": 1, \"b\": 2}");
}

static int load_text(const char *text, ragd_config *c, ragd_error *err)
{
    char path[] = "/tmp/ragd-cfg-XXXXXX";
    int fd = mkstemp(path);
    ssize_t w = write(fd, text, strlen(text));
    close(fd);
    char *argv[] = { "--config", path };
    config_init(c);
    int rc = w == (ssize_t)strlen(text) ? config_load(c, 2, argv, err) : -1;
    unlink(path);
    return rc;
}

/* The example with every setting left commented out gives the defaults; with
 * every `// "key"` line uncommented, every setting comes from the file at its
 * default; a flag given to the generator appears set. */
TEST(example_file_loads_commented_and_uncommented)
{
    char *argv[] = { "--data-dir", "/var/lib/ragd" };
    ragd_config g, c;
    ragd_error err;
    config_init(&g);
    ASSERT_OK(config_load(&g, 2, argv, &err));
    char *text = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&text, &n);
    config_print_example(&g, f);
    fclose(f);
    config_free(&g);
    ASSERT_OK(load_text(text, &c, &err));
    ASSERT_EQ_STR(c.data_dir, "/var/lib/ragd");
    ASSERT_EQ_INT(c.cache_default_ttl, 3600);
    ASSERT_EQ_STR(c.sources[0], "default");
    config_free(&c);
    for (char *p = strstr(text, "    // \""); p; p = strstr(p, "    // \""))
        memcpy(p + 4, "   ", 3);
    ASSERT_OK(load_text(text, &c, &err));
    size_t from_file = 0;
    for (size_t i = 0; i < sizeof c.sources / sizeof c.sources[0] && c.sources[i]; i++)
        from_file += !strcmp(c.sources[i], "file");
    ASSERT_EQ_STR(c.listen, "127.0.0.1:8080");
    ASSERT_NEAR(c.route_threshold, 0.35, 1e-12);
    config_free(&c);
    config_init(&c);
    size_t total = 0;
    for (size_t i = 0; i < sizeof c.sources / sizeof c.sources[0] && c.sources[i]; i++)
        total++;
    config_free(&c);
    ASSERT_EQ_INT(from_file, total);
    free(text);
}

int main(void)
{
    RUN(defaults_are_the_seed_values);
    RUN(precedence_flag_env_file_default);
    RUN(bad_values_are_refused_by_name);
    RUN(float_settings_are_checked_at_load);
    RUN(urls_are_redacted);
    RUN(comments_and_trailing_commas_are_blanked_outside_strings);
    RUN(example_file_loads_commented_and_uncommented);
    return TEST_REPORT();
}
