"""Scripted ablations: one spec file, one command, resumable, many runs in one compiled program, and a report.

    python -m ganjax.sweep run sweeps/loss_x_penalty.py --workdir runs/ablation
    python -m ganjax.sweep status runs/ablation
    python -m ganjax.sweep report runs/ablation
    python -m ganjax.sweep export runs/ablation RUN_ID runs/one

- spec.py, hyper.py: the spec file (a base config and `get_sweep(h)`) and the helpers that expand it into runs,
  each known by a hash of its overrides.
- plan.py: the sweep folder: the frozen plan, each run's folder and status, results.jsonl.
- members.py, training.py: runs that differ only in vmappable numbers trained as one `jit(vmap(step))`.
- claims.py: launchers sharing a folder claim units so that none trains one twice.
- runner.py: what the commands do; report/: the report (statistics, plots, HTML and Markdown, TensorBoard HParams).
"""
