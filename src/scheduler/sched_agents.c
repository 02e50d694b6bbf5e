/*
 * sched_agents.c — the agent table: lookup, LRU eviction, restore from and
 * snapshot to cache files, start-up indexing, and the JSON view for
 * GET /v1/agents. The tier state machine is drawn in sched_impl.h.
 *
 * Scheduler thread only, except am_sched_agents_json (any thread, under amu).
 * Mutations of an entry's metadata take amu so readers see whole entries.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scheduler/sched_impl.h"

sched_agent *sched_agent_find(am_sched *s, uint64_t owner, const char *id) {
    for (int i = 0; i < s->n_agents; i++) {
        sched_agent *a = &s->agents[i];
        if (a->used && a->owner == owner && !strcmp(a->id, id)) return a;
    }
    return NULL;
}

sched_agent *sched_job_agent(am_sched *s, const persist_job *j) {
    sched_agent *a = sched_agent_find(s, j->owner, j->agent);
    return a && a->gen == j->agent_gen ? a : NULL;
}

sched_agent *sched_agent_add(am_sched *s, uint64_t owner, const char *id) {
    sched_agent *a = NULL;
    for (int i = 0; i < s->n_agents && !a; i++)
        if (!s->agents[i].used) a = &s->agents[i];
    if (!a) {
        if (s->n_agents == s->cap_agents) {
            /* Runs hold pointers into the table: grow only when none runs. */
            int cap = s->cap_agents ? s->cap_agents * 2 : 64;
            sched_agent *na = am_xcalloc((size_t)cap, sizeof *na);
            if (s->n_agents) memcpy(na, s->agents, (size_t)s->n_agents * sizeof *na);
            for (int i = 0; i < s->n_runs; i++)
                if (s->runs[i].a) s->runs[i].a = na + (s->runs[i].a - s->agents);
            free(s->agents);
            s->agents = na;
            s->cap_agents = cap;
        }
        a = &s->agents[s->n_agents++];
    }
    memset(a, 0, sizeof *a);
    a->used = true;
    a->owner = owner;
    a->gen = ++s->agent_gen;
    snprintf(a->id, sizeof a->id, "%s", id);
    a->seq = -1;
    a->last_used = (double)time(NULL);
    return a;
}

void sched_agent_forget(am_sched *s, sched_agent *a) {
    sched_prefix_remove(s, a);
    if (a->seq >= 0) am_kv_seq_remove(s->kv, a->seq);
    free(a->tokens);
    free(a->logits_gen);
    free(a->logits_last);
    memset(a, 0, sizeof *a);
    a->seq = -1;
}

void sched_agent_touch(am_sched *s, sched_agent *a) { a->lru = ++s->lru_clock; }

int64_t sched_agent_mem_bytes(const am_sched *s, const sched_agent *a) {
    if (a->seq < 0) return 0;
    int64_t n = 0, bt = s->geom.block_tokens, nb = (a->n_tokens + bt - 1) / bt;
    for (int l = 0; l < (int)s->geom.n_layer; l++)
        for (int64_t b = 0; b < nb; b++) n += am_kv_seq_block(s->kv, a->seq, l, b * bt) >= 0;
    return n * (int64_t)s->geom.block_bytes;
}

