/* json.c — json_loadb that reads integers beyond 64 bits as reals (json.h). */
#include "base/json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

/* True if the integer literal s[0..n) (optional '-', digits) overflows int64. */
static bool int_overflows(const char *s, size_t n) {
    char buf[64];
    if (n >= sizeof buf) return true;
    memcpy(buf, s, n);
    buf[n] = 0;
    errno = 0;
    (void)strtoll(buf, NULL, 10);
    return errno == ERANGE;
}

/* A copy of text with ".0" after every integer literal that overflows int64
 * (outside strings), or NULL when there is none. */
static char *widen_big_ints(const char *text, size_t n, size_t *out_n) {
    char *out = NULL;
    size_t on = 0, cap = 0, copied = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
            continue;
        }
        if (!(c == '-' || (c >= '0' && c <= '9'))) continue;
        size_t j = i + (c == '-');
        while (j < n && text[j] >= '0' && text[j] <= '9') j++;
        bool is_int = j < n ? !(text[j] == '.' || text[j] == 'e' || text[j] == 'E') : true;
        if (is_int && j > i + (c == '-') && int_overflows(text + i, j - i)) {
            size_t need = on + (j - copied) + 2 + (n - j) + 1;
            if (need > cap) {
                cap = need * 2;
                out = am_xrealloc(out, cap);
            }
            memcpy(out + on, text + copied, j - copied);
            on += j - copied;
            memcpy(out + on, ".0", 2);
            on += 2;
            copied = j;
        }
        i = j - 1 < i ? i : j - 1;
    }
    if (!out) return NULL;
    if (on + (n - copied) + 1 > cap) out = am_xrealloc(out, on + (n - copied) + 1);
    memcpy(out + on, text + copied, n - copied);
    on += n - copied;
    out[on] = 0;
    *out_n = on;
    return out;
}

json_t *am_json_loadb(const char *text, size_t n, size_t flags, json_error_t *je) {
    json_error_t local;
    if (!je) je = &local;
    json_t *j = json_loadb(text, n, flags, je);
    if (j || !strstr(je->text, "too big integer")) return j;
    size_t wn;
    char *wide = widen_big_ints(text, n, &wn);
    if (!wide) return NULL;
    j = json_loadb(wide, wn, flags, je);
    free(wide);
    return j;
}
