/* analysis/: the CPU statistics of the analyses, against sklearn/scipy fixtures
 * (tools/make_stats_fixtures.py writes tests/fixtures/stats/) and known answers on planted data.
 *
 * Tolerances: direct linear algebra in double (Bures, ridge, PLS, factorization, t intervals) agrees
 * with numpy/scipy to ~1e-12 relative; 1e-8 leaves room for differently ordered sums and LAPACK
 * drivers on ill-conditioned pieces, and would still catch any formula error. PLS follows sklearn's
 * power iteration step for step (same start, same stopping rule), so it too is held to 1e-8. Logistic
 * regression is iterative on both sides: the fixture's optimum has max |gradient| < 1e-9, tessl's
 * < 1e-11; the objective is l2-strongly convex (l2 = 1/30), so parameters agree to ~|g| / l2 ~ 3e-8 and
 * probabilities to 1e-7 (sklearn's own answer, stopped at |g| ~ 1e-6, to 1e-5). Rank-deficient covariances
 * lose accuracy in the square roots of near-zero eigenvalues (sqrt(eps) ~ 1e-8 each): 1e-6 there. */
#include "tsl_analysis_factorization.h"
#include "tsl_analysis_predictivity.h"
#include "tsl_stats_basic.h"
#include "tsl_stats_bures.h"
#include "tsl_stats_ci.h"
#include "tsl_stats_linalg.h"
#include "tsl_stats_logreg.h"
#include "tsl_stats_pls.h"
#include "tsl_stats_ridge.h"
#include "tsl_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef TSL_FIXTURE_DIR
#error "TSL_FIXTURE_DIR must name tests/fixtures"
#endif

/* ---- fixtures: "NAME ROWS COLS" then ROWS lines of COLS numbers; '#' comments ---- */

typedef struct {
    size_t rows, cols;
    double *v;
} fx_array;

static fx_array fx_get(const char *file, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/stats/%s", TSL_FIXTURE_DIR, file);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open fixture %s", path);
    char line[8192], got[128];
    fx_array a = {0};
    while (fgets(line, sizeof line, f)) {
        size_t rows, cols;
        if (line[0] == '#' || sscanf(line, "%127s %zu %zu", got, &rows, &cols) != 3 || strcmp(got, name) != 0)
            continue;
        a = (fx_array){rows, cols, malloc(rows * cols * sizeof(double))};
        ck_assert(a.v != NULL);
        for (size_t i = 0; i < rows * cols; i++)
            ck_assert_msg(fscanf(f, "%lf", &a.v[i]) == 1, "%s: array %s is short", path, name);
        break;
    }
    fclose(f);
    ck_assert_msg(a.v != NULL, "%s: no array %s", path, name);
    return a;
}

static double fx_scalar(const char *file, const char *name) {
    fx_array a = fx_get(file, name);
    double v = a.v[0];
    free(a.v);
    return v;
}

static int32_t *fx_labels(const fx_array *a) {
    int32_t *l = malloc(a->rows * sizeof *l);
    for (size_t i = 0; i < a->rows; i++)
        l[i] = (int32_t)a->v[i];
    return l;
}

static void check_close_d(const char *what, const double *got, const double *want, size_t n, double rel,
                          double abs_tol) {
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= abs_tol + rel * fabs(want[i]),
                      "%s[%zu]: got %.17g, want %.17g (|err| %.3g; tol rel %g abs %g)", what, i, got[i],
                      want[i], fabs(got[i] - want[i]), rel, abs_tol);
}

static void expect_error(tsl_status st, tsl_status want, const char *fragment) {
    ck_assert_msg(st == want, "status %s, want %s (message '%s')", tsl_status_name(st), tsl_status_name(want),
                  tsl_error_message());
    ck_assert_msg(strstr(tsl_error_message(), fragment), "message '%s' lacks '%s'", tsl_error_message(),
                  fragment);
}

static double *random_normal(tsl_test_rng *rng, size_t n) {
    double *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++)
        x[i] = tsl_test_rng_normal(rng);
    return x;
}

/* ---- 4. Bures ---- */

