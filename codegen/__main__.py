"""``python -m codegen``: regenerate kproto's protocol modules and errors from the specs.

python -m codegen            write into the repository (run from the repository root)
python -m codegen --out DIR  write the same tree under DIR (used by the regeneration test)
python -m codegen --check    exit 1 and list the files that differ from a fresh generation
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from codegen import generate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="root to write into (default: .)")
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args(argv)
    files = generate()
    root = args.out if args.out is not None else Path.cwd()
    if args.check:
        stale = [rel for rel, text in files.items() if _read(root / rel) != text]
        stale += [str(p) for p in generate_orphans(root, files)]
        for rel in stale:
            print(f"stale: {rel}")
        return 1 if stale else 0
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if _read(path) != text:
            with tempfile.NamedTemporaryFile(
                "w", encoding="utf-8", dir=path.parent, delete=False, newline="\n"
            ) as tmp:
                tmp.write(text)
            Path(tmp.name).replace(path)
    for orphan in generate_orphans(root, files):
        (root / orphan).unlink()
    print(f"codegen: {len(files)} files in {root}", file=sys.stderr)
    return 0


def generate_orphans(root: Path, files: dict[str, str]) -> list[Path]:
    """Generated message modules left over from specs that no longer exist."""
    directory = root / "kproto" / "protocol" / "messages"
    if not directory.is_dir():
        return []
    wanted = {Path(rel) for rel in files}
    return [
        p.relative_to(root)
        for p in sorted(directory.glob("*.py"))
        if p.relative_to(root) not in wanted
    ]


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
