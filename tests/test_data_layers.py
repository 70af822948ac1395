"""Layers point one way: the data layer (salgan_tf/data/) never imports the training side.

The training side (losses, steps, train_lib, validation, generator, ...) may import the data
layer; the data layer may import only itself and the layer-neutral modules in `SHARED`.
"""
import ast
import json
import pathlib
import subprocess
import sys

import salgan_tf

PACKAGE = pathlib.Path(salgan_tf.__file__).parent
# Layer-neutral modules the data layer may use besides its own; they too are checked.
# (config: the settings dataclass and its choice lists; it imports no TensorFlow.)
SHARED = ("salgan_tf.atomic", "salgan_tf.cli", "salgan_tf.config", "salgan_tf.preprocessing")


def _module_name(path):
    name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def salgan_imports(source, package):
    """`salgan_tf` modules a source text imports anywhere (top level or in functions).

    `package` is the package relative imports resolve against. `from salgan_tf import losses`
    counts as importing `salgan_tf.losses` (a name imported from a package may be a module).
    """
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] == "salgan_tf"}


def allowed(name):
    """True for the data layer itself, the layer-neutral modules, or the bare package."""
    return name in ("salgan_tf", *SHARED) or name.split(".")[:2] == ["salgan_tf", "data"] or (
        name.rpartition(".")[0] in SHARED)


def _checked_files():
    files = sorted((PACKAGE / "data").rglob("*.py"))
    return files + [PACKAGE / f"{name.split('.')[-1]}.py" for name in SHARED]


def test_data_layer_imports_only_itself_and_shared_modules():
    files = _checked_files()
    assert len(files) > 10, files  # the glob found the package
    wrong = []
    for path in files:
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        wrong += [f"{path.relative_to(PACKAGE.parent)} imports {name}"
                  for name in sorted(salgan_imports(path.read_text(), package))
                  if not allowed(name)]
    assert not wrong


def test_the_check_flags_training_imports():
    """The old pipeline.py's `from salgan_tf import losses` and other spellings are caught."""
    for source in ("from salgan_tf import losses", "import salgan_tf.steps",
                   "def f():\n    from salgan_tf.train_lib import train",
                   "from ... import validation", "from ...generator import build"):
        names = salgan_imports(source, "salgan_tf.data.readers")
        assert [n for n in names if not allowed(n)], source
    assert all(allowed(n) for n in salgan_imports(
        "from salgan_tf.data import maps\nfrom . import common\nfrom salgan_tf import atomic",
        "salgan_tf.data.readers"))


def test_importing_the_data_layer_loads_no_training_module():
    """Also at run time (catches imports the source scan cannot see, e.g. via a package)."""
    modules = sorted(_module_name(path) for path in (PACKAGE / "data").rglob("*.py"))
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('salgan_tf'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, check=True)
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert "salgan_tf.data.pipeline" in loaded
    assert [name for name in loaded if not allowed(name)] == []