START_TEST(bures_matches_scipy) {
    const char *tags[] = {"a", "b"};
    const tsl_stats_bures_route routes[] = {TSL_STATS_BURES_AUTO, TSL_STATS_BURES_PRODUCT,
                                            TSL_STATS_BURES_COVARIANCE};
    for (int c = 0; c < 2; c++) {
        char n1[32], n2[32], nf[32], nd[32];
        snprintf(n1, sizeof n1, "x1_%s", tags[c]), snprintf(n2, sizeof n2, "x2_%s", tags[c]);
        snprintf(nf, sizeof nf, "fidelity_%s", tags[c]), snprintf(nd, sizeof nd, "distance_sq_%s", tags[c]);
        fx_array x1 = fx_get("bures.txt", n1), x2 = fx_get("bures.txt", n2);
        double f = fx_scalar("bures.txt", nf), d2 = fx_scalar("bures.txt", nd);
        for (int r = 0; r < 3; r++) {
            tsl_stats_bures out;
            TSL_TEST_OK(tsl_stats_bures_data(x1.v, x1.rows, x2.v, x2.rows, x1.cols, routes[r], &out));
            /* Case a has singular covariances: the covariance route's square roots cost ~1e-8 (see top). */
            bool singular = x1.rows <= x1.cols && routes[r] == TSL_STATS_BURES_COVARIANCE;
            double tol = singular ? 1e-6 : 1e-8;
            check_close_d(routes[r] == TSL_STATS_BURES_COVARIANCE ? "fidelity (covariance route)"
                                                                  : "fidelity",
                          &out.fidelity, &f, 1, tol, 0);
            check_close_d("distance_sq", &out.distance_sq, &d2, 1, tol, 1e-12);
            ck_assert_double_eq_tol(out.distance, sqrt(out.distance_sq), 1e-15);
        }
        free(x1.v), free(x2.v);
    }
    fx_array s1 = fx_get("bures.txt", "s1_c"), s2 = fx_get("bures.txt", "s2_c");
    double f = fx_scalar("bures.txt", "fidelity_c");
    tsl_stats_bures out;
    TSL_TEST_OK(tsl_stats_bures_covariance(s1.v, s2.v, s1.rows, &out));
    check_close_d("fidelity (rank-deficient s1)", &out.fidelity, &f, 1, 1e-6, 0);
    TSL_TEST_OK(tsl_stats_bures_covariance(s2.v, s1.v, s1.rows, &out)); /* symmetric in its arguments */
    check_close_d("fidelity (swapped)", &out.fidelity, &f, 1, 1e-6, 0);
    free(s1.v), free(s2.v);
}
END_TEST

