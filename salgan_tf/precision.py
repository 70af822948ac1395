"""`--mixed_precision=auto`: the Keras dtype policy that runs fastest on this machine.

`choose(facts)` is a pure function of what the machine has (`MachineFacts`):
  - a TPU                                        -> mixed_bfloat16 (its native format);
  - GPUs, the lowest compute capability >= 7.0   -> mixed_float16 (tensor cores; loss-scaled,
                                                    salgan_tf.optimizers);
  - GPUs below 7.0                               -> float32;
  - no accelerator, CPU flag avx512_bf16/amx_bf16 -> mixed_bfloat16 (native bf16 dot products);
  - otherwise                                    -> float32 (bf16 would be emulated: slower; a
                                                    first bf16 step traced 208 s vs 18 s on an
                                                    AVX2-only EPYC, issue 34).
`resolve(config)` turns "auto" into one of those, once per run: the resolved name is what the run
writes into config.json, and a resumed run (a checkpoint and a config.json in --output_dir) keeps
the policy it started with, on whatever machine it resumes.
"""
from __future__ import annotations

import dataclasses
import os

from salgan_tf import config as config_lib

AUTO = "auto"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
FLOAT16_MIN_CAPABILITY = (7, 0)
CPUINFO = "/proc/cpuinfo"


@dataclasses.dataclass(frozen=True)
class MachineFacts:
    """What the policy choice depends on."""

    cpu_flags: frozenset = frozenset()
    tpu: bool = False
    gpu_capabilities: tuple = ()  # (major, minor) compute capability of each visible GPU


def choose(facts):
    """`(policy, reason)` for a machine with `facts` (rules in the module docstring)."""
    if facts.tpu:
        return "mixed_bfloat16", "TPU: bfloat16 is its native format"
    if facts.gpu_capabilities:
        major, minor = min(facts.gpu_capabilities)
        if (major, minor) >= FLOAT16_MIN_CAPABILITY:
            return "mixed_float16", (f"GPU compute capability {major}.{minor} >= 7.0: float16 "
                                     "tensor cores")
        return "float32", f"GPU compute capability {major}.{minor} < 7.0: no float16 tensor cores"
    native = [flag for flag in BF16_CPU_FLAGS if flag in facts.cpu_flags]
    if native:
        return "mixed_bfloat16", f"CPU has {' and '.join(native)}: native bfloat16"
    return "float32", ("no GPU or TPU, and the CPU has neither avx512_bf16 nor amx_bf16 "
                       "(bfloat16 would be emulated, slower than float32)")


def cpu_flags(path=CPUINFO):
    """The flags of the first processor in `path` (/proc/cpuinfo); empty if it is unreadable."""
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "flags":
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def machine_facts(strategy_name):
    """This machine's `MachineFacts` (physical devices only: the TF runtime is not started, so
    a multi-worker strategy can still be created afterwards)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        capabilities.append(tuple(capability) if capability else (0, 0))
    return MachineFacts(cpu_flags=cpu_flags(),
                        tpu=strategy_name == "tpu" or bool(tf.config.list_physical_devices("TPU")),
                        gpu_capabilities=tuple(capabilities))


def _policy_of_saved_run(output_dir):
    """The policy in config.json of a run that has a checkpoint in `output_dir`, else None."""
    from salgan_tf import checkpoints

    state_file = os.path.join(output_dir, checkpoints.CHECKPOINT_SUBDIR, "checkpoint")
    if not os.path.isfile(state_file):
        return None
    try:
        saved = config_lib.load(output_dir).mixed_precision
    except (OSError, ValueError):  # the resume check reports a broken config.json
        return None
    return None if saved == AUTO else saved


def resolve(config, facts=None):
    """`(config, reason)`: `config` with `mixed_precision` made concrete, and why that one.

    An explicit policy stays. "auto" takes the policy of the run already in `config.output_dir`
    (a resume) or, for a new run, `choose(facts)` (default: this machine's `machine_facts`).
    """
    if config.mixed_precision != AUTO:
        return config, "set by --mixed_precision"
    saved = _policy_of_saved_run(config.output_dir)
    if saved is not None:
        reason = (f"auto, resolved when this run started; kept from "
                  f"{os.path.join(config.output_dir, config_lib.CONFIG_FILENAME)}")
        return dataclasses.replace(config, mixed_precision=saved), reason
    policy, reason = choose(facts if facts is not None else machine_facts(config.strategy))
    return dataclasses.replace(config, mixed_precision=policy), f"auto: {reason}"
