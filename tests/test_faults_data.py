"""Records under faults (issue 13): failed and killed conversions, and readers refusing sets
that do not match their manifest.json.

Real data: the first 8 OSIE images, stored at 48x32 (first run) or 40x24 (rerun), so both
settings are visibly different records. Kill points are lines the child prints from wrapped
writer functions before it stalls, so every kill lands at its point.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

from salgan_tf import atomic
from salgan_tf import config as config_lib
from salgan_tf import train_lib
from salgan_tf.data import converter
from salgan_tf.data import eval_examples
from salgan_tf.data import pipeline
from salgan_tf.data import shards

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = dict(progress=False, log=lambda message: None)
FIRST = dict(limit=8, num_shards=4, resize=(32, 48), workers=1)
RERUN = dict(limit=8, num_shards=4, resize=(24, 40), workers=1)


def _snapshot(folder):
    """{file name: bytes} of a folder, or None if it does not exist."""
    if not os.path.isdir(folder):
        return None
    return {name: open(os.path.join(folder, name), "rb").read()
            for name in sorted(os.listdir(folder))}


def _leftovers(parent):
    return [name for name in os.listdir(parent) if name.startswith(".")]


@pytest.fixture
def osie(shared_data):
    return str(shared_data / "osie")


@pytest.fixture
def converted(osie, tmp_path):
    """A good first conversion in tmp_path/rec, and its bytes."""
    rec = str(tmp_path / "rec")
    converter.convert("osie", osie, rec, **FIRST, **QUIET)
    return rec, _snapshot(rec)


def _corrupt_copy(osie, destination, index=2):
    """OSIE with its `index`-th stimulus (fixations.mat order) truncated; the rest linked."""
    stimuli = os.path.join(destination, "data", "stimuli")
    os.makedirs(stimuli)
    os.symlink(os.path.join(osie, "data", "eye"), os.path.join(destination, "data", "eye"))
    for name in os.listdir(os.path.join(osie, "data", "stimuli")):
        os.symlink(os.path.join(osie, "data", "stimuli", name), os.path.join(stimuli, name))
    victim = sorted(os.listdir(stimuli))[index]
    data = open(os.path.join(osie, "data", "stimuli", victim), "rb").read()
    os.remove(os.path.join(stimuli, victim))
    with open(os.path.join(stimuli, victim), "wb") as handle:
        handle.write(data[: len(data) // 2])
    return destination


def test_failed_strict_rerun_leaves_the_previous_output_intact(osie, converted, tmp_path):
    """Defect 1: a rerun stopped by bad input deleted the earlier shards."""
    rec, before = converted
    broken = _corrupt_copy(osie, str(tmp_path / "broken"))
    with pytest.raises(converter.ConversionError, match="--strict: stopped at bad input"):
        converter.convert("osie", broken, rec, strict=True, **RERUN, **QUIET)
    assert _snapshot(rec) == before
    assert not _leftovers(tmp_path)
    shards.verify_manifest(rec)


_CONVERT_SCRIPT = """
    import os, sys, time
    from salgan_tf import atomic
    from salgan_tf.data import converter, shards
    osie, output, marker, height, width = sys.argv[1:]

    def stall_after(function, label):
        def wrapped(*args, **kwargs):
            result = function(*args, **kwargs)
            name = label(args)
            if name == marker:
                print(marker, flush=True)
                time.sleep(600)
            return result
        return wrapped

    shards.write_shard = stall_after(shards.write_shard, lambda a: os.path.basename(a[0]))
    shards.write_manifest = stall_after(shards.write_manifest, lambda a: "manifest")
    atomic._exchange = stall_after(atomic._exchange, lambda a: "exchanged")
    converter.convert("osie", osie, output, limit=8, num_shards=4,
                      resize=(int(height), int(width)), workers=1, progress=False)