START_TEST(bures_routes_agree_on_random_shapes) {
    uint64_t seed = tsl_test_seed("bures_routes_agree_on_random_shapes");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const size_t shapes[][3] = {{3, 4, 17}, {50, 37, 6}, {13, 13, 13}, {2, 2, 1}, {9, 30, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t n1 = shapes[s][0], n2 = shapes[s][1], d = shapes[s][2];
        double *x1 = random_normal(&rng, n1 * d), *x2 = random_normal(&rng, n2 * d);
        tsl_stats_bures p, c;
        TSL_TEST_OK(tsl_stats_bures_data(x1, n1, x2, n2, d, TSL_STATS_BURES_PRODUCT, &p));
        TSL_TEST_OK(tsl_stats_bures_data(x1, n1, x2, n2, d, TSL_STATS_BURES_COVARIANCE, &c));
        /* Rank-deficient when n - 1 < d: near-zero eigenvalues' square roots cost ~1e-8 (see top). */
        ck_assert_msg(fabs(p.fidelity - c.fidelity) <= 1e-6,
                      "seed %llu, %zu/%zu x %zu: product %.17g vs cov %.17g", (unsigned long long)seed, n1,
                      n2, d, p.fidelity, c.fidelity);
        ck_assert(p.fidelity >= 0 && p.fidelity <= 1);
        free(x1), free(x2);
    }
}
END_TEST

START_TEST(bures_known_answers) {
    uint64_t seed = tsl_test_seed("bures_known_answers");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = 20, d = 7;
    double *x = random_normal(&rng, n * d), *y = malloc(n * d * sizeof *y);
    for (size_t i = 0; i < n * d; i++) /* same covariance up to scale and shift: distance 0 */
        y[i] = 3.0 * x[i] + 1.5;
    for (int route = TSL_STATS_BURES_PRODUCT; route <= TSL_STATS_BURES_COVARIANCE; route++) {
        tsl_stats_bures out;
        TSL_TEST_OK(tsl_stats_bures_data(x, n, y, n, d, (tsl_stats_bures_route)route, &out));
        ck_assert_msg(out.distance_sq < 1e-12, "seed %llu route %d: identical covariances give d^2 %g",
                      (unsigned long long)seed, route, out.distance_sq);
    }
    /* Orthogonal supports: x only in features 0..2, y only in 3..6: F = 0, d^2 = 2. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            if (j < 3)
                y[i * d + j] = 0;
            else
                x[i * d + j] = 0;
        }
    for (int route = TSL_STATS_BURES_PRODUCT; route <= TSL_STATS_BURES_COVARIANCE; route++) {
        tsl_stats_bures out;
        TSL_TEST_OK(tsl_stats_bures_data(x, n, y, n, d, (tsl_stats_bures_route)route, &out));
        ck_assert_msg(fabs(out.distance_sq - 2.0) < 1e-7,
                      "seed %llu route %d: orthogonal supports give d^2 %.17g", (unsigned long long)seed,
                      route, out.distance_sq);
    }
    double s[4] = {2, 0, 0, 1}, t[4] = {4, 0, 0, 2};
    tsl_stats_bures out;
    TSL_TEST_OK(tsl_stats_bures_covariance(s, t, 2, &out));
    ck_assert_double_eq_tol(out.distance_sq, 0.0, 1e-14);
    free(x), free(y);
}
END_TEST

START_TEST(bures_rejects_bad_input) {
    double x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13};
    tsl_stats_bures out;
    expect_error(tsl_stats_bures_data(x, 1, x, 4, 3, TSL_STATS_BURES_AUTO, &out), TSL_ERR_INVALID_ARG,
                 ">= 2 samples");
    expect_error(tsl_stats_bures_data(x, 4, x, 4, 0, TSL_STATS_BURES_AUTO, &out), TSL_ERR_INVALID_ARG,
                 "x1 is 4 x 0");
    x[5] = NAN;
    expect_error(tsl_stats_bures_data(x, 4, x, 4, 3, TSL_STATS_BURES_AUTO, &out), TSL_ERR_NUMERIC, "x1[5]");
    double constant[6] = {1, 1, 1, 1, 1, 1};
    double ok[6] = {1, 2, 3, 5, 8, 13};
    expect_error(tsl_stats_bures_data(ok, 2, constant, 2, 3, TSL_STATS_BURES_AUTO, &out), TSL_ERR_NUMERIC,
                 "zero variance");
    double asym[4] = {1, 0.5, 0.2, 1}, indefinite[4] = {1, 2, 2, 1}, good[4] = {1, 0, 0, 1};
    expect_error(tsl_stats_bures_covariance(asym, good, 2, &out), TSL_ERR_INVALID_ARG, "not symmetric");
    expect_error(tsl_stats_bures_covariance(good, indefinite, 2, &out), TSL_ERR_INVALID_ARG,
                 "not positive semidefinite");
}
END_TEST

/* ---- 1. Ridge ---- */

START_TEST(ridge_cv_matches_sklearn) {
    fx_array alphas = fx_get("ridge.txt", "alphas");
    const char *tags[] = {"a", "b"};
    for (int c = 0; c < 2; c++) {
        char nm[6][32];
        const char *base[] = {"x", "y", "x_test", "alpha", "cv_scores", "pred"};
        for (int i = 0; i < 6; i++)
            snprintf(nm[i], sizeof nm[i], "%s_%s", base[i], tags[c]);
        char nf[32];
        snprintf(nf, sizeof nf, "folds_%s", tags[c]);
        fx_array x = fx_get("ridge.txt", nm[0]), y = fx_get("ridge.txt", nm[1]),
                 xt = fx_get("ridge.txt", nm[2]);
        fx_array cv = fx_get("ridge.txt", nm[4]), want = fx_get("ridge.txt", nm[5]);
        double alpha = fx_scalar("ridge.txt", nm[3]);
        tsl_stats_ridge_cv_options o = {alphas.v, alphas.rows, (size_t)fx_scalar("ridge.txt", nf)};
        tsl_stats_ridge_model m;
        TSL_TEST_OK(tsl_stats_ridge_cv_fit(x.v, y.v, x.rows, x.cols, y.cols, &o, &m));
        ck_assert_msg(m.alpha == alpha, "case %s: chose alpha %g, sklearn %g", tags[c], m.alpha, alpha);
        check_close_d("cv scores", m.cv_scores, cv.v, cv.rows, 1e-8, 1e-10);
        double *pred = malloc(want.rows * want.cols * sizeof *pred);
        TSL_TEST_OK(tsl_stats_ridge_predict(&m, xt.v, xt.rows, xt.cols, pred));
        check_close_d("ridge predictions", pred, want.v, want.rows * want.cols, 1e-8, 1e-10);
        tsl_stats_ridge_model_free(&m);
        free(pred), free(x.v), free(y.v), free(xt.v), free(cv.v), free(want.v);
    }
    free(alphas.v);
}
END_TEST

/* Targets linear in a 4-dimensional latent z, features x = z A + 1e-3 noise (so y is a linear function of
 * x up to that noise, for n > d and n < d alike): decoding recovers every target, r and R^2 ~ 1. */
START_TEST(ridge_recovers_planted_structure) {
    uint64_t seed = tsl_test_seed("ridge_recovers_planted_structure");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    const size_t shapes[][2] = {{80, 5}, {30, 45}};
    double alphas[9];
    TSL_TEST_OK(tsl_stats_log_grid(1e-4, 1e4, 9, alphas));
    for (int s = 0; s < 2; s++) {
        size_t n = shapes[s][0], d = shapes[s][1], t = 3, nt = 25, q = 4;
        double *a = random_normal(&rng, q * d), *c = random_normal(&rng, q * t);
        double *x = malloc((n + nt) * d * sizeof *x), *y = malloc((n + nt) * t * sizeof *y), r[3], r2[3];
        double *z = random_normal(&rng, (n + nt) * q);
        tsl_stats_gemm(false, false, n + nt, d, q, 1.0, z, a, 0.0, x);
        tsl_stats_gemm(false, false, n + nt, t, q, 1.0, z, c, 0.0, y);
        for (size_t i = 0; i < (n + nt) * d; i++)
            x[i] += 1e-3 * tsl_test_rng_normal(&rng);
        for (size_t i = 0; i < (n + nt) * t; i++)
            y[i] += 1.0;
        tsl_stats_ridge_cv_options o = {alphas, 9, 5};
        TSL_TEST_OK(tsl_stats_ridge_cv_evaluate(x, y, n, x + n * d, y + n * t, nt, d, t, &o, r, r2, NULL));
        for (size_t j = 0; j < t; j++)
            ck_assert_msg(r[j] > 0.999 && r2[j] > 0.998, "seed %llu, %zu x %zu: target %zu r %g R^2 %g",
                          (unsigned long long)seed, n, d, j, r[j], r2[j]);
        free(a), free(c), free(x), free(y), free(z);
    }
}
END_TEST

START_TEST(ridge_rejects_bad_input) {
    double x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, y[6] = {1, 2, 3, 4, 5, 6}, alphas[2] = {1, 10};
    tsl_stats_ridge_cv_options o = {alphas, 2, 7};
    tsl_stats_ridge_model m;
    expect_error(tsl_stats_ridge_cv_fit(x, y, 6, 2, 1, &o, &m), TSL_ERR_INVALID_ARG, "7 folds for 6 samples");
    o.folds = 3;
    double bad_alpha[1] = {0};
    tsl_stats_ridge_cv_options ob = {bad_alpha, 1, 3};
    expect_error(tsl_stats_ridge_cv_fit(x, y, 6, 2, 1, &ob, &m), TSL_ERR_INVALID_ARG, "alphas[0]");
    y[4] = INFINITY;
    expect_error(tsl_stats_ridge_cv_fit(x, y, 6, 2, 1, &o, &m), TSL_ERR_NUMERIC, "y[4]");
    y[4] = 5;
    TSL_TEST_OK(tsl_stats_ridge_cv_fit(x, y, 6, 2, 1, &o, &m));
    double out[6];
    expect_error(tsl_stats_ridge_predict(&m, x, 4, 3, out), TSL_ERR_INVALID_ARG,
                 "x has 3 features, the model 2");
    tsl_stats_ridge_model_free(&m);
    expect_error(tsl_stats_ridge_fit(x, y, 6, 2, 1, -1.0, &m), TSL_ERR_INVALID_ARG, "alpha must be positive");
}
END_TEST

/* ---- 2. PLS ---- */

START_TEST(pls_matches_sklearn) {
    fx_array x = fx_get("pls.txt", "x"), y = fx_get("pls.txt", "y"), xt = fx_get("pls.txt", "x_test");
    double *pred = malloc(xt.rows * y.cols * sizeof *pred);
    for (size_t k = 2; k <= 5; k++) {
        char name[32];
        snprintf(name, sizeof name, "pred_%zu", k);
        fx_array want = fx_get("pls.txt", name);
        tsl_stats_pls_model m;
        TSL_TEST_OK(tsl_stats_pls_fit(x.v, y.v, x.rows, x.cols, y.cols, k, &m));
        ck_assert_uint_eq(m.n_components, k);
        TSL_TEST_OK(tsl_stats_pls_predict(&m, xt.v, xt.rows, xt.cols, pred));
        check_close_d(name, pred, want.v, want.rows * want.cols, 1e-8, 1e-10);
        tsl_stats_pls_model_free(&m);
        free(want.v);
    }
    fx_array y1 = fx_get("pls.txt", "y1"), want1 = fx_get("pls.txt", "pred1_3");
    tsl_stats_pls_model m;
    TSL_TEST_OK(tsl_stats_pls_fit(x.v, y1.v, x.rows, x.cols, 1, 3, &m));
    TSL_TEST_OK(tsl_stats_pls_predict(&m, xt.v, xt.rows, xt.cols, pred));
    check_close_d("single-target prediction", pred, want1.v, want1.rows, 1e-8, 1e-10);
    tsl_stats_pls_model_free(&m);
    free(pred), free(x.v), free(y.v), free(xt.v), free(y1.v), free(want1.v);
}
END_TEST

START_TEST(pls_recovers_planted_structure_and_rejects_bad_input) {
    uint64_t seed = tsl_test_seed("pls_recovers_planted_structure");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = 60, d = 9, t = 4;
    double *x = random_normal(&rng, n * d), *b = random_normal(&rng, d * t), *y = malloc(n * t * sizeof *y);
    tsl_stats_gemm(false, false, n, t, d, 1.0, x, b, 0.0, y);
    tsl_stats_pls_model m;
    TSL_TEST_OK(tsl_stats_pls_fit(x, y, n, d, t, d, &m)); /* all components: ordinary least squares */
    double *pred = malloc(n * t * sizeof *pred), r[4];
    TSL_TEST_OK(tsl_stats_pls_predict(&m, x, n, d, pred));
    TSL_TEST_OK(tsl_stats_pearson_columns(y, pred, n, t, r));
    for (size_t j = 0; j < t; j++)
        ck_assert_msg(r[j] > 1 - 1e-9, "seed %llu: target %zu r %.17g", (unsigned long long)seed, j, r[j]);
    tsl_stats_pls_model_free(&m);
    /* 6 samples: centred X has rank 5, so at most 5 of 8 components exist; predictions stay exact. */
    TSL_TEST_OK(tsl_stats_pls_fit(x, y, 6, d, t, 8, &m));
    ck_assert_uint_le(m.n_components, 5);
    TSL_TEST_OK(tsl_stats_pls_predict(&m, x, 6, d, pred));
    check_close_d("rank-limited PLS fits its training data", pred, y, 6 * t, 1e-8, 1e-8);
    tsl_stats_pls_model_free(&m);
    expect_error(tsl_stats_pls_fit(x, y, n, d, t, d + 1, &m), TSL_ERR_INVALID_ARG, "n_components 10 outside");
    x[7] = NAN;
    expect_error(tsl_stats_pls_fit(x, y, n, d, t, 2, &m), TSL_ERR_NUMERIC, "x[7]");
    free(x), free(b), free(y), free(pred);
}
END_TEST

/* ---- 3. Predictivity and ceiling ---- */

START_TEST(ceiling_matches_scipy) {
    fx_array ta = fx_get("ceiling.txt", "trials_a"), sa = fx_get("ceiling.txt", "shape_a");
    double want = fx_scalar("ceiling.txt", "ceiling_a"), got = 0, split[10];
    TSL_TEST_OK(tsl_analysis_split_half_ceiling(ta.v, (size_t)sa.v[0], (size_t)sa.v[1], (size_t)sa.v[2], 10,
                                                7, &got, split));
    check_close_d("2-trial ceiling", &got, &want, 1, 1e-10, 1e-12);
    fx_array tb = fx_get("ceiling.txt", "trials_b"), sb = fx_get("ceiling.txt", "shape_b");
    fx_array values = fx_get("ceiling.txt", "values_b");
    TSL_TEST_OK(tsl_analysis_split_half_ceiling(tb.v, (size_t)sb.v[0], (size_t)sb.v[1], (size_t)sb.v[2], 10,
                                                7, &got, split));
    double sum = 0;
    for (int s = 0; s < 10; s++) {
        bool found = false;
        for (size_t v = 0; v < values.rows; v++)
            found |= fabs(split[s] - values.v[v]) < 1e-10;
        ck_assert_msg(found, "split %d value %.17g is none of the 3 possible halvings", s, split[s]);
        sum += split[s];
    }
    ck_assert_double_eq_tol(got, sum / 10, 1e-14);
    double ceiled;
    TSL_TEST_OK(tsl_analysis_ceiled_score(0.5, 0.8, TSL_ANALYSIS_CEILED_R2_OVER_CEILING, &ceiled));
    ck_assert_double_eq_tol(ceiled, 0.3125, 1e-15);
    TSL_TEST_OK(tsl_analysis_ceiled_score(0.5, 0.8, TSL_ANALYSIS_CEILED_RATIO_SQUARED, &ceiled));
    ck_assert_double_eq_tol(ceiled, 0.390625, 1e-15);
    expect_error(tsl_analysis_ceiled_score(0.5, 0.0, TSL_ANALYSIS_CEILED_RATIO_SQUARED, &ceiled),
                 TSL_ERR_INVALID_ARG, "positive ceiling");
    /* A trial not recorded (NaN): that stimulus drops out of the halves that lack it, so with 2 trials
     * (one per half) the ceiling is that of the other 19 stimuli, the same halvings drawn. */
    double dropped = 0, *rest = ta.v + 2 * 5;
    TSL_TEST_OK(tsl_analysis_split_half_ceiling(rest, 19, 2, 5, 10, 7, &dropped, NULL));
    for (int j = 0; j < 5; j++)
        ta.v[5 + j] = NAN; /* stimulus 0, trial 1 */
    TSL_TEST_OK(tsl_analysis_split_half_ceiling(ta.v, 20, 2, 5, 10, 7, &got, NULL));
    ck_assert_double_eq_tol(got, dropped, 1e-14);
    ta.v[3] = INFINITY;
    expect_error(tsl_analysis_split_half_ceiling(ta.v, 20, 2, 5, 10, 7, &got, NULL), TSL_ERR_NUMERIC,
                 "trials[3]");
    expect_error(tsl_analysis_split_half_ceiling(ta.v, 40, 1, 5, 10, 7, &got, NULL), TSL_ERR_INVALID_ARG,
                 ">= 2 trials");
    free(ta.v), free(sa.v), free(tb.v), free(sb.v), free(values.v);
}
END_TEST

START_TEST(split_is_stratified_and_deterministic) {
    size_t n = 53, train[53], test[53], train2[53], test2[53], n_test = 0, n_test2 = 0;
    int32_t labels[53];
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2); /* 60 / 30 / 10 percent */
    TSL_TEST_OK(tsl_analysis_train_test_split(n, labels, 0.2, 99, train, test, &n_test));
    ck_assert_uint_eq(n_test, 11); /* ceil(0.2 * 53) */
    size_t per_label[3] = {0}, total[3] = {0};
    bool seen[53] = {false};
    for (size_t i = 0; i < n_test; i++)
        per_label[labels[test[i]]]++, seen[test[i]] = true;
    for (size_t i = 0; i < n - n_test; i++) {
        ck_assert(!seen[train[i]]);
        seen[train[i]] = true;
    }
    for (size_t i = 0; i < n; i++)
        ck_assert(seen[i]), total[labels[i]]++;
    for (int c = 0; c < 3; c++) { /* proportional shares, rounded down or up */
        double share = (double)n_test * (double)total[c] / (double)n;
        ck_assert_msg(fabs((double)per_label[c] - share) < 1.0, "label %d: %zu of %zu in test (share %g)", c,
                      per_label[c], total[c], share);
    }
    TSL_TEST_OK(tsl_analysis_train_test_split(n, labels, 0.2, 99, train2, test2, &n_test2));
    ck_assert_mem_eq(test, test2, n_test * sizeof *test);
    TSL_TEST_OK(tsl_analysis_train_test_split(n, labels, 0.2, 100, train2, test2, &n_test2));
    ck_assert_msg(memcmp(test, test2, n_test * sizeof *test) != 0, "another seed gave the same split");
}
END_TEST

START_TEST(predictivity_planted_and_noise) {
    uint64_t seed = tsl_test_seed("predictivity_planted_and_noise");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = 120, d = 30, k = 12;
    double *x = random_normal(&rng, n * d), *b = random_normal(&rng, d * k), *y = malloc(n * k * sizeof *y);
    int32_t *labels = malloc(n * sizeof *labels);
    for (size_t i = 0; i < n; i++)
        labels[i] = (int32_t)(i % 8);
    tsl_stats_gemm(false, false, n, k, d, 1.0, x, b, 0.0, y);
    for (size_t i = 0; i < n * k; i++)
        y[i] += 0.05 * tsl_test_rng_normal(&rng);
    tsl_analysis_predictivity_options o;
    tsl_analysis_predictivity_options_default(&o);
    o.n_components = 25;
    double score = 0, again = 0, splits[10];
    TSL_TEST_OK(tsl_analysis_predictivity(x, n, d, y, k, labels, &o, &score, splits));
    ck_assert_msg(score > 0.99, "seed %llu: planted linear responses give score %g", (unsigned long long)seed,
                  score);
    ck_assert_double_eq_tol(score, tsl_stats_mean(splits, 10), 1e-15);
    TSL_TEST_OK(tsl_analysis_predictivity(x, n, d, y, k, labels, &o, &again, NULL));
    ck_assert_msg(score == again, "same seed, different score");
    double *noise = random_normal(&rng, n * k);
    TSL_TEST_OK(tsl_analysis_predictivity(x, n, d, noise, k, NULL, &o, &score, NULL));
    ck_assert_msg(fabs(score) < 0.3, "seed %llu: pure-noise responses give score %g",
                  (unsigned long long)seed, score);
    expect_error(tsl_analysis_predictivity(x, 9, d, y, k, NULL, &o, &score, NULL), TSL_ERR_INVALID_ARG,
                 "< 2 test stimuli");
    free(x), free(b), free(y), free(labels), free(noise);
}
END_TEST

/* ---- 5. Factorization ---- */

START_TEST(factorization_matches_numpy_and_known_answers) {
    fx_array fp = fx_get("factorization.txt", "f_p"), fo = fx_get("factorization.txt", "f_other");
    double want = fx_scalar("factorization.txt", "factorization");
    tsl_analysis_factorization_result r;
    TSL_TEST_OK(tsl_analysis_factorization(fp.v, fp.rows, NULL, fo.v, fo.rows, NULL, fp.cols, 0.9, &r));
    check_close_d("factorization", &r.factorization, &want, 1, 1e-8, 1e-12);
    ck_assert_uint_eq(r.n_components, (size_t)fx_scalar("factorization.txt", "n_components"));
    /* Grouped: per-group offsets on f_p vanish under within-group centring. */
    size_t n = fp.rows, d = fp.cols;
    int32_t *groups = malloc(n * sizeof *groups);
    double *shifted = malloc(n * d * sizeof *shifted), *centred = tsl_stats_centered_copy(fp.v, n, d);
    for (size_t i = 0; i < n; i++) {
        groups[i] = (int32_t)(i % 4);
        for (size_t j = 0; j < d; j++)
            shifted[i * d + j] = centred[i * d + j] + 10.0 * (double)groups[i] * (double)(j + 1);
    }
    /* Centre each group of the unshifted data too, so both sides hold the same within-group rows. */
    tsl_analysis_factorization_result g, ref;
    double *c_ref = malloc(d * d * sizeof *c_ref), *c_shift = malloc(d * d * sizeof *c_shift);
    TSL_TEST_OK(tsl_analysis_pooled_covariance(centred, n, d, groups, c_ref));
    TSL_TEST_OK(tsl_analysis_pooled_covariance(shifted, n, d, groups, c_shift));
    check_close_d("pooled covariance ignores group offsets", c_shift, c_ref, d * d, 1e-9, 1e-9);
    TSL_TEST_OK(tsl_analysis_factorization(shifted, n, groups, fo.v, fo.rows, NULL, d, 0.9, &g));
    TSL_TEST_OK(tsl_analysis_factorization(centred, n, groups, fo.v, fo.rows, NULL, d, 0.9, &ref));
    check_close_d("grouped factorization", &g.factorization, &ref.factorization, 1, 1e-9, 1e-12);
    free(groups), free(shifted), free(centred), free(c_ref), free(c_shift);

    /* Orthogonal subspaces: p varies features 0..2, the others 3..5 (plus nothing else): ~1. Same: ~0. */
    uint64_t seed = tsl_test_seed("factorization_known_answers");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t m = 40, dd = 6;
    double *a = calloc(m * dd, sizeof *a), *b = calloc(m * dd, sizeof *b);
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < 3; j++)
            a[i * dd + j] = tsl_test_rng_normal(&rng), b[i * dd + j + 3] = tsl_test_rng_normal(&rng);
    TSL_TEST_OK(tsl_analysis_factorization(a, m, NULL, b, m, NULL, dd, 0.9, &r));
    ck_assert_msg(fabs(r.factorization - 1.0) < 1e-12, "seed %llu: orthogonal factorization %.17g",
                  (unsigned long long)seed, r.factorization);
    TSL_TEST_OK(tsl_analysis_factorization(a, m, NULL, a, m, NULL, dd, 1.0, &r));
    ck_assert_msg(fabs(r.factorization) < 1e-12, "seed %llu: identical factorization %.17g",
                  (unsigned long long)seed, r.factorization);
    int32_t lonely[40] = {0};
    lonely[39] = 1;
    expect_error(tsl_analysis_factorization(a, m, lonely, b, m, NULL, dd, 0.9, &r), TSL_ERR_INVALID_ARG,
                 "group 1 has 1 row");
    expect_error(tsl_analysis_factorization(a, m, NULL, b, m, NULL, dd, 1.5, &r), TSL_ERR_INVALID_ARG,
                 "variance_fraction");
    free(a), free(b), free(fp.v), free(fo.v);
}
END_TEST

