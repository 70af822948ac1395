"""bench/quality.py's tables and plan, fed fake per-seed rows (no training)."""
import argparse
import json
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # bench/
import quality  # noqa: E402

UP = {"cc": True, "kld": False}.__getitem__


def _seeds(rows):
    """Fake per-seed test scores: rows of (bce cc, gan cc, bce kld, gan kld)."""
    return [{"bce4": {"cc": a, "kld": c}, "gan4": {"cc": b, "kld": d}} for a, b, c, d in rows]


def test_seed_comparison_means_sds_and_paired_differences():
    table = quality.seed_comparison(
        _seeds([(0.60, 0.62, 1.0, 0.9), (0.64, 0.63, 1.2, 1.3), (0.62, 0.67, 1.1, 1.0)]),
        metrics=("cc", "kld"), higher_is_better=UP)
    cc, kld = table
    assert cc["bce4"] == pytest.approx((0.62, 0.02))
    assert cc["gan4"][0] == pytest.approx(0.64)
    # Paired: differences +.02, -.01, +.05 -> mean .02, sd .03; GAN better on 2 of 3.
    assert cc["diff"] == pytest.approx((0.02, 0.03))
    assert (cc["gan_better"], cc["seeds"]) == (2, 3)
    # KLD: lower is better, so a negative difference counts for GAN (-.1, +.1, -.1).
    assert kld["diff"][0] == pytest.approx(-0.1 / 3)
    assert kld["gan_better"] == 2 and not kld["higher_is_better"]


def test_seed_table_lines_show_each_metric_with_its_direction():
    lines = quality.seed_table_lines(quality.seed_comparison(
        _seeds([(0.6, 0.7, 1.0, 0.8), (0.6, 0.5, 1.0, 1.2)]), metrics=("cc", "kld"),
        higher_is_better=UP))
    assert lines[2] == ("| cc (higher is better) | 0.6000 ± 0.0000 | 0.6000 ± 0.1414 | "
                        "+0.0000 ± 0.1414 | 1 of 2 |")
    assert lines[3].startswith("| kld (lower is better) |") and lines[3].endswith("| 1 of 2 |")


def test_one_seed_has_sd_zero_and_missing_metrics_are_skipped():
    table = quality.seed_comparison([{"bce4": {"cc": 0.5}, "gan4": {"cc": 0.4}}],
                                    metrics=("cc", "nss"), higher_is_better=UP)
    assert [row["metric"] for row in table] == ["cc"]
    assert table[0]["diff"] == pytest.approx((-0.1, 0.0)) and table[0]["gan_better"] == 0


def test_balance_sweep_table_from_epoch_logs():
    epochs = [{"epoch": 1, "phase": "bce"},
              {"epoch": 2, "phase": "gan", "d_accuracy": 0.7, "g_adversarial_weight": 0.02,
               "g_adversarial_to_content_grad_ratio": 0.25},
              {"epoch": 3, "phase": "gan", "d_accuracy": 0.9, "g_adversarial_weight": 0.04,
               "g_adversarial_to_content_grad_ratio": 0.35}]
    summary = quality.gan_epoch_summary(epochs)
    assert summary["d_accuracy"][0] == pytest.approx(0.8)
    assert summary["g_adversarial_to_content_grad_ratio"][0] == pytest.approx(0.3)
    assert quality.gan_epoch_summary(epochs[:1]) is None
    lines = quality.balance_table_lines([
        {"ratio": 1.0, "summary": None, "val": {}, "test": {"cc": 0.5}},
        {"ratio": 0.3, "summary": summary, "val": {"cc": 0.61, "nss": 1.5},
         "test": {"cc": 0.6, "nss": 1.4}, "best_epoch": 3, "val_cc_switch": 0.55,
         "val_cc_last": 0.61},
        {"ratio": None, "summary": None, "val": {"cc": 0.4}, "test": {}}])
    assert lines[2].startswith("| fixed |  |  |  |  |  |  | 0.4000 |")  # the fixed one first
    assert lines[3] == ("| r=0.3 | 0.8 ± 0.14 | 0.03 ± 0.014 | 0.3 ± 0.071 | 0.5500 | 0.6100 | 3 "
                        "| 0.6100 | 1.5000 | 0.6000 | 1.4000 |")  # then sorted by r
    assert lines[4].startswith("| r=1 |  |  |  |  |  |  |  |  | 0.5000 |")


