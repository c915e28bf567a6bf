"""The suite's report as Markdown, and the description of the machine it ran on."""

from __future__ import annotations

import os
import platform


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value).replace("|", "/")


def markdown(report: dict, columns: dict[str, list[tuple[str, str]]]) -> str:
    """The report as Markdown: the machine, then each section's table (`columns`: each section's (header, row key)
    pairs), its other fields and its notes."""
    lines = [f"# ganjax device suite ({report['date']})", ""]
    lines += [f"- {key}: {report['machine'][key]}" for key in report["machine"]]
    lines += [f"- command: `{report['command']}`", f"- total: {report['total_s']:.1f} s", ""]
    for section in report["sections"]:
        lines += [
            f"## {section['name']} ({section['status']}; {section['elapsed_s']:.1f} of {section['budget_s']:g} s)",
            "",
        ]
        headers = [header for header, _ in columns[section["name"]]]
        keys = [key for _, key in columns[section["name"]]]
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "|".join("---" for _ in headers) + "|")
        for row in section["rows"]:
            cells = [cell(row.get(key)) for key in keys]
            if "error" in row:
                cells[-1] = f"error: {row['error']}"
            lines.append("| " + " | ".join(cells) + " |")
        if not section["rows"]:
            lines.append("| " + " | ".join(["(none)"] + ["-"] * (len(headers) - 1)) + " |")
        lines.append("")
        extra = {
            k: v
            for k, v in section.items()
            if k not in ("name", "status", "budget_s", "elapsed_s", "columns", "rows", "notes")
        }
        lines += [f"- {key}: {value}" for key, value in extra.items()]
        lines += [f"- {note}" if "\n" not in note else f"```\n{note}```" for note in section["notes"]]
        lines.append("")
    return "\n".join(lines)


def machine_description() -> dict:
    import jax

    info = {
        "host": platform.node(),
        "python": platform.python_version(),
        "jax": f"{jax.__version__} ({jax.default_backend()}: {jax.devices()[0].device_kind}, {jax.device_count()} "
        f"device(s))",
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "XLA_PYTHON_CLIENT_MEM_FRACTION": os.environ.get("XLA_PYTHON_CLIENT_MEM_FRACTION", ""),
        "jax_default_matmul_precision": str(jax.config.jax_default_matmul_precision),
    }
    from importlib import metadata

    # What pyproject.toml's ranges constrain, as installed here (the device's image, or .whl's wheels).
    versions = []
    for name in ("jaxlib", "flax", "optax", "orbax-checkpoint", "numpy", "grain", "ml_collections", "tensorboardX"):
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} missing")
    info["packages"] = ", ".join(versions)
    try:
        import torch

        info["torch"] = f"{torch.__version__}" + (
            f" (cuda: {torch.cuda.get_device_name(0)}; cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}, "
            f"matmul.allow_tf32 {torch.backends.cuda.matmul.allow_tf32})"
            if torch.cuda.is_available()
            else " (cpu)"
        )
    except ImportError:
        info["torch"] = "n/a (not installed)"
    return info
