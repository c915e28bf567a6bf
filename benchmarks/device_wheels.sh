#!/usr/bin/env bash
# The wheels ganjax needs that the H200 device machine lacks (/work/.library/device/KINDS.md lists what it has:
# jax 0.11, flax, optax, orbax, torch, absl, etils, protobuf, pyyaml, ...), downloaded here into the ignored folder
# .whl/ for Python 3.12, manylinux x86_64, one version each and no dependencies (each needed one is named).
#
#     bash benchmarks/device_wheels.sh           # what `import ganjax.tasks, ganjax.metrics, ganjax.writers` needs
#     TFDS=1 bash benchmarks/device_wheels.sh    # also tensorflow-datasets and the packages its import needs
#
# What ganjax imports at import time and the device lacks: ml_collections (everywhere), grain (ganjax/data/pipeline.py)
# with array_record and portpicker, tensorboardX (ganjax/writers.py). tensorflow_datasets is imported lazily, only on
# the TFDS data path (ganjax/data/sources.py, when no local files are found); the device reaches no network, so the
# suite always reads local files (--data) and needs no TFDS. Set TFDS=1 to carry it anyway (pure-Python wheels).
#
# Then, on the device (docs/device_suite.md has the whole command):
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
#         .whl/*.whl && export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
mkdir -p .whl
# One version each: the versions this checkout's .venv resolved (and tested against).
WHEELS=(
    ml_collections==1.1.0
    grain==0.2.18
    array_record==0.8.6
    portpicker==1.6.0
    tensorboardX==2.6.5
)
if [[ "${TFDS:-0}" == 1 ]]; then
    WHEELS+=(
        tensorflow-datasets==4.9.10
        dm-tree==0.1.10
        immutabledict==4.3.1
        promise==2.3
        simple-parsing==0.1.9
        docstring_parser==0.18.0
        tensorflow-metadata==1.21.0
        googleapis-common-protos==1.76.0
        termcolor==3.3.0
        toml==0.10.2
    )
fi
PLATFORMS=()
for platform in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
    manylinux2014_x86_64 manylinux1_x86_64; do
    PLATFORMS+=(--platform "$platform")
done
for wheel in "${WHEELS[@]}"; do
    # promise 2.3 has only a source distribution: fetched as such and built into a (pure-Python) wheel here.
    if [[ "$wheel" == promise==* ]]; then
        "$PYTHON" -m pip wheel -q --no-deps -w .whl "$wheel"
        continue
    fi
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" -d .whl "$wheel"
done
# Keep one version of each: two stop the whole install on the device.
duplicates=$(ls .whl/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
if [[ -n "$duplicates" ]]; then
    echo "more than one version in .whl/ of: $duplicates (delete the older ones)" >&2
    exit 1
fi
ls -l .whl/*.whl
du -ch .whl/*.whl | tail -n 1
