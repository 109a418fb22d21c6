/* gen.h - internals of the generation layer (src/gen/): the text stream of one generation (stop
 * strings held back, the reasoning/content split), the generation and the engine that schedules
 * many of them over one context.
 *
 * Layer: above model, tokenizer, sample and chat; below serve and the CLI. Uses only the public
 * API of the layers below (kaiwu.h) and base.
 */
#ifndef KAIWU_GEN_H
#define KAIWU_GEN_H

#include "base/base.h"
#include "kaiwu.h"

#include <stdatomic.h>

/* A growing byte buffer, always NUL-terminated once it holds anything. */
typedef struct gen_buf {
    char *p;
    size_t n, cap;
} gen_buf;
bool gen_buf_add(gen_buf *b, const char *s, size_t n);
bool gen_buf_reserve(gen_buf *b, size_t cap);
void gen_buf_free(gen_buf *b);

/* Stop strings: text that could still be the start of one is held back. */
typedef struct gen_stops {
    char **s; /* n owned copies */
    int32_t n;
    gen_buf hold;  /* text not released yet */
    bool hit;      /* a stop string was found: nothing more is released */
    int32_t which; /* after a hit: the index in s of the stop string found */
} gen_stops;
kw_status gen_stops_init(gen_stops *st, const char *const *stops, int32_t n);
void gen_stops_free(gen_stops *st);
/* Appends t[0..n) and releases into out what can no longer be part of a stop string (at_end:
 * everything left). After a hit, the text before the stop string is released and the rest
 * dropped. False when out of memory. */
bool gen_stops_push(gen_stops *st, const char *t, size_t n, bool at_end, gen_buf *out);

/* The reasoning/content split of a streamed reply, trimmed as kw_chat_parse_reply trims. */
typedef struct gen_split {
    bool on;         /* off: everything is content, untouched */
    bool in_think;   /* inside the reasoning block */
    bool think_done; /* the block was closed: no further switch */
    bool started[2]; /* the channel (0 content, 1 reasoning) has emitted text */
    char tag[16];    /* a possible beginning of the tag that would switch channels */
    size_t n_tag;
    gen_buf ws[2]; /* trailing whitespace held per channel */
} gen_split;
void gen_split_init(gen_split *sp, bool on, bool thinking_open);
void gen_split_free(gen_split *sp);
/* Routes t[0..n) to content or reasoning; at_end drops held whitespace and releases a partial
 * tag as text. False when out of memory. */
bool gen_split_push(gen_split *sp, const char *t, size_t n, bool at_end, gen_buf *content,
                    gen_buf *reasoning);

typedef enum gen_state { GEN_NEW, GEN_PROMPT, GEN_DECODE, GEN_DONE } gen_state;

struct kw_gen {
    kw_engine *eng; /* borrowed */
    kw_gen_params p;
    kw_sampler *smp;  /* owned */
    kw_token *prompt; /* owned, n_prompt */
    int32_t n_prompt, cap_prompt;
    bool thinking_open; /* the chat prompt opened a reasoning block */
    gen_state state;
    kw_seq_id seq;    /* held sequence, -1 none */
    int32_t n_cached; /* prompt tokens reused from the cache at start */
    int32_t n_gen;    /* tokens generated */
    kw_token last;    /* the sampled token to evaluate next */
    int32_t row;      /* this step's logits row, -1 none */
    atomic_bool cancel;
    kw_finish_reason finish;
    kw_detok_stream ds;
    gen_stops stops;
    gen_split split;
    gen_buf raw;                 /* the reply released by the stop filter */
    gen_buf d_content, d_reason; /* this step's deltas */
    kw_token top_ids[20];
    float top_lp[20];
    double t_start, t_first, t_end;
    /* structured output (gen.c, gen_constraint_check): the final reply is checked against these */
    char *cons_schema;      /* owned: the schema (json_schema, or any object for json_object) */
    kw_grammar *cons_check; /* owned: the constraint's grammar without a token table; NULL none */
    kw_constraint_status cons;
    char *cons_why; /* owned message for INCOMPLETE / INVALID */
    char *gbnf_tmp; /* owned: the converted schema during kw_gen_create only */
    kw_gen *next;   /* the engine's list of started generations */
    /* tool calls (p.tools_json and p.tool_choice point at these copies) */
    char *tools_json;  /* owned copy, or NULL */
    char *tool_choice; /* owned copy, or NULL */
    bool tool_calls;   /* calls are looked for: tools given and tool_choice is not "none" */
    char *tool_gbnf;   /* owned: the forced-call grammar, or NULL */
};

struct kw_engine {
    kw_context *ctx; /* borrowed */
    const kw_model *model;
    int32_t n_seq, n_ctx, n_batch;
    kw_batch batch;
    kw_token *seq_tokens; /* (n_seq, n_ctx): the tokens each sequence's cache holds */
    kw_gen **owner;       /* (n_seq) the generation holding each sequence, or NULL */
    uint64_t *last_used;  /* (n_seq) tick of the last release, for least-recently-used choice */
    uint64_t tick;
    kw_gen *active; /* started generations, oldest first */
};

/* engine.c: gives a generation a sequence (kw_gen_start) and takes it back. */
kw_status engine_attach(kw_engine *eng, kw_gen *g);
void engine_detach(kw_engine *eng, kw_gen *g);
/* gen.c: one step's sampling for a generation whose logits row is ready; finishing. */
void gen_after_decode(kw_gen *g, const float *logits);
void gen_finish(kw_gen *g, kw_finish_reason why);

#endif
