/*
 * cmd_cache.c — `agentmem cache ls|show|verify|rm`: inspect and manage the
 * per-agent KV cache files (*.amkv) in a cache directory: those of every
 * model directory (cache_dir/<32 hex fingerprint>/) and any left at the top
 * level by the flat layout of earlier versions (model shown as "flat").
 *
 * Files are matched to an AGENT by the agent id in their header (so files of
 * every owner and every model match). Nothing here writes a cache file; rm
 * unlinks.
 * Exit: 0 ok, 1 failure (verify: any file BAD; show/rm: no such agent),
 * 2 usage error.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "cli/commands.h"
#include "cli/engine_opts.h"
#include "kvcache/cachefile.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: agentmem cache ls|show|verify|rm [--cache-dir DIR] [--model-fp HEX] [AGENT]\n\n"
            "  ls       one line per file: agent, model, fingerprint directory, tokens, bytes,\n"
            "           age (sorted by agent)\n"
            "  show     header fields and the first/last 16 token ids of AGENT (one block per model)\n"
            "  verify   checks every checksum of AGENT's files (or of all files); prints\n"
            "           OK/BAD per file, exits 1 if any is bad\n"
            "  rm       deletes AGENT's files of every model\n\n"
            "  --cache-dir DIR   default $XDG_CACHE_HOME/agentmem or ~/.cache/agentmem\n"
            "  --model-fp HEX    only the model directory whose name starts with HEX\n");
}

typedef struct entry {
    char *path;
    char model[33];        /* model directory name, or "flat" */
    char agent[AM_KVF_AGENT_MAX + 1];
    bool ok;
    am_kvf_info info;
} entry;

static int cmp_entry(const void *a, const void *b) {
    const entry *x = a, *y = b;
    int c = strcmp(x->agent, y->agent);
    return c ? c : strcmp(x->path, y->path);
}

/* Appends the *.amkv files of dir (peeked; unreadable ones have ok false
 * and the file name as agent), tagged with model. */
static void list_dir(const char *dir, const char *model, entry **v, size_t *n, size_t *cap) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 6 || strcmp(e->d_name + l - 5, ".amkv")) continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *v = am_xrealloc(*v, *cap * sizeof **v);
        }
        entry *x = &(*v)[(*n)++];
        memset(x, 0, sizeof *x);
        snprintf(x->model, sizeof x->model, "%s", model);
        size_t pl = strlen(dir) + l + 2;
        x->path = am_xmalloc(pl);
        snprintf(x->path, pl, "%s/%s", dir, e->d_name);
        am_err err = {0};
        x->ok = am_kvf_peek(x->path, &x->info, &err) == 0;
        if (x->ok) {
            snprintf(x->agent, sizeof x->agent, "%s", x->info.h.agent);
        } else { /* agent from the name: [<owner hex16>-]<agent>.amkv */
            const char *nm = e->d_name;
            size_t al = l - 5;
            if (al > 17 && nm[16] == '-' && strspn(nm, "0123456789abcdef") >= 16) nm += 17, al -= 17;
            snprintf(x->agent, sizeof x->agent, "%.*s", (int)(al < AM_KVF_AGENT_MAX ? al : AM_KVF_AGENT_MAX), nm);
        }
    }
    closedir(d);
}

/* Every file of root: its model directories, then the flat layout's files.
 * model_fp (may be NULL) keeps only directories whose name starts with it. */
static entry *list_tree(const char *root, const char *model_fp, size_t *n_out) {
    entry *v = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(root);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!am_kvf_model_dir_name(e->d_name, NULL)) continue;
            if (model_fp && strncmp(e->d_name, model_fp, strlen(model_fp))) continue;
            char sub[4096];
            if ((size_t)snprintf(sub, sizeof sub, "%s/%s", root, e->d_name) >= sizeof sub) continue;
            list_dir(sub, e->d_name, &v, &n, &cap);
        }
        closedir(d);
    }
    if (!model_fp) list_dir(root, "flat", &v, &n, &cap);
    if (n) qsort(v, n, sizeof *v, cmp_entry);
    *n_out = n;
    return v;
}

static void free_list(entry *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].path);
    free(v);
}

static void *scratch_dst(void *ctx, int layer, int64_t index, am_err *err) { return ctx; }

static void print_ids(const int32_t *t, int64_t n) {
    for (int64_t i = 0; i < n; i++) printf("%s%d", i ? " " : "", t[i]);
    printf("\n");
}

