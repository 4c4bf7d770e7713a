#!/usr/bin/env bash
# The GPU checks of issue 10 (item 6), in one command for a lent GPU machine (see the README's
# speed section): which recurrent layers Keras runs with cuDNN on each backend, what `auto`
# picks there, and the char-LM benchmark (rnnkit on JAX, hand-written Keras on JAX with
# rnnkit's layers and with Keras's, whose LSTM takes cuDNN, hand-written PyTorch on CUDA).
#
# Needs: a Python with jax[cuda] and torch (CUDA), plus Keras and rnnkit's other
# dependencies; wheels missing there can be given in WHEELS (a folder, installed to
# /tmp/site); The Time Machine in RNNKIT_DATA_DIR. Output: the terminal, and OUT_DIR/gpu_check.log.
set -u
cd "$(dirname "$0")/.."
source benchmarks/gpu_setup.sh
log=${OUT_DIR:-/tmp}/gpu_check.log
{
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,utilization.gpu --format=csv,noheader || true
nproc; uptime
python3 - <<'PY'
import importlib.metadata as m
for name in ("jax", "jaxlib", "keras", "torch", "numpy"):
    try:
        print(name, m.version(name))
    except m.PackageNotFoundError:
        print(name, "not installed")
import os
os.environ["KERAS_BACKEND"] = "jax"
from rnnkit.backend import choose_backend, gpu_backends, visible_gpus
from rnnkit.harness.grid import expand_grid
print("visible_gpus():", visible_gpus(), " gpu_backends():", gpu_backends())
for cells in (["lstm"], ["gru"], ["simple_rnn"]):
    grid = expand_grid({"tasks": [{"name": "timemachine_lm", "options": {"timesteps": 35}}], "cells": cells,
                        "model": {"units": 128}, "train": {"epochs": 3, "batch_size": 64}})
    print("auto for", cells, "->", choose_backend(grid))
PY
python3 benchmarks/bench_backends.py --backends jax --variants hand keras rnnkit --cudnn jax torch \
    --cells gru --units 128 --epochs 3 --repeats 2
python3 benchmarks/bench_backends.py --backends jax --variants hand keras rnnkit \
    --cells lstm --units 256 32 --epochs 3 --repeats 2
python3 benchmarks/bench_backends.py --backends jax --variants hand keras rnnkit \
    --cells simple_rnn --units 32 --epochs 3 --repeats 2
uptime; date -u
} 2>&1 | tee "$log"
