"""`--mixed_precision=auto`: each policy from given machine facts; resolved once, kept on resume."""
import json

import pytest

from salgan_tf import config as config_lib
from salgan_tf import precision
from salgan_tf import train_lib

Facts = precision.MachineFacts


@pytest.mark.parametrize("facts,policy,reason", [
    (Facts(cpu_flags=frozenset({"avx2", "avx512f", "avx512_bf16"})), "mixed_bfloat16",
     "CPU has avx512_bf16: native bfloat16"),
    (Facts(cpu_flags=frozenset({"avx2", "amx_bf16", "amx_tile"})), "mixed_bfloat16",
     "CPU has amx_bf16"),
    (Facts(cpu_flags=frozenset({"avx2", "fma", "avx512f"})), "float32",
     "neither avx512_bf16 nor amx_bf16"),
    (Facts(), "float32", "neither avx512_bf16 nor amx_bf16"),
    (Facts(tpu=True), "mixed_bfloat16", "TPU"),
    (Facts(gpu_capabilities=((8, 0),)), "mixed_float16", "compute capability 8.0 >= 7.0"),
    (Facts(gpu_capabilities=((7, 0),)), "mixed_float16", "compute capability 7.0 >= 7.0"),
    (Facts(gpu_capabilities=((6, 1),)), "float32", "compute capability 6.1 < 7.0"),
    # The slowest GPU decides; a GPU run ignores the host CPU's bf16.
    (Facts(cpu_flags=frozenset({"avx512_bf16"}), gpu_capabilities=((8, 6), (6, 0))), "float32",
     "compute capability 6.0 < 7.0"),
])
def test_each_policy_is_chosen_from_the_machine_facts(facts, policy, reason):
    chosen, why = precision.choose(facts)
    assert chosen == policy
    assert reason in why


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC\n"
                       "flags\t\t: fpu avx2 avx512f avx512_bf16\n\nprocessor\t: 1\n")
    assert precision.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "avx512f", "avx512_bf16"}
    assert precision.cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_auto_is_a_choice_and_an_explicit_policy_stays(tmp_path):
    config = config_lib.TrainConfig(output_dir=str(tmp_path), mixed_precision="auto").validate()
    resolved, reason = precision.resolve(config, Facts(cpu_flags=frozenset({"amx_bf16"})))
    assert resolved.mixed_precision == "mixed_bfloat16" and reason.startswith("auto: CPU has")
    explicit = config_lib.TrainConfig(output_dir=str(tmp_path), mixed_precision="float32")
    assert precision.resolve(explicit, Facts(tpu=True)) == (explicit, "set by --mixed_precision")


def test_the_recipe_configs_say_auto():
    for name in ("osie_cpu", "salicon_paper"):
        path = config_lib.__file__.replace("salgan_tf/config.py", f"configs/{name}.flags")
        assert config_lib.from_flag_file(path).mixed_precision == "auto", name


def _tiny_auto_config(output_dir, **overrides):
    return config_lib.TrainConfig(
        output_dir=str(output_dir), train_data="demo", demo_examples=8, image_height=32,
        image_width=32, batch_size=4, bce_epochs=1, gan_epochs=0, checkpoint_every_steps=1,
        num_sample_maps=1, log_every_steps=1, mixed_precision="auto", **overrides)


def test_config_json_holds_the_resolved_policy_and_a_resume_elsewhere_keeps_it(
        tmp_path, monkeypatch, caplog):
    run = tmp_path / "run"
    # Started on a CPU without native bf16: auto -> float32, logged first, written resolved.
    monkeypatch.setattr(precision, "machine_facts",
                        lambda strategy: Facts(cpu_flags=frozenset({"avx2"})))
    with caplog.at_level("INFO", logger="absl"), pytest.raises(train_lib.TrainingInterrupted):
        train_lib.train(_tiny_auto_config(run, stop_at_step=1))
    first = caplog.records[0].getMessage()
    assert first.startswith("precision policy float32 (auto: no GPU or TPU"), first
    assert json.loads((run / "config.json").read_text())["mixed_precision"] == "float32"
    # Resumed on a "machine" with AVX512_BF16: the run keeps the policy it started with.
    monkeypatch.setattr(precision, "machine_facts",
                        lambda strategy: Facts(cpu_flags=frozenset({"avx512_bf16"})))
    caplog.clear()
    with caplog.at_level("INFO", logger="absl"):
        train_lib.train(_tiny_auto_config(run))
    first = caplog.records[0].getMessage()
    assert first.startswith("precision policy float32 (auto, resolved when this run started; "
                            f"kept from {run / 'config.json'}"), first
    assert json.loads((run / "config.json").read_text())["mixed_precision"] == "float32"
    # A new run on that machine resolves afresh.
    assert precision.resolve(_tiny_auto_config(tmp_path / "new"))[0].mixed_precision == \
        "mixed_bfloat16"