"""

SHARD = "osie-all-{:05d}-of-00004.tfrecord"


def _convert_and_kill(osie, output, marker, size):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_CONVERT_SCRIPT), osie, output, marker,
         *map(str, size)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    try:
        for line in process.stdout:
            if line.strip() == marker:
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, process.stderr.read()[-3000:]


@pytest.mark.parametrize("marker", [SHARD.format(1), "manifest"])
def test_kill_9_during_a_first_conversion_leaves_nothing_under_the_real_name(osie, tmp_path,
                                                                            marker):
    rec = str(tmp_path / "rec")
    _convert_and_kill(osie, rec, marker, FIRST["resize"])
    assert not os.path.exists(rec)
    with pytest.raises(FileNotFoundError):
        list(eval_examples.read_tfrecord_examples(os.path.join(rec, "*.tfrecord")))
    converter.convert("osie", osie, rec, **FIRST, **QUIET)  # the rerun cleans up and succeeds
    assert not _leftovers(tmp_path)
    assert shards.verify_manifest(rec)["num_examples"] == 8


@pytest.mark.parametrize("marker", [SHARD.format(0), SHARD.format(2), "manifest"])
def test_kill_9_during_a_rerun_leaves_the_previous_output_exactly(osie, converted, tmp_path,
                                                                 marker):
    """Defect 2: a killed rerun with another --resize left new shards beside old ones."""
    rec, before = converted
    _convert_and_kill(osie, rec, marker, RERUN["resize"])
    assert _snapshot(rec) == before
    shards.verify_manifest(rec)
    converter.convert("osie", osie, rec, **RERUN, **QUIET)
    assert not _leftovers(tmp_path)
    assert shards.verify_manifest(rec)["resize"] == [24, 40]


def test_kill_9_right_after_the_swap_leaves_the_new_output_whole(osie, converted, tmp_path):
    rec, before = converted
    _convert_and_kill(osie, rec, "exchanged", RERUN["resize"])
    manifest = shards.verify_manifest(rec)  # the new conversion, complete
    assert manifest["resize"] == [24, 40] and _snapshot(rec) != before
    assert atomic.recover_directory(rec) and not _leftovers(tmp_path)  # old copy deleted


def test_swap_by_two_renames_is_recovered_after_a_kill_between_them(tmp_path, monkeypatch):
    """Where renameat2 exchange is unavailable: the old folder is set aside, then put back."""
    target = tmp_path / "rec"
    target.mkdir()
    (target / "a.tfrecord").write_bytes(b"old")
    monkeypatch.setattr(atomic, "_exchange", lambda first, second: False)
    with atomic.replaced_directory(target) as staging:
        open(os.path.join(staging, "b.tfrecord"), "wb").write(b"new")
    assert os.listdir(target) == ["b.tfrecord"] and not _leftovers(tmp_path)
    # the state a kill between the two renames leaves (pid 2**22+1: no such process)
    os.rename(target, tmp_path / f".rec{atomic.OLD_MARKER}{2 ** 22 + 1}")
    (tmp_path / f".rec{atomic.STAGING_MARKER}{2 ** 22 + 1}").mkdir()
    assert len(atomic.recover_directory(target)) == 2
    assert os.listdir(target) == ["b.tfrecord"] and not _leftovers(tmp_path)


# --------------------------------------------------------------------------- readers


def _readers(pattern, tmp_path):
    """Each reader of records, as a function of a glob that raises what the reader raises."""
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), train_data=pattern)
    return {
        "train": lambda: train_lib.resolve_train_files(config),
        "pipeline": lambda: pipeline.make_dataset(pattern.split(","), image_size=(32, 48)),
        "evaluate": lambda: next(eval_examples.read_tfrecord_examples(pattern)),
    }


def _break(rec, how, osie, tmp_path):
    first = os.path.join(rec, SHARD.format(0))
    if how == "missing shard":
        os.remove(os.path.join(rec, SHARD.format(3)))
    elif how == "shard of another run":
        other = str(tmp_path / "other")
        converter.convert("osie", osie, other, limit=2, num_shards=1, workers=1, **QUIET)
        shutil.copy(os.path.join(other, "osie-all-00000-of-00001.tfrecord"), rec)
        shutil.rmtree(other)
    elif how == "changed bytes":
        data = bytearray(open(first, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(first, "wb").write(bytes(data))
    elif how == "truncated shard":
        data = open(first, "rb").read()
        open(first, "wb").write(data[:-10])
    elif how == "no manifest":
        os.remove(os.path.join(rec, shards.MANIFEST_NAME))


PROBLEMS = {"missing shard": "listed in .* but missing",
            "shard of another run": "not listed in",
            "changed bytes": "SHA-256 differs",
            "truncated shard": "bytes but .* lists",
            "no manifest": "no manifest.json beside it"}


@pytest.mark.parametrize("how", sorted(PROBLEMS))
def test_every_reader_refuses_records_that_do_not_match_their_manifest(osie, converted, tmp_path,
                                                                      how):
    rec, _ = converted
    pattern = os.path.join(rec, "*.tfrecord")
    for read in _readers(pattern, tmp_path).values():
        read()  # the intact set reads
    _break(rec, how, osie, tmp_path)  # a rewritten file has a new mtime: hashed again
    for name, read in _readers(pattern, tmp_path).items():
        with pytest.raises(ValueError, match=PROBLEMS[how]) as error:  # a ManifestError
            read()
        message = str(error.value)
        assert "\n" not in message, name
        if how != "no manifest":
            assert "rerun `python -m salgan_tf.convert --dataset=osie" in message, name
            assert f"--output={rec}" in message and "--resize=48x32" in message, name


def test_records_of_several_folders_are_checked_against_each_manifest(osie, converted,
                                                                     tmp_path):
    rec, _ = converted
    second = str(tmp_path / "second")
    converter.convert("osie", osie, second, limit=2, num_shards=1, workers=1, **QUIET)
    both = f"{rec}/*.tfrecord,{second}/*.tfrecord"
    config = config_lib.TrainConfig(output_dir=str(tmp_path / "run"), train_data=both)
    assert train_lib.resolve_train_files(config).num_examples == 10
    os.remove(os.path.join(second, shards.MANIFEST_NAME))
    with pytest.raises(shards.ManifestError, match=f"{second}.*no manifest.json"):
        train_lib.resolve_train_files(config)


def test_checksums_are_computed_once_per_process(converted, monkeypatch):
    rec, _ = converted
    files = sorted(os.path.join(rec, n) for n in os.listdir(rec) if n.endswith(".tfrecord"))
    calls = []
    real = shards.sha256_of
    monkeypatch.setattr(shards, "sha256_of", lambda path: calls.append(path) or real(path))
    first = shards.check_records(files)
    second = shards.check_records(files)  # e.g. the validation pass of the next epoch
    assert len(calls) == 4 and first == second and first.num_examples == 8


@pytest.mark.parametrize("kind", ["file", "under a file"])
def test_convert_cli_output_that_is_a_file_is_a_one_line_error(osie, tmp_path, kind):
    """Defect 9: `--output` a file or an unwritable path gave a TF traceback."""
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    output = blocker if kind == "file" else blocker / "rec"
    result = subprocess.run(
        [sys.executable, "-m", "salgan_tf.convert", "--dataset=osie", f"--input={osie}",
         f"--output={output}", "--limit=2", "--workers=1", "--noprogress"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    (line,) = [l for l in result.stderr.splitlines() if l.startswith("error: ")]
    assert str(output) in line
    assert blocker.read_text() == "keep me"


def test_convert_refuses_to_replace_a_folder_holding_other_files(osie, tmp_path):
    output = tmp_path / "mine"
    output.mkdir()
    (output / "notes.txt").write_text("keep me")
    with pytest.raises(converter.ConversionError, match="notes.txt"):
        converter.convert("osie", osie, str(output), limit=2, workers=1, **QUIET)
    assert os.listdir(output) == ["notes.txt"]


def test_disk_full_during_convert_is_one_line_and_keeps_the_previous_output(
        osie, converted, tmp_path, monkeypatch):
    """Issue 23: disk full while writing shards kept the old output but ended in a traceback.

    The third record write fails as TensorFlow's TFRecordWriter does on a full disk (measured
    on a full tmpfs: ResourceExhaustedError "<file>; No space left on device").
    """
    import tensorflow as tf

    rec, before = converted
    real_writer, writes = tf.io.TFRecordWriter, []

    class FullDiskWriter(real_writer):
        def __init__(self, path, *args, **kwargs):
            super().__init__(path, *args, **kwargs)
            self.path = path

        def write(self, record):
            writes.append(record)
            if len(writes) == 3:
                raise tf.errors.ResourceExhaustedError(
                    None, None, f"{self.path}; No space left on device")
            return super().write(record)

    monkeypatch.setattr(tf.io, "TFRecordWriter", FullDiskWriter)
    with pytest.raises(converter.ConversionError) as failure:
        converter.convert("osie", osie, rec, **RERUN, **QUIET)
    message = str(failure.value)
    assert "\n" not in message and message.startswith(f"--output={rec}: cannot write there")
    assert re.search(r"\.tmp-\d+-\w+-osie-all-00001-of-00004\.tfrecord; No space left on "
                     r"device\)$", message), message
    assert len(writes) == 3 and _snapshot(rec) == before and not _leftovers(str(tmp_path))