void sched_agent_snapshot(am_sched *s, sched_agent *a) {
    if (!s->mdir || a->ephemeral || a->seq < 0 || a->n_tokens == 0) return;
    int64_t bt = s->geom.block_tokens, nl = s->geom.n_layer;
    int64_t first = a->clean_tokens / bt, nb = (a->n_tokens + bt - 1) / bt;
    persist_job *j = am_xcalloc(1, sizeof *j);
    if (am_kvf_path(s->mdir, a->owner, a->id, j->path, sizeof j->path) < 0) {
        free(j);
        return;
    }
    snprintf(j->agent, sizeof j->agent, "%s", a->id);
    j->owner = a->owner;
    j->agent_gen = a->gen;
    memcpy(j->h.fingerprint, s->fp, 16);
    j->h.g = s->geom;
    snprintf(j->h.agent, sizeof j->h.agent, "%s", a->id);
    snprintf(j->h.model_id, sizeof j->h.model_id, "%s", s->b->id ? s->b->id : "");
    j->h.owner = a->owner;
    j->tokens = am_xmalloc((size_t)a->n_tokens * sizeof(int32_t));
    memcpy(j->tokens, a->tokens, (size_t)a->n_tokens * sizeof(int32_t));
    j->copy_bytes = (uint64_t)a->n_tokens * sizeof(int32_t);
    size_t lb = (size_t)s->n_vocab * sizeof(float);
    if (a->logits_gen) {
        j->logits_gen = am_xmalloc(lb);
        memcpy(j->logits_gen, a->logits_gen, lb);
        j->copy_bytes += lb;
    }
    if (a->logits_last) {
        j->logits_last = am_xmalloc(lb);
        memcpy(j->logits_last, a->logits_last, lb);
        j->copy_bytes += lb;
    }
    int64_t per = nb - first;
    j->blocks = am_xcalloc((size_t)(nl * (per > 0 ? per : 1)), sizeof(void *));
    for (int64_t l = 0; l < nl; l++)
        for (int64_t b = first; b < nb; b++) {
            int32_t id = am_kv_seq_block(s->kv, a->seq, (int)l, b * bt);
            if (id < 0) continue;
            void *c = am_xmalloc(s->geom.block_bytes);
            am_kv_block_read(s->kv, id, c);
            j->blocks[l * per + (b - first)] = c;
            j->copy_bytes += s->geom.block_bytes;
        }
    j->u = (am_kvf_update){
        .n_tokens = a->n_tokens,
        .tokens = j->tokens,
        .pos0 = 0,
        .gen_start = a->logits_gen ? a->gen_start : 0,
        .logits_gen = j->logits_gen,
        .logits_last = j->logits_last,
        .first_block = first,
        .n_blocks = nb,
        .blocks = (const void *const *)j->blocks,
    };
    a->clean_tokens = a->n_tokens; /* optimistic; a failed save resets it */
    sched_persist_push(s, j);
}

int sched_snapshot_dirty(am_sched *s) {
    int n = 0;
    if (!s->mdir) return 0;
    for (int i = 0; i < s->n_agents; i++) {
        sched_agent *a = &s->agents[i];
        if (!a->used || a->ephemeral || a->running || a->seq < 0 || a->clean_tokens >= a->n_tokens) continue;
        sched_agent_snapshot(s, a);
        n++;
    }
    return n;
}

void sched_agent_evict(am_sched *s, sched_agent *a) {
    if (a->seq < 0) return;
    if (s->mdir && a->clean_tokens < a->n_tokens) sched_agent_snapshot(s, a);
    sched_prefix_remove(s, a);
    pthread_mutex_lock(&s->amu);
    am_kv_seq_remove(s->kv, a->seq);
    a->seq = -1;
    a->mem_bytes = 0;
    bool keep = s->mdir && !a->ephemeral;
    if (keep) {
        free(a->tokens);
        free(a->logits_gen);
        free(a->logits_last);
        a->tokens = NULL;
        a->logits_gen = a->logits_last = NULL;
        a->cap = 0;
        a->on_disk = true; /* the write is queued or done */
    } else {
        sched_agent_forget(s, a);
    }
    pthread_mutex_unlock(&s->amu);
    atomic_fetch_add(&s->st_evictions, 1);
}

bool sched_evict_one(am_sched *s) {
    sched_agent *best = NULL;
    for (int i = 0; i < s->n_agents; i++) {
        sched_agent *a = &s->agents[i];
        if (a->used && a->seq >= 0 && !a->running && (!best || a->lru < best->lru)) best = a;
    }
    if (!best) return false;
    am_log_debug("evicting agent %s (%lld tokens)", best->id, (long long)best->n_tokens);
    sched_agent_evict(s, best);
    return true;
}

typedef struct {
    am_sched *s;
    int seq;
    bool imported;
} restore_ctx;

/* Allocates exactly the blocks the file holds (a sliding layer's dropped
 * blocks are neither in the file nor allocated), evicting idle agents for
 * room. */
