/*
 * wire.c — the pure wire helpers of the server: byte buffers, SSE framing,
 * error bodies of both APIs, JSON body parsing with a depth limit, agent id
 * validation, size parsing, ids, constant-time compare, Host checks.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/base.h"
#include "server/server_impl.h"

int am_http_errf(am_http_err *e, int status, const char *param, const char *fmt, ...) {
    if (!e) return -1;
    memset(e, 0, sizeof *e);
    e->status = status;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

void am_buf_put(am_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1) c *= 2;
        b->p = am_xrealloc(b->p, c);
        b->cap = c;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

void am_buf_puts(am_buf *b, const char *s) { am_buf_put(b, s, strlen(s)); }

void am_buf_printf(am_buf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        am_buf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = am_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    am_buf_put(b, big, (size_t)n);
    free(big);
}

void am_buf_free(am_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void put_json(am_buf *b, const json_t *j) {
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
    if (s) {
        am_buf_puts(b, s);
        free(s);
    } else {
        am_buf_puts(b, "{}");
    }
}

void am_sse_data(am_buf *b, const json_t *j) { am_sse_event(b, NULL, j); }

void am_sse_event(am_buf *b, const char *name, const json_t *j) {
    if (name) {
        am_buf_puts(b, "event: ");
        am_buf_puts(b, name);
        am_buf_puts(b, "\n");
    }
    am_buf_puts(b, "data: ");
    put_json(b, j);
    am_buf_puts(b, "\n\n");
}

void am_sse_done(am_buf *b) { am_buf_puts(b, "data: [DONE]\n\n"); }

const char *am_openai_error_type(int status) {
    switch (status) {
    case 400: case 413: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

const char *am_anthropic_error_type(int status) {
    switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

json_t *am_openai_error_json(const am_http_err *e) {
    const char *type = e->type[0] ? e->type : am_openai_error_type(e->status);
    json_t *err = json_pack("{s:s, s:s, s:o, s:o}", "message", e->msg, "type", type, "param",
                            e->param[0] ? json_string(e->param) : json_null(), "code",
                            e->code[0] ? json_string(e->code) : json_null());
    return json_pack("{s:o}", "error", err);
}

json_t *am_anthropic_error_json(const am_http_err *e) {
    const char *type = e->type[0] ? e->type : am_anthropic_error_type(e->status);
    return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", type, "message", e->msg);
}

int am_json_text_depth(const char *s, size_t n) {
    int d = 0, max = 0;
    bool str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (str) {
            if (c == '\\') i++;
            else if (c == '"') str = false;
        } else if (c == '"') {
            str = true;
        } else if (c == '[' || c == '{') {
            if (++d > max) max = d;
        } else if (c == ']' || c == '}') {
            d--;
        }
    }
    return max;
}

json_t *am_json_parse_body(const char *data, size_t len, am_http_err *e) {
    if (!data || len == 0) {
        am_http_errf(e, 400, "", "request body is empty: a JSON object is required");
        return NULL;
    }
    if (am_json_text_depth(data, len) > AM_SRV_MAX_JSON_DEPTH) {
        am_http_errf(e, 400, "", "request body nests deeper than %d levels", AM_SRV_MAX_JSON_DEPTH);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (strstr(je.text, "\\u0000")) /* jansson names its own flag; say what the client can change */
            am_http_errf(e, 400, "", "request body has \\u0000 in a string (line %d, column %d): U+0000 is not "
                                     "accepted in text (the server sends a NUL byte a model emits as U+FFFD)",
                         je.line, je.column);
        else
            am_http_errf(e, 400, "", "request body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                         je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        am_http_errf(e, 400, "", "request body must be a JSON object");
        return NULL;
    }
    return j;
}

bool am_srv_agent_id_ok(const char *s) {
    if (!s) return false;
    size_t n = strlen(s);
    if (n < 1 || n > 128) return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-')) return false;
    }
    return true;
}

int64_t am_parse_size(const char *s) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || v < 0) return -1;
    double mul = 1;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'K': mul = 1024.0; break;
        case 'M': mul = 1024.0 * 1024; break;
        case 'G': mul = 1024.0 * 1024 * 1024; break;
        case 'T': mul = 1024.0 * 1024 * 1024 * 1024; break;
        case 'B': mul = 1; break;
        default: return -1;
        }
        end++;
        if (*end == 'i' || *end == 'I') end++;
        if (*end == 'B' || *end == 'b') end++;
        if (*end) return -1;
    }
    double r = v * mul;
    if (r > 9.0e18) return -1;
    return (int64_t)r;
}

void am_make_id(char *out, size_t cap, const char *prefix) {
    static _Atomic uint64_t ctr;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (++ctr * 0x9E3779B97F4A7C15ull);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    uint64_t y = x * 0xc4ceb9fe1a85ec53ull ^ ctr;
    snprintf(out, cap, "%s%016llx%08llx", prefix, (unsigned long long)x, (unsigned long long)(y & 0xffffffffu));
}

bool am_ct_streq(const char *a, const char *b) {
    size_t na = strlen(a), nb = strlen(b);
    unsigned char d = (unsigned char)(na != nb);
    size_t n = na > nb ? na : nb;
    for (size_t i = 0; i < n; i++) {
        unsigned char ca = i < na ? (unsigned char)a[i] : 0;
        unsigned char cb = i < nb ? (unsigned char)b[i] : 0;
        d |= ca ^ cb;
    }
    return d == 0;
}

bool am_host_is_loopback(const char *host) {
    if (!host) return true; /* HTTP/1.0 without Host */
    const char *names[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < AM_ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i]);
        if (strncasecmp(host, names[i], n) == 0) {
            const char *r = host + n;
            if (!*r) return true;
            if (*r == ':' && r[1]) {
                for (r++; *r; r++)
                    if (!isdigit((unsigned char)*r)) return false;
                return true;
            }
        }
    }
    return false;
}

json_t *am_json_str_lossy(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    /* invalid UTF-8: keep the valid characters, each bad byte becomes U+FFFD */
    am_buf b = {0};
    am_buf_puts(&b, "");
    for (size_t i = 0; i < n;) {
        size_t len = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) len = 3;
        else if (c >= 0xF0 && c <= 0xF4) len = 4;
        else if (c >= 0x80) len = 0;
        json_t *t = len && i + len <= n ? json_stringn(s + i, len) : NULL; /* NUL stays invalid */
        if (t) {
            am_buf_put(&b, s + i, len);
            json_decref(t);
            i += len;
        } else {
            am_buf_puts(&b, "\xEF\xBF\xBD");
            i++;
        }
    }
    j = json_stringn(b.p, b.n);
    am_buf_free(&b);
    return j ? j : json_string("");
}
