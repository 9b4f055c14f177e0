"""Build the package: pure Python by default; `MAGIC_CUBE_COMPILE=1` also compiles the rules
interpreter and the forecast's simulator to C extension modules with mypyc (from mypy), the way
mypy and black ship theirs. The compiled modules behave as the Python ones do (the interpreter's
tests run on both, `make test-compiled`) and run an action about twice as fast.

    pip install mypy setuptools wheel
    MAGIC_CUBE_COMPILE=1 pip install --no-build-isolation .

Everything else (metadata, dependencies, package data) is in setup.cfg.
"""

from __future__ import annotations

import os

from setuptools import setup

# What one action runs through: the compiled template's parts (whose attributes an action
# reads), the JsonLogic closures and their operators, the effects, the interpreter, and the
# forecast's run loop. Validation and the catalog stay Python: they run once per template. (A
# compiled frozen dataclass cannot be deep-copied: `Assumptions` stays Python.)
COMPILED = [
    "magic_cube/rules/compiler.py",
    "magic_cube/rules/jsonlogic/compile.py",
    "magic_cube/rules/days.py",
    "magic_cube/rules/effects.py",
    "magic_cube/rules/errors.py",
    "magic_cube/rules/interpreter.py",
    "magic_cube/rules/limits.py",
    "magic_cube/rules/model.py",
    "magic_cube/rules/rng.py",
    "magic_cube/rules/timers.py",
    "magic_cube/rules/jsonlogic/closures.py",
    "magic_cube/rules/jsonlogic/dates.py",
    "magic_cube/rules/jsonlogic/js.py",
    "magic_cube/rules/jsonlogic/operators.py",
    "magic_cube/forecast/behaviour.py",
    "magic_cube/forecast/simulate.py",
]

if os.environ.get("MAGIC_CUBE_COMPILE") == "1":
    from mypyc.build import mypycify

    setup(ext_modules=mypycify(COMPILED, opt_level="3"))
else:
    setup()
