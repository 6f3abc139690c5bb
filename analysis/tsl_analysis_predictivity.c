#include "tsl_analysis_predictivity.h"

#include "tsl_stats_basic.h"
#include "tsl_stats_linalg.h"
#include "tsl_stats_pls.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const OP = "predictivity";

void tsl_analysis_predictivity_options_default(tsl_analysis_predictivity_options *options) {
    *options = (tsl_analysis_predictivity_options){
        .n_splits = 10, .test_fraction = 0.1, .n_components = 25, .seed = 1};
}

/* Test items per label group (group_len[g] items each): floor of the proportional share, then one more
 * to the groups with the largest remainders (the first group on ties). */
static void allocate_test_counts(const size_t *group_len, size_t n_groups, size_t n, size_t n_test,
                                 size_t *count) {
    size_t given = 0;
    for (size_t g = 0; g < n_groups; g++) {
        count[g] = group_len[g] * n_test / n;
        given += count[g];
    }
    while (given < n_test) {
        size_t best = n_groups;
        double best_rem = -1;
        for (size_t g = 0; g < n_groups; g++) {
            double rem = (double)group_len[g] * (double)n_test / (double)n - (double)count[g];
            if (count[g] < group_len[g] && rem > best_rem)
                best = g, best_rem = rem;
        }
        count[best]++, given++;
    }
}

/* Items grouped by label in order of first appearance: order (n), group_len (n_groups). */
static size_t group_by_label(const int32_t *labels, size_t n, size_t *order, size_t *group_len) {
    size_t n_groups = 0, filled = 0;
    bool *done = calloc(n, sizeof *done);
    if (!done)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        size_t len = 0;
        for (size_t j = i; j < n; j++)
            if (!done[j] && labels[j] == labels[i])
                order[filled++] = j, done[j] = true, len++;
        group_len[n_groups++] = len;
    }
    free(done);
    return n_groups;
}

