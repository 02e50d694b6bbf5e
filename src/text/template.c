/*
 * template.c — the public chat-template API over the Jinja interpreter:
 * parse once, render many times (concurrently), with limits.
 *
 * Owns the unwinding points: parse and render each set up a jfail and an
 * arena, and free everything on both the success and the error path.
 */
#include <stdlib.h>
#include <string.h>

#include "text/jinja.h"
#include "text/template.h"

struct am_template {
    jtemplate jt;
};

am_template_params am_template_default_params(void) {
    return (am_template_params){.trim_blocks = true, .lstrip_blocks = true, .max_source = 4u << 20, .max_nesting = 200};
}

am_render_params am_template_default_render_params(void) {
    return (am_render_params){.max_output = 16u << 20,
                              .max_memory = 256u << 20,
                              .max_steps = 20000000,
                              .max_depth = 1000,
                              .max_macro_depth = 100};
}

am_template *am_template_parse(const char *src, size_t len, const am_template_params *params, am_err *err) {
    am_template_params p = params ? *params : am_template_default_params();
    if (!src && len) {
        am_err_set(err, "template: no text");
        return NULL;
    }
    if (len > p.max_source) {
        am_err_set(err, "template: text of %zu bytes is larger than the limit of %zu", len, p.max_source);
        return NULL;
    }
    am_template *t = am_xcalloc(1, sizeof *t);
    jfail *f = am_xcalloc(1, sizeof *f);
    f->err = err;
    /* Budget: generous for any real template, bounded for hostile ones. */
    jarena_init(&t->jt.ar, 64 * len + (16u << 20), f);
    if (setjmp(f->jb)) {
        jarena_free(&t->jt.ar);
        free(t);
        free(f);
        return NULL;
    }
    jlex_opts lo = {.trim_blocks = p.trim_blocks, .lstrip_blocks = p.lstrip_blocks};
    size_t ntok;
    jtoken *toks = jlex(&t->jt.ar, f, src ? src : "", len, &lo, &ntok);
    jparse(&t->jt, f, toks, ntok, p.max_nesting > 0 ? p.max_nesting : 200);
    t->jt.ar.fail = NULL; /* the template is immutable from here on */
    free(f);
    return t;
}

void am_template_free(am_template *t) {
    if (!t) return;
    jarena_free(&t->jt.ar);
    free(t);
}

typedef struct render_state {
    jfail f;
    jarena ar;
    jsb out; /* heap-allocated final text */
} render_state;

char *am_template_render(const am_template *t, const json_t *vars, const am_render_params *params, size_t *len,
                         am_err *err) {
    am_render_params p = params ? *params : am_template_default_render_params();
    if (vars && !json_is_object(vars)) {
        am_err_set(err, "template: variables must be a JSON object");
        return NULL;
    }
    /* Heap state: it must stay valid across the longjmp back to here. */
    render_state *st = am_xcalloc(1, sizeof *st);
    st->f.err = err;
    jarena_init(&st->ar, p.max_memory, &st->f);
    if (setjmp(st->f.jb)) {
        free(st->out.p);
        jarena_free(&st->ar);
        free(st);
        return NULL;
    }
    jctx *c = jalloc(&st->ar, sizeof *c);
    c->ar = &st->ar;
    c->fail = &st->f;
    c->tpl = &t->jt;
    c->max_output = p.max_output;
    c->max_steps = p.max_steps;
    c->max_depth = p.max_depth > 0 ? p.max_depth : 1000;
    c->max_macro_depth = p.max_macro_depth > 0 ? p.max_macro_depth : 100;
    c->now = p.now;
    c->now_fixed = p.now_fixed;
    jscope *globals = jalloc(&st->ar, sizeof *globals);
    jglobals_install(c, globals);
    if (vars) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)vars, k, v) {
            const char *name = jintern_find(&t->jt, k, strlen(k));
            if (name) jscope_set(c, globals, name, jv_from_json(c, v, 0)); /* else never mentioned */
        }
    }
    jsb_init(&st->out, &st->ar, p.max_output);
    st->out.heap = true;
    c->out = &st->out;
    jrender(c, &t->jt, globals);
    char *res = st->out.p ? st->out.p : am_xcalloc(1, 1);
    if (len) *len = st->out.n;
    jarena_free(&st->ar);
    free(st);
    return res;
}

char *am_template_render_chat(const am_template *t, const am_chat_inputs *in, const am_render_params *params,
                              size_t *len, am_err *err) {
    json_t *vars = json_object();
    json_object_set(vars, "messages", in->messages ? (json_t *)in->messages : json_null());
    json_object_set(vars, "tools", in->tools ? (json_t *)in->tools : json_null());
    json_object_set_new(vars, "documents", json_null());
    json_object_set_new(vars, "add_generation_prompt", json_boolean(in->add_generation_prompt));
    if (in->bos_token) json_object_set_new(vars, "bos_token", json_string(in->bos_token));
    if (in->eos_token) json_object_set_new(vars, "eos_token", json_string(in->eos_token));
    if (in->extra && json_is_object(in->extra)) json_object_update(vars, (json_t *)in->extra);
    char *r = am_template_render(t, vars, params, len, err);
    json_decref(vars);
    return r;
}
