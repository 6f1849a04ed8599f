"""``python -m skbpnn``: train, evaluate and check a network from the shell.

With no arguments it trains on the digits data bundled with scikit-learn
(standardized, 25 % held out), prints the per-iteration progress, the
held-out and 5-fold cross-validated accuracy, a gradient check of
backpropagation on a small network and the fit time, and draws the hidden
units and the loss curve into a PNG when matplotlib is installed.
``--csv PATH --target COLUMN`` does the same on the user's own numeric data.

Usage and data errors print one line on stderr and exit with status 2.
"""

import argparse
import csv
import os
import sys
import time
import warnings

import numpy as np

from . import __version__, backprop
from ._classifier import BackpropClassifier

EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with the options or the data: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print the whole usage too; one line is enough here.
        raise UsageError(f"{message} (see skbpnn --help)")


def _parser():
    parser = _Parser(
        prog="skbpnn",
        description="Train BackpropClassifier (a sigmoid network, backpropagation "
        "and L-BFGS) on scikit-learn's digits or on a CSV file, and report the "
        "held-out and cross-validated accuracy, a gradient check and the fit time.",
        epilog="Errors in the options or the data print one line and exit with "
        "status 2.",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="*",
        default=[25],
        metavar="N",
        help="units of each hidden layer, e.g. --hidden 25 25; none for "
        "logistic regression (default: 25)",
    )
    parser.add_argument(
        "--lambda",
        dest="lambda_",
        type=float,
        default=1.0,
        metavar="L",
        help="regularization strength lambda_ (default: 1.0)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=200,
        metavar="N",
        help="maximum L-BFGS iterations (default: 200)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--cv",
        type=int,
        default=5,
        metavar="K",
        help="folds of the cross-validation; 0 skips it (default: 5)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no per-iteration progress",
    )
    parser.add_argument(
        "--csv",
        metavar="PATH",
        help="train on this CSV file (header row, numeric features) "
        "instead of the digits",
    )
    parser.add_argument(
        "--target",
        metavar="COLUMN",
        help="the CSV column holding the class labels",
    )
    parser.add_argument(
        "--save",
        metavar="MODEL.joblib",
        help="write the fitted pipeline (scaler and classifier) with joblib",
    )
    parser.add_argument(
        "--plot",
        metavar="PNG",
        default="skbpnn.png",
        help="where to draw the hidden units and the loss curve, if matplotlib "
        "is installed (default: skbpnn.png); --plot '' draws nothing",
    )
    parser.add_argument("--version", action="version", version=f"skbpnn {__version__}")
    return parser


def _check_args(args):
    if any(h < 1 for h in args.hidden):
        raise UsageError(f"--hidden takes positive sizes, got {args.hidden}")
    if not (np.isfinite(args.lambda_) and args.lambda_ >= 0):
        raise UsageError(f"--lambda must be a finite number >= 0, got {args.lambda_}")
    if args.max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1, got {args.max_iter}")
    if args.cv == 1 or args.cv < 0:
        raise UsageError(f"--cv must be 0 (no cross-validation) or >= 2, got {args.cv}")
    if (args.csv is None) != (args.target is None):
        raise UsageError("--csv and --target go together")
    for option, path in (("--save", args.save), ("--plot", args.plot)):
        # checked before training, so that a typo does not cost the fit
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            raise UsageError(f"{option} {path}: no writable folder {folder}")


def read_csv(path, target):
    """Read a CSV file with a header row into numeric ``X`` and labels ``y``.

    Every column but ``target`` must hold numbers; ``target`` may hold any
    labels (numbers or strings). pandas is not needed.
    """
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"cannot read {path}: {reason}") from None
    except csv.Error as exc:
        raise UsageError(f"{path} is not a valid CSV file: {exc}") from None
    rows = [row for row in rows if row]  # blank lines
    if not rows:
        raise UsageError(f"{path} is empty")
    header = [name.strip() for name in rows[0]]
    if target not in header:
        shown = ", ".join(header[:10]) + (", ..." if len(header) > 10 else "")
        raise UsageError(f"{path} has no column {target!r}; its columns: {shown}")
    if len(header) < 2:
        raise UsageError(f"{path} has no feature column besides {target!r}")
    t = header.index(target)
    X, y = [], []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UsageError(
                f"{path}, line {line}: {len(row)} fields, the header has {len(header)}"
            )
        features = []
        for j, value in enumerate(row):
            if j == t:
                continue
            try:
                number = float(value)
            except ValueError:
                raise UsageError(
                    f"{path}, line {line}, column {header[j]!r}: {value!r} is not "
                    "a number (features must be numeric)"
                ) from None
            if not np.isfinite(number):
                raise UsageError(
                    f"{path}, line {line}, column {header[j]!r}: {value!r} is "
                    "missing or infinite"
                )
            features.append(number)
        X.append(features)
        y.append(row[t].strip())
    if not X:
        raise UsageError(f"{path} has a header but no data rows")
    y = np.asarray(y)
    try:  # numeric labels stay numbers, so that 1 and 1.0 are one class
        y = y.astype(np.float64)
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    except ValueError:
        pass
    return np.asarray(X, dtype=np.float64), y


