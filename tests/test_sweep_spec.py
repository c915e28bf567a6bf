"""Sweep specs (ganjax/sweep/spec.py) and their helpers (ganjax/sweep/hyper.py): the helpers expand to exactly the
runs they describe, a run's id depends only on its values, and a bad spec is one clear ConfigError before anything is
built. Nothing here compiles."""

from __future__ import annotations

import hashlib
import pathlib
import textwrap

import ml_collections
import pytest

from ganjax.cli import config_field_problem
from ganjax.errors import ConfigError
from ganjax.sweep import hyper as h
from ganjax.sweep import spec as spec_lib
from ganjax.sweep.spec import (
    configuration,
    configuration_label,
    load_spec,
    parse_overrides,
    resolve_runs,
    run_id,
)

TOY_RING_SWEEP = 'h.product([h.sweep("loss", ["non_saturating", "hinge"]), h.sweep("optim.d_lr", [1e-3, 3e-4])])'


def _write_spec(folder: pathlib.Path, body: str, name: str = "spec.py") -> pathlib.Path:
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return path


def _spec(folder: pathlib.Path, sweep: str, base: str = 'BASE = "toy_ring"') -> pathlib.Path:
    """A spec file with `base` (a line) and get_sweep(h) returning the expression `sweep`."""
    return _write_spec(folder, f"{base}\ndef get_sweep(h):\n    return {sweep}\n")


def _small_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.loss = "hinge"
    config.optim = ml_collections.ConfigDict(dict(g_lr=2e-4, d_lr=2e-4, d_steps=1))
    config.model = ml_collections.ConfigDict(dict(batch_norm=True))
    config.augment = ml_collections.ConfigDict(dict(policy=()))
    config.augment.ada_target = ml_collections.config_dict.placeholder(float)
    return config


# The helpers.


def test_sweep_and_seeds_expand_to_one_run_per_value():
    assert h.sweep("loss", ["hinge", "wasserstein"]) == [{"loss": "hinge"}, {"loss": "wasserstein"}]
    assert h.sweep("optim.d_lr", (1e-3,)) == [{"optim.d_lr": 1e-3}]
    assert h.seeds(3) == [{"seed": 0}, {"seed": 1}, {"seed": 2}]


def test_product_merges_every_combination_with_the_last_factor_fastest():
    runs = h.product([h.sweep("a", [1, 2]), h.sweep("b", ["x", "y"]), h.seeds(2)])
    assert runs == [
        {"a": 1, "b": "x", "seed": 0},
        {"a": 1, "b": "x", "seed": 1},
        {"a": 1, "b": "y", "seed": 0},
        {"a": 1, "b": "y", "seed": 1},
        {"a": 2, "b": "x", "seed": 0},
        {"a": 2, "b": "x", "seed": 1},
        {"a": 2, "b": "y", "seed": 0},
        {"a": 2, "b": "y", "seed": 1},
    ]


def test_zip_pairs_runs_one_to_one_and_nests_in_product():
    pairs = h.zip([h.sweep("g", [1, 2]), h.sweep("d", [3, 4])])
    assert pairs == [{"g": 1, "d": 3}, {"g": 2, "d": 4}]
    assert h.product([pairs, h.sweep("loss", ["hinge"])]) == [
        {"g": 1, "d": 3, "loss": "hinge"},
        {"g": 2, "d": 4, "loss": "hinge"},
    ]


