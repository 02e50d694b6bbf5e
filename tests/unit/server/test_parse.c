/* test_parse.c — request bodies: every field's type error is a 400 naming the field. */
#include <string.h>

#include "server/server_impl.h"
#include "test_util.h"

static int chat(const char *body, am_http_err *e, am_gen_parsed *p) {
    json_t *j = json_loads(body, 0, NULL);
    if (!j) return -2;
    int r = am_parse_openai_chat(j, p, e);
    json_decref(j);
    return r;
}

static void expect_field(const char *body, const char *field) {
    am_http_err e;
    am_gen_parsed p;
    int r = chat(body, &e, &p);
    CHECKF(r == -1 && e.status == 400 && !strcmp(e.param, field), "%s -> r=%d param=%s", body, r, e.param);
    if (r == 0) am_gen_parsed_free(&p);
}

#define M "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"

static void test_chat_ok(void) {
    am_http_err e;
    am_gen_parsed p;
    int r = chat("{" M ",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"max_tokens\":7,"
                 "\"temperature\":0,\"stop\":[\"a\",\"b\"],\"seed\":3,\"top_k\":5,\"prompt_cache_key\":\"ag1\"}",
                 &e, &p);
    CHECK(r == 0);
    CHECK(p.stream && p.include_usage && p.max_tokens == 7 && p.sp.temp == 0 && p.n_stop == 2);
    CHECK(p.sp.seed == 3 && p.sp.top_k == 5 && !strcmp(p.agent, "ag1"));
    CHECK(json_array_size(p.messages) == 1);
    am_gen_parsed_free(&p);
    r = chat("{\"messages\":[{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
             "{\"type\":\"text\",\"text\":\"b\"}]},{\"role\":\"user\",\"content\":\"x\"}]}",
             &e, &p);
    CHECK(r == 0);
    json_t *m0 = json_array_get(p.messages, 0);
    CHECK(!strcmp(json_string_value(json_object_get(m0, "role")), "system"));
    CHECK(!strcmp(json_string_value(json_object_get(m0, "content")), "ab"));
    am_gen_parsed_free(&p);
}

static void test_chat_errors(void) {
    expect_field("{}", "messages");
    expect_field("{\"messages\":5}", "messages");
    expect_field("{\"messages\":[]}", "messages");
    expect_field("{\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", "messages[0].role");
    expect_field("{\"messages\":[{\"role\":5,\"content\":\"x\"}]}", "messages[0].role");
    expect_field("{\"messages\":[{\"role\":\"user\",\"content\":5}]}", "messages[0].content");
    expect_field("{\"messages\":[{\"role\":\"user\"}]}", "messages[0].content");
    expect_field("{" M ",\"temperature\":\"hot\"}", "temperature");
    expect_field("{" M ",\"temperature\":3}", "temperature");
    expect_field("{" M ",\"top_p\":2}", "top_p");
    expect_field("{" M ",\"max_tokens\":\"5\"}", "max_tokens");
    expect_field("{" M ",\"max_tokens\":0}", "max_tokens");
    expect_field("{" M ",\"max_tokens\":1.5}", "max_tokens");
    expect_field("{" M ",\"max_completion_tokens\":-1}", "max_completion_tokens");
    expect_field("{" M ",\"n\":2}", "n");
    expect_field("{" M ",\"stream\":1}", "stream");
    expect_field("{" M ",\"stop\":5}", "stop");
    expect_field("{" M ",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop");
    expect_field("{" M ",\"stop\":[1]}", "stop");
    expect_field("{" M ",\"seed\":\"x\"}", "seed");
    expect_field("{" M ",\"presence_penalty\":5}", "presence_penalty");
    expect_field("{" M ",\"frequency_penalty\":\"a\"}", "frequency_penalty");
    expect_field("{" M ",\"top_k\":-1}", "top_k");
    expect_field("{" M ",\"model\":5}", "model");
    expect_field("{" M ",\"logprobs\":5}", "logprobs");
    expect_field("{" M ",\"top_logprobs\":50,\"logprobs\":true}", "top_logprobs");
    expect_field("{" M ",\"tools\":{}}", "tools");
    expect_field("{" M ",\"tools\":[{\"type\":\"function\"}]}", "tools[0]");
    expect_field("{" M ",\"stream_options\":5}", "stream_options");
    expect_field("{" M ",\"agent_id\":\"a/b\"}", "agent_id");
    expect_field("{" M ",\"ignore_eos\":\"yes\"}", "ignore_eos");
}

static void test_anthropic(void) {
    am_http_err e;
    am_gen_parsed p;
    json_t *j = json_loads("{\"max_tokens\":9,\"system\":[{\"type\":\"text\",\"text\":\"S\"}],\"stop_sequences\":[\"x\"],"
                           "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"assistant\",\"content\":"
                           "[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{\"a\":1}}]},{\"role\":\"user\","
                           "\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"t1\",\"content\":\"ok\"}]}],"
                           "\"tools\":[{\"name\":\"f\",\"input_schema\":{\"type\":\"object\"}}]}",
                           0, NULL);
    CHECK(am_parse_anthropic(j, &p, &e) == 0);
    CHECK(p.max_tokens == 9 && p.n_stop == 1);
    CHECK(json_array_size(p.messages) == 4);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(p.messages, 3), "role")), "tool"));
    CHECK(json_array_size(p.tools) == 1);
    am_gen_parsed_free(&p);
    json_decref(j);
    j = json_loads("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, NULL);
    CHECK(am_parse_anthropic(j, &p, &e) == -1 && !strcmp(e.param, "max_tokens"));
    json_decref(j);
    j = json_loads("{\"max_tokens\":1,\"messages\":[{\"role\":\"system\",\"content\":\"hi\"}]}", 0, NULL);
    CHECK(am_parse_anthropic(j, &p, &e) == -1 && !strcmp(e.param, "messages.0.role"));
    json_decref(j);
    j = json_loads("{\"max_tokens\":1,\"stop_sequences\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", 0, NULL);
    CHECK(am_parse_anthropic(j, &p, &e) == -1 && !strcmp(e.param, "stop_sequences"));
    json_decref(j);
}

static void test_completion(void) {
    am_http_err e;
    am_gen_parsed p;
    json_t *j = json_loads("{\"prompt\":\"Once\",\"max_tokens\":3}", 0, NULL);
    CHECK(am_parse_openai_completion(j, &p, &e) == 0 && !strcmp(p.prompt, "Once"));
    am_gen_parsed_free(&p);
    json_decref(j);
    j = json_loads("{\"prompt\":5}", 0, NULL);
    CHECK(am_parse_openai_completion(j, &p, &e) == -1 && !strcmp(e.param, "prompt"));
    json_decref(j);
}

int main(void) {
    AM_TEST_RUN(test_chat_ok);
    AM_TEST_RUN(test_chat_errors);
    AM_TEST_RUN(test_anthropic);
    AM_TEST_RUN(test_completion);
    return am_test_failures ? 1 : 0;
}
