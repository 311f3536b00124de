"""Builds the optional C kernels (edgeloop._native); everything else is in pyproject.toml.

``optional=True``: without a C compiler the install still succeeds and edgeloop
falls back to a numpy copy of the same arithmetic (slower, same results).
"""

import sys

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "edgeloop._native",
            ["src/edgeloop/_native.c"],
            extra_compile_args=[] if sys.platform == "win32" else ["-O3"],
            optional=True,
        )
    ]
)
