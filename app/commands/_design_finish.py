"""The finalizing step of `edgeloop design`: finalists, pick, refit, test, C export, host-board validation,
design.json and report.html (see edgeloop.models.design.finalize for the rules)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeloop.models.design import adapter
from edgeloop.models.design.budgets import Budget, fmt_bytes
from edgeloop.models.design.compress import distillation_gain
from edgeloop.models.design.finalize import (
    PTQ_LOSS_LIMIT, baselines, compression_summary, evaluate_int8, finalists, pick, quantization_note, repeat_seeds,
)
from edgeloop.models.design.latency import LATENCY_LABEL, CostModel
from edgeloop.models.design.qat import apply_qat
from edgeloop.models.design.report import write_html, write_json_atomic
from edgeloop.models.design.search import SearchConfig, best_at_budgets, pareto_front, trial_rows

CHOSEN_NAME = "chosen"


def _validation_inputs(td: adapter.TaskData, family: str, params: dict[str, Any], model_dir: Path,
                       limit: int = 64) -> np.ndarray:
    """int8 test inputs of the exported model (quantized with its input scale), at most `limit`."""
    from edgeloop.models.design.finalize import _test_inputs
    from edgeloop.models.quantize import io_quant_params, quantize

    x, _ = _test_inputs(td, family, params, model_dir, CHOSEN_NAME)
    qp, _ = io_quant_params((model_dir / f"{CHOSEN_NAME}.tflite").read_bytes())
    return quantize(x[:limit], qp)


def finalize(td: adapter.TaskData, study: Any, rows: list[dict[str, Any]], cfg: SearchConfig, budget: Budget,
             costs: dict[str, CostModel], args: argparse.Namespace) -> dict[str, Any]:
    """Pick, refit, test, export, validate and write the reports; returns design.json's content.

    `costs`: the latency cost model of each kernel set; the chosen model compiles with the set its
    deployability check chose (the smallest that meets the latency limit, deploy.Sizer.check)."""
    from edgeloop.models.compiler import compile_file
    from edgeloop.models.design.deploy import Sizer

    out: Path = args.out
    t0 = time.monotonic()
    final = repeat_seeds(td, finalists(rows, args.tolerance, args.finalists), cfg, args.seeds)
    chosen_row = pick(final, args.tolerance)
    family, params = chosen_row["family"], chosen_row["params"]
    pruning = _channel_pruning(td, chosen_row, cfg, budget, costs, args)
    if pruning.get("applied"):
        params = pruning["params_after"]
    # the kernel set of the (pruned) recipe: sized as deployed (a prune_keep recipe at its pruned width(s))
    deployable = Sizer(td, budget, costs).check(family, adapter.deployed_params(params))
    kernel_set, cost = deployable.kernel_set, costs[deployable.kernel_set]
    student = dict(chosen_row, params=params,
                   flash_bytes=pruning.get("flash_bytes_after", chosen_row["flash_bytes"]))
    distill = (distillation_gain(td, rows, student, cfg) if args.distill
               else {"applied": td.teacher is not None,
                     "why": f"every candidate learnt from --teacher {td.teacher}" if td.teacher is not None
                     else "skipped (--no-distill)"})
    teacher = _export_teacher(td, distill, out, args.seed, cfg.epochs)
    model_dir = out / CHOSEN_NAME
    req = adapter.train_request(td, family, params, model_dir, args.seed, cfg.epochs, name=CHOSEN_NAME,
                                teacher=teacher, kernels=kernel_set)
    print(f"chosen: trial {chosen_row['number']} ({family}, {fmt_bytes(chosen_row['flash_bytes'])}); refitting: "
          f"{req.command()}", flush=True)
    report = adapter.refit(req)
    test = evaluate_int8(td, family, params, model_dir, CHOSEN_NAME)
    quant = quantization_note(report)
    if quant["ptq_loss_points"] > PTQ_LOSS_LIMIT:
        print(f"int8 loses {quant['ptq_loss_points']:.1f} points against float: quantization-aware fine-tuning",
              flush=True)
        quant.update(apply_qat(td, family, params, model_dir, CHOSEN_NAME, args.seed))
        if quant["qat_applied"]:
            before = test["window_accuracy"]
            test = evaluate_int8(td, family, params, model_dir, CHOSEN_NAME)
            quant["int8_test_accuracy_before_qat"], quant["int8_test_accuracy_after_qat"] = before, \
                test["window_accuracy"]
    compiled = compile_file(model_dir / f"{CHOSEN_NAME}.tflite", model_dir / "c", name=CHOSEN_NAME, kernels=kernel_set)
    validation: dict[str, Any] | None = None
    if not args.no_validate:
        from edgeloop.app.commands._design_target import validate_on_host_board

        validation = validate_on_host_board(model_dir / "c", model_dir / f"{CHOSEN_NAME}.tflite",
                                            _validation_inputs(td, family, params, model_dir))
        if not validation["bit_exact"]:
            raise RuntimeError(f"the compiled model differs from TFLite Micro on the host board: {validation}")
    flash, ram = budget.usage(compiled.flash_bytes, compiled.arena_bytes, compiled.const_bytes)
    chosen = {
        "trial": chosen_row["number"], "family": family,
        "recipe": {"family": family, "params": params, "task": td.task, "seed": args.seed, "epochs": cfg.epochs,
                   "kernels": kernel_set, "command": req.command(), "recipe_json": req.recipe().recipe_json(),
                   "file": str(model_dir / f"{CHOSEN_NAME}.recipe.json")},
        "cv_accuracy": chosen_row["cv_mean"], "cv_spread": chosen_row["cv_seed_spread"],
        "cv_of": ("the unpruned recipe (the pruned model's CV, pruned and fine-tuned per fold: "
                  "compression.channel_pruning.cv_accuracy_after)" if pruning.get("applied") else "the recipe"),
        "seeds": len(chosen_row["seed_means"]),
        "test_accuracy": test["window_accuracy"], "test_window_accuracy": test["window_accuracy"],
        "test_recording_accuracy": test.get("recording_accuracy"),
        "float_test_accuracy": report["float"].get("accuracy"),
        "flash_bytes": flash, "ram_bytes": ram, "macc": compiled.macc,
        "latency_ms_estimate": cost.milliseconds(compiled.graph, budget.clock_hz),
        "latency_label": LATENCY_LABEL, "kernel_set": kernel_set,
        "kernel_set_rule": {"latency_limit_ms": deployable.latency_limit_ms,
                            "latency_limit_source": deployable.latency_limit_source,
                            "variants": deployable.variants},
        "confusion": test["confusion"], "recordings": test.get("recordings", []),
        "quantization": quant, "validation": validation,
        "files": {"model_dir": str(model_dir), "c": str(model_dir / "c")},
    }
    all_rows = trial_rows(study)
    design = {
        "task": td.task, "labels": td.labels, "data": [str(p) for p in td.data], "data_fingerprint": td.fingerprint,
        "budget": budget.to_json(), "budget_text": budget.describe(),
        "counts": _counts(all_rows), "chosen": chosen,
        "finalists": [{k: f[k] for k in ("number", "family", "params", "flash_bytes", "cv_mean", "cv_seed_spread",
                                         "seed_means")} for f in final],
        "pareto": [_brief(r) for r in pareto_front(all_rows)],
        "best_accuracy_at_flash": {str(k): v for k, v in best_at_budgets(all_rows).items()},
        "baselines": baselines(td, family, params),
        "latency_model": {"label": LATENCY_LABEL, "held_out_error": cost.held_out_error, "stale": cost.stale,
                          "kernel_set": kernel_set,
                          "by_kernel_set": {k: {"held_out_error": c.held_out_error, "stale": c.stale}
                                            for k, c in costs.items()}},
        "compression": compression_summary(family, quant, distill, pruning),
        "trials": all_rows, "finalize_seconds": round(time.monotonic() - t0, 1),
    }
    write_json_atomic(out / "design.json", design)
    write_html(out / "report.html", design)
    rec = (f", per recording {100 * chosen['test_recording_accuracy']:.1f} %"
           if chosen["test_recording_accuracy"] is not None else "")
    print(f"chosen model: CV {100 * chosen['cv_accuracy']:.2f} ± {100 * chosen['cv_spread']:.2f} %, test "
          f"{100 * chosen['test_accuracy']:.2f} % (int8){rec}; flash {fmt_bytes(flash)}, RAM {fmt_bytes(ram)} "
          f"({kernel_set} kernels), "
          f"~{chosen['latency_ms_estimate']:.3f} ms (estimate from emulated instructions)")
    if validation:
        print(f"host board: {validation['samples']} test inputs bit-exact with TFLite Micro")
    print(f"wrote {out / 'design.json'}, {out / 'report.html'}, {model_dir}/ (model files, c/)")
    return design


def _export_teacher(td: adapter.TaskData, distill: dict[str, Any], out: Path, seed: int,
                    epochs: int) -> Path | None:
    """Where distillation pays, train the teacher's recipe into out/teacher and return its model, which the
    chosen recipe then names (`teacher`); None elsewhere. Updates `distill` with what was done."""
    if not distill.get("pays"):
        return None
    number = distill["teacher_trial"]
    req = adapter.train_request(td, distill["teacher_family"], distill["teacher_params"], out / "teacher", seed,
                                epochs, name="teacher")
    print(f"distillation pays: exporting the teacher (trial {number}): {req.command()}", flush=True)
    adapter.refit(req)
    distill["applied"] = True
    distill["teacher_recipe"] = req.command()
    distill["why"] = (f"pays: the chosen model is distilled from trial {number} (exported to "
                      f"{out / 'teacher'}; the chosen recipe names it as its teacher)")
    return out / "teacher" / "teacher.keras"


def _channel_pruning(td: adapter.TaskData, chosen_row: dict[str, Any], cfg: SearchConfig, budget: Budget,
                     costs: dict[str, CostModel], args: argparse.Namespace) -> dict[str, Any]:
    """Measure structured channel pruning of the chosen candidate across the CV folds (pruning.py)."""
    if not args.prune:
        return {"applied": False, "pays": False, "why": "skipped (--no-prune)"}
    from edgeloop.models.design.deploy import Sizer
    from edgeloop.models.design.pruning import pruning_gain

    result = pruning_gain(td, chosen_row, cfg, Sizer(td, budget, costs))
    print(f"channel pruning: {result['why']}", flush=True)
    return result


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("number", "family", "params", "flash_bytes", "ram_bytes", "latency_ms_estimate",
                                  "kernel_set", "cv_accuracy", "cv_spread")}


def _counts(rows: list[dict[str, Any]]) -> str:
    by: dict[str, int] = {}
    for r in rows:
        by[r["status"]] = by.get(r["status"], 0) + 1
    return f"{len(rows)} trials: " + ", ".join(f"{v} {k}" for k, v in sorted(by.items()))
