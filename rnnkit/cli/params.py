"""`rnnkit params`: the per-layer parameter table of a model, formulas beside Keras' counts.

The model is built (not trained) with `build_model`, so the table shows exactly the
layers a run with the same options would have, and the total equals
`model.count_params()`.

Example:

    rnnkit params --cell gru --units 64 --input-dim 10 --num-layers 2 --no-reset-after
"""

from __future__ import annotations

import argparse

from rnnkit.checks import check_positive_int
from rnnkit.config import CELLS, CONTEXT_MODES, MERGE_MODES, VARIETIES, ModelSpec


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "params",
        help="parameter table of a model: formula, analytic count and Keras count per layer",
        description=(
            "Build a model (untrained) and print, per layer with weights, the parameter "
            "formula with the numbers put in, the count from the formula, Keras' own count, "
            "and the total (which equals model.count_params())."
        ),
    )
    parser.add_argument(
        "--cell", default="lstm", help=f"recurrent cell: {', '.join(CELLS)} (default: lstm)"
    )
    parser.add_argument(
        "--units", type=int, required=True, help="hidden-state size of each recurrent layer"
    )
    parser.add_argument(
        "--input-dim",
        type=int,
        required=True,
        help="features per step; the vocabulary size for token input (seq2seq, --embedding-dim)",
    )
    parser.add_argument(
        "--num-layers", type=int, default=1, help="stacked recurrent layers (default: 1)"
    )
    parser.add_argument(
        "--bidirectional", action="store_true", help="wrap recurrent layers in Bidirectional"
    )
    parser.add_argument(
        "--merge-mode",
        default="concat",
        help=f"how Bidirectional combines directions: {', '.join(MERGE_MODES)} (default: concat)",
    )
    parser.add_argument(
        "--reset-after",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="GRU only: reset gate after the recurrent product (Keras default: on)",
    )
    parser.add_argument(
        "--no-bias", dest="use_bias", action="store_false", help="layers without bias vectors"
    )
    parser.add_argument(
        "--variety", default="many_to_one", help=f"{', '.join(VARIETIES)} (default: many_to_one)"
    )
    parser.add_argument(
        "--timesteps",
        type=int,
        default=10,
        help="sequence length (output length for one_to_many; default: 10)",
    )
    parser.add_argument(
        "--output-dim",
        type=int,
        default=1,
        help="outputs per step or sample; the target vocabulary size for seq2seq (default: 1)",
    )
    parser.add_argument(
        "--classification",
        action="store_true",
        help="softmax classification head instead of a linear regression head",
    )
    parser.add_argument(
        "--embedding-dim",
        type=int,
        default=None,
        help="token input through an Embedding of this width (one-hot for seq2seq without it)",
    )
    parser.add_argument(
        "--context",
        default="initial_state",
        help=f"one_to_many / seq2seq decoder context: {', '.join(CONTEXT_MODES)}",
    )
    parser.add_argument(
        "--max-memory",
        default="auto",
        metavar="SIZE",
        help="refuse a model whose estimated memory exceeds SIZE, e.g. 8G; 'none' turns the guard "
        "off (default: 80%% of the available memory)",
    )
    parser.set_defaults(run=run, check=check)
    return parser


def spec_from_args(args) -> ModelSpec:
    """The ModelSpec the arguments describe (validated; TensorFlow is not needed)."""
    return ModelSpec(
        cell=args.cell,
        variety=args.variety,
        units=args.units,
        num_layers=args.num_layers,
        bidirectional=args.bidirectional,
        merge_mode=args.merge_mode,
        use_bias=args.use_bias,
        reset_after=args.reset_after,
        embedding_dim=args.embedding_dim,
        context=args.context,
    )


def check(args) -> None:
    """Checks the arguments and the model's memory before TensorFlow is imported."""
    from rnnkit.harness.resources import memory_limit, model_bytes, refuse

    spec = spec_from_args(args)
    input_dim = check_positive_int("--input-dim", args.input_dim)
    timesteps = check_positive_int("--timesteps", args.timesteps)
    output_dim = check_positive_int("--output-dim", args.output_dim)
    tokens = spec.variety == "seq2seq" or spec.embedding_dim is not None
    # Building the model allocates its weights (no batch runs): parameters only.
    needed = model_bytes(spec, input_dim, output_dim, timesteps, batch_size=0, vocab=input_dim if tokens else 0)
    refuse(f"The model ({spec.cell}, units {spec.units}, input_dim {input_dim})",
           {"parameters": needed["parameters"]}, memory_limit(args.max_memory))


def model_from_args(args):
    """Builds the untrained model the arguments describe (ModelSpec and build_model validate)."""
    from rnnkit.data.tasks import InputSpec, OutputSpec
    from rnnkit.models.builders import build_model

    spec = spec_from_args(args)
    input_dim = check_positive_int("--input-dim", args.input_dim)
    timesteps = check_positive_int("--timesteps", args.timesteps)
    output_dim = check_positive_int("--output-dim", args.output_dim)
    tokens = spec.variety == "seq2seq" or spec.embedding_dim is not None
    if spec.variety == "one_to_many":
        input_spec = InputSpec(timesteps=None, num_features=input_dim)
    elif tokens:
        input_spec = InputSpec(timesteps=timesteps, vocab_size=input_dim)
    else:
        input_spec = InputSpec(timesteps=timesteps, num_features=input_dim)
    classification = args.classification or spec.variety == "seq2seq"
    sequence_output = spec.variety in ("one_to_many", "many_to_many", "seq2seq")
    output_spec = OutputSpec(
        kind="classification" if classification else "regression",
        dim=output_dim,
        timesteps=timesteps if sequence_output else None,
    )
    return build_model(spec, input_spec=input_spec, output_spec=output_spec)


def run(args) -> int:
    import pandas as pd

    from rnnkit.params import param_table, param_totals

    model = model_from_args(args)
    table = param_table(model)
    totals = param_totals(model)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80):
        print(f"Model {model.name}")
        print(table.to_string(index=False))
    verdict = "match" if totals["match"] else "MISMATCH"
    print(f"total: analytic {totals['analytic']}, keras {totals['keras']} ({verdict})")
    return 0 if totals["match"] else 1
