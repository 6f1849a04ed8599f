"""``python -m skbpnn``: train on scikit-learn's bundled digits and report."""

import argparse
import sys
import time

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._classifier import BackpropClassifier


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="skbpnn",
        description="Train BackpropClassifier on the digits data that ships "
        "with scikit-learn and print the held-out accuracy.",
    )
    parser.add_argument("--hidden", type=int, nargs="*", default=[25])
    parser.add_argument("--lambda", dest="lambda_", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    clf = BackpropClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        lambda_=args.lambda_,
        max_iter=args.max_iter,
        random_state=args.seed,
    )
    model = make_pipeline(StandardScaler(), clf)
    start = time.perf_counter()
    try:
        model.fit(X_train, y_train)
    except ValueError as exc:
        print(f"skbpnn: error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(
        f"digits {X.shape[0]} x {X.shape[1]}, network {clf.layer_sizes_}, "
        f"lambda_={clf.lambda_}: {clf.n_iter_} L-BFGS iterations in {elapsed:.2f} s, "
        f"final cost {clf.loss_:.6f}"
    )
    print(f"held-out accuracy: {model.score(X_test, y_test):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
