/* data_report.c - report.md of `kaiwu data prepare`: the parameters, counts in and out per source,
 * removals by reason with examples, the Jaccard histogram of the near-duplicate candidates with a
 * pair from each bin (the evidence for the threshold), the split and the forms.
 *
 * Relies on data_prepare.h. Must not: change the run's figures (it only formats them).
 */
#include "train/data_prepare.h"

#include <stdlib.h>
#include <string.h>

void prep_example_free(prep_example *e) {
    free(e->id);
    free(e->text);
    free(e->other);
    memset(e, 0, sizeof(*e));
}

/* Markdown table cells must not hold '|' or newlines. */
static kw_status cell(dbuf *b, const char *s) {
    kw_status st = KW_OK;
    for (; s && *s && st == KW_OK; s++)
        st = *s == '\n' ? dbuf_puts(b, " / ") : *s == '|' ? dbuf_puts(b, "\\|") : dbuf_putc(b, *s);
    return st;
}

static kw_status summary(const prep_report *r, const kw_data_prepare_stats *s, dbuf *b) {
    const kw_data_prepare_params *p = r->params;
    kw_status st = dbuf_puts(b, "# Training data report (`kaiwu data prepare`)\n\n");
    if (st == KW_OK)
        st = dbuf_printf(
            b,
            "Parameters: near-duplicate threshold %.2f (exact Jaccard of %d-character shingle "
            "sets), cover threshold %.2f (share of %d-character shingles already kept), split "
            "link %.2f, MinHash %d bands x %d rows, validation fraction %.4f, seed %llu, OpenCC "
            "`%s`.\n\n",
            p->near_dup_threshold, r->shingle_chars, p->cover_threshold, r->cover_chars,
            p->split_link_threshold, r->n_bands, r->n_rows, p->val_fraction,
            (unsigned long long)p->seed, p->opencc_config ? p->opencc_config : "t2s.json");
    if (st == KW_OK)
        st = dbuf_printf(b,
                         "| | count |\n|---|---:|\n| files read | %lld |\n| records | %lld |\n"
                         "| dropped by the cleaning rules | %lld |\n| exact duplicates | %lld |\n"
                         "| near duplicates | %lld |\n| covered by kept poems | %lld |\n"
                         "| documents in train.txt | %lld |\n"
                         "| documents in val.txt | %lld |\n| characters in train.txt | %lld |\n"
                         "| characters in val.txt | %lld |\n| time | %.1f s |\n\n",
                         (long long)s->n_files, (long long)s->n_records, (long long)s->n_rejected,
                         (long long)s->n_exact_dups, (long long)s->n_near_dups,
                         (long long)s->n_covered, (long long)s->n_train, (long long)s->n_val,
                         (long long)s->chars_train, (long long)s->chars_val, r->seconds);
    return st;
}

static kw_status per_source(const prep_report *r, dbuf *b) {
    kw_status st = dbuf_puts(
        b, "## Per source\n\n| source | files | records | dropped (rules) | exact dup | near dup "
           "| covered | kept | train | val | characters |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < data_source_count() && st == KW_OK; i++) {
        const char *name = data_source_at(i)->name;
        bool seen = false; /* sources sharing a name are one row */
        for (int k = 0; k < i && !seen; k++)
            seen = strcmp(data_source_at(k)->name, name) == 0;
        if (seen) continue;
        prep_source_stats t = {0};
        for (int k = i; k < data_source_count(); k++) {
            if (strcmp(data_source_at(k)->name, name) != 0) continue;
            const prep_source_stats *ss = &r->src[k];
            t.n_files += ss->n_files;
            t.n_records += ss->n_records;
            t.n_kept += ss->n_kept;
            t.n_train += ss->n_train;
            t.n_val += ss->n_val;
            t.chars += ss->chars;
            for (int x = 0; x < DR_COUNT; x++)
                t.by_reason[x] += ss->by_reason[x];
        }
        if (t.n_files == 0) continue;
        int64_t rules = 0;
        for (int k = DR_EMPTY; k < DR_EXACT_DUP; k++)
            rules += t.by_reason[k];
        st = dbuf_printf(b,
                         "| %s | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %lld | %lld | "
                         "%lld |\n",
                         name, (long long)t.n_files, (long long)t.n_records, (long long)rules,
                         (long long)t.by_reason[DR_EXACT_DUP], (long long)t.by_reason[DR_NEAR_DUP],
                         (long long)t.by_reason[DR_COVERED], (long long)t.n_kept,
                         (long long)t.n_train, (long long)t.n_val, (long long)t.chars);
    }
    if (st == KW_OK) st = dbuf_puts(b, "\nNot read:\n\n");
    for (int i = 0; i < data_source_count() && st == KW_OK; i++)
        if (r->skipped_files[i])
            st = dbuf_printf(b, "- %s (`%s`, %lld files): %s\n", data_source_at(i)->name,
                             data_source_at(i)->match, (long long)r->skipped_files[i],
                             data_source_at(i)->note);
    return st == KW_OK ? dbuf_puts(b, "\n") : st;
}

