"""``python -m skbpnn``: train, evaluate and check a network from the shell.

With no arguments it trains on the digits data bundled with scikit-learn
(standardized, 25 % held out) and prints the held-out and 5-fold
cross-validated accuracy, a gradient check of backpropagation on a small
network and the fit time; ``--plot PATH`` also draws the hidden units and the
loss curve (with matplotlib). ``--csv PATH --target COLUMN`` does the same on
the user's own numeric data.

The progress of the fit is the estimator's ``verbose`` line per iteration.
On a terminal it is one line rewritten in place, cleared before the results;
piped or redirected there is none, so that a log holds the results only.
``--verbose`` prints every iteration's line, ``--quiet`` the results alone.

Usage and data errors print one line on stderr and exit with status 2, before
any training: every option, output path and the whole CSV file are checked
first, so that a typo does not cost a long fit. A reader that stops early
(``python -m skbpnn | head -1``) ends the command quietly, with status 141
(128 + SIGPIPE), as the shell reports for ``yes | head -1``.
"""

import argparse
import codecs
import contextlib
import csv
import io
import os
import re
import shutil
import sys
import time
import warnings

import numpy as np

from . import __version__, backprop
from ._classifier import BackpropClassifier
from .plotting import _INSTALL_HINT

EXIT_USAGE = 2
# What the shell reports for a tool ended by SIGPIPE (`yes | head -1`), and
# not 1, which is an uncaught exception's status.
EXIT_PIPE = 128 + 13

# Cells that mean "no value" in a numeric column: what spreadsheets, R and
# pandas write for a gap (compared lower-case, after stripping blanks).
MISSING = frozenset(
    ["", "na", "n/a", "nan", "-nan", "null", "none", "<na>", "#n/a", "#na", "?"]
)
# Candidates for the delimiter when --sep is not given, in order of preference.
DELIMITERS = ",;\t|"


class UsageError(Exception):
    """A problem with the options or the data: one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse would print the whole usage too; one line is enough here.
        raise UsageError(f"{message} (see skbpnn --help)")


def _lambda_value(text):
    """``--lambda``'s value: a number, or the word ``evidence``."""
    if text.strip().lower() == "evidence":
        return "evidence"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number or 'evidence', got {text!r}"
        ) from None


def _parser():
    parser = _Parser(
        prog="skbpnn",
        description="Train BackpropClassifier (a sigmoid network, backpropagation "
        "and L-BFGS) on scikit-learn's digits or on a CSV file, and report the "
        "held-out and cross-validated accuracy, a gradient check and the fit time.",
        epilog="Errors in the options or the data print one line and exit with "
        "status 2, before any training.",
    )
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="*",
        default=[25],
        metavar="N",
        help="units of each hidden layer, e.g. --hidden 25 25; --hidden alone "
        "for no hidden layer (logistic regression) (default: 25)",
    )
    parser.add_argument(
        "--lambda",
        dest="lambda_",
        type=_lambda_value,
        default=1.0,
        metavar="L",
        help="regularization strength lambda_, or 'evidence' to choose it from "
        "the training data by the Bayesian evidence (default: 1.0)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=200,
        metavar="N",
        help="maximum L-BFGS iterations (default: 200)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the hold-out split, the initial weights and the "
        "gradient check, 0 to 2**32 - 1 (default: 0)",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=5,
        metavar="K",
        help="folds of the cross-validation; 0 skips it (default: 5)",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument(
        "--verbose",
        action="store_true",
        help="print a line for every L-BFGS iteration (default: one progress "
        "line on a terminal, none when piped)",
    )
    output.add_argument(
        "--quiet",
        action="store_true",
        help="print the results only: no description of the data and the "
        "network, no progress",
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
        "--sep",
        metavar="CHAR",
        help="the CSV delimiter, e.g. ';' or tab (default: detected among "
        "comma, semicolon, tab and |)",
    )
    parser.add_argument(
        "--encoding",
        metavar="NAME",
        help="the CSV file's text encoding, e.g. latin-1 or cp1252 (default: "
        "UTF-8, with or without a byte-order mark)",
    )
    parser.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop the CSV rows with a missing value (an empty cell, NA, NaN, "
        "?, ...) or no label, instead of stopping at them",
    )
    parser.add_argument(
        "--save",
        metavar="MODEL.joblib",
        help="write the fitted pipeline (scaler and classifier) with joblib",
    )
    parser.add_argument(
        "--onnx",
        metavar="MODEL.onnx",
        help="write the fitted pipeline (scaler and classifier) as ONNX, for "
        'onnxruntime (needs skl2onnx: pip install "skbpnn[onnx]")',
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="draw the hidden units and the loss curve into this picture "
        "(needs matplotlib); the format follows the extension (.png, .pdf, "
        ".svg, ...), a name without one gets .png and an existing folder gets "
        "skbpnn.png inside it; the path printed is the file written "
        "(default: no picture)",
    )
    parser.add_argument("--version", action="version", version=f"skbpnn {__version__}")
    return parser


def _option_error(option, param, exc):
    """The estimator's own message about ``param``, told of ``option``.

    The rule and its wording stay in the estimator's parameter constraints;
    only the alternatives a command line cannot pass (an array, a RandomState
    instance, None) are left out.
    """
    text = str(exc).replace(f"The {param!r} parameter of BackpropClassifier", option)
    return re.sub(
        r"an array-like or |, an instance of '[^']*'| or None(?=\.)", "", text
    )


def _classifier(args):
    """The classifier the options describe, validated by its own rules."""
    from sklearn.utils._param_validation import InvalidParameterError

    checks = [("--hidden", "hidden_layer_sizes", size) for size in args.hidden]
    checks += [
        ("--lambda", "lambda_", args.lambda_),
        ("--max-iter", "max_iter", args.max_iter),
        ("--seed", "random_state", args.seed),
    ]
    for option, param, value in checks:
        try:
            BackpropClassifier(**{param: value})._validate_params()
        except InvalidParameterError as exc:
            raise UsageError(_option_error(option, param, exc)) from None
    return BackpropClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        lambda_=args.lambda_,
        max_iter=args.max_iter,
        random_state=args.seed,
        verbose=1 if args.verbose or _in_place(args) else 0,
    )