tsl_status tsl_analysis_train_test_split(size_t n, const int32_t *labels, double test_fraction, uint64_t seed,
                                         size_t *train, size_t *test, size_t *n_test_out) {
    if (!(test_fraction > 0 && test_fraction < 1))
        return tsl_error(TSL_ERR_INVALID_ARG, "split: test_fraction %g outside (0, 1)", test_fraction);
    size_t n_test = (size_t)ceil(test_fraction * (double)n);
    if (n < 2 || n_test < 1 || n_test >= n)
        return tsl_error(TSL_ERR_INVALID_ARG, "split: %zu items with test_fraction %g leave an empty side", n,
                         test_fraction);
    size_t *order = malloc(n * sizeof *order), *group_len = malloc(n * sizeof *group_len);
    size_t *count = malloc(n * sizeof *count);
    bool *is_test = calloc(n, sizeof *is_test);
    tsl_status st = TSL_OK;
    if (!order || !group_len || !count || !is_test) {
        st = tsl_error(TSL_ERR_NOMEM, "split: %zu items", n);
        goto done;
    }
    size_t n_groups = 1;
    if (labels) {
        n_groups = group_by_label(labels, n, order, group_len);
        if (n_groups == 0) {
            st = tsl_error(TSL_ERR_NOMEM, "split: grouping %zu labels", n);
            goto done;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        group_len[0] = n;
    }
    allocate_test_counts(group_len, n_groups, n, n_test, count);
    tsl_stats_rng rng = tsl_stats_rng_new(seed);
    size_t start = 0;
    for (size_t g = 0; g < n_groups; g++) {
        tsl_stats_shuffle(&rng, order + start, group_len[g]);
        for (size_t i = 0; i < count[g]; i++)
            is_test[order[start + i]] = true;
        start += group_len[g];
    }
    size_t a = 0, b = 0; /* scanning in index order keeps both lists sorted */
    for (size_t i = 0; i < n; i++) {
        if (is_test[i])
            test[b++] = i;
        else
            train[a++] = i;
    }
    *n_test_out = n_test;
done:
    free(order), free(group_len), free(count), free(is_test);
    return st;
}

static void gather_rows(const double *src, const size_t *rows, size_t m, size_t cols, double *dst) {
    for (size_t i = 0; i < m; i++)
        memcpy(dst + i * cols, src + rows[i] * cols, cols * sizeof *dst);
}

/* One split: PLS on the training stimuli, median Pearson r over neuroids on the test stimuli. */
static tsl_status predictivity_split(const double *features, size_t n, size_t d, const double *responses,
                                     size_t k, const size_t *train, const size_t *test, size_t n_test,
                                     size_t n_components, double *median_r) {
    size_t n_train = n - n_test;
    double *xtr = malloc(n_train * d * sizeof *xtr), *ytr = malloc(n_train * k * sizeof *ytr);
    double *xte = malloc(n_test * d * sizeof *xte), *yte = malloc(n_test * k * sizeof *yte);
    double *pred = malloc(n_test * k * sizeof *pred), *r = malloc(k * sizeof *r);
    tsl_stats_pls_model model = {0};
    tsl_status st = TSL_OK;
    if (!xtr || !ytr || !xte || !yte || !pred || !r) {
        st = tsl_error(TSL_ERR_NOMEM, "%s: split of %zu stimuli", OP, n);
        goto done;
    }
    gather_rows(features, train, n_train, d, xtr);
    gather_rows(responses, train, n_train, k, ytr);
    gather_rows(features, test, n_test, d, xte);
    gather_rows(responses, test, n_test, k, yte);
    st = tsl_stats_pls_fit(xtr, ytr, n_train, d, k, n_components, &model);
    if (st == TSL_OK)
        st = tsl_stats_pls_predict(&model, xte, n_test, d, pred);
    if (st == TSL_OK)
        st = tsl_stats_pearson_columns(yte, pred, n_test, k, r);
    if (st == TSL_OK)
        st = tsl_stats_median(r, k, median_r);
done:
    tsl_stats_pls_model_free(&model);
    free(xtr), free(ytr), free(xte), free(yte), free(pred), free(r);
    return st;
}

tsl_status tsl_analysis_predictivity(const double *features, size_t n, size_t d, const double *responses,
                                     size_t n_neuroids, const int32_t *labels,
                                     const tsl_analysis_predictivity_options *options, double *score,
                                     double *split_scores) {
    TSL_TRY(tsl_stats_check_shape(OP, "features", n, d));
    TSL_TRY(tsl_stats_check_shape(OP, "responses", n, n_neuroids));
    if (!options || options->n_splits < 1 || options->n_components < 1 || options->n_components > d)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: needs n_splits >= 1 and 1 <= n_components <= d = %zu", OP,
                         d);
    if ((size_t)ceil(options->test_fraction * (double)n) < 2)
        return tsl_error(TSL_ERR_INVALID_ARG, "%s: %zu stimuli with test fraction %g give < 2 test stimuli",
                         OP, n, options->test_fraction);
    TSL_TRY(tsl_stats_check_finite(OP, "features", features, n * d));
    TSL_TRY(tsl_stats_check_finite(OP, "responses", responses, n * n_neuroids));
    size_t *train = malloc(n * sizeof *train), *test = malloc(n * sizeof *test);
    tsl_status st = TSL_OK;
    if (!train || !test)
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu stimuli", OP, n);
    double sum = 0;
    tsl_stats_rng seeds = tsl_stats_rng_new(options->seed);
    for (size_t s = 0; s < options->n_splits && st == TSL_OK; s++) {
        size_t n_test = 0;
        double median_r = 0;
        st = tsl_analysis_train_test_split(n, labels, options->test_fraction, tsl_stats_rng_u64(&seeds),
                                           train, test, &n_test);
        if (st == TSL_OK)
            st = predictivity_split(features, n, d, responses, n_neuroids, train, test, n_test,
                                    options->n_components, &median_r);
        if (st != TSL_OK)
            st = tsl_error_context(st, "%s: split %zu", OP, s);
        if (split_scores)
            split_scores[s] = median_r;
        sum += median_r;
    }
    free(train), free(test);
    if (st == TSL_OK)
        *score = sum / (double)options->n_splits;
    return st;
}

/* Averages the recorded (non-NaN) trials listed in `which` (m of them) for every stimulus and neuroid into
 * out (s x k); NaN where none of them was recorded. */
static void average_trials(const double *trials, size_t s, size_t n_trials, size_t k, const size_t *which,
                           size_t m, double *out) {
    for (size_t i = 0; i < s; i++)
        for (size_t j = 0; j < k; j++) {
            double sum = 0;
            size_t recorded = 0;
            for (size_t r = 0; r < m; r++) {
                double v = trials[(i * n_trials + which[r]) * k + j];
                if (!isnan(v))
                    sum += v, recorded++;
            }
            out[i * k + j] = recorded ? sum / (double)recorded : NAN;
        }
}

/* Pearson r per neuroid between the half averages a and b (s x k), over the stimuli where both are defined
 * (Brain-Score groups each half by stimulus, so a stimulus missing from a half drops out). */