def _load(args):
    if args.csv is None:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X, y, "digits"
    X, y = read_csv(args.csv, args.target)
    return X, y, os.path.basename(args.csv)


def _gradient_check(lambda_, seed):
    """The course's check: backprop against central differences, 3-5-3 net."""
    rng = np.random.RandomState(seed)
    layer_sizes = (3, 5, 3)
    X = rng.randn(5, 3)
    Y = np.eye(3)[rng.randint(3, size=5)]
    theta = backprop.init_weights(layer_sizes, random_state=rng)
    start = time.perf_counter()
    diff = backprop.gradient_check(theta, X, Y, layer_sizes, lambda_)
    return layer_sizes, diff, time.perf_counter() - start


def _plot(model, path, name):
    """Hidden units and loss curve side by side; returns the path or None."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    from .plotting import HiddenUnitsDisplay, LossCurveDisplay

    fig, (ax_units, ax_loss) = plt.subplots(1, 2, figsize=(10, 4.5))
    HiddenUnitsDisplay.from_estimator(model, ax=ax_units)
    LossCurveDisplay.from_estimator(model, ax=ax_loss)
    ax_loss.set_title(f"BackpropClassifier on {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return os.path.abspath(path)


def run(args):
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, name = _load(args)
    classes = np.unique(y)
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=args.seed
        )
    except ValueError as exc:
        raise UsageError(
            f"cannot hold out a stratified 25 % of {name}: {exc}"
        ) from None
    clf = BackpropClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        lambda_=args.lambda_,
        max_iter=args.max_iter,
        random_state=args.seed,
        verbose=0 if args.quiet else 1,
    )
    model = make_pipeline(StandardScaler(), clf)
    n_outputs = 1 if len(classes) == 2 else len(classes)  # K
    layers = "-".join(str(s) for s in (X.shape[1], *args.hidden, n_outputs))
    print(
        f"skbpnn {__version__}: {name}, {X.shape[0]} samples, {X.shape[1]} "
        f"features, {len(classes)} classes; standardized; network {layers}, "
        f"lambda_={args.lambda_:g}, max_iter={args.max_iter}"
    )
    print(f"training on {len(y_train)} samples, holding out {len(y_test)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        try:
            model.fit(X_train, y_train)
        except ValueError as exc:
            raise UsageError(f"cannot fit {name}: {exc}") from None
        fit_time = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    print(
        f"fit: {clf.n_iter_} L-BFGS iterations in {fit_time:.2f} s, "
        f"final cost {clf.loss_:.6f}"
        + ("" if converged else " (stopped at --max-iter before converging)")
    )
    print(f"held-out accuracy: {model.score(X_test, y_test):.4f}")

    if args.cv:
        cv_model = clone(model).set_params(backpropclassifier__verbose=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                scores = cross_val_score(cv_model, X, y, cv=args.cv)
            except ValueError as exc:
                raise UsageError(
                    f"cannot cross-validate {name} over {args.cv} folds: {exc}"
                ) from None
        print(
            f"{args.cv}-fold cross-validated accuracy: {scores.mean():.4f} "
            f"+/- {scores.std():.4f} ({time.perf_counter() - start:.1f} s)"
        )

    layer_sizes, diff, _ = _gradient_check(args.lambda_, args.seed)
    verdict = "backprop agrees" if diff < 1e-9 else "CHECK FAILED: above 1e-9"
    print(
        f"gradient check, {'-'.join(map(str, layer_sizes))} network, "
        f"lambda_={args.lambda_:g}: relative difference {diff:.2e} ({verdict})"
    )
    print(f"fit time: {fit_time:.2f} s")

    if args.save:
        import joblib

        try:
            joblib.dump(model, args.save)
        except OSError as exc:
            raise UsageError(f"cannot write {args.save}: {exc.strerror}") from None
        print(f"saved the fitted pipeline to {os.path.abspath(args.save)}")

    if args.plot:
        try:
            where = _plot(model, args.plot, name)
        except OSError as exc:
            raise UsageError(f"cannot write {args.plot}: {exc.strerror}") from None
        if where is None:
            print("no picture: matplotlib is not installed (pip install skbpnn[plot])")
        else:
            print(f"hidden units and loss curve drawn in {where}")
    return 0


def main(argv=None):
    """Entry point of ``python -m skbpnn`` and of the ``skbpnn`` script."""
    try:
        args = _parser().parse_args(argv)
        _check_args(args)
        return run(args)
    except UsageError as exc:
        print(f"skbpnn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