def test_random_is_fixed_by_its_seed_and_stays_in_bounds():
    distributions = {
        "optim.d_lr": h.loguniform(1e-5, 1e-2),
        "ema.decay": h.uniform(0.9, 0.999),
        "loss": h.choice(["hinge", "wasserstein"]),
    }
    runs = h.random(50, distributions, seed=0)
    assert runs == h.random(50, dict(reversed(distributions.items())), seed=0)
    assert runs != h.random(50, distributions, seed=1)
    assert runs[:5] == h.random(5, distributions, seed=0)
    assert all(set(run) == set(distributions) for run in runs)
    assert all(type(run["optim.d_lr"]) is float and 1e-5 <= run["optim.d_lr"] <= 1e-2 for run in runs)
    assert all(type(run["ema.decay"]) is float and 0.9 <= run["ema.decay"] < 0.999 for run in runs)
    assert {run["loss"] for run in runs} == {"hinge", "wasserstein"}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: h.sweep("loss", []), r"h.sweep\('loss', ...\): no values"),
        (lambda: h.sweep(3, [1]), r"the key must be a dotted config field name"),
        (lambda: h.seeds(0), r"h.seeds\(0\): needs a whole number of seeds, at least 1"),
        (lambda: h.product([]), r"h.product\(\[\]\): no factors"),
        (lambda: h.product([h.sweep("a", [1]), []]), r"h.product: factor 1 is \[\], not a non-empty list of runs"),
        (
            lambda: h.product([h.sweep("a", [1, 2]), h.zip([h.sweep("b", [1]), h.sweep("a", [3])])]),
            r"h.product: 'a' is set by factors 0 and 1; set each key in one factor",
        ),
        (lambda: h.zip([h.sweep("a", [1, 2]), h.seeds(3)]), r"h.zip: the factors have different lengths \(2, 3\)"),
        (lambda: h.zip([h.sweep("a", [1]), h.sweep("a", [2])]), r"h.zip: 'a' is set by factors 0 and 1"),
        (lambda: h.loguniform(0.0, 1.0), r"h.loguniform\(0.0, 1.0\): needs 0 < low < high"),
        (lambda: h.loguniform(1e-2, 1e-3), r"needs 0 < low < high"),
        (lambda: h.uniform(1.0, 1.0), r"h.uniform\(1.0, 1.0\): needs low < high"),
        (lambda: h.choice([]), r"h.choice\(\[\]\): no values"),
        (lambda: h.random(0, {"a": h.uniform(0, 1)}, seed=0), r"h.random\(0, ...\): needs a whole number of runs"),
        (lambda: h.random(2, {}, seed=0), r"h.random: no distributions"),
        (lambda: h.random(2, {"a": [1, 2]}, seed=0), r"h.random: 'a': \[1, 2\] is not a distribution"),
        (lambda: h.random(2, {"a": h.uniform(0, 1)}, seed=None), r"the seed must be an int"),
    ],
)
def test_bad_helper_arguments(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


# Run ids.


def test_an_id_depends_only_on_the_values():
    assert len(run_id({"loss": "hinge"})) == 10
    assert run_id({"loss": "hinge", "optim.d_lr": 1e-3}) == run_id({"optim.d_lr": 0.001, "loss": "hinge"})
    assert run_id({"augment.policy": ("color",)}) == run_id({"augment.policy": ["color"]})
    assert run_id({"optim.d_lr": 1e-3}) != run_id({"optim.d_lr": 3e-4})
    assert run_id({"seed": 0}) != run_id({"seed": 1})
    assert run_id({}) != run_id({"seed": 0})


def test_ids_survive_reordering_the_spec(tmp_path):
    forward = load_spec(_spec(tmp_path, TOY_RING_SWEEP))
    reordered = load_spec(
        _spec(
            tmp_path, 'h.product([h.sweep("optim.d_lr", [3e-4, 0.001]), h.sweep("loss", ["hinge", "non_saturating"])])'
        )
    )
    ids = {run_id(run): run for run in forward.runs}
    assert len(ids) == 4
    assert ids == {run_id(run): run for run in reordered.runs}
    assert [run_id(run) for run in forward.runs] != [run_id(run) for run in reordered.runs]


# Loading a spec.


def test_load_spec_with_a_base_name(tmp_path):
    path = _write_spec(
        tmp_path,
        f"""\
        \"\"\"A spec.\"\"\"
        BASE = "toy_ring"
        METRIC = "high_quality_share"

        def get_sweep(h):
            return {TOY_RING_SWEEP}
        """,
    )
    spec = load_spec(path)
    assert spec.path == path
    assert spec.metric == "high_quality_share"
    assert spec.base.model.name == "mlp" and spec.base.optim.d_lr == 1e-3
    assert spec.runs == (
        {"loss": "non_saturating", "optim.d_lr": 1e-3},
        {"loss": "non_saturating", "optim.d_lr": 3e-4},
        {"loss": "hinge", "optim.d_lr": 1e-3},
        {"loss": "hinge", "optim.d_lr": 3e-4},
    )
    assert spec.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_load_spec_with_get_config_and_typed_values(tmp_path):
    path = _write_spec(
        tmp_path,
        """\
        from configs import default

        def get_config():
            config = default.get_config()
            config.train.num_steps = 10
            return config

        def get_sweep(h):
            return h.sweep("optim.d_lr", [1]) + h.sweep("augment.policy", [["color"]]) + [{}]
        """,
    )
    spec = load_spec(path)
    assert spec.metric is None
    assert spec.base.train.num_steps == 10
    assert spec.runs == ({"optim.d_lr": 1.0}, {"augment.policy": ("color",)}, {})
    assert type(spec.runs[0]["optim.d_lr"]) is float


def test_a_base_name_with_a_variant_and_from_the_current_directory(tmp_path, monkeypatch):
    assert load_spec(_spec(tmp_path, "h.seeds(1)", 'BASE = "cifar10_sngan:tiny"')).base.train.num_steps == 4
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.py").write_text(
        "from configs import toy_ring\n\ndef get_config():\n    config = toy_ring.get_config()\n"
        "    config.train.num_steps = 7\n    return config\n"
    )
    monkeypatch.chdir(tmp_path)
    assert load_spec(_spec(tmp_path, "h.seeds(1)", 'BASE = "mine"')).base.train.num_steps == 7


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('BASE = "toy_ring"\n', r"spec.py: no get_sweep\(h\): define get_sweep\(h\)"),
        (
            "def get_sweep(h):\n    return h.seeds(1)\n",
            r"spec.py: define the base config once: .*; neither is defined$",
        ),
        (
            'BASE = "toy_ring"\ndef get_config():\n    return None\ndef get_sweep(h):\n    return h.seeds(1)\n',
            r"; both are defined$",
        ),
        (
            "def get_config():\n    return {}\ndef get_sweep(h):\n    return h.seeds(1)\n",
            r"get_config\(\) returned a dict, not an ml_collections.ConfigDict",
        ),
        (
            'BASE = "toy_rnig"\ndef get_sweep(h):\n    return h.seeds(1)\n',
            r"BASE = 'toy_rnig' names no config in configs/; valid: .*cifar10_sngan, .*default, .*vae_mnist",
        ),
        (
            'BASE = "../configs/toy_ring"\ndef get_sweep(h):\n    return h.seeds(1)\n',
            r"names no config in configs/",
        ),
        ('BASE = "cifar10_sngan:huge"\ndef get_sweep(h):\n    return h.seeds(1)\n', r"spec.py: unknown variant 'huge'"),
        ('BASE = "toy_ring"\nMETRIC = 3\ndef get_sweep(h):\n    return h.seeds(1)\n', r"METRIC = 3: name the score"),
    ],
)
def test_a_spec_without_what_it_needs(tmp_path, body, message):
    with pytest.raises(ConfigError, match=message):
        load_spec(_write_spec(tmp_path, body))


