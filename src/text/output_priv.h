/*
 * output_priv.h — pieces shared by output.c (stop strings, reasoning) and
 * output_tools.c (tool-call holding and parsing). Not a public interface.
 */
#ifndef AM_OUTPUT_PRIV_H
#define AM_OUTPUT_PRIV_H

#include "text/output.h"

/* A growable byte buffer. */
typedef struct am_obuf {
    char *p;
    size_t n, cap;
} am_obuf;

void am_obuf_put(am_obuf *b, const char *s, size_t n);
/* Drops the first n bytes. */
void am_obuf_consume(am_obuf *b, size_t n);
void am_obuf_free(am_obuf *b);

/* Length of the longest suffix of s[0..n) that is a proper prefix of pat
 * (shorter than pat), i.e. how much must be held back in case pat is
 * completed by the next chunk. */
size_t am_suffix_prefix(const char *s, size_t n, const char *pat, size_t pn);

/* Finds pat in s[0..n); returns its offset or -1. */
long am_find(const char *s, size_t n, const char *pat, size_t pn);

/* The tool-call stage: sees the content after stop strings are applied,
 * passes on what cannot be a tool call and holds the rest to the flush. */
typedef struct am_toolstage am_toolstage;
am_toolstage *am_toolstage_create(am_tool_format f, uint64_t id_seed);
void am_toolstage_free(am_toolstage *ts);
void am_toolstage_push(am_toolstage *ts, const char *s, size_t n, am_obuf *content);
/* Releases held text that was not a tool call into content and appends the
 * calls parsed to calls (a JSON array). */
void am_toolstage_flush(am_toolstage *ts, am_obuf *content, json_t *calls);

#endif