static int restore_begin(void *ctx, int64_t n_tokens, int64_t n_blocks, const uint8_t *present, am_err *err) {
    restore_ctx *c = ctx;
    am_sched *s = c->s;
    if (n_tokens <= 0 || n_tokens >= s->p.n_ctx)
        return am_err_setc(err, AM_E_BAD_FILE, "%lld tokens do not fit the context", (long long)n_tokens);
    int64_t need = 0;
    for (int64_t i = 0; i < (int64_t)s->geom.n_layer * n_blocks; i++) need += present[i];
    while (am_kv_n_blocks_free(s->kv) < need && sched_evict_one(s)) {
    }
    if (am_kv_seq_import(s->kv, c->seq, 0, n_tokens, present, err) < 0) return -1;
    c->imported = true;
    return 0;
}

static void *restore_dst(void *ctx, int layer, int64_t index, am_err *err) {
    restore_ctx *c = ctx;
    int32_t id = am_kv_seq_block(c->s->kv, c->seq, layer, index * c->s->geom.block_tokens);
    if (id < 0) {
        am_err_setc(err, AM_E_BAD_FILE, "block (%d, %lld) outside the sequence", layer, (long long)index);
        return NULL;
    }
    return am_kv_block_data(c->s->kv, id);
}

int sched_agent_restore(am_sched *s, sched_agent *a, am_err *err) {
    char path[4096];
    if (am_kvf_path(s->mdir, a->owner, a->id, path, sizeof path) < 0)
        return am_err_setc(err, AM_E_INVALID, "cache path too long");
    sched_persist_wait_path(s, path);
    double t0 = am_time_now();
    am_kvf_loaded ld = {0};
    restore_ctx c = {s, am_kv_seq_create(s->kv), false};
    int rc = am_kvf_load_ex(path, s->fp, &s->geom, s->n_vocab, restore_begin, restore_dst, &c, &ld, err);
    if (rc < 0) {
        am_kv_seq_remove(s->kv, c.seq);
        am_kvf_loaded_free(&ld);
        bool no_kv = err && err->code == AM_E_NO_KV;
        if (!no_kv) atomic_fetch_add(&s->st_restore_fail, 1);
        pthread_mutex_lock(&s->amu);
        a->on_disk = no_kv; /* the file is fine when only memory was short */
        if (!no_kv) {
            a->n_tokens = 0;
            a->disk_bytes = 0;
        }
        a->clean_tokens = 0;
        pthread_mutex_unlock(&s->amu);
        if (err && err->code == AM_E_BAD_FILE) {
            am_log_warn("removing bad cache file %s: %s", path, err->msg);
            persist_job *j = am_xcalloc(1, sizeof *j);
            j->is_delete = true;
            snprintf(j->path, sizeof j->path, "%s", path);
            sched_persist_push(s, j);
        }
        return -1;
    }
    pthread_mutex_lock(&s->amu);
    a->seq = c.seq;
    free(a->tokens);
    a->tokens = ld.tokens;
    ld.tokens = NULL;
    a->n_tokens = a->cap = ld.n_tokens;
    a->clean_tokens = ld.n_tokens;
    a->gen_start = ld.gen_start;
    free(a->logits_gen);
    free(a->logits_last);
    a->logits_gen = ld.logits_gen;
    a->logits_last = ld.logits_last;
    ld.logits_gen = ld.logits_last = NULL;
    a->disk_bytes = ld.file_bytes;
    a->mem_bytes = sched_agent_mem_bytes(s, a);
    pthread_mutex_unlock(&s->amu);
    atomic_fetch_add(&s->st_restores, 1);
    atomic_fetch_add(&s->st_restore_bytes, ld.file_bytes);
    am_log_debug("restored agent %s: %lld tokens in %.1f ms", a->id, (long long)a->n_tokens,
                 (am_time_now() - t0) * 1e3);
    am_kvf_loaded_free(&ld);
    return 0;
}

/* Files of the flat layout (cache_dir/[owner-]agent.amkv, before model
 * directories) that this model wrote move into its directory; other models'
 * flat files stay where they are until that model is served. */