def test_a_missing_spec_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=rf"no sweep spec at {tmp_path / 'nope.py'}: give the path"):
        load_spec(tmp_path / "nope.py")


@pytest.mark.parametrize(
    ("sweep", "message"),
    [
        ("[]", r"get_sweep\(h\) returned no runs"),
        ("None", r"get_sweep\(h\) returned a NoneType, not a list of runs"),
        ('{"loss": "hinge"}', r"get_sweep\(h\) returned a dict, not a list of runs"),
        ('[{"loss": "hinge"}, "seed=1"]', r"get_sweep\(h\) run 1 is 'seed=1', not a dict \{key: value\}"),
        ('h.sweep("loss", [])', r"spec.py: h.sweep\('loss', ...\): no values; give at least one"),
        (
            'h.sweep("optim.lrr", [1e-3])',
            r"spec.py: run 0: --config.optim.lrr: --config.optim has no field 'lrr' \(did you mean 'g_lr'\?\); "
            r"valid: b1, b2, d_lr, d_steps, g_lr, schedule, warmup_steps$",
        ),
        ('h.sweep("trian.batch_size", [8])', r"the config has no field 'trian' \(did you mean 'train'\?\); valid: "),
        ('h.sweep("loss.name", ["x"])', r"--config.loss has no field 'name'; valid: none$"),
        (
            'h.sweep("optim.g_lr", [1e-3, "abc"])',
            r"spec.py: run 1: 'abc' \(str\) does not fit --config.optim.g_lr \(float\)$",
        ),
        ('h.sweep("optim.g_lr", [True])', r"run 0: True \(bool\) does not fit --config.optim.g_lr \(float\)"),
        ('h.sweep("optim.d_steps", [2.0])', r"run 0: 2.0 \(float\) does not fit --config.optim.d_steps \(int\)"),
        ('h.sweep("train.batch_size", [False])', r"False \(bool\) does not fit --config.train.batch_size \(int\)"),
        ('h.sweep("model.depth", [None])', r"None \(NoneType\) does not fit --config.model.depth \(int\)"),
        ('h.sweep("augment.policy", ["color"])', r"'color' \(str\) does not fit --config.augment.policy \(tuple\)"),
        ('h.sweep("augment.ada_target", ["high"])', r"'high' \(str\) does not fit --config.augment.ada_target \(float"),
        ('h.sweep("optim", [1])', r"run 0: --config.optim is a section, not a field; set its fields"),
        ("[{3: 1}]", r"run 0: the key 3 is not a dotted config field name"),
        ('h.sweep("data.crop", [{1, 2}])', r"\{1, 2\} for --config.data.crop is not a number, str, bool, None"),
        (
            'h.sweep("loss", ["hinge", "wasserstein"]) + h.sweep("loss", ["hinge"])',
            r"spec.py: runs 0 and 2 are the same run \(loss=hinge\); remove one",
        ),
        ('h.sweep("optim.d_lr", [1e-3, 0.001])', r"runs 0 and 1 are the same run \(optim.d_lr=0.001\)"),
        ('h.sweep("optim.d_lr", [1, 1.0])', r"runs 0 and 1 are the same run \(optim.d_lr=1.0\)"),
    ],
)
def test_bad_runs_are_refused_before_anything_is_built(tmp_path, sweep, message):
    with pytest.raises(ConfigError, match=message):
        load_spec(_spec(tmp_path, sweep))


