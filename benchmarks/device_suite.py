"""The accelerator suite: every speed figure ganjax claims, each beside its reference, in one budgeted command.

    python benchmarks/device_suite.py --out report/                     # on the accelerator: all four sections
    python benchmarks/device_suite.py --tiny --out /tmp/suite           # the same code paths in under a minute on CPU
    python benchmarks/device_suite.py --sections conv,inception --budget_conv 30 --out report/

Sections (--sections, in this order; --budget_<name> seconds each, 0 skips it): train, conv, inception, speedrun,
one module each in benchmarks/suite/. docs/device_suite.md says what each measures, what the report holds, and the
five calls that run the suite on the lent H200 (--pack here, --unpack there).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys
import time

# JAX takes 75% of a GPU's memory at start by default; PyTorch runs beside it in this process, so JAX takes 60%.
os.environ.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.6")

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from suite import conv, inception, speedrun, train  # noqa: E402
from suite.budget import run_section  # noqa: E402
from suite.report import machine_description, markdown  # noqa: E402
from suite.transfer import INCEPTION_NAME, pack, unpack  # noqa: E402

# Each section's module, in the order they run: its table's COLUMNS and run(section, args).
SECTIONS = {"train": train, "conv": conv, "inception": inception, "speedrun": speedrun}
DEFAULT_BUDGETS = {"train": 120.0, "conv": 20.0, "inception": 50.0, "speedrun": 390.0}
TINY_BUDGETS = {"train": 10.0, "conv": 4.0, "inception": 12.0, "speedrun": 35.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = REPO.parent / "shared" / "data"
    data_default = pathlib.Path(os.environ.get("GANJAX_DATA_DIR", shared))
    parser.add_argument("--tiny", action="store_true", help="tiny variants, small batches, few images (CPU)")
    parser.add_argument("--out", type=pathlib.Path, help="folder for report.json and report.md")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of {', '.join(SECTIONS)}")
    for name in SECTIONS:
        parser.add_argument(f"--budget_{name}", type=float, help=f"seconds for the {name} section (0: skip it)")
    parser.add_argument("--data", type=pathlib.Path, default=data_default, help="folder holding cifar10/")
    parser.add_argument("--inception", type=pathlib.Path, help="the Inception archive (default: <data>/inception_fid/)")
    parser.add_argument("--dtypes", default="bfloat16,float32", help="activation dtypes of the train and conv sections")
    parser.add_argument("--large_batch", type=int, help="the train section's large batch (default 1024; tiny 16)")
    parser.add_argument("--peak_flops", type=float, default=train.H200_PEAK_FLOPS, help="the MFU's peak, FLOP/s")
    parser.add_argument("--torch_compile_reserve", type=float, help="seconds of budget torch.compile needs to start")
    parser.add_argument("--conv_batch", type=int, help="batch of the conv section's GAN shapes (default 64; tiny 4)")
    parser.add_argument("--inception_images", type=int, help="training images (default 50000; tiny 16)")
    parser.add_argument("--fid_test_images", type=int, help="test images of the full FID (default 10000; tiny 16)")
    parser.add_argument("--inception_batch", type=int, help="images per Inception call (default 500; tiny 16)")
    parser.add_argument("--speedrun_seconds", type=float, help="training clock of the speedrun (default 300; tiny 10)")
    parser.add_argument("--speedrun_eval_every", type=float, help="FID every this many clock seconds (60; tiny 5)")
    parser.add_argument("--speedrun_samples", type=int, help="samples and test images per FID (10000; tiny 16)")
    parser.add_argument("--speedrun_min_steps", type=int, help="steps even past the clock (default 0; tiny 3)")
    parser.add_argument("--pack", action="store_true", help="split CIFAR-10 and the Inception archive into .parts/")
    parser.add_argument("--unpack", type=pathlib.Path, help="a folder of parts to check, join and extract (--to)")
    parser.add_argument("--parts_manifest", type=pathlib.Path, default=REPO / ".parts" / "SHA256SUMS.parts")
    parser.add_argument("--to", type=pathlib.Path, default=pathlib.Path("/tmp/data"))
    args = parser.parse_args(argv)
    tiny = args.tiny
    defaults = {
        "large_batch": (1024, 16),
        "torch_compile_reserve": (30.0, 1.0),
        "conv_batch": (64, 4),
        "inception_images": (50_000, 16),
        "fid_test_images": (10_000, 16),
        "inception_batch": (500, 16),
        "speedrun_seconds": (300.0, 10.0),
        "speedrun_eval_every": (60.0, 5.0),
        "speedrun_samples": (10_000, 16),
        "speedrun_min_steps": (0, 3),
    }
    for name, (full, small) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, small if tiny else full)
    for name in SECTIONS:
        if getattr(args, f"budget_{name}") is None:
            budget = (TINY_BUDGETS if tiny else DEFAULT_BUDGETS)[name]
            if name == "speedrun" and not tiny:  # the clock, its evaluations and the data's upload
                budget = max(budget, args.speedrun_seconds + 90)
            setattr(args, f"budget_{name}", budget)
    if args.inception is None:
        args.inception = args.data / "inception_fid" / INCEPTION_NAME
    args.dtypes = [d for d in args.dtypes.split(",") if d]
    args.sections = [s for s in args.sections.split(",") if s]
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; valid: {', '.join(SECTIONS)}")
    return args


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.pack:
        pack(args.data, args.inception, REPO)
        return None
    if args.unpack:
        unpack(args.unpack, args.parts_manifest, args.to)
        return None
    started = time.perf_counter()
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/device_suite.py", *(argv if argv is not None else sys.argv[1:])]),
        "tiny": args.tiny,
        "machine": machine_description(),
        "sections": [],
    }
    for name, module in SECTIONS.items():
        if name in args.sections:
            budget = getattr(args, f"budget_{name}")
            report["sections"].append(run_section(name, budget, module.COLUMNS, lambda s, m=module: m.run(s, args)))
    report["total_s"] = round(time.perf_counter() - started, 2)
    text = markdown(report, {name: module.COLUMNS for name, module in SECTIONS.items()})
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        (args.out / "report.md").write_text(text + "\n")
    return report


if __name__ == "__main__":
    main()
