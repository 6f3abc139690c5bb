/* core/: the strict JSON parser and safetensors files (round trip, and every malformed input refused
 * with a message naming the file and the problem). */
#include "tsl_file.h"
#include "tsl_json.h"
#include "tsl_safetensors.h"
#include "tsl_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static tsl_json *parse_ok(const char *text) {
    tsl_json *v;
    TSL_TEST_OK(tsl_json_parse(text, strlen(text), "test", &v));
    return v;
}

static void parse_bad(const char *text, const char *fragment) {
    tsl_json *v = NULL;
    tsl_status st = tsl_json_parse(text, strlen(text), "in.json", &v);
    ck_assert_msg(st == TSL_ERR_FORMAT, "'%s' was accepted", text);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(tsl_error_message(), fragment) && strstr(tsl_error_message(), "in.json"),
                  "'%s': message '%s' lacks '%s'", text, tsl_error_message(), fragment);
}

START_TEST(json_parses_values) {
    tsl_json *v = parse_ok(" {\"a\": [1, -2.5e3, true, false, null], \"b\": \"x\\n\\u00e9\\ud83d\\ude00\","
                           " \"big\": 9007199254740993, \"e\": {}} ");
    ck_assert_int_eq(v->type, TSL_JSON_OBJECT);
    const tsl_json *a = tsl_json_get(v, "a");
    ck_assert_uint_eq(a->count, 5);
    ck_assert(a->items[0].is_integer && a->items[0].integer == 1);
    ck_assert(!a->items[1].is_integer);
    ck_assert_double_eq(a->items[1].number, -2500.0);
    ck_assert(a->items[2].boolean && !a->items[3].boolean);
    ck_assert_int_eq(a->items[4].type, TSL_JSON_NULL);
    ck_assert_str_eq(tsl_json_get(v, "b")->string, "x\n\xc3\xa9\xf0\x9f\x98\x80");
    ck_assert_int_eq(tsl_json_get(v, "big")->integer, 9007199254740993LL); /* exact past 2^53 */
    ck_assert_uint_eq(tsl_json_get(v, "e")->count, 0);
    ck_assert_ptr_null(tsl_json_get(v, "missing"));
    tsl_json_free(v);
}
END_TEST

START_TEST(json_rejects_malformed_input) {
    parse_bad("", "unexpected end");
    parse_bad("{\"a\":1,}", "expected a member name");
    parse_bad("[1 2]", "expected ',' or ']'");
    parse_bad("{\"a\" 1}", "expected ':'");
    parse_bad("{\"a\":1,\"a\":2}", "duplicate member name");
    parse_bad("\"abc", "unterminated string");
    parse_bad("\"a\\qb\"", "bad escape");
    parse_bad("\"\\u0000\"", "\\u0000");
    parse_bad("\"\\ud800\"", "unpaired surrogate");
    parse_bad("01", "leading zero");
    parse_bad("1e999", "bad number");
    parse_bad("tru", "bad number");
    parse_bad("{} x", "trailing characters");
    parse_bad("\"a\tb\"", "control character");
    char deep[200];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    parse_bad(deep, "nested too deeply");
}
END_TEST

static char dir[64];
static char path[128];

static void setup_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/tessl-test-formats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/w.safetensors", dir);
}

