"""`rnnkit train`: one configuration, trained for real into its own folder."""

import json

import pandas as pd

from rnnkit.cli import main


def test_train_writes_a_one_run_folder_with_its_report(tmp_path, capsys):
    out = tmp_path / "one"
    code = main(["train", "--task", "adding", "--cell", "gru", "--units", "3", "--epochs", "1",
                 "--option", "timesteps=4", "--option", "num_samples=30", "--seed", "2", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "adding gru u3 L1 seed2" in printed and f"report: {out / 'report.html'}" in printed
    results = pd.read_csv(out / "results.csv")
    assert len(results) == 1 and results["status"].iloc[0] == "ok"
    # GRU (reset_after) on 2 features + Dense head: 3*3*(3+2+2) + 3*1 + 1.
    assert results["params"].iloc[0] == 3 * 3 * (3 + 2 + 2) + 3 + 1
    (folder,) = (out / "runs").iterdir()
    config = json.loads((folder / "config.json").read_text())
    assert config["train"]["seed"] == 2 and config["task_options"] == {"timesteps": 4, "num_samples": 30}
    assert (out / "report.html").is_file() and (folder / "figures" / "learning_curve.png").is_file()