def test_sweep_row_reads_validation_cc_at_the_switch_and_the_last_epoch(tmp_path):
    (tmp_path / "val_metrics.csv").write_text("epoch,phase,cc,nss\n1,bce,0.3,1.0\n"
                                              "2,bce,0.4,1.1\n3,gan,0.35,1.2\n")
    (tmp_path / "epochs.jsonl").write_text('{"epoch": 3, "phase": "gan", "d_accuracy": 0.7}\n')
    result = {"best_epoch": {"epoch": 2, "scores": {"cc": 0.4}}, "best": {"cc": 0.5}}
    row = quality._sweep_row(str(tmp_path), "gan4_r0.1", result, bootstrap_epochs=2)
    assert row["val_cc_switch"] == pytest.approx(0.4)
    assert row["val_cc_last"] == pytest.approx(0.35)
    assert (row["ratio"], row["best_epoch"]) == (0.1, 2)
    assert quality._sweep_row(str(tmp_path), "gan4", result, 7)["val_cc_switch"] is None
    assert quality._sweep_row(str(tmp_path), "gan4", result, 2)["ratio"] is None


def _args(**overrides):
    values = dict(bootstrap_epochs=2, branch_epochs=3, rows="gan4,bce4,mse", seeds=0,
                  balance_ratios="", seed_balance_ratio=0.0)
    values.update(overrides)
    return argparse.Namespace(**values)


def test_plan_per_seed_and_sweep(tmp_path):
    plan = quality._plan(str(tmp_path), _args(seeds=2, balance_ratios=".1,1"))
    assert [(pathlib.Path(i["group"]).name, i["name"]) for i in plan] == [
        ("seed0", "bootstrap"), ("seed0", "bce4"), ("seed0", "gan4"), ("seed0", "gan4_r0.1"),
        ("seed0", "gan4_r1"), ("seed1", "bootstrap"), ("seed1", "bce4"), ("seed1", "gan4")]
    assert plan[0]["flags"] == ["--seed=0", "--bce_epochs=2", "--gan_epochs=0"]
    sweep = plan[3]
    assert sweep["flags"] == ["--seed=0", "--bce_epochs=2", "--gan_epochs=3",
                              "--balance=adaptive", "--balance_ratio=0.1"]
    assert plan[6]["flags"] == ["--seed=1", "--bce_epochs=5", "--gan_epochs=0"]
    paired = quality._plan(str(tmp_path), _args(seeds=2, balance_ratios=".1,1",
                                                seed_balance_ratio=0.1))
    assert [(pathlib.Path(i["group"]).name, i["name"]) for i in paired] == [
        ("seed0", "bootstrap"), ("seed0", "bce4"), ("seed0", "gan4"), ("seed0", "gan4_r0.1"),
        ("seed0", "gan4_r1"), ("seed1", "bootstrap"), ("seed1", "bce4"), ("seed1", "gan4"),
        ("seed1", "gan4_r0.1")]  # the seed row on every seed, once on the first
    single = quality._plan(str(tmp_path), _args())
    assert [i["name"] for i in single] == ["bootstrap", "gan4", "bce4", "mse"]
    assert single[1]["flags"] == ["--bce_epochs=2", "--gan_epochs=3", "--balance=fixed"]
    assert single[3]["flags"][-2:] == ["--downsample=1", "--content_loss=mse"]


def test_remaining_work_and_estimate(tmp_path):
    plan = quality._plan(str(tmp_path), _args(rows="gan4,bce4"))
    assert quality.remaining_lines(plan, {}) == [
        "left to train (no estimate until an epoch of each phase has been timed):",
        f"  {tmp_path.name}/bootstrap: 2 BCE + 0 GAN epochs",
        f"  {tmp_path.name}/gan4: 0 BCE + 3 GAN epochs",
        f"  {tmp_path.name}/bce4: 3 BCE + 0 GAN epochs"]
    # The bootstrap done and gan4 one epoch in: 3 BCE + 2 GAN epochs left.
    for name, epochs in (("bootstrap", 2), ("gan4", 3)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "epochs.jsonl").write_text(
            "".join(json.dumps({"epoch": e + 1}) + "\n" for e in range(epochs)))
    lines = quality.remaining_lines(plan, {"bce": 60.0, "gan": 180.0})
    assert lines[0] == "left to train (about 9 min):"
    assert lines[1:] == [f"  {tmp_path.name}/gan4: 0 BCE + 2 GAN epochs",
                         f"  {tmp_path.name}/bce4: 3 BCE + 0 GAN epochs"]
    (tmp_path / "gan4" / "epochs.jsonl").write_text(
        "".join(json.dumps({"epoch": e + 1}) + "\n" for e in range(5)))
    (tmp_path / "bce4").mkdir()
    (tmp_path / "bce4" / "epochs.jsonl").write_text(
        "".join(json.dumps({"epoch": e + 1}) + "\n" for e in range(5)))
    assert quality.remaining_lines(plan, {}) == ["nothing left to train"]


def test_record_size_follows_a_larger_input():
    assert quality._record_resize(48, 64) == "128x96"
    assert quality._record_resize(96, 128) == "128x96"
    assert quality._record_resize(144, 192) == "192x144"

