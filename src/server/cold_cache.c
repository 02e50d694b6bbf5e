/*
 * cold_cache.c — agents' cache files of models that are not loaded. A
 * loaded model's scheduler owns its model directory (it indexes the files
 * and writes them), so these walk only the directories of no loaded model:
 * deleting an agent everywhere, and dropping an unloaded model's caches.
 */
#define AM_SERVER_INTERNALS
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvcache/cachefile.h"
#include "server/server_impl.h"

/* The model directories of the loaded models (am_sched_model_dir). */
typedef struct loaded_dirs {
    char **dir; /* [n] copies */
    int n;
} loaded_dirs;

static void add_dir(am_served *m, void *ctx) {
    loaded_dirs *l = ctx;
    const char *d = am_sched_model_dir(m->s);
    if (!d) return;
    l->dir = am_xrealloc(l->dir, (size_t)(l->n + 1) * sizeof *l->dir);
    l->dir[l->n++] = am_xstrdup(d);
}

/* Calls fn(dir) for every model directory of no loaded model. */
static int each_cold_dir(am_server *srv, int (*fn)(const char *dir, void *ctx), void *ctx) {
    if (!srv->cfg.cache_dir) return 0;
    loaded_dirs l0 = {0}, *l = &l0;
    am_reg_each(srv->reg, add_dir, l);
    DIR *d = opendir(srv->cfg.cache_dir);
    int n = 0;
    struct dirent *de;
    while (d && (de = readdir(d))) {
        uint8_t fp[16];
        char dir[4096];
        if (!am_kvf_model_dir_name(de->d_name, fp) || am_kvf_model_dir(srv->cfg.cache_dir, fp, dir, sizeof dir) < 0)
            continue;
        bool loaded = false;
        for (int i = 0; i < l->n; i++) loaded |= !strcmp(l->dir[i], dir);
        if (!loaded) n += fn(dir, ctx);
    }
    if (d) closedir(d);
    for (int i = 0; i < l->n; i++) free(l->dir[i]);
    free(l->dir);
    return n;
}

typedef struct agent_key {
    uint64_t owner;
    const char *id;
} agent_key;

static int rm_agent(const char *dir, void *ctx) {
    agent_key *k = ctx;
    char path[4096];
    if (am_kvf_path(dir, k->owner, k->id, path, sizeof path) < 0) return 0;
    return unlink(path) == 0;
}

int am_srv_delete_cold(am_server *srv, uint64_t owner, const char *id) {
    agent_key k = {owner, id};
    return each_cold_dir(srv, rm_agent, &k);
}

static int rm_model(const char *dir, void *ctx) {
    const char *model_id = ctx;
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".amkv")) continue;
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path) continue;
        am_kvf_info info;
        am_err err = {0};
        if (am_kvf_peek(path, &info, &err) < 0) continue; /* not ours to judge: its model sweeps it */
        if (!strcmp(info.h.model_id, model_id) && unlink(path) == 0) n++;
    }
    closedir(d);
    return n;
}

int am_srv_drop_model_files(am_server *srv, const char *name) {
    char model_id[256];
    if (am_reg_file_model_id(srv->reg, name, model_id, sizeof model_id) < 0) return -1;
    return each_cold_dir(srv, rm_model, model_id);
}