/* ---- 6. Linear probe ---- */

START_TEST(logreg_matches_sklearn) {
    fx_array x = fx_get("logreg.txt", "x"), l = fx_get("logreg.txt", "labels");
    fx_array xv = fx_get("logreg.txt", "x_val"), lv = fx_get("logreg.txt", "labels_val");
    fx_array want = fx_get("logreg.txt", "proba_val");
    int32_t *labels = fx_labels(&l), *labels_val = fx_labels(&lv);
    tsl_stats_logreg_options o;
    tsl_stats_logreg_options_default(&o);
    o.l2 = fx_scalar("logreg.txt", "l2");
    o.standardize = false; /* sklearn's fixture fits raw features */
    o.tol = 1e-11;
    o.max_iter = 5000;
    tsl_stats_logreg_model m;
    TSL_TEST_OK(tsl_stats_logreg_fit(x.v, labels, x.rows, x.cols, 3, &o, &m));
    ck_assert_msg(m.converged, "L-BFGS stopped at max |grad| %g after %zu iterations", m.grad_max,
                  m.iterations);
    double *proba = malloc(want.rows * 3 * sizeof *proba), top1 = 0;
    TSL_TEST_OK(tsl_stats_logreg_predict_proba(&m, xv.v, xv.rows, xv.cols, proba));
    check_close_d("validation probabilities", proba, want.v, want.rows * 3, 0, 1e-7);
    fx_array sk = fx_get("logreg.txt", "proba_val_sklearn"); /* sklearn stopped at max |gradient| ~1e-6 */
    check_close_d("sklearn's validation probabilities", proba, sk.v, sk.rows * 3, 0, 1e-5);
    free(sk.v);
    TSL_TEST_OK(tsl_stats_logreg_accuracy(&m, xv.v, labels_val, xv.rows, xv.cols, &top1));
    ck_assert_double_eq_tol(top1, fx_scalar("logreg.txt", "accuracy_val"), 1e-12);
    tsl_stats_logreg_model_free(&m);
    labels[3] = 3;
    expect_error(tsl_stats_logreg_fit(x.v, labels, x.rows, x.cols, 3, &o, &m), TSL_ERR_INVALID_ARG,
                 "labels[3] = 3 outside [0, 3)");
    free(proba), free(labels), free(labels_val);
    free(x.v), free(l.v), free(xv.v), free(lv.v), free(want.v);
}
END_TEST

