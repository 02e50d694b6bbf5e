/*
 * engine_opts.h — what the commands share: token-id lists from arguments or
 * files, strict numeric option parsing with one --threads rule, default
 * paths found from the binary, inputs from files or stdin; and, for the
 * commands that run the model (logits, run, perplexity), the shared options,
 * the context check (-c/--ctx) and opening a model with an engine sized for
 * the job. Errors are returned with messages; nothing here exits.
 */
#ifndef AM_CLI_ENGINE_OPTS_H
#define AM_CLI_ENGINE_OPTS_H

#include "engine/forward.h"
#include "model/model.h"

/* A growable id list (zero-initialise; free with am_ids_free). */
typedef struct am_ids {
    int32_t *v;
    int n, cap;
} am_ids;

void am_ids_push(am_ids *ids, int32_t id);
void am_ids_free(am_ids *ids);
/* Appends the ids in s ("1 2 3", "1,2,3", newlines allowed). -1 with err on
 * anything that is not a non-negative 32-bit integer. */
int am_ids_parse(am_ids *ids, const char *s, am_err *err);
/* Same, from a file's contents. */
int am_ids_read_file(am_ids *ids, const char *path, am_err *err);

/* Strict number parsing for option values: false on junk or out of range. */
bool am_opt_int(const char *s, long lo, long hi, long *out);
/* A finite float (never NaN or inf). */
bool am_opt_float(const char *s, float *out);
/* A finite float in [lo, hi]. */
bool am_opt_float_in(const char *s, float lo, float hi, float *out);
/* --threads for every command: 0..AM_MAX_THREADS, 0 = one per core. False
 * (message printed, prefixed with cmd) on anything else. */
#define AM_MAX_THREADS 1024
bool am_opt_threads(const char *cmd, const char *s, int *out);

/* A default data path such as "models/default.gguf", resolved from where
 * the binary is, not the current directory: next to it, one folder up (the
 * project's build/ folder), or ../share/agentmem (an installed binary).
 * Returns a malloc'd path: the first that exists, else the project's. */
char *am_default_path(const char *rel);

/* Reads a whole text input: a file, or stdin for "-". NULL with err (the
 * OS's reason for a file that cannot be read) on failure. */
char *am_read_input(const char *path, size_t max_bytes, size_t *len, am_err *err);
/* The default cache directory: $XDG_CACHE_HOME/agentmem, else
 * $HOME/.cache/agentmem (./.cache/agentmem without a HOME). */
void am_default_cache_dir(char *out, size_t cap);

/* Options shared by the model-running commands. */
typedef struct am_run_opts {
    const char *model;
    int threads;    /* 0 = one per core */
    long n_ctx;     /* -c/--ctx: context in tokens; 0 = the model's trained
                       context, capped by memory */
    am_type kv_type;
    bool f32_buffers; /* float32 RoPE frequencies and embedding scale (llama.cpp)
                         instead of HF's bf16-rounded ones */
} am_run_opts;

void am_run_opts_init(am_run_opts *o);
/* Consumes argv[*i] (and its value) if it is one of --model --threads --kv
 * --f32-buffers -c/--ctx. Returns 1 if consumed, 0 if not ours, -1 on a bad value
 * (message printed, prefixed with cmd). */
int am_run_opts_parse(am_run_opts *o, const char *cmd, int argc, char **argv, int *i);
/* Usage lines for those options (-c/--ctx apart: perplexity gives it its
 * own meaning, the chunk size). */
extern const char AM_RUN_OPTS_USAGE[];
extern const char AM_RUN_CTX_USAGE[];

/* The context for a job of n_prompt tokens plus *n_gen generated ones
 * (*n_gen == -1: until the context is full, set here). Returns the context,
 * or -1 with a message giving both numbers when the job does not fit. */
int64_t am_run_fit_ctx(const am_run_opts *o, const char *cmd, const am_model *m, int64_t n_prompt,
                       int64_t *n_gen);

/* Loads o->model; NULL (message printed, prefixed with cmd) on failure. */
am_model *am_run_load(const am_run_opts *o, const char *cmd);
/* Creates an engine over m with max_batch tokens per step and room for
 * kv_tokens token slots (0: the engine's default). NULL (message printed) on
 * failure. */
am_engine *am_run_engine(const am_run_opts *o, const char *cmd, const am_model *m, int max_batch,
                         int64_t kv_tokens);

#endif