def _in_place(args):
    """Whether the fit's progress is one line rewritten in place: on a
    terminal, unless --verbose (every line) or --quiet (none)."""
    return not (args.verbose or args.quiet) and sys.stdout.isatty()


class _ProgressLine(io.TextIOBase):
    """Where the estimator's verbose lines go on a terminal: each one
    replaces the previous one on a single line (``\\r``), its iteration
    counted against ``max_iter``. `clear` leaves the cursor on an empty line.
    """

    def __init__(self, stream, max_iter):
        self.stream = stream
        self.max_iter = max_iter
        self._pending = ""  # the text after the last newline
        # With --lambda evidence: which refit of the search, and the best
        # lambda_ so far, shown before each iteration's text.
        self._refit = ""
        self._shown = 0  # the width of the line on screen
        # A line longer than the terminal wraps, and '\r' goes back to its
        # last row only: cut it instead. A terminal that reports no width
        # (0 columns; Python 3.10's shutil passes it on) gets 80.
        self._columns = (shutil.get_terminal_size().columns or 80) - 1

    def writable(self):
        return True

    def write(self, text):
        *lines, self._pending = (self._pending + text).split("\n")
        width = len(str(self.max_iter))
        for line in lines:
            # "Evidence refit  3 at lambda_=0.3, best so far lambda_=1 (-97)"
            # -> "refit 3, lambda_=0.3 (best 1): " before the iterations.
            refit = re.match(
                r"^Evidence refit +(\d+) at (lambda_=\S+?)(?:, best so far "
                r"lambda_=(\S+) .*)?$",
                line,
            )
            if refit:
                best = f" (best {refit[3]})" if refit[3] else ""
                self._refit = f"refit {refit[1]}, {refit[2]}{best}: "
            # "Iteration   12  cost ..." -> "iteration  12 of 200  cost ..."
            line = self._refit + re.sub(
                r"^Iteration +(\d+)",
                lambda m: f"iteration {m[1]:>{width}} of {self.max_iter}",
                line if not refit else "",
            )
            line = line[: self._columns]
            self.stream.write("\r" + line.ljust(self._shown))
            self._shown = len(line)
        self.stream.flush()
        return len(text)

    def clear(self):
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0


def _check_output(option, path):
    """Refuse before training an output path that cannot be written."""
    if os.path.isdir(path):
        raise UsageError(
            f"{option} {path}: is a folder; name the file, e.g. "
            f"{option} {os.path.join(path, 'model.joblib')}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        raise UsageError(f"{option} {path}: no writable folder {folder}")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: the file is not writable")


