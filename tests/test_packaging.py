"""The built wheel: only `salgan_tf` at the top, the page assets inside, working console scripts."""
import ast
import configparser
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    # Built from a copy: setuptools writes build/ beside setup.py.
    source = tmp_path_factory.mktemp("source")
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "salgan_tf", source / "salgan_tf",
                    ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", "-w", str(out), str(source)], check=True, capture_output=True)
    (path,) = out.glob("salgan_tf-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_wheel_installs_only_the_salgan_tf_package(wheel):
    names = wheel.namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"salgan_tf"}, top  # no generic top-level `export`, `tests`, `bench`, ...
    assert "salgan_tf/export/saved_model.py" in names
    # The pages' templates and assets ship inside the package (an install has no repo).
    for folder in ("static", "templates"):
        for asset in (ROOT / "salgan_tf" / folder).iterdir():
            assert f"salgan_tf/{folder}/{asset.name}" in names, asset.name


def test_console_scripts_resolve_to_callables(wheel):
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    parser = configparser.ConfigParser()
    parser.read_string(wheel.read(entry_points).decode())
    scripts = dict(parser["console_scripts"])
    assert {"salgan-train", "salgan-convert", "salgan-evaluate", "salgan-predict",
            "salgan-export", "salgan-serve"} <= set(scripts)
    for name, target in scripts.items():  # parsed, not imported: each CLI defines its flags
        module, function = target.split(":")
        path = ROOT.joinpath(*module.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
        functions = {node.name for node in ast.parse(source).body
                     if isinstance(node, ast.FunctionDef) and not node.args.args}
        assert function in functions, f"{name}: {target} is not a function without arguments"


@pytest.mark.parametrize("argv", [["salgan-predict"], ["salgan-export", "tflite"],
                                  [sys.executable, "-m", "salgan_tf.predict"]])
def test_cli_help_lists_the_flags_from_any_directory(argv, tmp_path):
    """Under a console script `__main__` is pip's wrapper: --help must still list the flags."""
    if not argv[0].startswith(sys.executable):
        script = pathlib.Path(sys.executable).parent / argv[0]
        if not script.exists():
            pytest.skip(f"{argv[0]} not installed beside {sys.executable} (pip install -e .)")
        argv = [str(script), *argv[1:]]
    result = subprocess.run([*argv, "--help"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    # absl's --help prints the usage and exits with 1.
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "--output:" in result.stdout, result.stdout[-2000:]


def _pinned_requirements():
    """Every requirement line of setup.cfg: install_requires and each extra's, comments dropped."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    blocks = [parser["options"]["install_requires"], *parser["options.extras_require"].values()]
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith("#")]


def test_every_pin_admits_only_the_tested_release_and_its_bug_fixes():
    """setup.cfg's rule: ">=the release the suite ran with, <its next minor", and the installed
    set (the one this suite runs on) inside every pin; moving a pin means running the suite."""
    from importlib import metadata

    from packaging.requirements import Requirement
    from packaging.version import Version

    lines = _pinned_requirements()
    assert len(lines) > 20
    for line in lines:
        requirement = Requirement(line)
        bounds = {spec.operator: Version(spec.version) for spec in requirement.specifier}
        assert sorted(bounds) == ["<", ">="], f"{line}: wants >=tested,<next minor"
        low = bounds[">="]
        assert bounds["<"] == Version(f"{low.major}.{low.minor + 1}"), (
            f"{line}: admits more than {low}'s bug-fix releases")
        installed = metadata.version(requirement.name)
        assert requirement.specifier.contains(installed, prereleases=True), (
            f"{line}: the suite runs with {requirement.name} {installed}, outside the pin")
