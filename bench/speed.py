"""CPU speed of the SalGAN generator and train steps: TF float32 / bf16 / XLA against PyTorch.

  source /work/venv/bin/activate
  python bench/speed.py [--image_size=192x256] [--batch=4] [--repeats=5] [--quick]

Prints, in one run:
  0. setup: versions, threads, load average, the CPU's peak (bench/flops.py: cores x clock x
     FMA units x lanes x 2, with the clock measured by a dependent-add loop and the FMA factor
     checked by an FMA loop) and a GEMM ceiling (2048^3 matmuls in TF and PyTorch, float32 and
     bfloat16);
  1. inference images/s of the generator: TF float32, mixed_bfloat16, float32+XLA, bf16+XLA
     (`tf.function(jit_compile=True)` around the model call) and the PyTorch reference
     (bench/torch_reference.py; float32 channels_last under `torch.inference_mode()`, and bf16
     autocast), with the TF/PyTorch ratio and each variant's max |map - TF float32 map|;
  2. train-step images/s of `SalGANSteps.bce_step` and `.adversarial_step`, float32 / bf16 /
     XLA (`SalGANSteps(jit_compile=True)`);
  3. achieved GFLOP/s of every variant (FLOPs counted by bench/flops.py) and the fraction of peak.

Method: every variant is built and warmed up first (the first calls trace, compile and create
oneDNN primitives), with the same weights. Then `--repeats` rounds run every variant once each,
interleaved, so a burst of load from other processes hits all variants alike instead of one. Each
timed call processes one batch; the table gives the median and the min-max spread per image, and
"cores busy" = process CPU time / wall time of the call (well below --threads means the call
waited for a CPU: the machine was busy). A short sleep (--settle) before each call lets the
previous framework's worker threads go idle. No number here is asserted anywhere.

`--quick` (32x48 images, batch 2, 2 repeats, 1 warm-up) checks that everything runs; its
numbers mean nothing.
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


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", default=None, help="HxW, multiples of 16 (192x256)")
    parser.add_argument("--batch", type=int, default=None, help="images per timed call (4)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per variant (5)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed calls per variant first (2)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TF intra-op and torch threads; 0 = CPUs in the affinity mask")
    parser.add_argument("--inter_op_threads", type=int, default=1,
                        help="TF inter-op and torch inter-op threads")
    parser.add_argument("--settle", type=float, default=0.3,
                        help="seconds of sleep before each timed call")
    parser.add_argument("--cpu_ghz", type=float, default=None,
                        help="clock for the peak (default: measured by bench/flops.py's "
                             "dependent-add loop, else /proc/cpuinfo 'cpu MHz')")
    parser.add_argument("--skip_torch", action="store_true", help="no PyTorch reference")
    parser.add_argument("--skip_train", action="store_true", help="no train-step table")
    parser.add_argument("--skip_gemm", action="store_true", help="no GEMM ceiling")
    parser.add_argument("--quick", action="store_true",
                        help="tiny run to check the script: 32x48, batch 2, 2 repeats, 1 warm-up")
    args = parser.parse_args(argv)
    defaults = dict(image_size="32x48", batch=2, repeats=2, warmup=1) if args.quick else dict(
        image_size="192x256", batch=4, repeats=5, warmup=2)
    for name, value in defaults.items():  # explicit flags win over --quick
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.image_size = flops_lib.parse_image_size(args.image_size)
    if args.batch <= 0 or args.repeats <= 0 or args.warmup < 0:
        parser.error("--batch and --repeats must be positive, --warmup >= 0")
    if args.threads <= 0:
        args.threads = len(os.sched_getaffinity(0))
    return args


# ---------------------------------------------------------------------------------------------
# Timing.


@dataclasses.dataclass
class Case:
    """One thing to time: `run()` processes one batch of `images` images and blocks until done."""

    table: str  # "inference", "train" or "gemm"
    label: str
    run: object
    images: int
    flops_per_call: float  # counted FLOPs of one call
    peak_dtype: str  # "fp32" or "bf16": which peak the GFLOP/s are compared with
    seconds: list = dataclasses.field(default_factory=list)
    cores_busy: list = dataclasses.field(default_factory=list)
    note: str = ""

    @property
    def median(self):
        return statistics.median(self.seconds)


def _timed_call(case):
    wall0, cpu0 = time.perf_counter(), time.process_time()
    case.run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    case.seconds.append(wall)
    case.cores_busy.append(cpu / wall)


def time_interleaved(cases, repeats, settle):
    """Runs `repeats` rounds; each round times every case once, in order."""
    for round_index in range(repeats):
        for case in cases:
            time.sleep(settle)
            _timed_call(case)
        print(f"[speed] {cases[0].table} round {round_index + 1}/{repeats} done, "
              f"{load_average()}", file=sys.stderr, flush=True)


def warm_up(cases, calls):
    """Untimed first calls (tracing, XLA compilation, oneDNN primitive creation)."""
    for case in cases:
        t0 = time.perf_counter()
        for _ in range(calls):
            case.run()
        case.note = (case.note + " " if case.note else "") + (
            f"warm-up {time.perf_counter() - t0:.1f} s")
        print(f"[speed] {case.label}: {case.note}", file=sys.stderr, flush=True)


def cpu_peak_and_check(args):
    """Peak from /proc/cpuinfo factors with the measured clock, and lines that check it.

    The FMA-loop rates (bench/flops.py) confirm the "FMA units x lanes" factor: at the measured
    clock they should come out near 100 % of the derived peak.
    """
    listed = flops_lib.read_cpu_peak(cores=args.threads)
    if args.cpu_ghz:
        return flops_lib.read_cpu_peak(cores=args.threads, ghz=args.cpu_ghz,
                                       ghz_source="--cpu_ghz"), []
    rates, how = flops_lib.measure_core_rates(args.threads)
    if rates is None:
        return listed, [f"clock {how}; peak uses /proc/cpuinfo 'cpu MHz'"]
    peak = flops_lib.read_cpu_peak(cores=args.threads, ghz=rates["clock_ghz"],
                                   ghz_source=f"{how}; dependent-add chain, 1 add per cycle")
    lines = [f"listed clock {listed.ghz:.3f} GHz would give fp32 {listed.fp32_gflops:.1f} / bf16 "
             f"{listed.bf16_gflops:.1f} GFLOP/s; measured clock {rates['clock_ghz']:.3f} GHz",
             f"FMA loop check: fp32 {rates['fp32_gflops']:.1f} GFLOP/s = "
             f"{100 * rates['fp32_gflops'] / peak.fp32_gflops:.0f}% of the derived fp32 peak"]
    if rates["bf16_gflops"]:
        lines[-1] += (f"; bf16 dot {rates['bf16_gflops']:.1f} GFLOP/s = "
                      f"{100 * rates['bf16_gflops'] / peak.bf16_gflops:.0f}% of the bf16 peak")
    return peak, lines


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
TF_VARIANTS = {
    "tf float32": ("float32", False),
    "tf mixed_bfloat16": ("mixed_bfloat16", False),
    "tf float32+XLA": ("float32", True),
    "tf bf16+XLA": ("mixed_bfloat16", True),
}


def _peak_dtype(policy):
    return "bf16" if "bfloat16" in policy else "fp32"


# ---------------------------------------------------------------------------------------------
# Cases.


def gemm_cases(use_torch, n=2048):
    """Square matmuls: the best a library does on this CPU, to read the conv numbers against."""
    import tensorflow as tf

    cases = []
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((n, n), dtype=np.float32)
    b_np = rng.standard_normal((n, n), dtype=np.float32)
    gemm_flops = 2.0 * n ** 3
    for dtype, name in ((tf.float32, "fp32"), (tf.bfloat16, "bf16")):
        a, b = tf.cast(a_np, dtype), tf.cast(b_np, dtype)
        matmul = tf.function(lambda a=a, b=b: tf.linalg.matmul(a, b))
        cases.append(Case("gemm", f"tf matmul {n}^3 {name}",
                          lambda f=matmul: f().numpy(), 1, gemm_flops, name))
    if use_torch:
        import torch

        for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
            a, b = torch.from_numpy(a_np).to(dtype), torch.from_numpy(b_np).to(dtype)
            cases.append(Case("gemm", f"torch mm {n}^3 {name}",
                              lambda a=a, b=b: torch.mm(a, b), 1, gemm_flops, name))
    return cases


def inference_cases(reference, image_size, batch, forward_flops, use_torch, images):
    """Generator forward for every TF variant and the PyTorch reference, all with equal weights.

    Returns:
      (cases, outputs): outputs[label] = maps of `images` from that variant, to compare.
    """
    import tensorflow as tf

    from salgan_tf import generator as generator_lib

    cases, outputs = [], {}
    weights = reference.get_weights()
    x = tf.constant(images)
    for label, (policy, xla) in TF_VARIANTS.items():
        with policy_scope(policy):
            model = generator_lib.build_generator(image_size)
            model.set_weights(weights)
            forward = tf.function(lambda t, m=model: m(t, training=False), jit_compile=xla)
            outputs[label] = forward(x).numpy()  # traces under the policy
        cases.append(Case("inference", label, lambda f=forward: f(x).numpy(), batch,
                          forward_flops * batch, _peak_dtype(policy)))
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
            cases.append(Case("inference", label, fn, batch, forward_flops * batch, dtype))
    return cases, outputs


def train_cases(reference_g, reference_d, image_size, batch, step_flops, images):
    """`SalGANSteps.bce_step` and `.adversarial_step` for every TF variant."""
    import tensorflow as tf

    from salgan_tf import config as config_lib
    from salgan_tf import discriminator as discriminator_lib
    from salgan_tf import generator as generator_lib
    from salgan_tf import losses
    from salgan_tf import optimizers
    from salgan_tf import steps as steps_lib

    rng = np.random.default_rng(1)
    maps = rng.uniform(size=(batch, *image_size, 1)).astype(np.float32)
    data = {"image": tf.constant(images), "map": tf.constant(maps),
            "map_small": losses.downsample_maps(tf.constant(maps))}
    cases, last = [], {}
    g_weights, d_weights = reference_g.get_weights(), reference_d.get_weights()
    for variant, (policy, xla) in TF_VARIANTS.items():
        with policy_scope(policy):
            config = config_lib.TrainConfig(output_dir="", mixed_precision=policy,
                                            jit_compile=xla, batch_size=batch)
            generator = generator_lib.build_generator(image_size)
            discriminator = discriminator_lib.build_discriminator(image_size)
            generator.set_weights(g_weights)
            discriminator.set_weights(d_weights)
            steps = steps_lib.SalGANSteps(
                generator, discriminator, optimizers.make_optimizer(config),
                optimizers.make_optimizer(config), alpha=config.alpha,
                weight_decay=config.weight_decay, downsample=config.downsample,
                jit_compile=xla)
        for step_name in ("bce_step", "adversarial_step"):
            step = getattr(steps, step_name)
            key = f"{variant} {step_name}"

            def run(step=step, key=key):
                last[key] = {k: float(v.numpy()) for k, v in step(data).items()}

            cases.append(Case("train", key, run, batch, step_flops[step_name] * batch,
                              _peak_dtype(policy)))
    return cases, last


# ---------------------------------------------------------------------------------------------
# Report.


def _rate_columns(case, peak):
    per_image = [s / case.images for s in case.seconds]
    med = statistics.median(per_image)
    gflops = case.flops_per_call / case.median / 1e9
    peak_gflops = peak.fp32_gflops if case.peak_dtype == "fp32" else peak.bf16_gflops
    return (f"{case.images / case.median:9.2f} {med:9.3f} {min(per_image):7.3f}-"
            f"{max(per_image):<7.3f} {gflops:8.1f} {100 * gflops / peak_gflops:5.0f}% "
            f"{case.peak_dtype:>4} {statistics.median(case.cores_busy):5.2f}")


_HEADER = (f"{'variant':<42} {'images/s':>9} {'s/image':>9} {'min-max s/img':>15} "
           f"{'GFLOP/s':>8} {'%peak':>6} {'of':>4} {'cores':>5}")


def print_table(title, cases, peak):
    print(f"\n{title}")
    print(_HEADER)
    for case in cases:
        print(f"{case.label:<42} {_rate_columns(case, peak)}")


def print_report(args, setup_lines, peak, gemm, inference, train, outputs, g_rows, step_flops,
                 last_train, loads):
    height, width = args.image_size
    for line in setup_lines:
        print(line)
    print(f"FLOPs counted (bench/flops.py): conv/dense multiply-adds x 2; generator forward "
          f"{flops_lib.forward_flops(g_rows) / 1e9:.2f} GFLOP/image; bce_step "
          f"{step_flops['bce_step'] / 1e9:.2f}, adversarial_step "
          f"{step_flops['adversarial_step'] / 1e9:.2f} GFLOP/image (forward + backward, G and D)")
    print(f"{args.repeats} timed rounds after {args.warmup} warm-up call(s); median and min-max "
          "over rounds; 'cores' = process CPU time / wall time during the call; %peak against "
          "the fp32 or bf16 peak ('of')")
    if gemm:
        print_table("GEMM ceiling (one 2048x2048 @ 2048x2048 matmul per call; images/s column = "
                    "calls/s)", gemm, peak)
    print_table(f"1. Generator inference, {height}x{width} (HxW), batch {args.batch}", inference,
                peak)
    by_label = {c.label: c for c in inference}
    reference_out = outputs.get("tf float32")
    print("\n   max |map - tf float32 map| (same weights, same batch):")
    for label, out in outputs.items():
        if label != "tf float32":
            print(f"   {label:<42} {np.max(np.abs(out - reference_out)):.3g}")
    for torch_label, tf_label in (("torch float32 channels_last", "tf float32"),
                                  ("torch bf16 autocast channels_last", "tf mixed_bfloat16")):
        if torch_label in by_label and tf_label in by_label:
            ratio = by_label[torch_label].median / by_label[tf_label].median
            print(f"   TF/PyTorch throughput ratio, {tf_label} vs {torch_label}: {ratio:.2f} "
                  f"({'TF faster' if ratio > 1 else 'PyTorch faster'})")
    best_tf = min((c for c in inference if c.label.startswith("tf")), key=lambda c: c.median)
    best_torch = [c for c in inference if c.label.startswith("torch")]
    if best_torch:
        best_torch = min(best_torch, key=lambda c: c.median)
        print(f"   best TF ({best_tf.label}) / best PyTorch ({best_torch.label}) throughput: "
              f"{best_torch.median / best_tf.median:.2f}")
    if train:
        print_table(f"2. Train steps (SalGANSteps), {height}x{width}, batch {args.batch}",
                    train, peak)
        for key, scalars in last_train.items():
            bad = [k for k, v in scalars.items() if not np.isfinite(v)]
            if bad:
                print(f"   WARNING {key}: non-finite {bad} after timing")
    print("\n   warm-up (trace/compile + first calls):")
    for case in gemm + inference + train:
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
        f"python {platform.python_version()}, tensorflow {tf.__version__}, keras "
        f"{keras.__version__}" + (f", torch {__import__('torch').__version__}" if use_torch
                                  else ""),
        threads_line,
    ]
    peak, peak_lines = cpu_peak_and_check(args)
    setup += peak.describe() + peak_lines
    reference_g = generator_lib.build_generator(args.image_size)
    reference_d = discriminator_lib.build_discriminator(args.image_size)
    g_rows = flops_lib.layer_flops(reference_g)
    step_flops = flops_lib.train_step_flops(g_rows, flops_lib.layer_flops(reference_d))
    images = np.random.default_rng(0).normal(
        0, 60, (args.batch, *args.image_size, 3)).astype(np.float32)

    gemm = [] if args.skip_gemm else gemm_cases(use_torch)
    inference, outputs = inference_cases(reference_g, args.image_size, args.batch,
                                         flops_lib.forward_flops(g_rows), use_torch, images)
    train, last_train = ([], {}) if args.skip_train else train_cases(
        reference_g, reference_d, args.image_size, args.batch, step_flops, images)
    for cases in (gemm, inference, train):
        warm_up(cases, args.warmup)
    loads.append(f"after warm-up: {load_average()}")
    for name, cases in (("GEMM", gemm), ("inference", inference), ("train", train)):
        if cases:
            time_interleaved(cases, args.repeats, args.settle)
            loads.append(f"after {name} timing: {load_average()}")
    print_report(args, setup, peak, gemm, inference, train, outputs, g_rows, step_flops,
                 last_train, loads)


if __name__ == "__main__":
    sys.exit(main())
