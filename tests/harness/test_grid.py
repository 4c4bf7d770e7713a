"""Grid loading, expansion, stable ids, labels and every grid error message."""

import hashlib
import json

import pytest

from rnnkit.config import ModelSpec, TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.harness.grid import RunConfig, default_grid, expand_grid, load_grid, read_grid_file

TINY = {"tasks": ["adding"], "cells": ["lstm", "gru"], "model": {"units": 4}, "train": {"epochs": 1}}


def test_expansion_is_the_product_in_a_stable_order():
    grid = {
        "tasks": ["adding", {"name": "copy", "options": {"timesteps": [5, 8]}}],
        "cells": ["simple_rnn", "lstm"],
        "model": {"units": [4, 8]},
        "train": {"learning_rate": [0.01, 0.001]},
        "seeds": [0, 1],
    }
    runs = expand_grid(grid)
    # adding: 2 cells x 2 units x 2 lr x 2 seeds; copy: the same times 2 timesteps.
    assert len(runs) == 16 + 32
    assert [run.task for run in runs[:16]] == ["adding"] * 16
    assert runs[0].model.cell == "simple_rnn" and runs[0].seed == 0 and runs[1].seed == 1
    assert runs[0].model.variety == "many_to_one" and runs[-1].model.variety == "many_to_many"
    assert {run.task_options.get("timesteps") for run in runs[16:]} == {5, 8}
    assert [r.run_id for r in runs] == [r.run_id for r in expand_grid(grid)]
    assert len({run.run_id for run in runs}) == len(runs)


def test_run_id_is_the_hash_of_the_canonical_config():
    run = RunConfig("adding", {"timesteps": 5}, ModelSpec(cell="gru", units=4), TrainConfig(epochs=1))
    canonical = json.dumps(
        {"task": "adding", "task_options": {"timesteps": 5}, "model": ModelSpec(cell="gru", units=4).to_dict(),
         "train": TrainConfig(epochs=1).to_dict()},
        sort_keys=True, separators=(",", ":"),
    )
    assert run.run_id == hashlib.sha1(canonical.encode()).hexdigest()[:10]
    # The label is not part of the identity; the seed is, except in the config id.
    other = RunConfig("adding", {"timesteps": 5}, ModelSpec(cell="gru", units=4), TrainConfig(epochs=1, seed=3), "x")
    assert other.run_id != run.run_id and other.config_id == run.config_id
    assert RunConfig.from_dict(run.to_dict()) == run


def test_int_and_float_spellings_name_the_same_run():
    a = expand_grid({**TINY, "train": {"learning_rate": 1}})
    b = expand_grid({**TINY, "train": {"learning_rate": 1.0}})
    assert [r.run_id for r in a] == [r.run_id for r in b]


def test_labels_name_cell_units_layers_swept_settings_and_seed():
    runs = expand_grid({**TINY, "train": {"clipnorm": [None, 1.0]}, "seeds": [2]})
    assert [r.label for r in runs] == [
        "adding lstm u4 L1 clipnorm=None seed2", "adding lstm u4 L1 clipnorm=1.0 seed2",
        "adding gru u4 L1 clipnorm=None seed2", "adding gru u4 L1 clipnorm=1.0 seed2",
    ]
    assert runs[0].config_label == "adding lstm u4 L1 clipnorm=None"


def test_one_to_one_baseline_runs_once_and_only_on_many_to_one_tasks():
    grid = {"tasks": ["adding", "copy"], "cells": ["simple_rnn", "lstm", "gru"],
            "varieties": ["task", "one_to_one"], "model": {"units": 4, "bidirectional": [False, True]}}
    runs = expand_grid(grid)
    baselines = [run for run in runs if run.model.variety == "one_to_one"]
    # Recurrent-only settings (cell, bidirectional) mean nothing to an MLP: one run.
    assert len(baselines) == 1 and baselines[0].task == "adding"
    assert baselines[0].cell_name == "mlp" and baselines[0].label == "adding mlp u4 L1 seed0"
    assert len(runs) == 2 * (3 * 2) + 1


