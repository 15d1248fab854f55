"""Build of kproto's one optional C extension, kproto.records._speedups (from a .pyx).

Everything else is in pyproject.toml. The extension only speeds up record encoding and
decoding; kproto runs the same pure-Python code without it. So a machine without a C
compiler (or without Cython) gets a working install and one line saying the pure path is in
use, never a failed install. KPROTO_NO_EXTENSIONS=1 skips the build on purpose.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

PYX = "kproto/records/_speedups.pyx"
NOTICE = "kproto: C extension not built ({}); using the pure-Python record code"


def _notice(reason: object) -> None:
    if isinstance(reason, BaseException):
        reason = type(reason).__name__  # a compiler's error is long: the class says enough
    print(NOTICE.format(reason), file=sys.stderr)


class OptionalBuildExt(build_ext):
    """build_ext whose failure (no compiler, no Python headers) is a notice, not an error."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # a missing compiler raises several distutils classes
            _notice(exc)

    def copy_file(self, infile: str, outfile: str, *args: Any, **kwargs: Any) -> Any:
        """Replace an in-place module by a new file, never by rewriting the old one: processes
        that loaded the old one keep their mapping intact (a rewrite can crash them)."""
        if outfile.endswith((".so", ".pyd")) and os.path.exists(outfile):
            os.unlink(outfile)
        return super().copy_file(infile, outfile, *args, **kwargs)

    def build_extension(self, ext: Any) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            _notice(exc)


def _extensions() -> list[Extension]:
    if os.environ.get("KPROTO_NO_EXTENSIONS", "") not in ("", "0"):
        _notice("KPROTO_NO_EXTENSIONS is set")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _notice("Cython is not installed")
        return []
    ext = Extension("kproto.records._speedups", [PYX], extra_compile_args=["-O2"])
    return list(cythonize([ext], quiet=True, language_level=3))


setup(ext_modules=_extensions(), cmdclass={"build_ext": OptionalBuildExt})
