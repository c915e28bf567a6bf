"""--pack and --unpack: CIFAR-10 and the Inception archive onto the device in parts that fit one call."""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import tarfile

INCEPTION_NAME = "fid_inception_v3_2015-12-05_pool3_torchscript.pt"
INCEPTION_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
PART_BYTES = 48 * 2**20


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**22), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(data: pathlib.Path, inception: pathlib.Path, repo: pathlib.Path) -> None:
    """CIFAR-10's files and the Inception archive in one tar (with SHA256SUMS of each file), split into parts of
    PART_BYTES, and SHA256SUMS.parts of the parts, in the repository's .parts/ (ignored through .git/info/exclude)."""
    out = repo / ".parts"
    out.mkdir(parents=True, exist_ok=True)
    exclude = repo / ".git" / "info" / "exclude"
    if exclude.parent.is_dir():
        line = "/.parts/"
        if not exclude.is_file() or line not in exclude.read_text().splitlines():
            with open(exclude, "a") as file:
                file.write(line + "\n")
    files = {f"cifar10/{p.name}": p for p in sorted((data / "cifar10").iterdir()) if p.is_file()}
    files[f"inception_fid/{INCEPTION_NAME}"] = inception
    sums = "".join(f"{sha256(path)}  {name}\n" for name, path in files.items())
    if f"{INCEPTION_SHA256}  inception_fid/{INCEPTION_NAME}" not in sums:
        raise SystemExit(f"{inception} is not the archive of sha256 {INCEPTION_SHA256}")
    (out / "SHA256SUMS").write_text(sums)
    tar_path = out / "data.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(out / "SHA256SUMS", "SHA256SUMS")
        for name, path in files.items():
            tar.add(path, name)
    for old in out.glob("data.tar.*"):
        old.unlink()
    parts = []
    with open(tar_path, "rb") as source:
        for index in range(1_000):
            block = source.read(PART_BYTES)
            if not block:
                break
            part = out / f"data.tar.{index:02d}"
            part.write_bytes(block)
            parts.append(part)
    tar_path.unlink()
    (out / "SHA256SUMS.parts").write_text("".join(f"{sha256(p)}  {p.name}\n" for p in parts))
    for part in parts:
        print(f"{part}  {part.stat().st_size / 2**20:.1f} MiB")
    print(f"{len(parts)} parts; carry one per call with .whl (and .parts/SHA256SUMS.parts in the last)")


def unpack(parts_dir: pathlib.Path, manifest: pathlib.Path, to: pathlib.Path) -> None:
    """Checks every part against the manifest, joins them, extracts the tar into `to` and checks every file."""
    expected = [line.split() for line in manifest.read_text().splitlines() if line.strip()]
    missing = [name for _, name in expected if not (parts_dir / name).is_file()]
    if missing:
        raise SystemExit(f"parts missing from {parts_dir}: {', '.join(missing)} (carry them first)")
    for digest, name in expected:
        if sha256(parts_dir / name) != digest:
            raise SystemExit(f"{parts_dir / name}: sha256 mismatch")
    to.mkdir(parents=True, exist_ok=True)
    joined = to / "data.tar"
    with open(joined, "wb") as out:
        for _, name in expected:
            with open(parts_dir / name, "rb") as part:
                shutil.copyfileobj(part, out)
    with tarfile.open(joined) as tar:
        tar.extractall(to, filter="data")
    joined.unlink()
    for line in (to / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        if sha256(to / name) != digest:
            raise SystemExit(f"{to / name}: sha256 mismatch after extraction")
    print(f"unpacked and checked {len(expected)} parts into {to}")
