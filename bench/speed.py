"""CPU speed of the SalGAN generator and train steps: TF float32 / bf16 / XLA against PyTorch.

  source /work/venv/bin/activate
  python bench/speed.py [--image_size=192x256] [--batch=4] [--repeats=5] [--quick]

Prints, in one run:
  0. setup: CPU model and vector flags (/proc/cpuinfo), versions, threads, load average, and the
     FLOPs per call of every timed function (TF's profiler, bench/flops.py);
  1. inference images/s of the generator: TF float32, mixed_bfloat16, float32+XLA, bf16+XLA
     (`tf.function(jit_compile=True)` around the model call) and the PyTorch reference
     (bench/torch_reference.py; float32 channels_last under `torch.inference_mode()`, and bf16
     autocast), with the TF/PyTorch ratio and each variant's max |map - TF float32 map|;
  2. train-step images/s of `SalGANSteps.bce_step` and `.adversarial_step`, float32 / bf16 /
     XLA (`SalGANSteps(jit_compile=True)`);
  3. achieved GFLOP/s of every variant and its fraction of the GEMM ceiling: a large
     `tf.linalg.matmul` (float32 and bfloat16) timed in the same rounds as the table, the best
     this TF build reaches on this CPU, so no CPU-model table is needed.

Method: every variant is built and warmed up first (the first calls trace, compile and create
oneDNN primitives), with the same weights. Then `--repeats` rounds run every variant once each,
interleaved with the two GEMMs, so a burst of load from other processes hits all variants and
the ceiling alike instead of one. Each timed call processes one batch; the table gives the median
and the min-max spread per image, and "cores busy" = process CPU time / wall time of the call
(well below --threads means the call waited for a CPU: the machine was busy). A short sleep
(--settle) before each call lets the previous framework's worker threads go idle. No number here
is asserted anywhere.

`--quick` (32x48 images, batch 2, 2 repeats, 1 warm-up) checks that everything runs; its
numbers mean nothing.

`--policies=float32,mixed_bfloat16,mixed_float16` picks the policies of the TF variants (default
float32,mixed_bfloat16; float16 adds an fp16 GEMM ceiling), `--skip_xla` drops the XLA twins,
`--skip_inference` the inference table and `--steps=bce_step` the other train step. One BCE step
of the CPU recipe in every policy (issue 34; warm-up lines give the first, tracing call):
  python bench/speed.py --image_size=144x192 --batch=8 --skip_torch --skip_inference \
      --skip_xla --steps=bce_step --policies=float32,mixed_bfloat16,mixed_float16
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.util
import os
import pathlib
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import flops as flops_lib  # noqa: E402

# CPU flags that decide which matmul kernels oneDNN can use, printed with the CPU model.
_VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_tile")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", default=None, help="HxW, multiples of 16 (192x256)")
    parser.add_argument("--batch", type=int, default=None, help="images per timed call (4)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per variant (5)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed calls per variant first (2)")
    parser.add_argument("--gemm_size", type=int, default=None,
                        help="n of the n x n @ n x n GEMM ceiling (2048)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TF intra-op and torch threads; 0 = CPUs in the affinity mask")
    parser.add_argument("--inter_op_threads", type=int, default=1,
                        help="TF inter-op and torch inter-op threads")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of sleep before each timed call")
    parser.add_argument("--skip_torch", action="store_true", help="no PyTorch reference")
    parser.add_argument("--skip_train", action="store_true", help="no train-step table")
    parser.add_argument("--skip_inference", action="store_true", help="no inference table")
    parser.add_argument("--policies", default=",".join(DEFAULT_POLICIES),
                        help=f"comma-separated Keras policies of the TF variants, of "
                             f"{','.join(POLICIES)}")
    parser.add_argument("--skip_xla", action="store_true", help="no XLA variants")
    parser.add_argument("--steps", default=",".join(STEP_NAMES),
                        help="comma-separated train steps to time, of " + ",".join(STEP_NAMES))
    parser.add_argument("--quick", action="store_true",
                        help="tiny run to check the script: 32x48, batch 2, 2 repeats, 1 warm-up, "
                             "256^3 GEMM")
    args = parser.parse_args(argv)
    defaults = dict(image_size="32x48", batch=2, repeats=2, warmup=1, gemm_size=256) \
        if args.quick else dict(image_size="192x256", batch=4, repeats=5, warmup=2,
                                gemm_size=2048)
    for name, value in defaults.items():  # explicit flags win over --quick
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.image_size = flops_lib.parse_image_size(args.image_size)
    args.policies = tuple(args.policies.split(","))
    args.steps = tuple(args.steps.split(","))
    if not set(args.policies) <= set(POLICIES) or not set(args.steps) <= set(STEP_NAMES):
        parser.error(f"--policies must be of {','.join(POLICIES)} and --steps of "
                     f"{','.join(STEP_NAMES)}")
    args.variants = tf_variants(args.policies, xla=not args.skip_xla)
    if args.batch <= 0 or args.repeats <= 0 or args.warmup < 0 or args.gemm_size <= 0:
        parser.error("--batch, --repeats and --gemm_size must be positive, --warmup >= 0")
    if args.threads <= 0:
        args.threads = len(os.sched_getaffinity(0))
    return args


def cpu_line(path="/proc/cpuinfo"):
    """'CPU: <model name>; flags: ...' from the first processor block of /proc/cpuinfo."""
    fields = {}
    try:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError as e:
        return f"CPU: unknown ({path}: {e})"
    flags = set(fields.get("flags", "").split())
    return (f"CPU: {fields.get('model name', '?')} ({len(os.sched_getaffinity(0))} CPUs in the "
            f"affinity mask); vector flags: {' '.join(f for f in _VECTOR_FLAGS if f in flags)}")


# ---------------------------------------------------------------------------------------------
# Timing.


@dataclasses.dataclass
class Case:
    """One thing to time: `run()` processes one batch of `images` images and blocks until done."""

    label: str
    run: object
    images: int
    flops_per_call: float  # TF profiler FLOPs of one call (bench/flops.py)
    dtype: str  # "fp32" or "bf16": which GEMM ceiling the GFLOP/s are compared with
    seconds: list = dataclasses.field(default_factory=list)
    cores_busy: list = dataclasses.field(default_factory=list)
    note: str = ""

    @property
    def median(self):
        return statistics.median(self.seconds)

    @property
    def gflops(self):
        return self.flops_per_call / self.median / 1e9


def _timed_call(case):
    wall0, cpu0 = time.perf_counter(), time.process_time()
    case.run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    case.seconds.append(wall)
    case.cores_busy.append(cpu / wall)


def time_interleaved(title, cases, repeats, settle):
    """Runs `repeats` rounds; each round times every case once, in order."""
    for round_index in range(repeats):
        for case in cases:
            time.sleep(settle)
            _timed_call(case)
        print(f"[speed] {title} round {round_index + 1}/{repeats} done, {load_average()}",
              file=sys.stderr, flush=True)


def warm_up(cases, calls):
    """Untimed first calls (tracing, XLA compilation, oneDNN primitive creation)."""
    for case in cases:
        t0 = time.perf_counter()
        for _ in range(calls):
            case.run()
        case.note = f"warm-up {time.perf_counter() - t0:.1f} s"
        print(f"[speed] {case.label}: {case.note}", file=sys.stderr, flush=True)


def load_average():
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} (1/5/15 min)"


# ---------------------------------------------------------------------------------------------
# Threads and policies.


def configure_threads(threads, inter_op, use_torch):
    """Sets TF (and torch) thread counts before either runtime starts; returns a report line."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError as e:  # TF already running (e.g. called from a test): report what is set
        print(f"TF threads not changed ({e})")
    line = (f"TF intra_op={tf.config.threading.get_intra_op_parallelism_threads()} "
            f"inter_op={tf.config.threading.get_inter_op_parallelism_threads()}, "
            f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset (on)')}")
    if use_torch:
        import torch

        torch.set_num_threads(threads)
        try:
            torch.set_num_interop_threads(inter_op)
        except RuntimeError as e:  # only settable once per process, before any parallel work
            print(f"torch inter-op threads not changed ({e})")
        line += (f"; torch num_threads={torch.get_num_threads()} "
                 f"interop={torch.get_num_interop_threads()}")
    return line


class policy_scope:
    """Sets the Keras global dtype policy for a block (models built and traced inside)."""

    def __init__(self, policy):
        self.policy = policy

    def __enter__(self):
        import keras

        keras.mixed_precision.set_global_policy(self.policy)

    def __exit__(self, *exc):
        import keras

        keras.mixed_precision.set_global_policy("float32")


# name -> (Keras policy, XLA)
ALL_TF_VARIANTS = {
    "tf float32": ("float32", False),
    "tf mixed_bfloat16": ("mixed_bfloat16", False),
    "tf mixed_float16": ("mixed_float16", False),
    "tf float32+XLA": ("float32", True),
    "tf bf16+XLA": ("mixed_bfloat16", True),
    "tf fp16+XLA": ("mixed_float16", True),
}
POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
DEFAULT_POLICIES = ("float32", "mixed_bfloat16")
STEP_NAMES = ("bce_step", "adversarial_step")


def tf_variants(policies=DEFAULT_POLICIES, xla=True):
    """The TF variants of `policies` (with their XLA twins unless `xla` is False)."""
    return {label: (policy, jit) for label, (policy, jit) in ALL_TF_VARIANTS.items()
            if policy in policies and (xla or not jit)}


TF_VARIANTS = tf_variants()  # what a run without --policies / --skip_xla times


def _counted_variant(variants):
    """Every variant runs the same math; its FLOPs are counted on this variant's graph (an XLA
    step calls its replica function, which the profiler cannot look into)."""
    return "tf float32" if "tf float32" in variants else next(
        label for label, (_, jit) in variants.items() if not jit)


def _dtype(policy):
    return {"mixed_bfloat16": "bf16", "mixed_float16": "fp16"}.get(policy, "fp32")


# ---------------------------------------------------------------------------------------------
# Cases.


def gemm_runs(n, dtypes=("fp32", "bf16")):
    """One n x n @ n x n `tf.linalg.matmul` per dtype: the ceiling each table is read against.

    Returns:
      list of (label, run, FLOPs of one call, dtype); each table times its own `Case`s of these.
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    runs = []
    for dtype, name in ((tf.float32, "fp32"), (tf.bfloat16, "bf16"), (tf.float16, "fp16")):
        if name not in dtypes:
            continue
        a_t, b_t = tf.cast(a, dtype), tf.cast(b, dtype)
        matmul = tf.function(lambda a_t=a_t, b_t=b_t: tf.linalg.matmul(a_t, b_t))
        flops = sum(flops_lib.graph_flops(matmul.get_concrete_function()).values())
        runs.append((f"GEMM tf.linalg.matmul {n}^3 {name}", lambda f=matmul: f().numpy(), flops,
                     name))
    return runs


def inference_cases(reference, image_size, batch, use_torch, images, variants=TF_VARIANTS):
    """Generator forward for every TF variant and the PyTorch reference, all with equal weights.

    Returns:
      (cases, outputs, forward_flops): outputs[label] = maps of `images` from that variant, to
      compare; forward_flops = FLOPs of one call (batch images).
    """
    import tensorflow as tf

    from salgan_tf import generator as generator_lib

    runs, outputs = [], {}
    weights = reference.get_weights()
    x = tf.constant(images)
    for label, (policy, xla) in variants.items():
        with policy_scope(policy):
            model = generator_lib.build_generator(image_size)
            model.set_weights(weights)
            forward = tf.function(lambda t, m=model: m(t, training=False), jit_compile=xla)
            outputs[label] = forward(x).numpy()  # traces under the policy
        if label == _counted_variant(variants):
            forward_flops = sum(flops_lib.graph_flops(forward.get_concrete_function(x)).values())
        runs.append((label, lambda f=forward: f(x).numpy(), _dtype(policy)))
    if use_torch:
        import torch

        import torch_reference

        torch_model = torch_reference.SalGANGeneratorTorch().eval()
        torch_reference.copy_keras_weights(reference, torch_model)
        torch_model = torch_model.to(memory_format=torch.channels_last)
        x_torch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(
            memory_format=torch.channels_last)

        def torch_fp32(m=torch_model):
            with torch.inference_mode():
                return m(x_torch)

        def torch_bf16(m=torch_model):
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                return m(x_torch)

        for label, fn, dtype in (("torch float32 channels_last", torch_fp32, "fp32"),
                                 ("torch bf16 autocast channels_last", torch_bf16, "bf16")):
            try:
                out = fn()
            except RuntimeError as e:  # bf16 autocast may be unsupported on a CPU
                print(f"skipping {label}: {e}")
                continue
            outputs[label] = out.float().permute(0, 2, 3, 1).numpy()
            runs.append((label, fn, dtype))
    cases = [Case(label, run, batch, forward_flops, dtype) for label, run, dtype in runs]
    return cases, outputs, forward_flops


def train_cases(reference_g, reference_d, image_size, data, variants=TF_VARIANTS,
                step_names=STEP_NAMES):
    """`SalGANSteps.bce_step` and `.adversarial_step` (or `step_names`) for every TF variant.

    Returns:
      (cases, last, step_flops): last[label] = the scalars of that case's latest call;
      step_flops[step name] = FLOPs of one call.
    """
    from salgan_tf import discriminator as discriminator_lib
    from salgan_tf import generator as generator_lib

    g_weights, d_weights = reference_g.get_weights(), reference_d.get_weights()
    batch = int(data["image"].shape[0])
    steps = {}
    for variant, (policy, xla) in variants.items():
        with policy_scope(policy):
            generator = generator_lib.build_generator(image_size)
            discriminator = discriminator_lib.build_discriminator(image_size)
            generator.set_weights(g_weights)
            discriminator.set_weights(d_weights)
            steps[variant] = flops_lib.make_steps(generator, discriminator, policy=policy,
                                                  jit_compile=xla)
    counted = steps[_counted_variant(variants)]
    step_flops = {name: sum(flops_lib.graph_flops(getattr(counted, name)
                                                  .get_concrete_function(data)).values())
                  for name in step_names}
    cases, last = [], {}
    for variant, (policy, _) in variants.items():
        for name in step_names:
            step, label = getattr(steps[variant], name), f"{variant} {name}"

            def run(step=step, label=label):
                last[label] = {k: float(v.numpy()) for k, v in step(data).items()}

            cases.append(Case(label, run, batch, step_flops[name], _dtype(policy)))
    return cases, last, step_flops


# ---------------------------------------------------------------------------------------------
# Report.


def ceilings(gemm):
    """{dtype: GFLOP/s} of the GEMM cases timed with a table."""
    return {case.dtype: case.gflops for case in gemm}


def _rate_columns(case, ceiling):
    per_image = [s / case.images for s in case.seconds]
    return (f"{case.images / case.median:9.2f} {statistics.median(per_image):9.3f} "
            f"{min(per_image):7.3f}-{max(per_image):<7.3f} {case.gflops:8.1f} "
            f"{100 * case.gflops / ceiling[case.dtype]:6.0f}% {case.dtype:>4} "
            f"{statistics.median(case.cores_busy):5.2f}")


_HEADER = (f"{'variant':<42} {'images/s':>9} {'s/image':>9} {'min-max s/img':>15} "
           f"{'GFLOP/s':>8} {'%ceil':>7} {'of':>4} {'cores':>5}")


def print_table(title, gemm, cases):
    """GEMM rows first ('images/s' = calls/s, 100 % by definition), then the table's cases."""
    print(f"\n{title}")
    print(_HEADER)
    ceiling = ceilings(gemm)
    for case in gemm + cases:
        print(f"{case.label:<42} {_rate_columns(case, ceiling)}")


def print_inference(args, table, outputs):
    """The inference table, each variant's map difference and the TF/PyTorch ratios."""
    height, width = args.image_size
    inference_gemm, inference = table
    print_table(f"1. Generator inference, {height}x{width} (HxW), batch {args.batch}",
                inference_gemm, inference)
    by_label = {c.label: c for c in inference}
    reference_label = _counted_variant(args.variants)
    reference_out = outputs[reference_label]
    print(f"\n   max |map - {reference_label} map| (same weights, same batch):")
    for label, out in outputs.items():
        if label != reference_label:
            print(f"   {label:<42} {np.max(np.abs(out - reference_out)):.3g}")
    for torch_label, tf_label in (("torch float32 channels_last", "tf float32"),
                                  ("torch bf16 autocast channels_last", "tf mixed_bfloat16")):
        if torch_label in by_label and tf_label in by_label:
            ratio = by_label[torch_label].median / by_label[tf_label].median
            print(f"   TF/PyTorch throughput ratio, {tf_label} vs {torch_label}: {ratio:.2f} "
                  f"({'TF faster' if ratio > 1 else 'PyTorch faster'})")


def print_report(args, setup_lines, tables, outputs, last_train, loads):
    height, width = args.image_size
    for line in setup_lines:
        print(line)
    print(f"{args.repeats} timed rounds after {args.warmup} warm-up call(s), each round with the "
          f"two {args.gemm_size}^3 GEMMs; median and min-max over rounds; 'cores' = process CPU "
          "time / wall time during the call; %ceil = GFLOP/s / the GEMM's GFLOP/s of the dtype "
          "in 'of', timed in the same rounds")
    if "inference" in tables:
        print_inference(args, tables["inference"], outputs)
    if "train" in tables:
        train_gemm, train = tables["train"]
        print_table(f"2. Train steps (SalGANSteps), {height}x{width}, batch {args.batch}",
                    train_gemm, train)
        for key, scalars in last_train.items():
            bad = [k for k, v in scalars.items() if not np.isfinite(v)]
            if bad:
                print(f"   WARNING {key}: non-finite {bad} after timing")
    print("\n   warm-up (trace/compile + first calls):")
    for gemm, cases in tables.values():
        for case in gemm + cases:
            print(f"   {case.label:<42} {case.note}")
    print("\n" + "\n".join(loads))


def main(argv=None):
    args = parse_args(argv)
    use_torch = not args.skip_torch
    if use_torch and importlib.util.find_spec("torch") is None:
        print("PyTorch not installed (pip install torch==2.13.0): skipping the reference")
        use_torch = False
    threads_line = configure_threads(args.threads, args.inter_op_threads, use_torch)
    import keras
    import tensorflow as tf

    from salgan_tf import discriminator as discriminator_lib
    from salgan_tf import generator as generator_lib

    loads = [f"before: {load_average()}"]
    setup = [
        f"date {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"command: python bench/speed.py {' '.join(sys.argv[1:] if argv is None else argv)}",
        cpu_line(),
        f"python {platform.python_version()}, tensorflow {tf.__version__}, keras "
        f"{keras.__version__}" + (f", torch {__import__('torch').__version__}" if use_torch
                                  else ""),
        threads_line,
    ]
    reference_g = generator_lib.build_generator(args.image_size)
    reference_d = discriminator_lib.build_discriminator(args.image_size)
    data = flops_lib.example_batch(args.image_size, args.batch)
    gemm = gemm_runs(args.gemm_size, {"fp32", "bf16"} | {_dtype(p) for p in args.policies})

    def new_gemm():
        return [Case(label, run, 1, flops, dtype) for label, run, flops, dtype in gemm]

    tables, per_image, outputs, last_train = {}, {}, {}, {}
    if not args.skip_inference:
        inference, outputs, forward_flops = inference_cases(
            reference_g, args.image_size, args.batch, use_torch, data["image"].numpy(),
            args.variants)
        tables["inference"] = (new_gemm(), inference)
        per_image["generator forward"] = forward_flops
    if not args.skip_train:
        train, last_train, step_flops = train_cases(reference_g, reference_d, args.image_size,
                                                    data, args.variants, args.steps)
        tables["train"] = (new_gemm(), train)
        per_image.update(step_flops)
    setup.append("GFLOP per image (TF profiler, the ops each call runs; bench/flops.py): "
                 + ", ".join(f"{name} {flops / args.batch / 1e9:.2f}"
                             for name, flops in per_image.items()))
    for gemm, cases in tables.values():
        warm_up(gemm + cases, args.warmup)
    loads.append(f"after warm-up: {load_average()}")
    for name, (gemm, cases) in tables.items():
        time_interleaved(name, gemm + cases, args.repeats, args.settle)
        loads.append(f"after {name} timing: {load_average()}")
    print_report(args, setup, tables, outputs, last_train, loads)


if __name__ == "__main__":
    sys.exit(main())
