"""Section speedrun: configs/cifar10_speedrun.py trained for --speedrun_seconds of wall clock, FID of its EMA samples
every --speedrun_eval_every seconds and at the end, the evaluations off the clock (benchmarks/SPEEDRUN.md)."""

from __future__ import annotations

import time

from suite.budget import Section
from suite.inception import extractor, jax_features, read_cifar10

# The table's (header, row key) pairs.
COLUMNS = [
    ("train clock s", "clock_s"),
    ("steps", "steps"),
    ("images seen", "images_seen"),
    ("FID", "fid"),
    ("eval s (off the clock)", "eval_s"),
    ("samples", "samples"),
]


def run(section: Section, args) -> None:
    import jax
    import jax.numpy as jnp
    import ml_collections

    from configs import cifar10_speedrun
    from ganjax import parallel
    from ganjax.compile import compile_train_steps, create_state, state_shardings
    from ganjax.images import model_range_to_uint8, uint8_to_model_range
    from ganjax.metrics.statistics import fit_gaussian, frechet_distance
    from ganjax.sampling import normal_latents, random_labels
    from ganjax.tasks import build_task

    config = cifar10_speedrun.get_config("tiny" if args.tiny else "")
    batch_size, d_steps = config.train.batch_size, config.optim.d_steps
    num_samples = args.speedrun_samples
    train, labels = read_cifar10(args.data, "train", None if not args.tiny else 2_000)
    test, _ = read_cifar10(args.data, "test", None if num_samples >= 10_000 else num_samples)
    fid_features = jax_features(extractor(args))
    off_clock = time.perf_counter()
    test_stats = fit_gaussian(fid_features(test))
    reference_s = time.perf_counter() - off_clock
    section.extra.update(
        recipe="configs/cifar10_speedrun.py" + (":tiny" if args.tiny else ""),
        speedrun_seconds=args.speedrun_seconds,
        eval_every_s=args.speedrun_eval_every,
        reference_features_s=round(reference_s, 2),
        data="in-memory sampler: uint8 CIFAR-10 train on the device, uniform indices with replacement, random x-flip",
    )
    section.notes.append(
        f"clock: from building the model (data already decoded in host memory) through the device upload, state "
        f"creation, compilation and every step; off the clock: FID evaluations and the test set's features "
        f"({reference_s:.1f} s)"
    )
    section.check()

    clock_started = time.perf_counter()
    mesh = parallel.make_mesh(ml_collections.ConfigDict({"data": 1}), jax.devices()[:1])
    sharding = parallel.step_batch_sharding(mesh)
    device_images = jax.device_put(train)
    device_labels = jax.device_put(labels)
    conditional = config.model.num_classes > 0

    @jax.jit
    def sample_batch(key):
        index_key, flip_key = jax.random.split(key)
        index = jax.random.randint(index_key, (d_steps, batch_size), 0, device_images.shape[0])
        images = uint8_to_model_range(device_images[index])
        flip = jax.random.bernoulli(flip_key, 0.5, (d_steps, batch_size, 1, 1, 1))
        batch = {"image": jnp.where(flip, images[..., ::-1, :], images)}
        if conditional:
            batch["label"] = device_labels[index]
        return jax.lax.with_sharding_constraint(batch, sharding)

    task = build_task(config)
    shardings = state_shardings(task, config.seed, mesh)
    state = create_state(task, config.seed, shardings)
    key = jax.random.PRNGKey(1)
    batch = sample_batch(key)
    step_fn = compile_train_steps(task, mesh, shardings, state, batch)[True]
    section.extra["compile_s"] = round(time.perf_counter() - clock_started, 2)

    sample = task.sampler()  # the EMA generator, in chunks
    latents = normal_latents(12345, num_samples, config.model.latent_dim)
    sample_labels = random_labels(12345, num_samples, config.model.num_classes)

    def evaluate(clock: float, steps: int) -> float:
        started = time.perf_counter()
        samples = sample(state, latents, sample_labels)
        fid = frechet_distance(fit_gaussian(fid_features(model_range_to_uint8(samples))), test_stats)
        eval_s = time.perf_counter() - started
        row = {
            "clock_s": round(clock, 2),
            "steps": steps,
            "images_seen": steps * batch_size * d_steps,
            "fid": round(float(fid), 3),
            "eval_s": round(eval_s, 2),
            "samples": num_samples,
        }
        section.rows.append(row)
        print(f"[speedrun] {row}", flush=True)
        return eval_s

    clock = time.perf_counter() - clock_started
    steps, next_eval, off, evaluated_at = 0, args.speedrun_eval_every, 0.0, -1
    sync_every = 1 if args.tiny else 20
    # Past the clock only for --speedrun_min_steps (--tiny: a CPU's compilation alone outlasts its 10-s clock).
    while clock < args.speedrun_seconds or steps < args.speedrun_min_steps:
        for _ in range(sync_every):
            key, batch_key = jax.random.split(key)
            state, metrics = step_fn(state, sample_batch(batch_key))
            steps += 1
        jax.block_until_ready(metrics)
        clock = time.perf_counter() - clock_started - off
        if clock >= next_eval:
            off += evaluate(clock, steps)
            evaluated_at = steps
            next_eval = (clock // args.speedrun_eval_every + 1) * args.speedrun_eval_every
        if section.left() <= 0:
            section.extra["stopped"] = f"section budget ran out at {clock:.1f} s of training clock"
            break
    if evaluated_at != steps:
        off += evaluate(clock, steps)
    if clock > args.speedrun_seconds + 5:
        section.notes.append(
            f"the clock ran to {clock:.1f} s, past its {args.speedrun_seconds:g} s, for the minimum "
            f"of {args.speedrun_min_steps} steps"
        )
    section.extra.update(
        final_fid=section.rows[-1]["fid"],
        steps=steps,
        steps_per_s=round(steps / clock, 3),
        images_per_s=round(steps * batch_size * d_steps / clock, 1),
        eval_total_s=round(off, 2),
    )