def _plot_path(path):
    """The file ``--plot path`` writes, checked before training.

    An existing folder gets ``skbpnn.png`` inside it and a name without an
    extension gets ``.png``, so that the path printed is the file written.
    Selects matplotlib's file-only Agg backend.
    """
    try:
        import matplotlib
    except ImportError:
        raise UsageError(f"--plot needs matplotlib: {_INSTALL_HINT}") from None
    matplotlib.use("Agg")  # a file, never a window
    from matplotlib.backend_bases import FigureCanvasBase

    formats = set(FigureCanvasBase.get_supported_filetypes())
    if not shutil.which(matplotlib.rcParams["pgf.texsystem"]):
        formats.discard("pgf")  # written through LaTeX
    if os.path.isdir(path):
        path = os.path.join(path, "skbpnn.png")
    extension = os.path.splitext(path)[1][1:].lower()
    if not extension:
        path += ".png"
    elif extension not in formats:
        raise UsageError(
            f"--plot {path}: matplotlib cannot write .{extension} files; "
            f"use one of .{', .'.join(sorted(formats))}"
        )
    _check_output("--plot", path)
    return os.path.abspath(path)


def _separator(sep):
    """``--sep``'s character; ``tab`` and a typed ``\\t`` mean a tab."""
    sep = {"tab": "\t", "\\t": "\t"}.get(sep.lower(), sep)
    if len(sep) != 1:
        raise UsageError(f"--sep takes one character (or tab), got {sep!r}")
    return sep


def _check_args(args):
    """Every check that needs no data; returns the validated classifier."""
    clf = _classifier(args)
    if args.cv == 1 or args.cv < 0:
        raise UsageError(f"--cv must be 0 (no cross-validation) or >= 2, got {args.cv}")
    if (args.csv is None) != (args.target is None):
        raise UsageError("--csv and --target go together")
    if args.csv is None:
        for option in ("--sep", "--encoding"):
            if getattr(args, option[2:]) is not None:
                raise UsageError(f"{option} describes the --csv file; there is none")
        if args.drop_missing:
            raise UsageError("--drop-missing describes the --csv file; there is none")
    if args.sep is not None:
        args.sep = _separator(args.sep)
    if args.encoding is not None:
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise UsageError(
                f"--encoding {args.encoding}: unknown encoding (try utf-8, "
                "latin-1 or cp1252)"
            ) from None
    if args.save:
        _check_output("--save", args.save)
    if args.onnx:
        _check_output("--onnx", args.onnx)
        from . import onnx

        try:
            onnx.register()  # skl2onnx present? Said before training.
        except ImportError as exc:
            raise UsageError(f"--onnx: {exc}") from None
    if args.plot:
        args.plot = _plot_path(args.plot)
    return clf


def _lines(numbers):
    """``5, 9, 14`` or ``5, 9, 14, 20, 31, ... (12 in all)``."""
    shown = ", ".join(map(str, numbers[:5]))
    return shown + (f", ... ({len(numbers)} in all)" if len(numbers) > 5 else "")


def _decode(data, path, encoding):
    """The file's text; a UTF-8 or UTF-16 byte-order mark is dropped."""
    if encoding is None:
        # Excel's "CSV UTF-8" starts with a UTF-8 byte-order mark, its
        # "Unicode text" with a UTF-16 one; utf-8-sig also reads plain UTF-8.
        utf16 = data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        encoding = "utf-16" if utf16 else "utf-8-sig"
    elif codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        name = "UTF-8" if encoding == "utf-8-sig" else encoding
        raise UsageError(
            f"{path} is not {name} text (byte 0x{data[exc.start]:02x} on line "
            f"{line}); pass its encoding, e.g. --encoding latin-1 or "
            "--encoding cp1252"
        ) from None


def _sniff(text):
    """The delimiter of ``text``: the first of `DELIMITERS` that splits the
    header into several fields and every sampled line into as many."""
    sample = text[:65536]
    for sep in DELIMITERS:
        rows = [r for r in csv.reader(io.StringIO(sample), delimiter=sep) if r]
        if len(sample) < len(text):
            rows = rows[:-1]  # cut at the sample's end
        if rows and len(rows[0]) > 1 and all(len(r) == len(rows[0]) for r in rows):
            return sep
    return ","


def _describe(sep):
    return {"\t": "tab", ",": "comma", ";": "semicolon"}.get(sep, repr(sep))