static void teardown_dir(void) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(safetensors_round_trip) {
    setup_dir();
    float w[2 * 3 * 1 * 1] = {1, 2, 3, 4, 5, 6};
    int64_t steps = 7;
    uint8_t bytes[5] = {1, 2, 3, 4, 5};
    tsl_tensor_view t[] = {
        {"conv1.weight", TSL_DTYPE_F32, 4, {2, 3, 1, 1}, w},
        {"bn1.num_batches_tracked", TSL_DTYPE_I64, 0, {0}, &steps},
        {"odd \"name\"", TSL_DTYPE_U8, 1, {5}, bytes},
        {"empty", TSL_DTYPE_F32, 2, {0, 4}, NULL},
    };
    const char *keys[] = {"arch"}, *values[] = {"resnet50"};
    TSL_TEST_OK(tsl_safetensors_write(path, t, 4, keys, values, 1));
    tsl_safetensors st;
    TSL_TEST_OK(tsl_safetensors_read(path, 1 << 20, &st));
    ck_assert_int_eq(st.n_tensors, 4);
    const tsl_st_tensor *c = tsl_safetensors_find(&st, "conv1.weight");
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(c->ndim, 4);
    ck_assert_int_eq(c->shape[1], 3);
    ck_assert_uint_eq(c->count, 6);
    ck_assert_mem_eq(c->data, w, sizeof w);
    ck_assert_uint_eq((uintptr_t)c->data % 8, 0); /* the header is padded so the data is aligned */
    const tsl_st_tensor *s = tsl_safetensors_find(&st, "bn1.num_batches_tracked");
    ck_assert_int_eq(s->ndim, 0);
    ck_assert_mem_eq(s->data, &steps, 8);
    ck_assert_mem_eq(tsl_safetensors_find(&st, "odd \"name\"")->data, bytes, 5);
    ck_assert_uint_eq(tsl_safetensors_find(&st, "empty")->count, 0);
    ck_assert_str_eq(tsl_safetensors_meta(&st, "arch"), "resnet50");
    tsl_safetensors_free(&st);
    teardown_dir();
}
END_TEST

/* Writes an 8-byte length, `header`, and `data_len` zero bytes. */
static void write_raw(const char *header, uint64_t claimed_len, size_t data_len) {
    size_t n = strlen(header);
    uint8_t *buf = calloc(8 + n + data_len, 1);
    for (int i = 0; i < 8; i++)
        buf[i] = (uint8_t)(claimed_len >> (8 * i));
    memcpy(buf + 8, header, n);
    TSL_TEST_OK(tsl_write_file_atomic(path, buf, 8 + n + data_len));
    free(buf);
}

static void expect_refused(const char *header, size_t data_len, const char *fragment) {
    write_raw(header, strlen(header), data_len);
    tsl_safetensors st;
    tsl_status status = tsl_safetensors_read(path, 1 << 20, &st);
    ck_assert_msg(status == TSL_ERR_FORMAT, "header %s was accepted", header);
    ck_assert_msg(strstr(tsl_error_message(), fragment) && strstr(tsl_error_message(), path),
                  "header %s: message '%s' lacks '%s' or the path", header, tsl_error_message(), fragment);
}

START_TEST(safetensors_refuses_malformed_files) {
    setup_dir();
    const char *ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    expect_refused("{\"a\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "disagree");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside the file");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "non-negative");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                   8, "overlap");
    expect_refused(ok, 12, "bytes after the last tensor");
    expect_refused("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_refused("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,8]}}", 8,
                   "disagree");
    expect_refused("[1]", 0, "not a JSON object");
    expect_refused("{\"a\":", 0, "JSON");
    write_raw(ok, 1ull << 40, 8); /* header length beyond the file */
    tsl_safetensors st;
    ck_assert_int_eq(tsl_safetensors_read(path, 1 << 20, &st), TSL_ERR_FORMAT);
    ck_assert(strstr(tsl_error_message(), "header length"));
    TSL_TEST_OK(tsl_write_file_atomic(path, "abc", 3));
    ck_assert_int_eq(tsl_safetensors_read(path, 1 << 20, &st), TSL_ERR_FORMAT);
    write_raw(ok, strlen(ok), 8); /* and the well-formed one is accepted */
    TSL_TEST_OK(tsl_safetensors_read(path, 1 << 20, &st));
    tsl_safetensors_free(&st);
    teardown_dir();
}
END_TEST

int main(void) {
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("formats");
    tcase_add_test(tc, json_parses_values);
    tcase_add_test(tc, json_rejects_malformed_input);
    tcase_add_test(tc, safetensors_round_trip);
    tcase_add_test(tc, safetensors_refuses_malformed_files);
    suite_add_tcase(s, tc);
    return tsl_test_main(s);
}