static kw_status reasons(const prep_report *r, dbuf *b) {
    kw_status st = dbuf_puts(b, "## Removed, by reason\n\n| reason | count | examples (id: the "
                                "raw line; duplicates: removed -> kept) |\n|---|---:|---|\n");
    for (int k = DR_EMPTY; k < DR_COUNT && st == KW_OK; k++) {
        int64_t n = 0;
        for (int i = 0; i < data_source_count(); i++)
            n += r->src[i].by_reason[k];
        st = dbuf_printf(b, "| %s | %lld | ", data_reason_name((data_reason)k), (long long)n);
        for (int e = 0; e < r->n_ex[k] && st == KW_OK; e++) {
            const prep_example *x = &r->ex[k][e];
            st = dbuf_printf(b, "%s`%s`: ", e ? "<br>" : "", x->id ? x->id : "?");
            if (st == KW_OK && x->cp) {
                char u[5] = {0};
                kw_utf8_encode(x->cp, u);
                st = dbuf_printf(b, "(U+%04X %s) ", x->cp, u);
            }
            if (st == KW_OK) st = cell(b, x->text);
            if (st == KW_OK && x->other) {
                st = dbuf_printf(b, " -> (%s %.2f) ", k == DR_COVERED ? "covered" : "J", x->j);
                if (st == KW_OK) st = cell(b, x->other);
            }
        }
        if (st == KW_OK) st = dbuf_puts(b, " |\n");
    }
    if (st == KW_OK) st = dbuf_puts(b, "\nThe characters that dropped poems, most frequent first:");
    bool used[64] = {0};
    for (int n = 0; n < r->n_bad && n < 24 && st == KW_OK; n++) {
        int best = -1;
        for (int i = 0; i < r->n_bad; i++)
            if (!used[i] && (best < 0 || r->bad_n[i] > r->bad_n[best])) best = i;
        used[best] = true;
        char u[5] = {0};
        kw_utf8_encode(r->bad_cp[best], u);
        st = dbuf_printf(b, "%s U+%04X %s (%lld)", n ? "," : "", r->bad_cp[best], u,
                         (long long)r->bad_n[best]);
    }
    if (st == KW_OK) st = dbuf_puts(b, ".\n");
    if (st == KW_OK)
        st = dbuf_printf(b,
                         "\nEditorial notes removed: %lld bracketed notes (%lld never closed, "
                         "removed to the end of the text). Examples (raw line -> cleaned, "
                         "simplified body):\n\n",
                         (long long)r->n_notes, (long long)r->n_unclosed);
    for (int e = 0; e < r->n_notes_ex && st == KW_OK; e++) {
        st = dbuf_printf(b, "- `%s`: ", r->notes_ex[e].id);
        if (st == KW_OK) st = cell(b, r->notes_ex[e].text);
        if (st == KW_OK) st = dbuf_puts(b, " -> ");
        if (st == KW_OK) st = cell(b, r->notes_ex[e].other);
        if (st == KW_OK) st = dbuf_puts(b, "\n");
    }
    return st == KW_OK ? dbuf_puts(b, "\n") : st;
}

static kw_status hist_table(const int64_t *hist, const prep_example (*ex)[2], const int *n_ex,
                            const char *what, dbuf *b) {
    kw_status st = dbuf_printf(b, "| %s | poems | example pair |\n|---|---:|---|\n", what);
    for (int k = 0; k < PREP_N_BINS && st == KW_OK; k++) {
        if (hist[k] == 0) continue;
        st = dbuf_printf(b, "| %.2f-%.2f | %lld | ", k / (double)PREP_N_BINS,
                         (k + 1) / (double)PREP_N_BINS, (long long)hist[k]);
        if (st == KW_OK && n_ex[k] > 0) {
            st = dbuf_printf(b, "(%.2f) ", ex[k][0].j);
            if (st == KW_OK) st = cell(b, ex[k][0].text);
            if (st == KW_OK) st = dbuf_puts(b, " <br>vs ");
            if (st == KW_OK) st = cell(b, ex[k][0].other);
        }
        if (st == KW_OK) st = dbuf_puts(b, " |\n");
    }
    return st == KW_OK ? dbuf_puts(b, "\n") : st;
}

static kw_status histogram(const prep_report *r, dbuf *b) {
    kw_status st = dbuf_printf(
        b,
        "## Near-duplicate candidates\n\n%lld candidate pairs from LSH (%lld documents cut from "
        "oversized buckets), by the exact Jaccard of their %d-character shingle sets, with the "
        "first pair of each bin (a pair counts in \"poems\"):\n\n",
        (long long)r->n_candidates, (long long)r->n_capped, r->shingle_chars);
    if (st == KW_OK) st = hist_table(r->hist, r->near_ex, r->n_near_ex, "Jaccard", b);
    if (st == KW_OK)
        st = dbuf_printf(
            b,
            "## Coverage\n\nPoems sharing text with poems kept before them, by the "
            "share of their %d-character shingles already kept (the kept poem sharing most "
            "of it shown):\n\n",
            r->cover_chars);
    if (st == KW_OK) st = hist_table(r->cov_hist, r->cov_ex, r->n_cov_ex, "coverage", b);
    return st;
}

static kw_status forms(const prep_report *r, dbuf *b) {
    return dbuf_printf(
        b,
        "## Split and forms\n\n%lld split groups (poems linked at Jaccard >= %.2f share one), "
        "the largest %lld poems.\n\nKept poems by form: 五言绝句 %lld, 七言绝句 %lld, 五言律诗 "
        "%lld, 七言律诗 %lld, ci (by cipai) %lld, other %lld.\n",
        (long long)r->n_split_groups, r->params->split_link_threshold, (long long)r->largest_group,
        (long long)r->forms[0], (long long)r->forms[1], (long long)r->forms[2],
        (long long)r->forms[3], (long long)r->forms[4], (long long)r->forms[5]);
}

kw_status prep_report_write(const prep_report *r, const kw_data_prepare_stats *s, dbuf *out) {
    kw_status st = summary(r, s, out);
    if (st == KW_OK) st = per_source(r, out);
    if (st == KW_OK) st = reasons(r, out);
    if (st == KW_OK) st = histogram(r, out);
    if (st == KW_OK) st = forms(r, out);
    return st;
}