static int show(const entry *x) {
    am_err err = {0};
    const am_kvf_header *h = &x->info.h;
    void *scratch = am_xmalloc((size_t)h->g.block_bytes);
    am_kvf_loaded l;
    int rc = am_kvf_load(x->path, h->fingerprint, &h->g, INT32_MAX, scratch_dst, scratch, &l, &err);
    free(scratch);
    if (rc) {
        fprintf(stderr, "agentmem cache show: %s\n", err.msg);
        return 1;
    }
    printf("file         %s\n", x->path);
    printf("model dir    %s\n", x->model);
    printf("agent        %s\n", h->agent);
    printf("model        %s\n", h->model_id);
    printf("owner        %016llx\n", (unsigned long long)h->owner);
    printf("fingerprint  ");
    for (int i = 0; i < 16; i++) printf("%02x", h->fingerprint[i]);
    printf("\n");
    printf("geometry     layers %u, kv heads %u, head dim %u, block tokens %u, k %s, v %s, vocab %u, block bytes %llu\n",
           h->g.n_layer, h->g.n_head_kv, h->g.head_dim, h->g.block_tokens, am_type_name((am_type)h->g.type_k),
           am_type_name((am_type)h->g.type_v), h->g.n_vocab, (unsigned long long)h->g.block_bytes);
    printf("tokens       %lld (pos0 %lld, gen_start %lld)\n", (long long)l.n_tokens, (long long)l.pos0,
           (long long)l.gen_start);
    int64_t present = 0;
    for (int64_t i = 0; i < (int64_t)h->g.n_layer * l.n_blocks; i++) present += l.present[i];
    printf("blocks       %lld per layer, %lld present\n", (long long)l.n_blocks, (long long)present);
    printf("logits       gen %s, last %s\n", l.logits_gen ? "yes" : "no", l.logits_last ? "yes" : "no");
    printf("bytes        %llu\n", (unsigned long long)l.file_bytes);
    int64_t k = l.n_tokens < 16 ? l.n_tokens : 16;
    printf("first ids    ");
    print_ids(l.tokens, k);
    printf("last ids     ");
    print_ids(l.tokens + l.n_tokens - k, k);
    am_kvf_loaded_free(&l);
    return 0;
}

int am_cmd_cache(int argc, char **argv) {
    const char *dir = NULL, *sub = NULL, *agent = NULL, *model_fp = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--cache-dir") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(a, "--model-fp") && i + 1 < argc) {
            model_fp = argv[++i];
            size_t ml = strlen(model_fp);
            if (ml == 0 || ml > 32 || strspn(model_fp, "0123456789abcdef") != ml) {
                fprintf(stderr, "agentmem cache: --model-fp wants 1 to 32 lowercase hex digits\n");
                return 2;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "agentmem cache: unknown or incomplete option '%s'\n", a);
            return 2;
        } else if (!sub) {
            sub = a;
        } else if (!agent) {
            agent = a;
        } else {
            fprintf(stderr, "agentmem cache: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!sub || (strcmp(sub, "ls") && strcmp(sub, "show") && strcmp(sub, "verify") && strcmp(sub, "rm"))) {
        usage(stderr);
        return 2;
    }
    if ((!strcmp(sub, "show") || !strcmp(sub, "rm")) && !agent) {
        fprintf(stderr, "agentmem cache %s: AGENT needed\n", sub);
        return 2;
    }
    if (agent && !am_agent_id_valid(agent, strlen(agent))) {
        fprintf(stderr, "agentmem cache: invalid agent id '%s'\n", agent);
        return 2;
    }
    char def[4096];
    if (!dir) {
        am_default_cache_dir(def, sizeof def);
        dir = def;
    }
    size_t n;
    entry *v = list_tree(dir, model_fp, &n);
    int rc = 0, matched = 0;
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        entry *x = &v[i];
        if (agent && strcmp(x->agent, agent)) continue;
        matched++;
        if (!strcmp(sub, "ls")) {
            if (x->ok)
                printf("%-24s %-24s %-32s %10lld tokens %12llu bytes %8llds\n", x->agent, x->info.h.model_id,
                       x->model, (long long)x->info.n_tokens, (unsigned long long)x->info.file_bytes,
                       (long long)(now - x->info.mtime));
            else
                printf("%-24s (unreadable: %s)\n", x->agent, x->path);
        } else if (!strcmp(sub, "verify")) {
            am_err err = {0};
            if (am_kvf_verify(x->path, &err) == 0) {
                printf("OK  %s\n", x->path);
            } else {
                printf("BAD %s: %s\n", x->path, err.msg);
                rc = 1;
            }
        } else if (!strcmp(sub, "show")) {
            if (!x->ok) {
                fprintf(stderr, "agentmem cache show: %s is unreadable\n", x->path);
                rc = 1;
            } else if (show(x)) {
                rc = 1;
            }
        } else if (!strcmp(sub, "rm")) {
            if (unlink(x->path)) {
                perror(x->path);
                rc = 1;
            }
        }
    }
    if (agent && !matched) {
        fprintf(stderr, "agentmem cache %s: no cache file for agent '%s' in %s\n", sub, agent, dir);
        rc = 1;
    }
    free_list(v, n);
    return rc;
}
