# Sourced by the GPU checks (gpu_check.sh, gpu_share_check.sh) from the repository root:
# installs the wheels in WHEELS (a folder; for packages the GPU machine lacks) into
# /tmp/site and puts them and rnnkit on PYTHONPATH.
if [ -n "${WHEELS:-}" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD
fi
export PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=3
