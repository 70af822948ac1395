"""FLOP counts of the SalGAN nets from their Keras layer shapes, and this CPU's peak FLOP/s.

What is counted (`layer_flops`): every multiply-add of a Conv2D or Dense layer as 2 FLOPs,
  conv:  2 * kh * kw * Cin * Cout * Hout * Wout   per image
  dense: 2 * units_in * units_out                 per image
Bias adds, activations (ReLU, sigmoid, tanh), pooling, upsampling, losses and optimizer updates
are elementwise; they are listed apart (`elementwise_ops`, one op per output element, pooling
one per input element) and left out of the FLOP totals, because they are a fraction of a percent
of the conv work and run at memory speed, not at FMA speed.

Train-step FLOPs (`train_step_flops`) follow from the same rows: the backward pass of a conv or
dense layer costs its forward FLOPs once for the input gradient and once for the weight
gradient. A weight gradient is computed only for trainable layers, and an input gradient only
where some earlier layer (or the input) needs a gradient — frozen VGG blocks 1-3 sit before every
trainable layer, so no backward work runs there (TF prunes it from the traced step).

`cpu_peak` derives the peak as cores x clock x FMA units x SIMD lanes x 2 from /proc/cpuinfo
(`lscpu` prints the same fields); the micro-architecture facts it needs (FMA units, datapath
width) are not in /proc/cpuinfo and come from a small table, each with its source. Under a
hypervisor the listed "cpu MHz" is the nominal TSC rate, not the boost clock the cores run at;
`measure_core_rates` measures the clock (a dependent-add chain, 1 cycle per add) and the FMA and
bf16 dot-product rates (independent AVX-512 chains) with three tiny C loops built by gcc.

Run `python bench/flops.py [--image_size=192x256]` for the per-layer table.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import re
import sys


@dataclasses.dataclass(frozen=True)
class LayerFlops:
    """Forward cost of one layer for ONE image."""

    name: str
    kind: str  # "conv", "dense" or another Keras class name (elementwise layer)
    output_shape: tuple  # without the batch axis
    flops: int  # multiply-adds x 2 (0 for elementwise layers)
    elementwise_ops: int  # bias + activation (+ pooling inputs), not included in `flops`
    trainable: bool


def _per_image_shape(tensor):
    return tuple(int(d) for d in tensor.shape[1:])


def layer_flops(model):
    """Per-layer forward FLOPs of a Keras model, in graph order, for one image.

    Args:
      model: a built Keras functional model (the generator or the discriminator).

    Returns:
      list of `LayerFlops`, one per layer except `InputLayer`.

    Raises:
      ValueError: for a layer with weights that is neither Conv2D nor Dense (its FLOPs would be
        silently missed otherwise).
    """
    import keras  # local: `python bench/flops.py --help` should not need TF

    rows = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        out_shape = _per_image_shape(layer.output)
        outputs = 1
        for d in out_shape:
            outputs *= d
        trainable = bool(layer.trainable_weights)
        has_activation = getattr(layer, "activation", None) not in (
            None, keras.activations.linear)
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, c_in, c_out = (int(d) for d in layer.kernel.shape)
            if tuple(layer.strides) != (1, 1) or layer.groups != 1:
                raise ValueError(f"layer {layer.name}: only stride-1, ungrouped convs are counted")
            flops = 2 * kh * kw * c_in * outputs  # outputs = Hout * Wout * Cout
            extra = outputs * (int(layer.use_bias) + int(has_activation))
            rows.append(LayerFlops(layer.name, "conv", out_shape, flops, extra, trainable))
        elif isinstance(layer, keras.layers.Dense):
            units_in, units_out = (int(d) for d in layer.kernel.shape)
            extra = units_out * (int(layer.use_bias) + int(has_activation))
            rows.append(LayerFlops(layer.name, "dense", out_shape, 2 * units_in * units_out,
                                   extra, trainable))
        elif layer.weights:
            raise ValueError(f"layer {layer.name} ({type(layer).__name__}) has weights but no "
                             "FLOP rule in bench/flops.py")
        else:
            inputs = 1
            if isinstance(layer, keras.layers.MaxPooling2D):
                for d in _per_image_shape(layer.input):
                    inputs *= d
            elif isinstance(layer, keras.layers.Activation):
                inputs = outputs
            else:  # UpSampling2D, Concatenate, Flatten, Rescaling: copies or one op per output
                inputs = outputs if isinstance(layer, keras.layers.Rescaling) else 0
            rows.append(LayerFlops(layer.name, type(layer).__name__, out_shape, 0, inputs, False))
    return rows


def forward_flops(rows):
    """Total forward FLOPs for one image (convs and dense layers only)."""
    return sum(row.flops for row in rows)


def backward_flops(rows, *, weight_grads, input_grad):
    """Backward FLOPs for one image of a chain of layers.

    Args:
      rows: `layer_flops(model)` of a chain-shaped model (each layer feeds the next).
      weight_grads: whether gradients of the trainable layers' weights are wanted.
      input_grad: whether the gradient with respect to the model input is wanted (e.g. the
        discriminator's gradient with respect to the predicted map in the generator update).
    """
    total = 0
    grad_needed_below = input_grad  # some layer at or below this point needs a gradient
    for row in rows:
        if not row.flops:
            continue
        if grad_needed_below:  # d loss / d input of this layer
            total += row.flops
        if weight_grads and row.trainable:  # d loss / d kernel of this layer
            total += row.flops
            grad_needed_below = True
    return total


def train_step_flops(generator_rows, discriminator_rows):
    """FLOPs for one image of `SalGANSteps.bce_step` and `.adversarial_step`.

    bce_step: G forward + G backward (trainable weights only).
    adversarial_step (steps.py): D update = G forward + 2 D forwards (real, predicted) + 2 D
    backwards (weights); then G update = G forward + D forward + D backward to its map input
    (D weights fixed) + G backward (weights).

    Returns:
      dict with "bce_step" and "adversarial_step" FLOPs per image.
    """
    g_fwd = forward_flops(generator_rows)
    d_fwd = forward_flops(discriminator_rows)
    g_bwd = backward_flops(generator_rows, weight_grads=True, input_grad=False)
    d_bwd_weights = backward_flops(discriminator_rows, weight_grads=True, input_grad=False)
    d_bwd_input = backward_flops(discriminator_rows, weight_grads=False, input_grad=True)
    d_update = g_fwd + 2 * d_fwd + 2 * d_bwd_weights
    g_update = g_fwd + d_fwd + d_bwd_input + g_bwd
    return {"bce_step": g_fwd + g_bwd, "adversarial_step": d_update + g_update}


# ---------------------------------------------------------------------------------------------
# Peak FLOP/s of this CPU.


@dataclasses.dataclass(frozen=True)
class Microarchitecture:
    """Vector FP resources of one core, with where the numbers come from."""

    name: str
    fma_units: int  # FMA pipes per core
    fma_bits: int  # datapath width of each pipe
    bf16_factor: int  # bf16 dot-product FLOPs per fp32 FMA FLOP at the same issue rate
    source: str


# (vendor_id, cpu family, model range) -> microarchitecture. Only what this project has run on;
# unknown CPUs fall back to the widest FMA the flags allow, with 2 pipes, marked as an assumption.
_MICROARCHITECTURES = (
    ("AuthenticAMD", 25, range(0x10, 0x20), Microarchitecture(
        "AMD Zen 4 (EPYC 9004 'Genoa')", 2, 256, 2,
        "Zen 4 runs AVX-512 on two 256-bit FMA pipes (512-bit ops take both halves): AMD Zen 4 "
        "software optimization guide (pub. 57647) and Chips and Cheese 'AMD's Zen 4 Part 1'; "
        "VDPBF16PS (avx512_bf16) does 2 multiply-adds per fp32 lane, taken to issue at the FMA "
        "rate (measure_core_rates checks both)")),
    ("AuthenticAMD", 25, range(0x60, 0x80), Microarchitecture(
        "AMD Zen 4 (Ryzen 7000 / Phoenix)", 2, 256, 2, "as Zen 4 EPYC above")),
    ("AuthenticAMD", 25, range(0x00, 0x10), Microarchitecture(
        "AMD Zen 3 (EPYC 7003)", 2, 256, 1, "Zen 3: two 256-bit FMA pipes, no avx512_bf16")),
)


@dataclasses.dataclass(frozen=True)
class CpuPeak:
    """Theoretical peak: cores x GHz x FMA units x fp32 lanes x 2 (multiply + add)."""

    model_name: str
    cores: int
    cores_source: str
    ghz: float
    ghz_source: str
    micro: Microarchitecture
    micro_source: str

    @property
    def fp32_lanes(self):
        return self.micro.fma_bits // 32

    @property
    def fp32_flops_per_cycle(self):
        """Per core: FMA units x lanes x 2."""
        return self.micro.fma_units * self.fp32_lanes * 2

    @property
    def fp32_gflops(self):
        return self.cores * self.ghz * self.fp32_flops_per_cycle

    @property
    def bf16_gflops(self):
        return self.fp32_gflops * self.micro.bf16_factor

    def describe(self):
        """Lines stating every factor and its source."""
        m = self.micro
        return [
            f"CPU: {self.model_name}; micro-architecture {m.name} ({self.micro_source})",
            f"cores used = {self.cores} ({self.cores_source})",
            f"clock = {self.ghz:.3f} GHz ({self.ghz_source})",
            f"FMA units x width = {m.fma_units} x {m.fma_bits} bit = {m.fma_units} x "
            f"{self.fp32_lanes} fp32 lanes ({m.source})",
            f"fp32 peak = {self.cores} cores x {self.ghz:.3f} GHz x {m.fma_units} FMA x "
            f"{self.fp32_lanes} lanes x 2 = {self.fp32_gflops:.1f} GFLOP/s "
            f"({self.fp32_flops_per_cycle} FLOP/cycle/core)",
            f"bf16 peak = {m.bf16_factor} x fp32 peak = {self.bf16_gflops:.1f} GFLOP/s "
            + ("(avx512_bf16 dot products)" if m.bf16_factor > 1 else "(no bf16 dot product)"),
        ]


def _cpuinfo_fields(cpuinfo_text, path):
    """First processor block of /proc/cpuinfo as a dict, plus the number of processors."""
    blocks = [b for b in cpuinfo_text.strip().split("\n\n") if b.strip()]
    if not blocks:
        raise ValueError(f"{path}: empty, cannot derive the CPU peak")
    fields = {}
    for line in blocks[0].splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
    for key in ("vendor_id", "cpu family", "model", "flags"):
        if key not in fields:
            raise ValueError(f"{path}: no '{key}' field, cannot derive the CPU peak")
    return fields, len(blocks)


def cpu_peak(cpuinfo_text, *, path="/proc/cpuinfo", cores=None, ghz=None, ghz_source="given"):
    """Derives the peak FLOP/s from /proc/cpuinfo text.

    Args:
      cpuinfo_text: contents of /proc/cpuinfo.
      path: shown in errors and in the sources.
      cores: cores the benchmark uses; default: physical cores in the affinity mask.
      ghz: clock override (e.g. `measure_core_rates()["clock_ghz"]`); default: /proc/cpuinfo
        "cpu MHz", which under a hypervisor is the TSC (nominal) rate, not a measured clock.
      ghz_source: where `ghz` comes from, for the report.

    Returns:
      `CpuPeak`.
    """
    fields, n_processors = _cpuinfo_fields(cpuinfo_text, path)
    vendor, family = fields["vendor_id"], int(fields["cpu family"])
    model = int(fields["model"])
    flags = set(fields["flags"].split())
    micro, micro_source = None, f"{path}: vendor {vendor}, family {family}, model {model:#x}"
    for table_vendor, table_family, models, entry in _MICROARCHITECTURES:
        if vendor == table_vendor and family == table_family and model in models:
            micro = entry
    if micro is None:
        width = 512 if "avx512f" in flags else 256 if "fma" in flags else 128
        micro = Microarchitecture(
            "unknown", 2, width, 2 if "avx512_bf16" in flags else 1,
            f"ASSUMED: 2 FMA pipes of the widest vector the flags allow ({width} bit); check "
            "the vendor's optimization manual")
        micro_source += " (not in bench/flops.py's table)"
    if cores is None:
        threads_per_core = max(1, int(fields.get("siblings", 1)) // int(fields.get("cpu cores", 1)))
        cores = max(1, len(os.sched_getaffinity(0)) // threads_per_core)
        cores_source = (f"{len(os.sched_getaffinity(0))} CPUs in the affinity mask / "
                        f"{threads_per_core} thread(s) per core ({path}: siblings / cpu cores; "
                        f"{n_processors} processors listed)")
    else:
        cores_source = "given"
    if ghz is None:
        if "cpu MHz" not in fields:
            raise ValueError(f"{path}: no 'cpu MHz' field; pass the clock explicitly")
        ghz = float(fields["cpu MHz"]) / 1000.0
        ghz_source = (f"{path} 'cpu MHz'; under KVM this is the TSC rate, the boost clock is "
                      "hidden, so the real peak may be higher")
    return CpuPeak(fields.get("model name", "?"), cores, cores_source, float(ghz), ghz_source,
                   micro, micro_source)


def read_cpu_peak(path="/proc/cpuinfo", **kwargs):
    """`cpu_peak` of the CPU this runs on."""
    try:
        text = pathlib.Path(path).read_text()
    except OSError as e:
        raise ValueError(f"{path}: cannot read ({e}); pass the peak factors explicitly") from e
    return cpu_peak(text, path=path, **kwargs)


# Measured clock and FMA rate: three tiny AVX-512 loops, compiled with gcc at run time.
# "clock": a chain of dependent integer adds, 1 cycle each, so adds/s = cycles/s.
# "fp32":  12 independent chains of 512-bit FMAs (16 lanes x 2 FLOPs), enough to hide the
#          FMA latency, so FLOP/s = FMA issue rate x 32.
# "bf16":  the same with VDPBF16PS (16 lanes x 2 bf16 products x 2 FLOPs = 64 per instruction).
_RATES_C = r"""
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* CPU time of this process, not wall time: another process sharing the core must not look
   like a slower clock. */
static double now(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
                          return t.tv_sec + 1e-9 * t.tv_nsec; }
#define CHAINS(OP) OP(a0) OP(a1) OP(a2) OP(a3) OP(a4) OP(a5) OP(a6) OP(a7) OP(a8) OP(a9) \
                   OP(a10) OP(a11)
int main(int argc, char **argv) {
  long iters = atol(argv[2]);
  /* distinct start values, or the compiler merges identical chains into one */
  __m512 a0 = _mm512_set1_ps(1.0f), a1 = _mm512_set1_ps(1.1f), a2 = _mm512_set1_ps(1.2f),
         a3 = _mm512_set1_ps(1.3f), a4 = _mm512_set1_ps(1.4f), a5 = _mm512_set1_ps(1.5f),
         a6 = _mm512_set1_ps(1.6f), a7 = _mm512_set1_ps(1.7f), a8 = _mm512_set1_ps(1.8f),
         a9 = _mm512_set1_ps(1.9f), a10 = _mm512_set1_ps(2.0f), a11 = _mm512_set1_ps(2.1f);
  const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
  double work = 0, t0 = now();
  long counter = argc;
  if (!strcmp(argv[1], "clock")) {
    for (long i = 0; i < iters; i++)
      __asm__ volatile("add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0" : "+r"(counter));
    work = 4.0 * iters;  /* cycles */
  } else if (!strcmp(argv[1], "fp32")) {
#define FMA(a) a = _mm512_fmadd_ps(a, x, y);
    for (long i = 0; i < iters; i++) { CHAINS(FMA) }
    work = 12.0 * 16 * 2 * iters;  /* FLOPs */
  } else {
#ifdef __AVX512BF16__
    const __m512bh bx = (__m512bh)_mm512_set1_epi16(0x3f80), by = (__m512bh)_mm512_set1_epi16(0x3300);
#define DOT(a) a = _mm512_dpbf16_ps(a, bx, by);
    for (long i = 0; i < iters; i++) { CHAINS(DOT) }
    work = 12.0 * 16 * 4 * iters;
#endif
  }
  double seconds = now() - t0;
  __m512 s = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
                           _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
  s = _mm512_add_ps(s, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
  printf("%.6e %.6e %g %ld\n", work, seconds, _mm512_reduce_add_ps(s), counter);
  return 0;
}
"""
_RATE_ITERS = {"clock": 300_000_000, "fp32": 100_000_000, "bf16": 100_000_000}


def measure_core_rates(cores, attempts=3, compiler="gcc"):
    """Measures the clock and the FMA rates by running `cores` copies of tiny AVX-512 loops.

    Needs gcc and AVX-512 (avx512_bf16 for the bf16 rate). Each kernel runs on `cores` processes
    at once, `attempts` times, and is timed by its own CPU time (so time-sharing with other
    processes does not lower the result); the best attempt counts.

    Returns:
      `(rates, message)`: rates = {"clock_ghz": per core, "fp32_gflops": all cores,
      "bf16_gflops": all cores or None} or None when it cannot run; message says why / how.
    """
    import shutil
    import subprocess
    import tempfile

    if shutil.which(compiler) is None:
        return None, f"not measured: no {compiler} on PATH"
    with tempfile.TemporaryDirectory() as tmp:
        source, binary = os.path.join(tmp, "rates.c"), os.path.join(tmp, "rates")
        pathlib.Path(source).write_text(_RATES_C)
        bf16 = True
        for flags in (["-mavx512f", "-mfma", "-mavx512bf16"], ["-mavx512f", "-mfma"]):
            built = subprocess.run([compiler, "-O2", *flags, source, "-o", binary],
                                   capture_output=True, text=True)
            if built.returncode == 0:
                break
            bf16 = False
        else:
            return None, f"not measured: {compiler} cannot build AVX-512 code ({built.stderr[:200]})"
        rates = {}
        for mode in ("clock", "fp32", "bf16") if bf16 else ("clock", "fp32"):
            best = 0.0
            for _ in range(attempts):
                procs = [subprocess.Popen([binary, mode, str(_RATE_ITERS[mode])],
                                          stdout=subprocess.PIPE, text=True)
                         for _ in range(cores)]
                try:
                    outs = [p.communicate(timeout=120)[0].split() for p in procs]
                except (subprocess.TimeoutExpired, OSError) as e:
                    return None, f"not measured: {mode} kernel failed ({e})"
                if any(p.returncode != 0 for p in procs):
                    return None, f"not measured: {mode} kernel crashed (no AVX-512 on this CPU?)"
                best = max(best, sum(float(o[0]) / float(o[1]) for o in outs))
            rates[mode] = best / 1e9
    return ({"clock_ghz": rates["clock"] / cores, "fp32_gflops": rates["fp32"],
             "bf16_gflops": rates.get("bf16")},
            f"measured with {compiler}-built AVX-512 loops, {cores} copies at once, best of "
            f"{attempts}")


# ---------------------------------------------------------------------------------------------


def parse_image_size(text):
    """'192x256' (H x W) -> (192, 256)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"image size {text!r} must look like HxW, e.g. 192x256")
    return int(match.group(1)), int(match.group(2))


def format_table(rows):
    """Per-layer table with the running share of the forward FLOPs."""
    total = forward_flops(rows) or 1
    lines = [f"{'layer':<26} {'output (HxWxC)':>16} {'GFLOP':>9} {'share':>7} {'elem Mop':>9} "
             f"{'trainable':>9}"]
    for row in rows:
        shape = "x".join(str(d) for d in row.output_shape)
        lines.append(f"{row.name:<26} {shape:>16} {row.flops / 1e9:9.3f} "
                     f"{100 * row.flops / total:6.2f}% {row.elementwise_ops / 1e6:9.2f} "
                     f"{'yes' if row.trainable else 'no':>9}")
    elementwise = sum(r.elementwise_ops for r in rows)
    lines.append(f"{'total':<26} {'':>16} {forward_flops(rows) / 1e9:9.3f} {'':>7} "
                 f"{elementwise / 1e6:9.2f}   (elementwise = {100 * elementwise / total:.2f}% "
                 "of the counted FLOPs, not counted)")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image_size", default="192x256", help="HxW")
    args = parser.parse_args(argv)
    image_size = parse_image_size(args.image_size)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from salgan_tf import discriminator as discriminator_lib
    from salgan_tf import generator as generator_lib

    g_rows = layer_flops(generator_lib.build_generator(image_size))
    d_rows = layer_flops(discriminator_lib.build_discriminator(image_size))
    print(f"Generator, {image_size[0]}x{image_size[1]} (HxW), per image:")
    print(format_table(g_rows))
    print(f"\nDiscriminator, per image:\n{format_table(d_rows)}")
    steps = train_step_flops(g_rows, d_rows)
    print(f"\nTrain step GFLOP per image: bce_step {steps['bce_step'] / 1e9:.2f}, "
          f"adversarial_step {steps['adversarial_step'] / 1e9:.2f}")
    rates, how = measure_core_rates(len(os.sched_getaffinity(0)))
    if rates:
        print(f"\nMeasured ({how}): clock {rates['clock_ghz']:.3f} GHz, fp32 FMA "
              f"{rates['fp32_gflops']:.1f} GFLOP/s, bf16 dot "
              f"{rates['bf16_gflops'] or float('nan'):.1f} GFLOP/s (all cores)")
        peak = read_cpu_peak(ghz=rates["clock_ghz"], ghz_source=how)
    else:
        print(f"\nClock {how}")
        peak = read_cpu_peak()
    print("\n".join(peak.describe()))


if __name__ == "__main__":
    sys.exit(main())