static void migrate_flat(am_sched *s) {
    DIR *d = opendir(s->p.cache_dir);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".amkv")) continue;
        char path[4096], want[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", s->p.cache_dir, de->d_name) >= sizeof path) continue;
        am_kvf_info info;
        am_err err = {0};
        if (am_kvf_peek(path, &info, &err) < 0 || memcmp(info.h.fingerprint, s->fp, 16) != 0) continue;
        if (am_kvf_path(s->mdir, info.h.owner, info.h.agent, want, sizeof want) < 0) continue;
        if (access(want, F_OK) == 0) continue; /* the directory's file is newer */
        if (rename(path, want) == 0) am_log_info("cache: moved %s to %s", path, want);
    }
    closedir(d);
}

void sched_index_dir(am_sched *s) {
    migrate_flat(s);
    DIR *d = opendir(s->mdir);
    if (!d) return;
    struct dirent *de;
    int n = 0, other = 0;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".amkv")) continue;
        char path[4096];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", s->mdir, de->d_name) >= sizeof path) continue;
        am_kvf_info info;
        am_err err = {0};
        if (am_kvf_peek(path, &info, &err) < 0) {
            am_log_warn("cache file %s: %s", path, err.msg);
            if (err.code == AM_E_BAD_FILE) unlink(path);
            continue;
        }
        if (memcmp(info.h.fingerprint, s->fp, 16) != 0) {
            other++; /* misplaced (copied by hand): kept, never loaded here */
            continue;
        }
        if (info.torn_bytes) { /* killed mid-append: the state before it loads; make the file whole */
            if (am_kvf_cut_torn_tail(path, &err) == 0) {
                am_log_info("cache file %s: cut a torn append of %llu bytes", path, (unsigned long long)info.torn_bytes);
                info.file_bytes -= info.torn_bytes;
            } else {
                am_log_warn("%s", err.msg);
            }
        }
        char want[4096];
        if (am_kvf_path(s->mdir, info.h.owner, info.h.agent, want, sizeof want) < 0 || strcmp(want, path))
            continue;
        pthread_mutex_lock(&s->amu);
        sched_agent *a = sched_agent_add(s, info.h.owner, info.h.agent);
        a->on_disk = true;
        a->n_tokens = info.n_tokens;
        a->disk_bytes = info.file_bytes;
        a->last_used = (double)info.mtime;
        pthread_mutex_unlock(&s->amu);
        atomic_fetch_add(&s->st_disk_bytes, (int64_t)info.file_bytes);
        n++;
    }
    closedir(d);
    /* Oldest first in LRU order. */
    for (int i = 0; i < s->n_agents; i++)
        for (int j = 0; j < s->n_agents; j++)
            if (s->agents[j].used && s->agents[i].used && s->agents[j].last_used > s->agents[i].last_used &&
                s->agents[j].lru < s->agents[i].lru) {
                uint64_t t = s->agents[i].lru;
                s->agents[i].lru = s->agents[j].lru;
                s->agents[j].lru = t;
            }
    if (other) am_log_warn("cache %s: %d files of another fingerprint ignored", s->mdir, other);
    am_log_info("cache %s: %d agents of this model", s->mdir, n);
}

static json_t *agent_json(const am_sched *s, const sched_agent *a) {
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:b}", "id", a->id, "tier", a->seq >= 0 ? "hot" : "warm",
                     "tokens", (json_int_t)a->n_tokens, "bytes_memory", (json_int_t)a->mem_bytes,
                     "bytes_disk", (json_int_t)a->disk_bytes, "last_used", (json_int_t)a->last_used, "hits",
                     (json_int_t)a->hits, "running", a->running);
}

json_t *am_sched_agents_json(am_sched *s, uint64_t owner, const char *id) {
    json_t *arr = json_array();
    pthread_mutex_lock(&s->amu);
    for (int i = 0; i < s->n_agents; i++) {
        const sched_agent *a = &s->agents[i];
        if (!a->used || a->ephemeral || a->owner != owner) continue;
        if (a->seq < 0 && !a->on_disk) continue;
        if (id && strcmp(a->id, id)) continue;
        json_array_append_new(arr, agent_json(s, a));
    }
    pthread_mutex_unlock(&s->amu);
    if (id) {
        json_t *one = json_array_size(arr) ? json_incref(json_array_get(arr, 0)) : NULL;
        json_decref(arr);
        return one;
    }
    return arr;
}