def test_a_placeholder_takes_its_declared_type_and_none(tmp_path):
    spec = load_spec(_spec(tmp_path, 'h.sweep("augment.ada_target", [0.6, 1, None])'))
    assert spec.runs == ({"augment.ada_target": 0.6}, {"augment.ada_target": 1.0}, {"augment.ada_target": None})


def test_an_id_collision_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(spec_lib, "run_id", lambda overrides: "0123456789")
    with pytest.raises(
        ConfigError, match=r"runs 0 \(loss=hinge\) and 1 \(loss=wasserstein\) have the same id 0123456789"
    ):
        load_spec(_spec(tmp_path, 'h.sweep("loss", ["hinge", "wasserstein"])'))


# Command-line overrides and resolved runs.


def test_parse_overrides_types_each_value_as_its_field():
    overrides = parse_overrides(
        _small_config(),
        [
            "seed=3",
            "loss=1e-3",
            "optim.g_lr=1e-3",
            "optim.d_lr=1",
            "model.batch_norm=false",
            "augment.policy=('color', 'cutout')",
            "augment.ada_target=0.6",
        ],
    )
    assert overrides == {
        "seed": 3,
        "loss": "1e-3",
        "optim.g_lr": 0.001,
        "optim.d_lr": 1.0,
        "model.batch_norm": False,
        "augment.policy": ("color", "cutout"),
        "augment.ada_target": 0.6,
    }
    assert type(overrides["optim.d_lr"]) is float
    assert parse_overrides(_small_config(), ["model.batch_norm=True", "augment.policy=[]"]) == {
        "model.batch_norm": True,
        "augment.policy": (),
    }
    # A tuple field also takes its items as train.py does, comma-separated.
    assert parse_overrides(_small_config(), ["augment.policy=color, cutout"]) == {"augment.policy": ("color", "cutout")}
    assert parse_overrides(_small_config(), ["augment.policy=color"]) == {"augment.policy": ("color",)}


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("optim.g_lr", r"'optim.g_lr': an override is KEY=VALUE, e.g. train.num_steps=100"),
        ("=3", r"'=3': an override is KEY=VALUE"),
        ("optim.glr=1", r"^--config.optim.glr: --config.optim has no field 'glr' \(did you mean 'g_lr'\?\)"),
        ("optim.g_lr=abc", r"^'optim.g_lr=abc': 'abc' \(str\) does not fit --config.optim.g_lr \(float\)$"),
        ("optim.d_steps=True", r"'optim.d_steps=True': True \(bool\) does not fit --config.optim.d_steps \(int\)"),
        ("model.batch_norm=1", r"1 \(int\) does not fit --config.model.batch_norm \(bool\)"),
    ],
)
def test_bad_command_line_overrides_name_the_flag(flag, message):
    with pytest.raises(ConfigError, match=message):
        parse_overrides(_small_config(), [flag])


