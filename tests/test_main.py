"""``python -m skbpnn`` run as a user runs it: a subprocess, in a fresh folder."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args, cwd, executable=None):
    env = dict(os.environ, MPLBACKEND="Agg")
    # The package as checked out, also when it is not installed.
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), *filter(None, [env.get("PYTHONPATH")])]
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
    proc = run("--cv", "0", "--plot", "", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert number_after("held-out accuracy", proc.stdout) >= 0.95
    # verbose=1: one progress line per L-BFGS iteration
    assert re.search(r"^Iteration +1 +cost", proc.stdout, re.MULTILINE)
    assert "fit time:" in proc.stdout
    assert proc.stderr == ""


def test_quick_run_reports_everything(tmp_path):
    proc = run("--max-iter", "5", "--cv", "2", "--quiet", "--plot", "", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Iteration" not in out  # --quiet
    assert "network 64-25-10" in out
    assert "stopped at --max-iter before converging" in out
    assert 0 <= number_after("held-out accuracy", out) <= 1
    assert 0 <= number_after("2-fold cross-validated accuracy", out) <= 1
    assert number_after("relative difference", out) < 1e-9
    assert number_after("fit time", out) > 0
    assert not list(tmp_path.iterdir())  # --plot '' writes nothing


def test_hidden_and_lambda_options(tmp_path):
    proc = run(
        *("--hidden", "7", "5", "--lambda", "0.5", "--max-iter", "3"),
        *("--cv", "0", "--quiet", "--plot", ""),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "network 64-7-5-10, lambda_=0.5" in proc.stdout


def test_plot_written_where_it_says(tmp_path):
    pytest.importorskip("matplotlib", reason="the PNG needs matplotlib")
    proc = run("--max-iter", "3", "--cv", "0", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    png = tmp_path / "skbpnn.png"
    assert f"drawn in {png}" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
        *("--max-iter", "50", "--cv", "2", "--quiet", "--plot", ""),
        *("--save", "model.joblib"),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "data.csv, 60 samples, 3 features, 2 classes" in proc.stdout
    assert "network 3-4-1" in proc.stdout
    model = joblib.load(tmp_path / "model.joblib")
    # The saved pipeline takes the features in the file's order: a, b, c.
    assert (model.predict(X) == labels).mean() > 0.8


@pytest.fixture
def bad_csvs(tmp_path):
    return {
        "text": write_csv(tmp_path / "text.csv", [["x", "y"], [1, 0], ["abc", 1]]),
        "ragged": write_csv(tmp_path / "ragged.csv", [["x", "y"], [1, 0], [2]]),
        "empty": write_csv(tmp_path / "empty.csv", []),
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--csv", "no/such.csv", "--target", "y"], "cannot read no/such.csv"),
        (["--csv", "{text}", "--target", "label"], "no column 'label'"),
        (["--csv", "{text}", "--target", "y"], "'abc' is not a number"),
        (["--csv", "{ragged}", "--target", "y"], "1 fields, the header has 2"),
        (["--csv", "{empty}", "--target", "y"], "is empty"),
        (["--csv", "{text}"], "--csv and --target go together"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--hidden", "ten"], "invalid int value: 'ten'"),
        (["--hidden", "0"], "--hidden takes positive sizes"),
        (["--lambda", "-1"], "--lambda must be a finite number >= 0"),
        (["--max-iter", "0"], "--max-iter must be >= 1"),
        # before training, not after it: a typo must not cost the fit
        (
            ["--save", "no/such/dir/m.joblib"],
            "--save no/such/dir/m.joblib: no writable",
        ),
        (["--plot", "no/such/dir/p.png"], "--plot no/such/dir/p.png: no writable"),
    ],
)
def test_errors_are_one_line_and_exit_2(tmp_path, bad_csvs, args, message):
    args = [a.format(**bad_csvs) for a in args]
    proc = run(*args, cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("skbpnn: error: ")
    assert message in lines[0]


def test_help(tmp_path):
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for option in ("--hidden", "--lambda", "--max-iter", "--seed", "--quiet"):
        assert option in proc.stdout
    for option in ("--csv", "--target", "--save", "--plot", "--cv"):
        assert option in proc.stdout


def test_console_script(tmp_path):
    script = shutil.which("skbpnn", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the skbpnn console script is not installed (pip install .)")
    proc = run("--version", cwd=tmp_path, executable=script)
    assert proc.returncode == 0
    assert proc.stdout.startswith("skbpnn ")