static tsl_status pearson_complete(const double *a, const double *b, size_t s, size_t k, double *work_a,
                                   double *work_b, double *r) {
    bool complete = true;
    for (size_t i = 0; i < s * k && complete; i++)
        complete = !isnan(a[i]) && !isnan(b[i]);
    if (complete)
        return tsl_stats_pearson_columns(a, b, s, k, r);
    for (size_t j = 0; j < k; j++) {
        size_t m = 0;
        for (size_t i = 0; i < s; i++)
            if (!isnan(a[i * k + j]) && !isnan(b[i * k + j]))
                work_a[m] = a[i * k + j], work_b[m++] = b[i * k + j];
        if (m < 2)
            return tsl_error(
                TSL_ERR_INVALID_ARG,
                "split-half ceiling: neuroid %zu has fewer than 2 stimuli recorded in both halves", j);
        TSL_TRY(tsl_stats_pearson_columns(work_a, work_b, m, 1, &r[j]));
    }
    return TSL_OK;
}

static tsl_status check_no_infinity(const char *op, const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isinf(x[i]))
            return tsl_error(TSL_ERR_NUMERIC, "%s: trials[%zu] is infinite", op, i);
    return TSL_OK;
}

tsl_status tsl_analysis_split_half_ceiling(const double *trials, size_t n_stimuli, size_t n_trials,
                                           size_t n_neuroids, size_t n_splits, uint64_t seed, double *ceiling,
                                           double *split_values) {
    const char *op = "split-half ceiling";
    if (n_stimuli < 2 || n_trials < 2 || n_neuroids < 1 || n_splits < 1)
        return tsl_error(
            TSL_ERR_INVALID_ARG,
            "%s: needs >= 2 stimuli, >= 2 trials, >= 1 neuroid and >= 1 split; got %zu, %zu, %zu, %zu", op,
            n_stimuli, n_trials, n_neuroids, n_splits);
    TSL_TRY(tsl_stats_check_shape(op, "trials", n_stimuli * n_trials, n_neuroids));
    TSL_TRY(check_no_infinity(op, trials, n_stimuli * n_trials * n_neuroids));
    size_t k = n_neuroids, half = n_trials / 2;
    size_t *perm = malloc(n_trials * sizeof *perm);
    double *a = malloc(n_stimuli * k * sizeof *a), *b = malloc(n_stimuli * k * sizeof *b);
    double *r = malloc(k * sizeof *r), *work = malloc(2 * n_stimuli * sizeof *work);
    tsl_status st = TSL_OK;
    if (!perm || !a || !b || !r || !work)
        st = tsl_error(TSL_ERR_NOMEM, "%s: %zu stimuli x %zu neuroids", op, n_stimuli, k);
    tsl_stats_rng rng = tsl_stats_rng_new(seed);
    double sum = 0;
    for (size_t s = 0; s < n_splits && st == TSL_OK; s++) {
        for (size_t i = 0; i < n_trials; i++)
            perm[i] = i;
        tsl_stats_shuffle(&rng, perm, n_trials);
        average_trials(trials, n_stimuli, n_trials, k, perm, half, a);
        average_trials(trials, n_stimuli, n_trials, k, perm + half, n_trials - half, b);
        st = pearson_complete(a, b, n_stimuli, k, work, work + n_stimuli, r);
        for (size_t j = 0; j < k && st == TSL_OK; j++)
            r[j] = 2.0 * r[j] / (1.0 + r[j]); /* Spearman-Brown: reliability of the full set of trials */
        double median = 0;
        if (st == TSL_OK)
            st = tsl_stats_median(r, k, &median);
        if (split_values)
            split_values[s] = median;
        sum += median;
    }
    free(perm), free(a), free(b), free(r), free(work);
    if (st == TSL_OK)
        *ceiling = sum / (double)n_splits;
    return st;
}

tsl_status tsl_analysis_ceiled_score(double r, double ceiling, tsl_analysis_ceiling_rule rule,
                                     double *ceiled) {
    if (!(ceiling > 0) || !isfinite(ceiling) || !isfinite(r))
        return tsl_error(TSL_ERR_INVALID_ARG,
                         "ceiled score: needs a positive ceiling and finite r, got %g, %g", ceiling, r);
    switch (rule) {
    case TSL_ANALYSIS_CEILED_R2_OVER_CEILING:
        *ceiled = r * r / ceiling;
        return TSL_OK;
    case TSL_ANALYSIS_CEILED_RATIO_SQUARED:
        *ceiled = (r / ceiling) * (r / ceiling);
        return TSL_OK;
    }
    return tsl_error(TSL_ERR_INVALID_ARG, "ceiled score: unknown rule %d", (int)rule);
}
