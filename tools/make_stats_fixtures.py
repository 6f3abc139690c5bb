#!/usr/bin/python3
"""Writes tests/fixtures/stats/*.txt: small random problems with planted structure and the answers of
sklearn / scipy / numpy (Debian's python3-sklearn, python3-scipy), which tests/test_stats.c compares
tessl's analysis/ library against.

Usage: /usr/bin/python3 tools/make_stats_fixtures.py [OUT_DIR]   (default tests/fixtures/stats)

File format (plain text, one file per analysis): '#' lines are comments; every array is a header line
"NAME ROWS COLS" followed by ROWS lines of COLS numbers (%.17g, so doubles round-trip exactly). Scalars
are 1 x 1 arrays; integer labels are stored as numbers. The seed below fixes every file.
"""
import os
import sys

import numpy as np
import scipy.linalg
import scipy.optimize
import scipy.stats
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20261124


class Writer:
    def __init__(self, path, comment):
        self.path = path
        self.lines = ["# " + line for line in comment.strip().splitlines()]

    def array(self, name, a):
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 0:
            a = a.reshape(1, 1)
        elif a.ndim == 1:
            a = a.reshape(-1, 1)
        elif a.ndim > 2:
            a = a.reshape(a.shape[0], -1)
        self.lines.append(f"{name} {a.shape[0]} {a.shape[1]}")
        for row in a:
            self.lines.append(" ".join("%.17g" % v for v in row))

    def close(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


def bures_fidelity(s1, s2):
    """F = tr[(S1^1/2 S2 S1^1/2)^1/2] / sqrt(tr S1 tr S2) via scipy.linalg.sqrtm."""
    r = scipy.linalg.sqrtm(s1)
    m = scipy.linalg.sqrtm(r @ s2 @ r)
    return float(np.real(np.trace(m))) / np.sqrt(np.trace(s1) * np.trace(s2))


def bures(rng, out):
    w = Writer(os.path.join(out, "bures.txt"), """
Bures: samples x1 (n1 x d), x2 (n2 x d) -> fidelity F of their (self-centred) covariances, d^2 = 2 - 2F,
from scipy.linalg.sqrtm. Case a: n < d (product route; singular covariances, so the reference is numpy's
nuclear norm of X1 X2^T, which agrees with sqrtm to 1e-6); case b: n > d (covariance route); case c: two
covariance matrices given directly (rank-deficient s1).""")
    for tag, n1, n2, d in (("a", 6, 5, 9), ("b", 40, 31, 5)):
        shared = rng.standard_normal((3, d))  # x1 and x2 share part of their principal subspace
        x1 = rng.standard_normal((n1, 3)) @ shared + 0.3 * rng.standard_normal((n1, d))
        x2 = rng.standard_normal((n2, 2)) @ shared[:2] + 0.5 * rng.standard_normal((n2, d)) + 0.5
        c1, c2 = x1 - x1.mean(0), x2 - x2.mean(0)
        f = bures_fidelity(c1.T @ c1 / n1, c2.T @ c2 / n2)
        # With n < d the covariances are singular and sqrtm loses ~sqrt(eps): the reference is then the
        # data form ||X1 X2^T||_* / (||X1||_F ||X2||_F) (numpy SVD), checked against sqrtm to 1e-6.
        nuclear = np.linalg.svd(c1 @ c2.T, compute_uv=False).sum() / (np.linalg.norm(c1) * np.linalg.norm(c2))
        assert abs(nuclear - f) < 1e-6, (nuclear, f)
        if n1 <= d or n2 <= d:
            f = nuclear
        w.array(f"x1_{tag}", x1)
        w.array(f"x2_{tag}", x2)
        w.array(f"fidelity_{tag}", f)
        w.array(f"distance_sq_{tag}", 2 - 2 * f)
    a = rng.standard_normal((6, 2))
    s1 = a @ a.T  # rank 2
    b = rng.standard_normal((6, 6))
    s2 = b @ b.T + 0.1 * np.eye(6)
    f = bures_fidelity(s2, s1)  # sqrtm of the full-rank one first: numerically the stabler order
    w.array("s1_c", s1)
    w.array("s2_c", s2)
    w.array("fidelity_c", f)
    w.close()


def ridge(rng, out):
    w = Writer(os.path.join(out, "ridge.txt"), """
Ridge CV: GridSearchCV(Pipeline([StandardScaler(), Ridge(alpha)]), alphas = logspace(-3, 3, 13),
cv=KFold(k)) with the default R^2 scorer, refit on all training data. Case a: n > d (primal),
case b: training parts smaller than d (dual). Answers: chosen alpha, mean CV score per alpha, predictions
on x_test.""")
    alphas = np.logspace(-3, 3, 13)
    w.array("alphas", alphas)
    for tag, n, d, t, k, noise in (("a", 40, 6, 2, 5, 3.0), ("b", 20, 16, 2, 4, 1.0)):
        scale = np.exp(rng.standard_normal(d))  # features of different scales: standardisation matters
        x = rng.standard_normal((n, d)) * scale + rng.standard_normal(d)
        x_test = rng.standard_normal((15, d)) * scale + rng.standard_normal(d)
        beta = rng.standard_normal((d, t)) / scale[:, None] * (rng.uniform(size=(d, 1)) < 0.5)
        y = x @ beta + noise * rng.standard_normal((n, t)) + 3.0
        search = GridSearchCV(Pipeline([("scale", StandardScaler()), ("ridge", Ridge())]),
                              {"ridge__alpha": alphas}, cv=KFold(k))
        search.fit(x, y)
        w.array(f"x_{tag}", x)
        w.array(f"y_{tag}", y)
        w.array(f"folds_{tag}", k)
        w.array(f"x_test_{tag}", x_test)
        w.array(f"alpha_{tag}", search.best_params_["ridge__alpha"])
        w.array(f"cv_scores_{tag}", search.cv_results_["mean_test_score"])
        w.array(f"pred_{tag}", search.predict(x_test))
    w.close()


def pls(rng, out):
    w = Writer(os.path.join(out, "pls.txt"), """
PLSRegression(n_components=k, scale=False) (NIPALS): x (30 x 8), y (30 x 3) with latent structure;
predictions on x_test for k = 2..5, and for a single target y1 with k = 3.""")
    latent = rng.standard_normal((40, 3))
    x_all = latent @ rng.standard_normal((3, 8)) + 0.4 * rng.standard_normal((40, 8)) + 1.0
    y_all = latent @ rng.standard_normal((3, 3)) + 0.3 * rng.standard_normal((40, 3)) - 2.0
    x, x_test, y = x_all[:30], x_all[30:], y_all[:30]
    w.array("x", x)
    w.array("y", y)
    w.array("x_test", x_test)
    for k in range(2, 6):
        w.array(f"pred_{k}", PLSRegression(n_components=k, scale=False).fit(x, y).predict(x_test))
    y1 = y[:, :1]
    w.array("y1", y1)
    w.array("pred1_3", PLSRegression(n_components=3, scale=False).fit(x, y1).predict(x_test).reshape(-1, 1))
    w.close()


def spearman_brown_median(a, b):
    r = np.array([scipy.stats.pearsonr(a[:, j], b[:, j])[0] for j in range(a.shape[1])])
    return float(np.median(2 * r / (1 + r)))


def ceiling(rng, out):
    w = Writer(os.path.join(out, "ceiling.txt"), """
Split-half ceiling: trials (stimuli x trials x neuroids, stored stimuli*trials rows x neuroids).
Case a: 2 trials, so every split is the same pair of halves: ceiling = median over neuroids of
Spearman-Brown 2r/(1+r) of scipy.stats.pearsonr. Case b: 4 trials: values_b lists the 3 possible
split values (halves {0,1}|{2,3}, {0,2}|{1,3}, {0,3}|{1,2}); each random split must give one of them.""")
    for tag, s, t, k in (("a", 20, 2, 5), ("b", 16, 4, 6)):
        signal = rng.standard_normal((s, 1, k)) * rng.uniform(0.5, 2.0, k)
        trials = signal + rng.standard_normal((s, t, k))
        w.array(f"trials_{tag}", trials.reshape(s * t, k))
        w.array(f"shape_{tag}", [s, t, k])
        if t == 2:
            w.array(f"ceiling_{tag}", spearman_brown_median(trials[:, 0], trials[:, 1]))
        else:
            vals = [spearman_brown_median(trials[:, list(h)].mean(1), trials[:, [i for i in range(4) if i not in h]].mean(1))
                    for h in ((0, 1), (0, 2), (0, 3))]
            w.array(f"values_{tag}", vals)
    w.close()


def logreg(rng, out):
    w = Writer(os.path.join(out, "logreg.txt"), """
Multinomial logistic regression: sklearn LogisticRegression(C=C, multi_class='multinomial',
solver='lbfgs', tol=1e-12, max_iter=100000) on raw (unstandardised) features of 3 separable classes;
tessl's l2 = 1 / (C n_train). sklearn stops on its relative-decrease test (ftol) with max |gradient| ~1e-6,
so its solution is polished by scipy L-BFGS-B on the same objective
(proba_val; it stalls at rounding, max |gradient| < 1e-9); proba_val_sklearn and accuracy_val are sklearn's own answers.""")
    centers = np.array([[3.0, 0, 0, 1], [0, 3.0, 0, -1], [0, 0, 3.0, 0]])
    def draw(n):
        labels = np.arange(n) % 3
        return centers[labels] + 0.6 * rng.standard_normal((n, 4)), labels
    x, labels = draw(60)
    x_val, labels_val = draw(30)
    c = 0.5
    model = LogisticRegression(C=c, multi_class="multinomial", solver="lbfgs", tol=1e-12, max_iter=100000)
    model.fit(x, labels)
    w.array("x", x)
    w.array("labels", labels)
    w.array("x_val", x_val)
    w.array("labels_val", labels_val)
    w.array("l2", 1.0 / (c * len(x)))
    proba_sklearn = model.predict_proba(x_val)
    n, d = x.shape
    l2 = 1.0 / (c * n)
    onehot = np.eye(3)[labels]

    def objective(theta):
        wts, b = theta[:3 * d].reshape(3, d), theta[3 * d:]
        z = x @ wts.T + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        f = -np.log(p[np.arange(n), labels]).mean() + 0.5 * l2 * (wts ** 2).sum()
        g = np.concatenate([((p - onehot).T @ x / n + l2 * wts).ravel(), (p - onehot).sum(0) / n])
        return f, g

    theta0 = np.concatenate([model.coef_.ravel(), model.intercept_])
    res = scipy.optimize.minimize(objective, theta0, jac=True, method="L-BFGS-B",
                                  options={"ftol": 0, "gtol": 1e-13, "maxiter": 100000})

    assert np.abs(objective(res.x)[1]).max() < 1e-9
    wts, b = res.x[:3 * d].reshape(3, d), res.x[3 * d:]
    z = x_val @ wts.T + b
    proba = np.exp(z - z.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    assert np.abs(proba - proba_sklearn).max() < 1e-4
    w.array("proba_val", proba)
    w.array("proba_val_sklearn", proba_sklearn)
    w.array("accuracy_val", model.score(x_val, labels_val))
    w.close()


def factorization_reference(fp, fo, fraction=0.9):
    cp = (fp - fp.mean(0)).T @ (fp - fp.mean(0)) / len(fp)
    co = (fo - fo.mean(0)).T @ (fo - fo.mean(0)) / len(fo)
    lam, u = np.linalg.eigh(co)
    lam, u = lam[::-1], u[:, ::-1]
    k = int(np.searchsorted(np.cumsum(lam) / lam.sum(), fraction) + 1)
    inside = np.trace(u[:, :k].T @ cp @ u[:, :k])
    return 1 - inside / np.trace(cp), k


def factorization(rng, out):
    w = Writer(os.path.join(out, "factorization.txt"), """
Factorization (Lindsey & Issa): f_p (n_p x d) varies p alone, f_other (n_o x d) the other factors;
numpy: C = centred x^T x / n, top eigenvectors of C_other reaching 90% of its variance,
factorization = 1 - tr(U^T C_p U) / tr C_p. The p subspace overlaps the other one partially.""")
    d = 10
    basis = np.linalg.qr(rng.standard_normal((d, d)))[0]
    other = rng.standard_normal((50, 3)) * [3.0, 2.0, 1.5] @ basis[:, :3].T + 0.1 * rng.standard_normal((50, d))
    p_dirs = basis[:, 2:5]  # shares one direction with the other factors' subspace
    fp = rng.standard_normal((40, 3)) @ p_dirs.T + 0.1 * rng.standard_normal((40, d)) + 2.0
    f, k = factorization_reference(fp, other)
    w.array("f_p", fp)
    w.array("f_other", other)
    w.array("factorization", f)
    w.array("n_components", k)
    w.close()


def t_quantile(p, dof):
    q = scipy.stats.t.ppf(p, dof)
    for _ in range(2):
        q -= (scipy.stats.t.cdf(q, dof) - p) / scipy.stats.t.pdf(q, dof)
    return q


def ci(rng, out):
    w = Writer(os.path.join(out, "ci.txt"), """
Confidence intervals: scipy.stats.t.interval(level, n - 1, mean, sem) of `values`, and t quantiles
(p, dof, q) rows of `quantiles`: scipy.stats.t.ppf is only good to ~1e-9 relative, so q is polished by
two Newton steps on scipy.stats.t.cdf (accurate to rounding); the intervals use the polished quantile.""")
    values = 0.4 + 0.05 * rng.standard_normal(10)
    w.array("values", values)
    for level, tag in ((0.95, "95"), (0.9, "90")):
        lo, hi = scipy.stats.t.interval(level, len(values) - 1, loc=values.mean(), scale=scipy.stats.sem(values))
        q = t_quantile((1 + level) / 2, len(values) - 1)
        half = q * scipy.stats.sem(values)
        assert abs(hi - values.mean() - half) < 1e-8
        w.array(f"interval_{tag}", [values.mean() - half, values.mean() + half])
    rows = [(p, dof, t_quantile(p, dof)) for p, dof in
            ((0.975, 1), (0.975, 2), (0.975, 9), (0.95, 4), (0.995, 29), (0.025, 9), (0.6, 3.5), (0.999, 200))]
    w.array("quantiles", rows)
    w.close()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                               "stats")
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    for make in (bures, ridge, pls, ceiling, logreg, factorization, ci):
        make(rng, out)


if __name__ == "__main__":
    main()
