"""The shipped model's model-card scores, measured with the shipped file itself.

    python bench/model_card.py --model=salgan-osie --work_dir=runs/model_card

Converts the shared real data (../shared/data or $SALGAN_DATA) once, then scores the model and
the centre bias with `python -m salgan_tf.evaluate` (MIT conventions) on:
  * OSIE 1001-1100 (the held-out test split, 800x600): all eight metrics;
  * the 10 SALICON 2015 example images (mouse "fixations", 640x480): the fixation metrics;
  * the 10 MIT1003 images of the cvzoya ICCV subset: CC, KLD, SIM against their shipped maps.
Writes `<work_dir>/model_card_scores.md` (tables, the commands, date, CPU) and
`<work_dir>/model_card_scores.json` ({dataset: {source: {metric: mean}}}).
"""
import argparse
import datetime
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality  # noqa: E402  (cpu_model)
import shared_data  # noqa: E402

FIXATION_METRICS = ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "ig")
ALL_METRICS = ("auc_judd", "auc_borji_exact", "sauc_exact", "nss", "cc", "kld", "sim", "ig")
MAP_METRICS = ("cc", "kld", "sim")
# name: (reader, folder under the data root, split, metrics, what it is)
DATASETS = {
    "osie_test": ("osie", "osie", "test", ALL_METRICS, "OSIE 1001-1100 (100 images, 800x600)"),
    "salicon_examples": ("salicon2015", "salicon_api_examples", "train2014examples",
                         FIXATION_METRICS, "SALICON 2015 examples (10 images, 640x480)"),
    "mit1003_subset": ("mit1003",
                       "mit1003_subset_cvzoya/code_forOptimization/ParameterTrainingOnICCV",
                       "all", MAP_METRICS, "MIT1003, cvzoya ICCV subset (10 images)"),
}


def _python(args, log):
    command = [sys.executable, *args]
    print("+", " ".join(command), flush=True)
    with open(log, "a") as out:
        out.write("+ " + " ".join(command) + "\n")
        out.flush()
        subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=True)
    return " ".join(["python", *args])


def score(name, model, data_root, work, log):
    """Converts one dataset (once) and evaluates model + centre bias; returns (summary, command)."""
    reader, folder, split, metrics, _ = DATASETS[name]
    records = os.path.join(work, "records", name)
    if not os.path.isfile(os.path.join(records, "manifest.json")):
        _python(["-m", "salgan_tf.convert", f"--dataset={reader}",
                 f"--input={os.path.join(data_root, folder)}", f"--output={records}",
                 f"--split={split}", "--num_shards=1", "--noprogress"], log)
    output = os.path.join(work, "eval", name)
    command = _python(["-m", "salgan_tf.evaluate", f"--data={records}/*.tfrecord",
                       f"--model={model}", f"--model_name={os.path.basename(model)}",
                       "--baseline", f"--metrics={','.join(metrics)}",
                       f"--output_dir={output}"], log)
    with open(os.path.join(output, "summary.json")) as f:
        summary = json.load(f)["summary"]
    return {source: {m: values[m]["mean"] for m in metrics}
            for source, values in summary.items()}, command


def report_lines(results, commands, model, started):
    lines = [f"# Model card scores: `{model}`", "",
             f"Measured {started:%Y-%m-%d %H:%M} UTC on {quality.cpu_model()} "
             f"({os.cpu_count()} cores) with `python bench/model_card.py --model={model}`; "
             "MIT benchmark conventions, maps scored at each image's size.", ""]
    for name, table in results.items():
        metrics = DATASETS[name][3]
        lines += [f"## {DATASETS[name][4]}", "", f"`{commands[name]}`", "",
                  "| source | " + " | ".join(metrics) + " |",
                  "|---|" + "---|" * len(metrics)]
        for source, means in table.items():
            lines.append(f"| {source} | " + " | ".join(f"{means[m]:.4f}" for m in metrics) + " |")
        lines.append("")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="salgan-osie",
                        help="a shipped model's name or any path `salgan-evaluate --model` takes")
    parser.add_argument("--work_dir", default="runs/model_card")
    parser.add_argument("--data", default=str(shared_data.ROOT))
    parser.add_argument("--datasets", default=",".join(DATASETS))
    args = parser.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    log = os.path.join(work, "model_card.log")
    results, commands = {}, {}
    for name in args.datasets.split(","):
        results[name], commands[name] = score(name, args.model, args.data, work, log)
    with open(os.path.join(work, "model_card_scores.json"), "w") as f:
        json.dump(results, f, indent=1)
    lines = report_lines(results, commands, args.model, started)
    with open(os.path.join(work, "model_card_scores.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