START_TEST(linear_probe_separates_clusters) {
    uint64_t seed = tsl_test_seed("linear_probe_separates_clusters");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t k = 5, d = 13, n = 100, nv = 50;
    double *centers = random_normal(&rng, k * d), *x = malloc(n * d * sizeof *x),
           *xv = malloc(nv * d * sizeof *xv);
    int32_t *y = malloc(n * sizeof *y), *yv = malloc(nv * sizeof *yv);
    for (size_t part = 0; part < 2; part++) {
        size_t m = part ? nv : n;
        double *xx = part ? xv : x;
        int32_t *yy = part ? yv : y;
        for (size_t i = 0; i < m; i++) {
            yy[i] = (int32_t)(i % k);
            for (size_t j = 0; j < d; j++) /* centres ~ sqrt(2 d) ~ 5 apart, spread 0.1 */
                xx[i * d + j] =
                    100.0 + 50.0 * (double)j + centers[yy[i] * d + j] + 0.1 * tsl_test_rng_normal(&rng);
        }
    }
    tsl_stats_logreg_options o;
    tsl_stats_logreg_options_default(&o);
    double top1 = 0;
    bool converged = false;
    TSL_TEST_OK(tsl_stats_linear_probe(x, y, n, xv, yv, nv, d, k, &o, &top1, &converged));
    ck_assert_msg(top1 == 1.0, "seed %llu: top-1 %g on separable clusters", (unsigned long long)seed, top1);
    free(centers), free(x), free(xv), free(y), free(yv);
}
END_TEST

