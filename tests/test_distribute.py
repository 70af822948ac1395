"""The same GAN steps under tf.distribute give the single-device result."""
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.slow
def test_mirrored_two_cpus_matches_default_strategy():
    proc = subprocess.run([sys.executable, os.path.join(HERE, "distributed_helpers.py")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    for phase in ("bce", "gan", "gan_adaptive"):
        default, mirrored = result[phase]["default"], result[phase]["mirrored"]
        assert set(default) == set(mirrored)
        for name, value in default.items():
            if name.endswith("_grad_norm"):  # diagnostics: per-replica norms summed (steps.py)
                continue
            assert mirrored[name] == pytest.approx(value, rel=1e-4, abs=1e-5), (phase, name)
        # AdaGrad's first step is ~lr * sign(g): weights agree to well under one step (3e-4).
        assert result[phase]["max_weight_diff"] < 3e-5, phase


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_worker_multi_worker_mirrored_run_and_chief_checkpoint_restores(tmp_path):
    """Two processes on 127.0.0.1 train with MultiWorkerMirroredStrategy; the chief's checkpoint
    restores into a fresh generator."""
    from salgan_tf import checkpoints

    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        args = [sys.executable, "-m", "salgan_tf.train", "--strategy=multi_worker",
                f"--output_dir={tmp_path / f'worker{index}'}", "--train_data=demo",
                "--demo_examples=8", "--image_height=32", "--image_width=32", "--batch_size=4",
                "--bce_epochs=1", "--gan_epochs=1", "--checkpoint_every_steps=1",
                "--num_sample_maps=2"]
        procs.append(subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    outputs = []
    for proc in procs:
        try:
            outputs.append(proc.communicate(timeout=600)[0])
        finally:
            proc.kill()
    for index, (proc, out) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"worker {index}:\n{out[-3000:]}"
    chief_dir = tmp_path / "worker0"
    generator, config = checkpoints.load_generator(str(chief_dir))
    assert config.strategy == "multi_worker"
    assert generator.output_shape == (None, 32, 32, 1)
    # Only the chief writes checkpoints into its output directory.
    assert (chief_dir / "checkpoints").is_dir()
    assert not (tmp_path / "worker1" / "checkpoints").exists()
