/*
 * test_safetensors.c - the safetensors reader on files written by the test:
 * a valid file (F32/F16/BF16 conversion, lookup, shape checks) and corrupted
 * ones (truncated data, bad header length, bad JSON, bad dtype, bad offsets).
 */
#include "embed/safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testing.h"

static char g_path[256];

/* Write a safetensors file with the given header JSON and data bytes. */
static void write_file(const char *header, const void *data, size_t data_len, size_t cut)
{
    FILE *fp = fopen(g_path, "wb");
    uint64_t hl = strlen(header);
    uint8_t le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (uint8_t)(hl >> (8 * i));
    size_t total = 8 + hl + data_len;
    uint8_t *buf = malloc(total);
    memcpy(buf, le, 8);
    memcpy(buf + 8, header, hl);
    memcpy(buf + 8 + hl, data, data_len);
    fwrite(buf, 1, total - cut, fp);
    fclose(fp);
    free(buf);
}

static const char *k_header =
    "{\"__metadata__\":{\"format\":\"pt\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
    "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]}}";

static void make_data(uint8_t data[32])
{
    float a[6] = {1, 2, 3, -4, 5.5f, 6};
    memcpy(data, a, 24);
    uint16_t h[2] = {0x3c00 /* 1.0 */, 0xc100 /* -2.5 */};
    memcpy(data + 24, h, 4);
    uint16_t b[2] = {0x3f80 /* 1.0 */, 0x4040 /* 3.0 */};
    memcpy(data + 28, b, 4);
}

TEST(valid_file)
{
    uint8_t data[32];
    make_data(data);
    write_file(k_header, data, 32, 0);
    safetensors_file *f = NULL;
    ragd_error err;
    ASSERT_OK(safetensors_open(g_path, &f, &err));
    ASSERT_EQ_INT(safetensors_count(f), 3);
    const safetensors_tensor *t = safetensors_find(f, "a");
    ASSERT_TRUE(t != NULL);
    ASSERT_EQ_INT(t->ndim, 2);
    ASSERT_EQ_INT(t->shape[1], 3);
    ASSERT_EQ_INT(t->numel, 6);
    ASSERT_TRUE(safetensors_find(f, "zz") == NULL);
    float out[6];
    ASSERT_OK(safetensors_read_f32(f, "a", 2, (int64_t[]){2, 3}, out, &err));
    ASSERT_NEAR(out[4], 5.5, 0);
    ASSERT_OK(safetensors_read_f32(f, "h", 1, (int64_t[]){2}, out, &err));
    ASSERT_NEAR(out[0], 1.0, 0);
    ASSERT_NEAR(out[1], -2.5, 0);
    ASSERT_OK(safetensors_read_f32(f, "b", 1, (int64_t[]){2}, out, &err));
    ASSERT_NEAR(out[1], 3.0, 0);
    ASSERT_EQ_INT(safetensors_read_f32(f, "a", 2, (int64_t[]){3, 2}, out, &err), RAGD_EFORMAT);
    ASSERT_TRUE(strstr(err.msg, "expected [3,2]") != NULL);
    ASSERT_EQ_INT(safetensors_read_f32(f, "nope", 1, (int64_t[]){1}, out, &err), RAGD_ENOTFOUND);
    safetensors_close(f);
}

static int open_fails(const char *want_in_msg)
{
    safetensors_file *f = NULL;
    ragd_error err;
    ragd_error_clear(&err);
    int rc = safetensors_open(g_path, &f, &err);
    if (rc == 0) {
        safetensors_close(f);
        return 0;
    }
    if (rc != RAGD_EFORMAT || !strstr(err.msg, want_in_msg)) {
        fprintf(stderr, "  rc %d msg '%s' (wanted '%s')\n", rc, err.msg, want_in_msg);
        return 0;
    }
    return 1;
}

TEST(truncated_data)
{
    uint8_t data[32];
    make_data(data);
    write_file(k_header, data, 32, 5);
    ASSERT_TRUE(open_fails("truncated"));
}

TEST(truncated_header)
{
    uint8_t data[32];
    make_data(data);
    write_file(k_header, data, 32, 32 + 40);
    ASSERT_TRUE(open_fails("header length"));
}

TEST(tiny_file)
{
    FILE *fp = fopen(g_path, "wb");
    fwrite("abc", 1, 3, fp);
    fclose(fp);
    ASSERT_TRUE(open_fails("too short"));
}

TEST(bad_json)
{
    uint8_t data[32] = {0};
    write_file("{\"a\":{\"dtype\":\"F32\",", data, 32, 0);
    ASSERT_TRUE(open_fails("not a JSON object"));
}

TEST(bad_dtype)
{
    uint8_t data[8] = {0};
    write_file("{\"a\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,8]}}", data, 8, 0);
    ASSERT_TRUE(open_fails("unknown dtype"));
}

TEST(size_mismatch)
{
    uint8_t data[8] = {0};
    write_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", data, 8, 0);
    ASSERT_TRUE(open_fails("data bytes for 3 elements"));
}

TEST(missing_fields)
{
    uint8_t data[8] = {0};
    write_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", data, 8, 0);
    ASSERT_TRUE(open_fails("data_offsets"));
}

TEST(missing_file)
{
    safetensors_file *f = NULL;
    ragd_error err;
    ASSERT_EQ_INT(safetensors_open("/nonexistent/x.safetensors", &f, &err), RAGD_ENOTFOUND);
}

int main(void)
{
    snprintf(g_path, sizeof g_path, "/tmp/ragd_test_st_%d.safetensors", (int)getpid());
    RUN(valid_file);
    RUN(truncated_data);
    RUN(truncated_header);
    RUN(tiny_file);
    RUN(bad_json);
    RUN(bad_dtype);
    RUN(size_mismatch);
    RUN(missing_fields);
    RUN(missing_file);
    unlink(g_path);
    return TEST_REPORT();
}