/* ---- 7. Confidence intervals ---- */

START_TEST(ci_matches_scipy) {
    fx_array v = fx_get("ci.txt", "values"), q = fx_get("ci.txt", "quantiles");
    const char *names[] = {"interval_95", "interval_90"};
    const double levels[] = {0.95, 0.9};
    for (int i = 0; i < 2; i++) {
        fx_array want = fx_get("ci.txt", names[i]);
        tsl_stats_ci ci;
        TSL_TEST_OK(tsl_stats_ci_t(v.v, v.rows, levels[i], &ci));
        double got[2] = {ci.lo, ci.hi};
        check_close_d(names[i], got, want.v, 2, 1e-10, 0);
        ck_assert_uint_eq(ci.n, v.rows);
        free(want.v);
    }
    for (size_t r = 0; r < q.rows; r++) {
        double got = 0;
        TSL_TEST_OK(tsl_stats_t_quantile(q.v[r * 3], q.v[r * 3 + 1], &got));
        check_close_d("t quantile", &got, &q.v[r * 3 + 2], 1, 1e-10, 1e-12);
    }
    tsl_stats_ci ci;
    expect_error(tsl_stats_ci_t(v.v, 1, 0.95, &ci), TSL_ERR_INVALID_ARG, ">= 2 values");
    expect_error(tsl_stats_ci_t(v.v, v.rows, 1.0, &ci), TSL_ERR_INVALID_ARG, "level 1");
    free(v.v), free(q.v);
}
END_TEST

