/* data_prepare.h - private to data_prepare.c and data_report.c: the documents of one prepare run
 * and the figures its report is made of.
 */
#ifndef KAIWU_TRAIN_DATA_PREPARE_H
#define KAIWU_TRAIN_DATA_PREPARE_H

#include "train/data.h"

#define PREP_MAX_EXAMPLES 4
#define PREP_N_BINS       20 /* Jaccard histogram of the candidate pairs, bins of 0.05 */

/* One kept-so-far document (after cleaning and simplification). Strings owned. */
typedef struct prep_doc {
    char *id;        /* "tang.3000.17" */
    char *title;     /* simplified; never empty (see data_prepare.c) */
    char *author;    /* "" when unknown */
    char *form;      /* "五言绝句", a cipai, "other" */
    char *body;      /* lines separated by '\n' */
    char *raw_first; /* the record's first raw line (for examples), truncated */
    int source;
    int64_t order; /* read order, the tie-break after source priority */
    data_reason reason;
    int64_t dup_of; /* DR_*_DUP: index of the kept document */
    double dup_j;   /* DR_NEAR_DUP: Jaccard with it */
    bool val;
    uint64_t *sh; /* shingles (freed after dedup) */
    int32_t n_sh;
} prep_doc;

typedef struct prep_example {
    char *id, *text, *other; /* owned; other: the kept poem (duplicates) or the cleaned text */
    double j;
    uint32_t cp; /* the rejecting character, 0 when none */
} prep_example;

typedef struct prep_source_stats {
    int64_t n_files, n_records, n_kept, n_train, n_val, chars;
    int64_t by_reason[DR_COUNT];
} prep_source_stats;

typedef struct prep_report {
    const kw_data_prepare_params *params;
    int shingle_chars, cover_chars, n_bands, n_rows;
    prep_source_stats src[32];
    int64_t skipped_files[32];
    prep_example ex[DR_COUNT][PREP_MAX_EXAMPLES];
    int n_ex[DR_COUNT];
    prep_example notes_ex[PREP_MAX_EXAMPLES]; /* notes removed: raw, cleaned */
    int n_notes_ex;
    int64_t n_notes, n_unclosed;
    uint32_t bad_cp[64]; /* the rejecting characters seen, with their counts */
    int64_t bad_n[64];
    int n_bad;
    int64_t n_candidates, n_capped;
    int64_t hist[PREP_N_BINS];
    prep_example near_ex[PREP_N_BINS][2]; /* a pair per histogram bin, for the threshold */
    int n_near_ex[PREP_N_BINS];
    int64_t cov_hist[PREP_N_BINS]; /* coverage of the poems that had any, bins of 0.05 */
    prep_example cov_ex[PREP_N_BINS][2];
    int n_cov_ex[PREP_N_BINS];
    int64_t forms[6]; /* kept: 五绝 七绝 五律 七律 cipai other */
    int64_t n_split_groups, largest_group;
    double seconds;
} prep_report;

/* Writes the report as Markdown into out. */
kw_status prep_report_write(const prep_report *r, const kw_data_prepare_stats *s, dbuf *out);
void prep_example_free(prep_example *e);

#endif