def test_the_mlp_label_counts_its_hidden_dense_layers_and_labels_never_enter_the_ids():
    import rnnkit

    grid = {"tasks": [{"name": "adding", "options": {"timesteps": 5, "num_samples": 40}}], "cells": ["gru"],
            "varieties": ["one_to_one"], "model": {"units": 4, "num_layers": [1, 2]}}
    one, two = expand_grid(grid)
    assert (one.label, two.label) == ("adding mlp u4 L1 seed0", "adding mlp u4 L2 seed0")
    # "L2" is what the MLP is built with: two hidden Dense layers of 4 units before the head.
    model = rnnkit.build_model(two.model, rnnkit.get_task("adding", timesteps=5, num_samples=40))
    hidden = [layer for layer in model.layers if layer.name.startswith("dense_")]
    assert [(layer.name, layer.units) for layer in hidden] == [("dense_1", 4), ("dense_2", 4)]
    # The ids are the hash of the configuration alone (hand-built here), whatever the label
    # says, so a store written under other labels is resumed, not run again.
    canonical = json.dumps({"task": "adding", "task_options": {"timesteps": 5, "num_samples": 40},
                            "model": two.model.to_dict(), "train": two.train.to_dict()},
                           sort_keys=True, separators=(",", ":"))
    assert two.run_id == hashlib.sha1(canonical.encode()).hexdigest()[:10]
    for label in ("", "adding mlp u4 seed0", "anything at all"):
        relabelled = RunConfig(two.task, two.task_options, two.model, two.train, label)
        assert (relabelled.run_id, relabelled.config_id) == (two.run_id, two.config_id)


def test_cell_specific_options_apply_only_to_their_cell():
    runs = expand_grid({**TINY, "model": {"units": 4, "unit_forget_bias": [True, False]}})
    lstm = [r for r in runs if r.model.cell == "lstm"]
    gru = [r for r in runs if r.model.cell == "gru"]
    assert sorted(r.model.unit_forget_bias for r in lstm) == [False, True]
    assert [r.model.unit_forget_bias for r in gru] == [None]


