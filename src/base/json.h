/*
 * json.h — reading JSON that model files really contain.
 *
 * Hugging Face writes `tokenizer_config.json` and `config.json` with Python's
 * json, which accepts integers of any size: Meta's Llama 2/3 and gpt-oss
 * checkpoints hold "model_max_length": 1000000000000000019884624838656.
 * jansson refuses such a number ("too big integer"). am_json_loadb parses
 * like json_loadb, and when (only when) an integer literal does not fit in
 * 64 bits it reads that literal as a real instead, as json.loads would give
 * a Python int that every reader treats as "unbounded". Integers that fit
 * stay integers, so fields that must be integers are still checked as such.
 *
 * Threads: no state. Failure: NULL with je filled, as json_loadb.
 */
#ifndef AM_JSON_H
#define AM_JSON_H

#include <jansson.h>
#include <stddef.h>

json_t *am_json_loadb(const char *text, size_t n, size_t flags, json_error_t *je);

#endif
