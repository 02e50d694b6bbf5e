/* test_wire.c — SSE framing, error bodies, ids, sizes, host checks. */
#include <string.h>

#include "server/server_impl.h"
#include "test_util.h"


static void test_sse(void) {
    am_buf b = {0};
    json_t *j = json_pack("{s:i}", "a", 1);
    am_sse_data(&b, j);
    CHECK(!strcmp(b.p, "data: {\"a\":1}\n\n"));
    b.n = 0;
    am_sse_event(&b, "message_stop", j);
    CHECK(!strcmp(b.p, "event: message_stop\ndata: {\"a\":1}\n\n"));
    b.n = 0;
    am_sse_done(&b);
    CHECK(!strcmp(b.p, "data: [DONE]\n\n"));
    json_decref(j);
    am_buf_free(&b);
}

static void test_errors(void) {
    am_http_err e;
    am_http_errf(&e, 400, "messages", "bad %s", "x");
    json_t *o = am_openai_error_json(&e);
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(o, "error"), "param")), "messages"));
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(o, "error"), "type")), "invalid_request_error"));
    CHECK(json_is_null(json_object_get(json_object_get(o, "error"), "code")));
    json_decref(o);
    json_t *a = am_anthropic_error_json(&e);
    CHECK(!strcmp(json_string_value(json_object_get(a, "type")), "error"));
    CHECK(!strcmp(json_string_value(json_object_get(json_object_get(a, "error"), "message")), "bad x"));
    json_decref(a);
}

static void test_body(void) {
    am_http_err e;
    CHECK(am_json_parse_body("{", 1, &e) == NULL && e.status == 400);
    CHECK(am_json_parse_body("[1]", 3, &e) == NULL && e.status == 400);
    char deep[200];
    for (int i = 0; i < 65; i++) deep[i] = '[';
    deep[65] = 0;
    CHECK(am_json_text_depth(deep, 65) == 65);
    CHECK(am_json_parse_body(deep, 65, &e) == NULL);
    CHECK(am_json_text_depth("{\"a\":\"[[[[\"}", 11) == 1);
    json_t *j = am_json_parse_body("{\"a\":1}", 7, &e);
    CHECK(j != NULL);
    json_decref(j);
}

static void test_misc(void) {
    CHECK(am_srv_agent_id_ok("a.b_c-1"));
    CHECK(!am_srv_agent_id_ok(""));
    CHECK(!am_srv_agent_id_ok("a/b"));
    char big[200];
    memset(big, 'a', 129);
    big[129] = 0;
    CHECK(!am_srv_agent_id_ok(big));
    big[128] = 0;
    CHECK(am_srv_agent_id_ok(big));
    CHECK(am_parse_size("512M") == 512ll << 20);
    CHECK(am_parse_size("4G") == 4ll << 30);
    CHECK(am_parse_size("1024K") == 1024ll << 10);
    CHECK(am_parse_size("123") == 123);
    CHECK(am_parse_size("12X") == -1);
    CHECK(am_parse_size("") == -1);
    CHECK(am_ct_streq("abc", "abc"));
    CHECK(!am_ct_streq("abc", "abd"));
    CHECK(!am_ct_streq("abc", "abcd"));
    CHECK(am_host_is_loopback("localhost:8080"));
    CHECK(am_host_is_loopback("127.0.0.1"));
    CHECK(am_host_is_loopback("[::1]:1"));
    CHECK(!am_host_is_loopback("evil.com"));
    CHECK(!am_host_is_loopback("localhost.evil.com"));
    char id[64];
    am_make_id(id, sizeof id, "chatcmpl-");
    CHECK(!strncmp(id, "chatcmpl-", 9) && strlen(id) > 20);
}

int main(void) {
    AM_TEST_RUN(test_sse);
    AM_TEST_RUN(test_errors);
    AM_TEST_RUN(test_body);
    AM_TEST_RUN(test_misc);
    return am_test_failures ? 1 : 0;
}