def test_yaml_file_reads_1e_minus_3_as_a_float_and_round_trips(tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text("tasks: [adding]\ncells: [gru]\ntrain: {learning_rate: 1e-3, epochs: 1}\n")
    grid = load_grid(path)
    assert grid.train["learning_rate"] == (0.001,)
    (tmp_path / "again.yaml").write_text(grid.to_yaml())
    assert load_grid(tmp_path / "again.yaml") == grid


def test_full_default_grid_covers_every_variety_and_cell_with_three_seeds():
    runs = expand_grid(default_grid(False))
    varieties = {run.model.variety for run in runs}
    assert varieties == {"one_to_one", "one_to_many", "many_to_one", "many_to_many", "seq2seq"}
    for variety in varieties - {"one_to_one"}:
        assert {r.model.cell for r in runs if r.model.variety == variety} == {"simple_rnn", "lstm", "gru"}
    assert {run.seed for run in runs} == {0, 1, 2}


def test_quick_default_grid_asks_the_long_memory_question_with_seeds():
    runs = expand_grid(default_grid(True))
    # Every cell and the MLP on the adding problem, long enough that SimpleRNN's gradient
    # must cross many steps, with more than one seed so the verdict has intervals.
    assert {run.task for run in runs} == {"adding"}
    assert {run.task_options["timesteps"] for run in runs} == {30}
    assert {run.cell_name for run in runs} == {"simple_rnn", "lstm", "gru", "mlp"}
    assert {run.seed for run in runs} == {0, 1}
    assert len(runs) < len(expand_grid(default_grid(False)))


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"tasks": ["adding"], "cell": ["lstm"]},
         r"Unknown grid key `cell`; accepted: tasks, cells, varieties, model, train, seeds, match_params, select\."),
        ({"cells": ["lstm"]}, r"Invalid value for `tasks`: got None; expected a non-empty list"),
        ({"tasks": []}, r"Invalid value for `tasks`: got \[\]; expected a value or a non-empty list"),
        ({"tasks": ["addition"]}, r"Invalid value for `tasks`: got 'addition'; expected one of .*'adding'"),
        ({"tasks": [{"options": {}}]}, r"Invalid value for `tasks`: got \{'options': \{\}\}; expected a task name"),
        ({"tasks": [{"name": "adding", "opts": {}}]}, r"Unknown key `opts` in a `tasks` entry; accepted: name, options\."),
        ({"tasks": [{"name": "adding", "options": [1]}]},
         r"Invalid value for `tasks\.adding\.options`: got \[1\]; expected a mapping"),
        ({"tasks": [{"name": "adding", "options": {"length": 5}}]},
         r"Unknown option `length` for task 'adding' in `tasks`; accepted: timesteps, num_samples, seed\."),
        ({"tasks": [{"name": "adding", "options": {"timesteps": []}}]},
         r"Invalid value for `tasks\.adding\.options\.timesteps`: got \[\]"),
        ({"tasks": ["adding"], "cells": ["elman"]}, r"Invalid value for `cells`: got 'elman'; expected one of 'simple_rnn'"),
        ({"tasks": ["adding"], "varieties": ["many_to_few"]}, r"Invalid value for `varieties`: got 'many_to_few'"),
        ({"tasks": ["copy"], "varieties": ["seq2seq"]},
         r"Invalid value for `varieties`: got 'seq2seq', which applies to none of the grid's tasks: copy \(many_to_many\)"),
        ({"tasks": ["adding"], "model": [4]}, r"Invalid value for `model`: got \[4\]; expected a mapping of ModelSpec"),
        ({"tasks": ["adding"], "model": {"hidden": 4}}, r"Unknown setting `hidden` in `model`; accepted: units,"),
        ({"tasks": ["adding"], "model": {"cell": "gru"}},
         r"Grid setting `model\.cell` is set by the top-level grid key `cells`\."),
        ({"tasks": ["adding"], "model": {"units": [8, 0]}}, r"Invalid value for `units`: got 0; expected a positive integer\."),
        ({"tasks": ["adding"], "model": {"units": []}}, r"Invalid value for `model\.units`: got \[\]"),
        ({"tasks": ["adding"], "cells": ["gru"], "model": {"unit_forget_bias": True}},
         r"Grid setting `model\.unit_forget_bias` applies to cell 'lstm' only, which `cells` does not include\."),
        ({"tasks": ["adding"], "train": {"lr": 0.1}}, r"Unknown setting `lr` in `train`; accepted: optimizer, learning_rate,"),
        ({"tasks": ["adding"], "train": {"seed": 1}},
         r"Grid setting `train\.seed` is set by the top-level grid key `seeds`\."),
        ({"tasks": ["adding"], "train": {"learning_rate": "fast"}},
         r"Invalid value for `learning_rate`: got 'fast'; expected a finite number > 0\."),
        ({"tasks": ["adding"], "seeds": [0, -1]}, r"Invalid value for `seeds`: got -1; expected an integer >= 0\."),
        ("not a grid", r"Invalid value for `grid`: got 'not a grid'; expected an existing YAML file\."),
        (42, r"Invalid value for `grid`: got 42; expected a mapping"),
    ],
)
def test_every_grid_error_names_the_key_and_value(grid, message):
    with pytest.raises(ConfigError, match=message):
        expand_grid(grid)


def test_yaml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("tasks: [adding\n")
    with pytest.raises(ConfigError, match=r"Cannot read grid file '.*broken\.yaml': while parsing"):
        read_grid_file(path)


def test_the_example_grid_file_is_valid_and_expands_as_its_comment_says():
    from pathlib import Path

    import rnnkit.harness

    runs = expand_grid(Path(rnnkit.harness.__file__).parent / "example_grid.yaml")
    assert len(runs) == 16  # 2 timesteps x (3 cells + MLP) x 2 seeds
    assert {r.task_options["timesteps"] for r in runs} == {10, 40}
    assert {r.train.learning_rate for r in runs} == {0.003}
