/*
 * test_json.c — am_json_loadb reads what Python's json wrote: integers past
 * 64 bits become reals (the bug: "too big integer" refusing Meta's real
 * tokenizer_config.json), while integers that fit stay integers and strings
 * holding digits are untouched.
 */
#include <string.h>

#include "base/json.h"
#include "test_util.h"

static void test_big_ints(void) {
    const char *t = "{\"model_max_length\": 1000000000000000019884624838656, \"n\": 42, \"neg\": -99999999999999999999,"
                    " \"s\": \"1000000000000000019884624838656\", \"a\": [1, 18446744073709551616]}";
    json_error_t je;
    CHECK(json_loadb(t, strlen(t), 0, &je) == NULL); /* what jansson alone does */
    json_t *j = am_json_loadb(t, strlen(t), 0, &je);
    CHECKF(j != NULL, "%s", je.text);
    if (!j) return;
    json_t *m = json_object_get(j, "model_max_length");
    CHECK(json_is_real(m) && json_real_value(m) > 9.9e29 && json_real_value(m) < 1.1e30);
    CHECK(json_is_integer(json_object_get(j, "n")) && json_integer_value(json_object_get(j, "n")) == 42);
    CHECK(json_is_real(json_object_get(j, "neg")) && json_real_value(json_object_get(j, "neg")) < -9e19);
    CHECK(!strcmp(json_string_value(json_object_get(j, "s")), "1000000000000000019884624838656"));
    json_t *a = json_object_get(j, "a");
    CHECK(json_is_integer(json_array_get(a, 0)) && json_is_real(json_array_get(a, 1)));
    json_decref(j);
}

static void test_real_file(void) {
    char *path = am_test_fixture("tokenizers/llama3/tokenizer_config.json");
    size_t n;
    char *text = am_test_read_file(path, &n);
    json_error_t je;
    json_t *j = am_json_loadb(text, n, JSON_REJECT_DUPLICATES, &je);
    CHECKF(j != NULL, "%s", je.text);
    CHECK(j && json_is_string(json_object_get(j, "chat_template")));
    json_decref(j);
    free(text);
    free(path);
}

static void test_still_strict(void) {
    const char *bad[] = {"{\"a\": 1", "{\"a\": 01}", "{\"a\": -}", "[1,]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECKF(am_json_loadb(bad[i], strlen(bad[i]), 0, NULL) == NULL, "%s accepted", bad[i]);
}

int main(void) {
    AM_TEST_RUN(test_big_ints);
    AM_TEST_RUN(test_real_file);
    AM_TEST_RUN(test_still_strict);
    AM_TEST_EXIT();
}