def _read_csv(path, target, sep=None, encoding=None, drop_missing=False):
    """`read_csv`, also returning the lines to print about how it read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    text = _decode(data, path, encoding)
    notes = []
    if sep is None:
        sep = _sniff(text)
        if sep != ",":
            notes.append(f"read {path} as {_describe(sep)}-separated (--sep to change)")
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    try:
        # with the line each row ends on; rows of blank cells are blank lines
        rows = [(reader.line_num, row) for row in reader if any(map(str.strip, row))]
    except csv.Error as exc:
        raise UsageError(f"{path} is not a valid CSV file: {exc}") from None
    if not rows:
        raise UsageError(f"{path} is empty")
    header = [name.strip() for name in rows[0][1]]
    body = rows[1:]
    for line, row in body:
        if len(row) != len(header):
            raise UsageError(
                f"{path}, line {line}: {len(row)} fields, the header has {len(header)}"
            )
    # A spreadsheet's untouched trailing columns: no name and no value.
    used = [
        j for j, name in enumerate(header) if name or any(r[j].strip() for _, r in body)
    ]
    for j in used:
        if not header[j]:
            raise UsageError(
                f"{path}: column {j + 1} has values but no name in the header "
                "(a row index? name it or delete it)"
            )
    seen = {}
    for j in used:
        seen.setdefault(header[j], []).append(j + 1)
    duplicates = {name: cols for name, cols in seen.items() if len(cols) > 1}
    if duplicates:
        raise UsageError(
            f"{path}: duplicate column names: "
            + ", ".join(
                f"{name!r} (columns {', '.join(map(str, cols))})"
                for name, cols in duplicates.items()
            )
            + "; rename or delete all but one"
        )
    if target not in seen:
        shown = [header[j] for j in used]
        listed = ", ".join(shown[:10]) + (", ..." if len(shown) > 10 else "")
        hint = ""
        if sep == "," and len(shown) == 1:
            other = next((d for d in DELIMITERS[1:] if d in shown[0]), None)
            if other:
                hint = (
                    f" (the header looks {_describe(other)}-separated: "
                    f"--sep {'tab' if other == chr(9) else repr(other)})"
                )
        raise UsageError(
            f"{path} has no column {target!r}; its columns: {listed}{hint}"
        )
    t = header.index(target)
    features = [j for j in used if j != t]
    if not features:
        raise UsageError(f"{path} has no feature column besides {target!r}")

    X, y = [], []
    unlabeled, gaps, dropped = [], [], []
    for line, row in body:
        label = row[t].strip()
        values, gap = [], None
        for j in features:
            value = row[j].strip()
            if value.lower() in MISSING:
                gap = gap or (line, header[j], row[j])
                continue
            try:
                number = float(value)
            except ValueError:
                comma = re.fullmatch(r"[+-]?\d*,\d+", value)
                raise UsageError(
                    f"{path}, line {line}, column {header[j]!r}: {value!r} is not "
                    "a number ("
                    + ("a decimal comma? write" if comma else "features must be")
                    + " numbers like 5.1)"
                ) from None
            if not np.isfinite(number):
                raise UsageError(
                    f"{path}, line {line}, column {header[j]!r}: {value!r} is infinite"
                )
            values.append(number)
        if drop_missing and (gap or not label):
            dropped.append(line)
        elif not label:
            unlabeled.append(line)
        elif gap:
            gaps.append(gap)
        else:
            X.append(values)
            y.append(label)
    if unlabeled:
        raise UsageError(
            f"{path}: no label in column {target!r} on line"
            f"{'s' if len(unlabeled) > 1 else ''} {_lines(unlabeled)}; label or "
            "delete those rows, or pass --drop-missing"
        )
    if gaps:
        line, column, value = gaps[0]
        raise UsageError(
            f"{path}: {len(gaps)} row{'s' if len(gaps) > 1 else ''} with a missing "
            f"value (first: line {line}, column {column!r}, {value!r}); impute "
            "them first (e.g. sklearn.impute.SimpleImputer) or pass --drop-missing "
            "to drop those rows"
        )
    if dropped:
        notes.append(
            f"dropped {len(dropped)} row{'s' if len(dropped) > 1 else ''} with a "
            f"missing value (--drop-missing): line{'s' if len(dropped) > 1 else ''} "
            f"{_lines(dropped)}"
        )
    if not X:
        raise UsageError(
            f"{path} has a header but no data rows"
            + (" left after --drop-missing" if dropped else "")
        )
    y = np.asarray(y)
    try:  # numeric labels stay numbers, so that 1 and 1.0 are one class
        y = y.astype(np.float64)
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    except ValueError:
        pass
    return np.asarray(X, dtype=np.float64), y, notes


def read_csv(path, target, *, sep=None, encoding=None, drop_missing=False):
    """Read a CSV file with a header row into numeric ``X`` and labels ``y``.

    Every column but ``target`` must hold numbers; ``target`` may hold any
    labels (numbers or strings). pandas is not needed. Problems raise
    `UsageError` with a one-line message naming the file, line and column.

    Parameters
    ----------
    path : str
        The file.
    target : str
        The name of the label column in the header row.
    sep : str, default=None
        The delimiter; None detects it among comma, semicolon, tab and ``|``.
    encoding : str, default=None
        The text encoding; None reads UTF-8 (and UTF-16 with a byte-order
        mark). A UTF-8 byte-order mark is dropped.
    drop_missing : bool, default=False
        Drop the rows with a missing feature value (an empty cell, ``NA``,
        ``NaN``, ``?``, ...) or an empty label, instead of raising.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The feature columns, in the file's order.
    y : ndarray of shape (n_samples,)
        The labels: int64 or float64 when all are numbers, else strings.
    """
    X, y, _ = _read_csv(path, target, sep, encoding, drop_missing)
    return X, y


def _load(args):
    if args.csv is None:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return X, y, "digits", []
    X, y, notes = _read_csv(
        args.csv, args.target, args.sep, args.encoding, args.drop_missing
    )
    return X, y, os.path.basename(args.csv), notes


def _check_data(X, y, name, args):
    """The checks on the data that need no training: the target is made of
    classes, and the hold-out split and the folds exist."""
    from sklearn.model_selection import check_cv
    from sklearn.utils.multiclass import type_of_target

    if type_of_target(y) == "continuous":
        raise UsageError(
            f"{name}: the target column {args.target!r} looks continuous "
            f"({len(np.unique(y))} distinct values in {len(y)} rows); a "
            "classifier needs class labels (bin them first)"
        )
    if args.cv:
        folds = check_cv(args.cv, y, classifier=True)
        with warnings.catch_warnings():
            # "The least populated class ..." is said once, by the real folds
            warnings.simplefilter("ignore", UserWarning)
            try:
                next(folds.split(X, y))
            except ValueError as exc:
                raise UsageError(f"--cv {args.cv}: {exc}") from None


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
    """Hidden units and loss curve side by side, written to ``path``.

    ``path`` comes from `_plot_path`, which selected the Agg backend and
    checked the format and the folder before training.
    """
    import matplotlib.pyplot as plt

    from .plotting import HiddenUnitsDisplay, LossCurveDisplay

    fig, (ax_units, ax_loss) = plt.subplots(1, 2, figsize=(10, 4.5))
    HiddenUnitsDisplay.from_estimator(model, ax=ax_units)
    LossCurveDisplay.from_estimator(model, ax=ax_loss)
    ax_loss.set_title(f"BackpropClassifier on {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# The fit line's ending for each of the estimator's stop_reason_ values.
_STOPS = {
    "converged": "",
    "callback": "",
    "max_iter": " (stopped at --max-iter before converging)",
    "max_fun": " (stopped at the evaluation limit before converging)",
    "abnormal": (
        " (NOT CONVERGED: the line search found no lower cost; check the data "
        "or lower --lambda)"
    ),
    "interrupted": " (interrupted: the last completed iteration is kept)",
}


def _lambda_text(lambda_):
    return lambda_ if isinstance(lambda_, str) else f"{lambda_:g}"


def run(args, clf):
    """Load, check, train and report; ``clf`` comes from `_check_args`."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_val_score, train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, name, notes = _load(args)
    _check_data(X, y, name, args)
    classes = np.unique(y)
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=args.seed
        )
    except ValueError as exc:
        raise UsageError(
            f"cannot hold out a stratified 25 % of {name} ({len(classes)} classes "
            f"in {len(y)} rows): {exc}"
        ) from None
    model = make_pipeline(StandardScaler(), clf)
    n_outputs = 1 if len(classes) == 2 else len(classes)  # K
    layers = "-".join(str(s) for s in (X.shape[1], *args.hidden, n_outputs))
    if not args.hidden:
        layers += " (no hidden layer)"
    if not args.quiet:
        print(
            f"skbpnn {__version__}: {name}, {X.shape[0]} samples, {X.shape[1]} "
            f"features, {len(classes)} classes; standardized; network {layers}, "
            f"lambda_={_lambda_text(args.lambda_)}, max_iter={args.max_iter}"
        )
    for note in notes:
        print(note)
    if not args.quiet:
        print(f"training on {len(y_train)} samples, holding out {len(y_test)}")
    progress = _ProgressLine(sys.stdout, args.max_iter) if _in_place(args) else None
    # On a terminal the warnings of the fit wait until its progress line is
    # cleared, so that the two do not share a line.
    with warnings.catch_warnings(record=progress is not None) as caught:
        # How the fit ended is reported from stop_reason_ below, in the
        # options' words; other warnings (Ctrl-C's) are shown.
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        try:
            with contextlib.redirect_stdout(progress or sys.stdout):
                model.fit(X_train, y_train)
        except ValueError as exc:
            raise UsageError(f"cannot fit {name}: {exc}") from None
        finally:
            if progress is not None:
                progress.clear()
        fit_time = time.perf_counter() - start
    for w in caught or ():
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    work = (
        f"{clf.n_iter_total_} L-BFGS iterations, {len(clf.lambdas_)} refits scored"
        if args.lambda_ == "evidence"
        else f"{clf.n_iter_} L-BFGS iterations"
    )
    print(
        f"fit: {work} in {fit_time:.2f} s, "
        f"final cost {clf.loss_:.6f}{_STOPS[clf.stop_reason_]}"
    )
    if args.lambda_ == "evidence":
        print(
            f"chosen by the evidence: lambda_={clf.fitted_lambda_:.6g}, "
            f"gamma={clf.n_effective_params_:.6g} (well-determined weights, of "
            f"{sum(W.size for W in clf.coefs_)}), log evidence "
            f"{clf.log_evidence_:.6g}"
        )
    print(f"held-out accuracy: {model.score(X_test, y_test):.4f}")

    if args.cv:
        cv_model = clone(model).set_params(backpropclassifier__verbose=0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_val_score(cv_model, X, y, cv=args.cv)
        print(
            f"{args.cv}-fold cross-validated accuracy: {scores.mean():.4f} "
            f"+/- {scores.std():.4f} ({time.perf_counter() - start:.1f} s)"
        )

    layer_sizes, diff, _ = _gradient_check(clf.fitted_lambda_, args.seed)
    verdict = "backprop agrees" if diff < 1e-9 else "CHECK FAILED: above 1e-9"
    print(
        f"gradient check, {'-'.join(map(str, layer_sizes))} network, "
        f"lambda_={clf.fitted_lambda_:g}: relative difference {diff:.2e} ({verdict})"
    )
    print(f"fit time: {fit_time:.2f} s")

    # The paths were checked before training; an error here is the disk's.
    if args.save:
        import joblib

        try:
            joblib.dump(model, args.save)
        except OSError as exc:
            raise UsageError(f"cannot write {args.save}: {exc.strerror}") from None
        print(f"saved the fitted pipeline to {os.path.abspath(args.save)}")

    if args.onnx:
        from . import onnx

        try:
            onnx.to_onnx(model, X[:1], args.onnx)
        except OSError as exc:
            raise UsageError(f"cannot write {args.onnx}: {exc.strerror}") from None
        print(f"saved the fitted pipeline as ONNX to {os.path.abspath(args.onnx)}")

    if args.plot:
        try:
            _plot(model, args.plot, name)
        except OSError as exc:
            raise UsageError(f"cannot write {args.plot}: {exc.strerror}") from None
        print(f"hidden units and loss curve drawn in {args.plot}")
    return 0


def main(argv=None):
    """Entry point of ``python -m skbpnn`` and of the ``skbpnn`` script."""
    status = None
    try:
        try:
            args = _parser().parse_args(argv)
            clf = _check_args(args)
            status = run(args, clf)
        except UsageError as exc:
            status = EXIT_USAGE
            # A closed stderr is None; print would fall back to stdout.
            if sys.stderr is not None:
                print(f"skbpnn: error: {exc}", file=sys.stderr)
        finally:
            if sys.stdout is not None:
                sys.stdout.flush()  # a closed pipe raises here, not at exit
    except BrokenPipeError:
        # The reader left (`skbpnn | head -1`): stop without a traceback, as
        # Unix tools do. Python's "Note on SIGPIPE": point the streams at
        # devnull so that the interpreter's last flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                os.dup2(devnull, stream.fileno())
        os.close(devnull)
        if status != EXIT_USAGE:  # whose message went to a closed stderr
            status = EXIT_PIPE  # output cut short, even if the fit ended
    return status


if __name__ == "__main__":
    sys.exit(main())