START_TEST(bootstrap_ci_is_deterministic_and_sensible) {
    uint64_t seed = tsl_test_seed("bootstrap_ci_is_deterministic_and_sensible");
    tsl_test_rng rng = tsl_test_rng_new(seed);
    size_t n = 40;
    double *x = random_normal(&rng, n);
    tsl_stats_ci a, b, t;
    TSL_TEST_OK(tsl_stats_ci_bootstrap(x, n, 0.95, 4000, 5, &a));
    TSL_TEST_OK(tsl_stats_ci_bootstrap(x, n, 0.95, 4000, 5, &b));
    ck_assert(a.lo == b.lo && a.hi == b.hi);
    TSL_TEST_OK(tsl_stats_ci_t(x, n, 0.95, &t));
    ck_assert(a.lo < a.mean && a.mean < a.hi);
    /* For normal data the percentile interval is close to the t interval (a bit narrower: ~z vs t). */
    double wa = a.hi - a.lo, wt = t.hi - t.lo;
    ck_assert_msg(wa > 0.8 * wt && wa < 1.1 * wt, "seed %llu: bootstrap width %g vs t width %g",
                  (unsigned long long)seed, wa, wt);
    expect_error(tsl_stats_ci_bootstrap(x, n, 0.95, 10, 5, &a), TSL_ERR_INVALID_ARG, "10 resamples");
    free(x);
}
END_TEST