def test_an_override_given_twice_is_refused():
    with pytest.raises(ConfigError, match=r"'seed=2': seed is given twice; give it once"):
        parse_overrides(_small_config(), ["seed=1", "seed=2"])


def test_resolve_runs_layers_base_command_line_and_run(tmp_path):
    spec = load_spec(_spec(tmp_path, TOY_RING_SWEEP))
    runs = resolve_runs(spec, parse_overrides(spec.base, ["train.num_steps=100", "optim.g_lr=5e-4"]))
    assert [run.overrides for run in runs] == list(spec.runs)
    assert [run.id for run in runs] == [run_id(overrides) for overrides in spec.runs]
    last = runs[-1].config
    assert (last.loss, last.optim.d_lr, last.optim.g_lr, last.train.num_steps) == ("hinge", 3e-4, 5e-4, 100)
    assert runs[0].config.loss == "non_saturating" and runs[0].config.optim.d_lr == 1e-3
    assert spec.base.train.num_steps == 2000 and spec.base.optim.g_lr == 1e-3, "the base config stays as it was"
    assert resolve_runs(spec, {})[-1].config.train.num_steps == 2000


def test_a_command_line_key_that_the_spec_sweeps_is_refused(tmp_path):
    spec = load_spec(_spec(tmp_path, TOY_RING_SWEEP))
    with pytest.raises(ConfigError, match=r"^loss: set on the command line and swept by .*spec.py; set each in one"):
        resolve_runs(spec, {"loss": "hinge", "train.num_steps": 10})
    with pytest.raises(ConfigError, match=r"^the command line: --config.train.num_step: .*did you mean 'num_steps'"):
        resolve_runs(spec, {"train.num_step": 10})


# Configurations over seeds.


def test_configurations_and_their_labels():
    runs = h.product([h.sweep("loss", ["hinge", "wasserstein"]), h.sweep("optim.d_lr", [1e-3]), h.seeds(2)])
    assert configuration(runs[1]) == {"loss": "hinge", "optim.d_lr": 1e-3}
    assert configuration_label({"optim.d_lr": 1e-3, "loss": "hinge", "augment.policy": ("color",)}) == (
        "augment.policy=('color',), loss=hinge, optim.d_lr=0.001"
    )
    assert configuration_label({}) == "base"


def test_config_field_problem_is_the_cli_message():
    config = _small_config()
    assert config_field_problem(config, "optim.d_lr") is None
    assert config_field_problem(config, "optim.lr") == (
        "--config.optim.lr: --config.optim has no field 'lr' (did you mean 'g_lr'?); valid: d_lr, d_steps, g_lr"
    )
