/* test_metrics.c — /metrics text: HELP/TYPE lines, counters, histograms; the rate limiter. */
#include <string.h>

#include "server/server_impl.h"
#include "test_util.h"

static void test_render(void) {
    am_srv_metrics m;
    am_metrics_init(&m);
    am_metrics_request(&m, "/v1/chat/completions", 200);
    am_metrics_request(&m, "/v1/chat/completions", 200);
    am_metrics_request(&m, "/health", 200);
    am_metrics_ttft(&m, 0.02);
    am_metrics_ttft(&m, 3);
    am_metrics_sched s = {.prompt_tokens_cached = 5, .agents_hot = 2};
    am_buf b = {0};
    am_metrics_render(&m, &s, &b);
    CHECK(strstr(b.p, "# TYPE agentmem_requests_total counter\n"));
    CHECK(strstr(b.p, "agentmem_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 2\n"));
    CHECK(strstr(b.p, "agentmem_time_to_first_token_seconds_bucket{le=\"0.025\"} 1\n"));
    CHECK(strstr(b.p, "agentmem_time_to_first_token_seconds_bucket{le=\"5\"} 2\n"));
    CHECK(strstr(b.p, "agentmem_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2\n"));
    CHECK(strstr(b.p, "agentmem_time_to_first_token_seconds_count 2\n"));
    CHECK(strstr(b.p, "agentmem_prompt_tokens_cached_total 5\n"));
    CHECK(strstr(b.p, "agentmem_agents{tier=\"hot\"} 2\n"));
    /* every sample line's metric has a TYPE line */
    for (char *line = b.p; *line;) {
        char *nl = strchr(line, '\n');
        CHECK(nl != NULL);
        if (!nl) break;
        if (line[0] != '#') {
            char name[128];
            size_t n = strcspn(line, "{ ");
            snprintf(name, sizeof name, "# TYPE %.*s", (int)n, line);
            char *suf[] = {"_bucket", "_sum", "_count"};
            char *hit = strstr(b.p, name);
            for (int i = 0; !hit && i < 3; i++) {
                size_t sl = strlen(suf[i]);
                if (n > sl && !strncmp(line + n - sl, suf[i], sl)) {
                    snprintf(name, sizeof name, "# TYPE %.*s histogram", (int)(n - sl), line);
                    hit = strstr(b.p, name);
                }
            }
            CHECKF(hit != NULL, "%.*s", (int)(nl - line), line);
        }
        line = nl + 1;
    }
    am_buf_free(&b);
}

static void test_ratelimit(void) {
    am_ratelimit r;
    am_ratelimit_init(&r, 2);
    CHECK(am_ratelimit_take(&r, 1, 100.0) == 0);
    CHECK(am_ratelimit_take(&r, 1, 100.0) == 0);
    CHECK(am_ratelimit_take(&r, 1, 100.0) >= 1);
    CHECK(am_ratelimit_take(&r, 2, 100.0) == 0);
    CHECK(am_ratelimit_take(&r, 1, 101.0) == 0);
    am_ratelimit off;
    am_ratelimit_init(&off, 0);
    for (int i = 0; i < 10; i++) CHECK(am_ratelimit_take(&off, 1, 0) == 0);
}

int main(void) {
    AM_TEST_RUN(test_render);
    AM_TEST_RUN(test_ratelimit);
    return am_test_failures ? 1 : 0;
}