START_TEST(basics_and_float_input) {
    float f[4] = {1.5f, -2.0f, 3.25f, 0.0f};
    double *d = NULL;
    TSL_TEST_OK(tsl_stats_f32_to_f64("test", f, 4, &d));
    ck_assert(d[0] == 1.5 && d[1] == -2.0 && d[2] == 3.25 && d[3] == 0.0);
    free(d);
    f[2] = NAN;
    expect_error(tsl_stats_f32_to_f64("features", f, 4, &d), TSL_ERR_NUMERIC, "features: input[2]");
    double m = 0, odd[3] = {5, 1, 3}, even[4] = {4, 1, 3, 2};
    TSL_TEST_OK(tsl_stats_median(odd, 3, &m));
    ck_assert_double_eq(m, 3);
    TSL_TEST_OK(tsl_stats_median(even, 4, &m));
    ck_assert_double_eq(m, 2.5);
    double grid[3];
    TSL_TEST_OK(tsl_stats_log_grid(0.01, 100, 3, grid));
    ck_assert_double_eq_tol(grid[0], 0.01, 1e-17);
    ck_assert_double_eq_tol(grid[1], 1.0, 1e-15);
    ck_assert_double_eq_tol(grid[2], 100, 1e-12);
    double a[6] = {1, 2, 2, 4, 3, 7}, b[6] = {2, -1, 4, -2, 6, -3}, r[2], r2[2];
    TSL_TEST_OK(tsl_stats_pearson_columns(a, b, 3, 2, r));
    ck_assert_double_eq_tol(r[0], 1.0, 1e-15);
    ck_assert_double_eq_tol(r[1], -0.99339926779878274, 1e-14); /* numpy.corrcoef([2,4,7],[-1,-2,-3]) */
    TSL_TEST_OK(tsl_stats_r2_columns(a, a, 3, 2, r2));
    ck_assert(r2[0] == 1.0 && r2[1] == 1.0);
    b[3] = NAN;
    expect_error(tsl_stats_pearson_columns(a, b, 3, 2, r), TSL_ERR_NUMERIC, "pearson: b[3]");
    even[1] = INFINITY;
    expect_error(tsl_stats_median(even, 4, &m), TSL_ERR_NUMERIC, "median: x[1]");
}
END_TEST

static Suite *stats_suite(void) {
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bures_matches_scipy);
    tcase_add_test(tc, bures_routes_agree_on_random_shapes);
    tcase_add_test(tc, bures_known_answers);
    tcase_add_test(tc, bures_rejects_bad_input);
    tcase_add_test(tc, ridge_cv_matches_sklearn);
    tcase_add_test(tc, ridge_recovers_planted_structure);
    tcase_add_test(tc, ridge_rejects_bad_input);
    tcase_add_test(tc, pls_matches_sklearn);
    tcase_add_test(tc, pls_recovers_planted_structure_and_rejects_bad_input);
    tcase_add_test(tc, ceiling_matches_scipy);
    tcase_add_test(tc, split_is_stratified_and_deterministic);
    tcase_add_test(tc, predictivity_planted_and_noise);
    tcase_add_test(tc, factorization_matches_numpy_and_known_answers);
    tcase_add_test(tc, logreg_matches_sklearn);
    tcase_add_test(tc, linear_probe_separates_clusters);
    tcase_add_test(tc, ci_matches_scipy);
    tcase_add_test(tc, bootstrap_ci_is_deterministic_and_sensible);
    tcase_add_test(tc, basics_and_float_input);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    return tsl_test_main(stats_suite());
}
