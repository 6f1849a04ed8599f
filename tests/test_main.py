"""``python -m skbpnn`` run as a user runs it: a subprocess, in a fresh folder."""

import io
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skbpnn
from skbpnn import BackpropClassifier

REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd, executable=None, pythonpath=()):
    env = dict(os.environ, MPLBACKEND="Agg")
    # The package as checked out, also when it is not installed.
    env["PYTHONPATH"] = os.pathsep.join(
        [*map(str, pythonpath), str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    cmd = [executable] if executable else [sys.executable, "-m", "skbpnn"]
    return subprocess.run(
        [*cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def number_after(label, text):
    match = re.search(rf"{label}:? ([0-9.e+-]+)", text)
    assert match, f"no {label!r} in:\n{text}"
    return float(match.group(1))


def test_defaults_reach_095_on_held_out_digits(tmp_path):
    # The command's default training (no --cv, which only adds time): the
    # issue's promise is held-out accuracy >= 0.95.
    proc = run("--cv", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert number_after("held-out accuracy", proc.stdout) >= 0.95
    # Piped: no per-iteration line, only what was trained and the results.
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == [
        f"skbpnn {skbpnn.__version__}",
        "training on 1347 samples, holding out 450",
        "fit",
        "held-out accuracy",
        "gradient check, 3-5-3 network, lambda_=1",
        "fit time",
    ]
    assert proc.stderr == ""


def test_progress_is_one_line_rewritten_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty", reason="pseudo-terminals are POSIX")
    controller, terminal = pty.openpty()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), *sys.path]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "skbpnn", "--max-iter", "20", "--cv", "0"],
        cwd=tmp_path,
        env=env,
        stdout=terminal,
        stderr=subprocess.PIPE,
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    stderr = proc.communicate(timeout=600)[1]
    assert proc.returncode == 0, stderr
    assert stderr == b""
    text = b"".join(chunks).decode().replace("\r\n", "\n")  # the terminal's line ends
    # One '\r'-rewritten line per iteration, counted against --max-iter ...
    updates = re.findall(
        r"\riteration +(\d+) of 20  cost [0-9.]+  \|grad\| [0-9.e+-]+  [0-9.]+s *",
        text,
    )
    assert updates == [str(i) for i in range(1, 21)]
    progress = text[text.index("\riteration") : text.index("fit: ")]
    assert "\n" not in progress
    # ... cleared (blanked, cursor at its start) before the results.
    assert re.search(r"\r +\rfit: 20 L-BFGS iterations", text)
    assert "Iteration" not in text
    assert text.endswith("\nfit time: " + text.rsplit("fit time: ", 1)[1])


def test_on_a_terminal_a_warning_of_the_fit_follows_the_cleared_line(call, monkeypatch):
    # Ctrl-C during the fit: the warning comes after the progress line is
    # cleared, not at its end.
    import skbpnn._classifier

    real = skbpnn._classifier.run_lbfgs

    def interrupted_at_the_5th_evaluation(fun, theta0, **kwargs):
        count = iter(range(1, 1000))

        def fun_then_ctrl_c(theta):
            if next(count) == 5:
                raise KeyboardInterrupt
            return fun(theta)

        return real(fun_then_ctrl_c, theta0, **kwargs)

    monkeypatch.setattr(
        skbpnn._classifier, "run_lbfgs", interrupted_at_the_5th_evaluation
    )
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    # Warnings shown on stdout, to see where they fall among its lines.
    monkeypatch.setattr(
        warnings, "showwarning", lambda message, *_, **__: print(f"[{message}]")
    )
    status, stdout, _ = call("--max-iter", "20", "--cv", "0")
    assert status == 0
    assert re.search(r"\riteration +1 of 20  cost", stdout)
    assert re.search(r"\r +\r\[Training interrupted \(KeyboardInterrupt\)", stdout)
    assert "(interrupted: the last completed iteration is kept)" in stdout


def test_verbose_prints_every_iteration_and_quiet_the_results_only(call):
    status, stdout, _ = call("--max-iter", "5", "--cv", "0", "--verbose")
    assert status == 0
    iterations = [line for line in stdout.splitlines() if line.startswith("Iter")]
    assert [line.split()[1] for line in iterations] == ["1", "2", "3", "4", "5"]
    status, stdout, _ = call("--max-iter", "5", "--cv", "2", "--quiet")
    assert status == 0
    assert [line.split()[0] for line in stdout.splitlines()] == [
        "fit:",
        "held-out",
        "2-fold",
        "gradient",
        "fit",
    ]


def test_quick_run_reports_everything(tmp_path, quiet_fit):
    proc = run("--max-iter", "5", "--cv", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Iteration" not in out  # piped
    assert "network 64-25-10" in out
    assert "stopped at --max-iter before converging" in out
    # The figures are those of the same pipeline, split and folds run here.
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    model = make_pipeline(
        StandardScaler(), BackpropClassifier(max_iter=5, random_state=0)
    )
    held_out = quiet_fit(model, X_train, y_train).score(X_test, y_test)
    assert number_after("held-out accuracy", out) == pytest.approx(held_out, abs=5e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cv = cross_val_score(clone(model), X, y, cv=2).mean()
    cv_printed = number_after("2-fold cross-validated accuracy", out)
    assert cv_printed == pytest.approx(cv, abs=5e-5)
    assert number_after("relative difference", out) < 1e-9
    assert number_after("fit time", out) > 0
    assert not list(tmp_path.iterdir())  # no --plot, no picture


def write_csv(path, rows):
    path.write_text("\n".join(",".join(map(str, row)) for row in rows) + "\n")
    return path


def test_csv_target_and_save(tmp_path):
    joblib = pytest.importorskip("joblib")
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    labels = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    rows = [["a", "label", "b", "c"]]
    rows += [[x[0], lab, x[1], x[2]] for x, lab in zip(X, labels)]
    csv_path = write_csv(tmp_path / "data.csv", rows)
    proc = run(
        *("--csv", str(csv_path), "--target", "label", "--hidden", "4"),
        *("--max-iter", "50", "--cv", "2"),
        *("--save", "model.joblib"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "data.csv, 60 samples, 3 features, 2 classes" in proc.stdout
    assert "network 3-4-1" in proc.stdout
    model = joblib.load(tmp_path / "model.joblib")
    # The saved pipeline takes the features in the file's order: a, b, c.
    assert (model.predict(X) == labels).mean() > 0.8


ROWS = [["sepal_length", "sepal_width", "species"]]
ROWS += [
    [f"{a:.3f}", f"{b:.3f}", "yes" if a > 0 else "no"]
    for a, b in np.random.RandomState(0).randn(40, 2)
]


def lines(rows, sep=","):
    return "".join(sep.join(row) + "\n" for row in rows)


def with_cells(changes):
    """ROWS with some cells changed: {(row, column): value}, row 0 the header
    (on line 1 of the file)."""
    rows = [list(row) for row in ROWS]
    for (i, j), value in changes.items():
        rows[i][j] = value
    return rows


# Files written as a spreadsheet or another program would write them.
FILES = {
    "text": "x,y\n1,0\nabc,1\n",
    "ragged": "x,y\n1,0\n2\n",
    "empty": "",
    "onecol": "y\n1\n0\n",
    "index": ",a,y\n0,1.5,0\n1,2.5,1\n",  # pandas' to_csv with its index
    "decimal": "a;y\n1,5;0\n2,5;1\n",
    "inf": "a,y\n1,0\ninf,1\n",
    "na": "a,y\n1,0\nNA,1\n",
    # Excel's "CSV UTF-8": a byte-order mark and CRLF line ends
    "bom": b"\xef\xbb\xbf" + lines(ROWS).replace("\n", "\r\n").encode(),
    "semicolon": lines(ROWS, ";"),
    "tab": lines(ROWS, "\t"),
    "quoted": lines(
        with_cells({(i, 2): f'"{r[2]}, really"' for i, r in enumerate(ROWS) if i})
    ),
    "latin1": lines(with_cells({(0, 0): "longueur_sépale"})).encode("latin-1"),
    "nolabel": lines(with_cells({(3, 2): " ", (7, 2): ""})),
    "gaps": lines(with_cells({(4, 0): "", (9, 1): "NA"})),
    "duplicate": lines([[r[2], r[1], r[2]] for r in ROWS]),
    # the fair data's affairs: a measure of time, not a class
    "continuous": lines(
        [["x1", "x2", "affairs"]]
        + [[a, b, f"{abs(float(a) * float(b)):.4f}"] for a, b, _ in ROWS[1:]]
    ),
}

# Piped, the command prints no per-iteration line: its output is that of
# --quiet with the description of the data and the network.
QUICK = ("--max-iter", "5")

# (args, message): every bad input answered in one line, exit status 2,
# before training. Issue 12's table, row by row, run in this process (faster:
# scikit-learn is imported once) through the same main() as the command;
# test_without_matplotlib_plot_fails_before_training runs one as a user does.
ERRORS = {
    "plot-format": (
        ["--plot", "out.xyz"],
        "--plot out.xyz: matplotlib cannot write .xyz files; use one of ",
    ),
    "no-label": (
        ["--csv", "nolabel.csv", "--target", "species"],
        "nolabel.csv: no label in column 'species' on lines 4, 8; ",
    ),
    "missing-values": (
        ["--csv", "gaps.csv", "--target", "species"],
        "gaps.csv: 2 rows with a missing value (first: line 5, column "
        "'sepal_length', ''); impute them first",
    ),
    "latin1": (
        ["--csv", "latin1.csv", "--target", "species"],
        "latin1.csv is not UTF-8 text (byte 0xe9 on line 1); pass its "
        "encoding, e.g. --encoding latin-1",
    ),
    "duplicate": (
        ["--csv", "duplicate.csv", "--target", "species"],
        "duplicate.csv: duplicate column names: 'species' (columns 1, 3)",
    ),
    "continuous": (
        ["--csv", "continuous.csv", "--target", "affairs"],
        "continuous.csv: the target column 'affairs' looks continuous "
        "(40 distinct values in 40 rows)",
    ),
    "seed-negative": (
        ["--seed", "-1"],
        "--seed must be an int in the range [0, 4294967295]. Got -1 instead.",
    ),
    "seed-too-large": (
        ["--seed", str(2**32)],
        "--seed must be an int in the range [0, 4294967295].",
    ),
    "cv-too-many": (
        ["--cv", "2000"],
        "--cv 2000: Cannot have number of splits n_splits=2000 greater than "
        "the number of samples: n_samples=1797",
    ),
    "save-folder": (
        ["--save", "somefolder"],
        "--save somefolder: is a folder; name the file",
    ),
    "missing-na": (
        ["--csv", "na.csv", "--target", "y"],
        "na.csv: 1 row with a missing value (first: line 3, column 'a', 'NA')",
    ),
    "semicolon-as-comma": (
        ["--csv", "semicolon.csv", "--target", "species", "--sep", ","],
        "(the header looks semicolon-separated: --sep ';')",
    ),
    "no-file": (["--csv", "no/such.csv", "--target", "y"], "cannot read no/such.csv"),
    "no-column": (["--csv", "text.csv", "--target", "label"], "no column 'label'"),
    "not-a-number": (["--csv", "text.csv", "--target", "y"], "'abc' is not a number"),
    "decimal-comma": (
        ["--csv", "decimal.csv", "--target", "y"],
        "'1,5' is not a number (a decimal comma?",
    ),
    "infinite": (
        ["--csv", "inf.csv", "--target", "y"],
        "inf.csv, line 3, column 'a': 'inf' is infinite",
    ),
    "ragged": (["--csv", "ragged.csv", "--target", "y"], "1 fields, the header has 2"),
    "empty": (["--csv", "empty.csv", "--target", "y"], "is empty"),
    "one-column": (
        ["--csv", "onecol.csv", "--target", "y"],
        "onecol.csv has no feature column besides 'y'",
    ),
    "unnamed-column": (
        ["--csv", "index.csv", "--target", "y"],
        "index.csv: column 1 has values but no name",
    ),
    "csv-alone": (["--csv", "text.csv"], "--csv and --target go together"),
    "sep-alone": (["--sep", ";"], "--sep describes the --csv file; there is none"),
    "sep-long": (
        ["--csv", "text.csv", "--target", "y", "--sep", ";;"],
        "--sep takes one character (or tab), got ';;'",
    ),
    "encoding-unknown": (
        ["--csv", "text.csv", "--target", "y", "--encoding", "klingon"],
        "--encoding klingon: unknown encoding",
    ),
    "bogus": (["--bogus"], "unrecognized arguments: --bogus"),
    "hidden-text": (["--hidden", "ten"], "invalid int value: 'ten'"),
    "hidden-zero": (
        ["--hidden", "25", "0"],
        "--hidden must be an int in the range [1, inf). Got 0 instead.",
    ),
    "lambda-negative": (
        ["--lambda", "-1"],
        "--lambda must be a float in the range [0.0, inf)",
    ),
    "lambda-infinite": (
        ["--lambda", "inf"],
        "--lambda must be a float in the range [0.0, inf)",
    ),
    "lambda-misspelt": (
        ["--lambda", "evidance"],
        "argument --lambda: expected a number or 'evidence', got 'evidance'",
    ),
    "max-iter-zero": (
        ["--max-iter", "0"],
        "--max-iter must be an int in the range [1, inf)",
    ),
    "cv-one": (["--cv", "1"], "--cv must be 0 (no cross-validation) or >= 2"),
    "save-no-folder": (
        ["--save", "no/such/dir/m.joblib"],
        "--save no/such/dir/m.joblib: no writable",
    ),
    "plot-no-folder": (
        ["--plot", "no/such/dir/p.png"],
        "--plot no/such/dir/p.png: no writable",
    ),
    "verbose-and-quiet": (
        ["--verbose", "--quiet"],
        "argument --quiet: not allowed with argument --verbose",
    ),
}

# Inputs that used to fail and are now read: (args, what stdout says).
READ = {
    "bom": (
        ["--csv", "bom.csv", "--target", "species"],
        "bom.csv, 40 samples, 2 features, 2 classes",
    ),
    "semicolon": (
        ["--csv", "semicolon.csv", "--target", "species"],
        "read semicolon.csv as semicolon-separated (--sep to change)",
    ),
    "tab": (
        ["--csv", "tab.csv", "--target", "species"],
        "read tab.csv as tab-separated (--sep to change)",
    ),
    "sep-tab": (
        ["--csv", "tab.csv", "--target", "species", "--sep", "\\t"],
        "tab.csv, 40 samples, 2 features, 2 classes",
    ),
    "quoted": (
        ["--csv", "quoted.csv", "--target", "species"],
        "quoted.csv, 40 samples, 2 features, 2 classes",
    ),
    "latin1": (
        ["--csv", "latin1.csv", "--target", "species", "--encoding", "latin-1"],
        "latin1.csv, 40 samples",
    ),
    "drop-missing": (
        ["--csv", "gaps.csv", "--target", "species", "--drop-missing"],
        "dropped 2 rows with a missing value (--drop-missing): lines 5, 10",
    ),
    "drop-unlabeled": (
        ["--csv", "nolabel.csv", "--target", "species", "--drop-missing"],
        "nolabel.csv, 38 samples",
    ),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A folder with FILES as .csv files, an empty subfolder and a matplotlib
    that cannot be imported."""
    folder = tmp_path_factory.mktemp("files")
    for name, content in FILES.items():
        path = folder / f"{name}.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
    (folder / "somefolder").mkdir()
    blocked = folder / "no_matplotlib" / "matplotlib"
    blocked.mkdir(parents=True)
    (blocked / "__init__.py").write_text("raise ImportError('blocked by the test')\n")
    return folder


def quick(name):
    # first, so that a case's own options override them
    return (*QUICK, *(() if name.startswith("cv-") else ("--cv", "0")))


@pytest.fixture
def call(folder, monkeypatch, capsys):
    """main() in this process, in `folder`: (exit status, stdout, stderr)."""
    from skbpnn.__main__ import main

    monkeypatch.chdir(folder)

    def call(*args):
        status = main(list(args))
        return (status, *capsys.readouterr())

    return call


def assert_one_line_error(status, stdout, stderr, message):
    assert status == 2, stdout + stderr
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("skbpnn: error: ")
    assert message in lines[0]
    assert stdout == ""  # nothing printed, so nothing trained


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_are_one_line_before_training_and_exit_2(call, name):
    if name == "plot-format":
        pytest.importorskip("matplotlib", reason="without it --plot says so first")
    args, message = ERRORS[name]
    assert_one_line_error(*call(*quick(name), *args), message)


def test_without_matplotlib_plot_fails_before_training(folder):
    # As a user runs it: a subprocess whose `import matplotlib` fails.
    proc = run(
        *quick("plot"),
        *("--plot", "p.png"),
        cwd=folder,
        pythonpath=[folder / "no_matplotlib"],
    )
    assert_one_line_error(
        proc.returncode,
        proc.stdout,
        proc.stderr,
        '--plot needs matplotlib: pip install "skbpnn[plot]"',
    )


@pytest.mark.parametrize("name", list(READ))
def test_spreadsheet_files_are_read(call, name):
    args, expected = READ[name]
    status, stdout, stderr = call(*quick(name), *args)
    assert status == 0, stderr
    assert expected in stdout
    assert "fit: 5 L-BFGS iterations" in stdout


def test_hidden_and_lambda_options(call):
    status, stdout, stderr = call("--hidden", "7", "5", "--lambda", "0.5", *QUICK)
    assert status == 0, stderr
    assert "network 64-7-5-10, lambda_=0.5" in stdout
    # --hidden with no sizes: logistic regression, K sigmoid output units
    status, stdout, stderr = call("--hidden", *QUICK, "--cv", "0")
    assert status == 0, stderr
    assert "network 64-10 (no hidden layer)" in stdout


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_lambda_evidence_prints_the_lambda_and_gamma_found(call):
    args = ("--lambda", "evidence", "--hidden", "3", "--max-iter", "30", "--cv", "0")
    status, stdout, stderr = call(*args)
    assert status == 0, stderr
    assert "network 64-3-10, lambda_=evidence" in stdout
    # The same pipeline on the same split, fitted here.
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    clf = BackpropClassifier((3,), lambda_="evidence", max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_pipeline(StandardScaler(), clf).fit(X_train, y_train)
    (line,) = [s for s in stdout.splitlines() if s.startswith("chosen by the evidence")]
    printed = dict(re.findall(r"(lambda_|gamma)=([0-9.e+-]+)", line))
    assert float(printed["lambda_"]) == pytest.approx(clf.fitted_lambda_, rel=1e-5)
    assert float(printed["gamma"]) == pytest.approx(clf.n_effective_params_, rel=1e-5)
    assert clf.fitted_lambda_ != 1.0  # found, not the default
    assert f"lambda_={clf.fitted_lambda_:g}: relative difference" in stdout
    # The fit line counts the search's work: every refit's iterations.
    fit_line = f"fit: {clf.n_iter_total_} L-BFGS iterations, "
    assert fit_line + f"{len(clf.lambdas_)} refits scored in " in stdout


def test_progress_line_shows_the_refit_and_the_best_lambda_so_far():
    """--lambda evidence on a terminal: the one progress line says which
    refit of the search it is at, its lambda_ and the best so far."""
    from skbpnn.__main__ import _ProgressLine

    screen = io.StringIO()
    line = _ProgressLine(screen, 200)
    line._columns = 200
    line.write("Evidence refit  1 at lambda_=1\n")
    line.write("Iteration    1  cost 0.5  |grad| 1.0e-01  0.01s\n")
    line.write("Evidence refit  2 at lambda_=0.1, best so far lambda_=1 (-97.5)\n")
    line.write("Iteration    7  cost 0.4  |grad| 2.0e-02  0.02s\n")
    shown = screen.getvalue().split("\r")[1:]
    assert shown[1].startswith("refit 1, lambda_=1: iteration   1 of 200  cost 0.5")
    assert shown[3].startswith(
        "refit 2, lambda_=0.1 (best 1): iteration   7 of 200  cost 0.4"
    )
    assert "\n" not in screen.getvalue()


def test_plot_written_where_it_says(call, folder):
    # The path printed is the file written: a name without an extension
    # gets .png, an existing folder gets skbpnn.png inside it (issue 12).
    pytest.importorskip("matplotlib", reason="the picture needs matplotlib")
    for path, written in [
        ("noext", folder / "noext.png"),
        ("somefolder", folder / "somefolder" / "skbpnn.png"),
    ]:
        status, stdout, stderr = call(*quick("plot"), "--plot", path)
        assert status == 0, stderr
        last = stdout.splitlines()[-1]
        assert last == f"hidden units and loss curve drawn in {written}"
        assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (folder / "somefolder.png").exists()


def test_plot_format_follows_the_extension(call, folder):
    pytest.importorskip("matplotlib", reason="the picture needs matplotlib")
    status, stdout, stderr = call(*QUICK, "--cv", "0", "--plot", "units.SVG")
    assert status == 0, stderr
    assert stdout.endswith(f"drawn in {folder / 'units.SVG'}\n")
    assert (folder / "units.SVG").read_text().lstrip().startswith("<?xml")


def test_plot_format_lists_what_matplotlib_writes(call):
    pytest.importorskip("matplotlib")
    line = call(*quick("plot-format"), *ERRORS["plot-format"][0])[2]
    assert ".png" in line and ".pdf" in line and ".svg" in line


def test_help(capsys):
    from skbpnn.__main__ import main

    with pytest.raises(SystemExit) as raised:
        main(["--help"])
    assert raised.value.code == 0
    out = capsys.readouterr().out
    options = ["--hidden", "--lambda", "--max-iter", "--seed", "--quiet", "--verbose"]
    options += ["--csv", "--target", "--save", "--plot", "--cv", "--onnx"]
    for option in options:
        assert option in out


def test_console_script(tmp_path):
    script = shutil.which("skbpnn", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the skbpnn console script is not installed (pip install .)")
    proc = run("--version", cwd=tmp_path, executable=script)
    assert proc.returncode == 0
    assert proc.stdout.startswith("skbpnn ")


def test_every_way_a_fit_ends_has_its_words():
    from skbpnn.__main__ import _STOPS
    from skbpnn._lbfgs import STOP_REASONS

    assert set(_STOPS) == set(STOP_REASONS)


def test_onnx_written_and_equal_to_the_pipeline(tmp_path):
    joblib = pytest.importorskip("joblib")
    ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra")
    pytest.importorskip("skl2onnx", reason="needs the onnx extra")
    proc = run(
        *("--max-iter", "20", "--cv", "0", "--quiet"),
        *("--onnx", "model.onnx", "--save", "model.joblib"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"as ONNX to {tmp_path / 'model.onnx'}" in proc.stdout
    model = joblib.load(tmp_path / "model.joblib")
    X = load_digits().data
    session = ort.InferenceSession(str(tmp_path / "model.onnx"))
    labels, proba = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_array_equal(labels, model.predict(X))
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-12)


def test_onnx_without_skl2onnx_fails_before_training(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "skl2onnx.py").write_text("raise ModuleNotFoundError(name='skl2onnx')")
    proc = run("--onnx", "m.onnx", cwd=tmp_path, pythonpath=[blocker])
    assert proc.returncode == 2
    assert proc.stdout == ""  # nothing trained
    assert proc.stderr.strip() == (
        'skbpnn: error: --onnx: ONNX export needs skl2onnx: pip install "skbpnn[onnx]"'
    )


# --------------------------------------------------------------------------
# A reader that leaves early, a closed stderr


def command(*args, unbuffered):
    """The command line and environment of ``python [-u] -m skbpnn args``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO), env.get("PYTHONPATH")])
    )
    flags = ["-u"] if unbuffered else []
    return [sys.executable, *flags, "-m", "skbpnn", *args], env


def test_pipe_into_a_reader_of_one_line_ends_quietly(tmp_path):
    # `python -u -m skbpnn --cv 0 | head -1`: the reader closes its end
    # after the first line; the lines after the fit, a second later, find it
    # closed. Unix tools end quietly there, with the status of SIGPIPE.
    cmd, env = command("--cv", "0", unbuffered=True)
    with subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        first = proc.stdout.readline()
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.wait(timeout=600)
    assert first.startswith(b"skbpnn ")
    assert stderr == ""  # no BrokenPipeError traceback
    assert proc.returncode == 141  # 128 + SIGPIPE, as for `yes | head -1`


@pytest.mark.parametrize("args", [["--quiet", "--cv", "0"], ["--help"]])
def test_reader_gone_before_the_first_line(tmp_path, args):
    # `skbpnn | true`, buffered: the output is written by the last flush, at
    # the interpreter's exit, where a closed pipe prints "Exception ignored"
    # (or, after --help's SystemExit, passes as status 0). Unbuffered, the
    # first print raises, as in the test above (argparse ignores it).
    cmd, env = command(*args, "--max-iter", "5", unbuffered=False)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            cmd,
            cwd=tmp_path,
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            timeout=600,
        )
    finally:
        os.close(write_end)
    assert proc.stderr == b""
    assert proc.returncode == 141


def test_usage_error_with_stderr_closed_or_gone(tmp_path):
    cmd, env = command("--cv", "1", unbuffered=True)
    # `skbpnn 2>&-`: Python's sys.stderr is None, and print(file=None) would
    # write the error on stdout, into the user's data.
    proc = subprocess.run(
        cmd,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        preexec_fn=lambda: os.close(2),
    )
    assert proc.returncode == 2
    assert proc.stdout == b""
    # stderr's reader gone: the message is lost, the status is still 2.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=write_end
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 2
    assert proc.stdout == b""
