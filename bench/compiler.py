"""Model compiler: instructions per MAC on Cortex-M7 (QEMU -icount), RAM and flash vs TFLite Micro.

For standard layers at TinyML sizes (3x3 conv, 1x1 conv, 3x3 depthwise, fully
connected), the layers of the bottle classifiers' plain CNNs (build_image_cnn at
the "demo" 96x96 and "tiny" 64x64 presets: 3x3 convolutions and 2x2 max pools on
a grayscale image) alone and as whole Keras models (int8 post-training quantization with
random representative data), two conv-heavy CNNs of the compiler's test corpus
and the bundled zoo models (models/zoo/*/*.tflite, int8 only):

- the MLPerf Tiny reference networks (bench/reference_networks.py: ResNet-8, MobileNetV1-0.25,
  DS-CNN, FC autoencoder), with `--profile` per operator;
- instructions per inference and per MAC with the reference and the optimized
  (DSP) kernels, counted by QEMU under -icount shift=0 (emulated instruction
  counts, 40-instruction resolution; not CPU cycles), after checking that the
  outputs equal TFLite Micro's;
- our planned arena vs TFLite Micro's smallest working arena;
- weights+params (const data) vs the flatbuffer, and the Cortex-M7 -Os flash
  of model + kernels (arm-none-eabi-size).

    python bench/compiler.py [--json] [--no-qemu]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

import edgeloop
from edgeloop import require
from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.analyze import arm_sizes
from edgeloop.models.compiler.harness import harness_source, parse_result, parse_step_ticks
from edgeloop.models.compiler.host import kernel_sources
from edgeloop.models.compiler.tflite_writer import ModelBuilder
from edgeloop.models.reference import run_reference_batch, tflm_arena_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference_networks import reference_networks  # noqa: E402  (bench/ is not a package)

from edgeloop.app.link.qemu import INSTRUCTIONS_PER_TICK  # noqa: E402  (bare-metal runs have no INFO)


def _conv_layer(h: int, w: int, cin: int, cout: int, k: int, depthwise: bool, seed: int,
                stride: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    s_in = 0.05
    x = b.tensor((1, h, w, cin), scale=s_in, zero_point=-10)
    if depthwise:
        wv = rng.integers(-127, 128, (1, k, k, cout)).astype(np.int8)
        ws = list(rng.uniform(0.002, 0.01, cout))
        wt = b.tensor(wv.shape, scale=ws, axis=3, data=wv)
        s_out = s_in * 0.006 * k * 12
    else:
        wv = rng.integers(-127, 128, (cout, k, k, cin)).astype(np.int8)
        ws = list(rng.uniform(0.002, 0.01, cout))
        wt = b.tensor(wv.shape, scale=ws, axis=0, data=wv)
        s_out = s_in * 0.006 * np.sqrt(k * k * cin) * 12
    bt = b.tensor((cout,), "int32", scale=[s_in * v for v in ws],
                  data=rng.integers(-2000, 2000, cout).astype(np.int32))
    oh, ow = -(-h // stride), -(-w // stride)
    y = b.tensor((1, oh, ow, cout), scale=float(s_out), zero_point=-128)
    opts = dict(padding="SAME", stride_w=stride, stride_h=stride, activation="RELU")
    if depthwise:
        b.op("DEPTHWISE_CONV_2D", [x, wt, bt], [y], "DepthwiseConv2DOptions", depth_multiplier=1, **opts)
    else:
        b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", **opts)
    return b.build([x], [y])


def _fc_layer(n_in: int, n_out: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.tensor((1, n_in), scale=0.05, zero_point=3)
    wv = rng.integers(-127, 128, (n_out, n_in)).astype(np.int8)
    wt = b.tensor(wv.shape, scale=[0.004], data=wv)
    bt = b.tensor((n_out,), "int32", scale=[0.0002], data=rng.integers(-2000, 2000, n_out).astype(np.int32))
    y = b.tensor((1, n_out), scale=float(0.05 * 0.004 * np.sqrt(n_in) * 12), zero_point=0)
    b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", activation="RELU")
    return b.build([x], [y])


def _max_pool_layer(h: int, w: int, c: int, seed: int) -> bytes:
    """MAX_POOL_2D 2x2 stride 2 (VALID), input and output sharing quantization."""
    zp = int(np.random.default_rng(seed).integers(-128, -100))
    b = ModelBuilder()
    x = b.tensor((1, h, w, c), scale=0.05, zero_point=zp)
    y = b.tensor((1, h // 2, w // 2, c), scale=0.05, zero_point=zp)
    b.op("MAX_POOL_2D", [x], [y], "Pool2DOptions", padding="VALID", stride_w=2, stride_h=2,
         filter_w=2, filter_h=2, activation="NONE")
    return b.build([x], [y])


# The plain CNNs are the zoo's bottle classifiers: build_image_cnn at the "demo" and "tiny" presets.
PLAIN_PRESETS = ("demo", "tiny")


def _plain_cnn_keras(name: str):
    """The preset's Keras model (5 classes, grayscale), built by the training code itself."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edgeloop.models.train.families import IMAGE_PRESETS, build_image_cnn

    pre = IMAGE_PRESETS[name]
    return build_image_cnn(pre.input_size, 1 if pre.color == "gray" else 3, 5, width=pre.width, depth=pre.depth,
                           max_channels=pre.max_channels, name=f"plain_{name}")


def _plain_cnn_layer_list(name: str) -> list[tuple]:
    """("conv", h_in, c_in, c_out, stride) / ("pool", h_in, c) / ("fc", n_in, n_out) of the preset's model."""
    layers = []
    for layer in _plain_cnn_keras(name).layers:
        kind = type(layer).__name__
        shape = layer.input.shape if kind in ("Conv2D", "MaxPooling2D", "Dense") else None
        if kind == "Conv2D":
            layers.append(("conv", shape[1], shape[3], layer.filters, layer.strides[0]))
        elif kind == "MaxPooling2D":
            layers.append(("pool", shape[1], shape[3]))
        elif kind == "Dense":
            layers.append(("fc", shape[1], layer.units))
    return layers


def plain_cnn_layers() -> dict[str, bytes]:
    """Every layer of the plain CNNs alone (conv, max pool, FC), as the whole models run them."""
    layers = {}
    for name in PLAIN_PRESETS:
        i = -1
        for spec in _plain_cnn_layer_list(name):
            if spec[0] == "conv":
                i += 1
                _, h, c, oc, stride = spec
                layers[f"{name}/L{i}_conv3x3_s{stride}_{h}x{h}x{c}to{oc}"] = _conv_layer(h, h, c, oc, 3, False,
                                                                                        10 + i, stride)
            elif spec[0] == "pool":
                _, h, c = spec
                layers[f"{name}/L{i}_maxpool_{h}x{h}x{c}"] = _max_pool_layer(h, h, c, 20 + i)
            else:
                _, n_in, n_out = spec
                layers[f"{name}/fc_{n_in}to{n_out}"] = _fc_layer(n_in, n_out, 30)
    return layers


def plain_cnn_models() -> dict[str, bytes]:
    """The plain CNNs as whole Keras models, int8 post-training quantized (random weights and data)."""
    tf = require("tensorflow", needed_for="this benchmark")

    from edgeloop.models.quantize import to_tflite_int8

    models = {}
    for name in PLAIN_PRESETS:
        tf.keras.utils.set_random_seed(7)
        model = _plain_cnn_keras(name)
        size = model.input.shape[1]
        rep = np.random.default_rng(8).uniform(0, 1, (64, size, size, model.input.shape[3])).astype(np.float32)
        models[f"plain/{name}"] = to_tflite_int8(model, rep)
    return models


def standard_layers() -> dict[str, bytes]:
    """The reference layers, at sizes typical of MCU vision/IMU models."""
    return {
        "conv3x3_16x16x16to16": _conv_layer(16, 16, 16, 16, 3, False, 1),
        "conv3x3_16x16x32to32": _conv_layer(16, 16, 32, 32, 3, False, 5),
        "conv1x1_16x16x32to32": _conv_layer(16, 16, 32, 32, 1, False, 2),
        "dwconv3x3_32x32x32": _conv_layer(32, 32, 32, 32, 3, True, 3),
        "dwconv3x3_s2_48x48x16": _conv_layer(48, 48, 16, 16, 3, True, 6, stride=2),   # MobileNet's stride 2
        "dwconv3x3_25x5x64": _conv_layer(25, 5, 64, 64, 3, True, 7),   # DS-CNN's tall, narrow map
        "dwconv3x3_3x3x256": _conv_layer(3, 3, 256, 256, 3, True, 8),   # MobileNet's last depthwise (path MAP3)
        "fc_256to64": _fc_layer(256, 64, 4),
    }


def zoo_models() -> dict[str, bytes]:
    """Every int8 .tflite of the zoo that the compiler accepts."""
    models = {}
    for path in sorted((edgeloop.PACKAGE_ROOT / "models" / "zoo").glob("*/*.tflite")):
        data = path.read_bytes()
        try:
            compile_bytes(data, name="probe")
        except ValueError:
            continue  # float reference models and the like
        models[f"zoo/{path.parent.name}/{path.stem}"] = data
    return models


def corpus_cnns() -> dict[str, bytes]:
    """Two conv-heavy random Keras CNNs of the test corpus (present in a source checkout)."""
    fixtures = edgeloop.PACKAGE_ROOT / "tests" / "compiler" / "fixtures"
    return {f"cnn/{stem}": (fixtures / f"{stem}.tflite").read_bytes()
            for stem in ("random_20", "random_21") if (fixtures / f"{stem}.tflite").is_file()}


def qemu_instructions(name: str, tflite: bytes, work: Path, profile: bool = False) -> dict:
    """Instructions of one inference with reference and optimized kernels (outputs checked vs TFLM);
    with `profile`, also the optimized build's instructions per step (key "steps")."""
    from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal

    cname = "bench_model"
    result = compile_bytes(tflite, name=cname, wide_weights=wide_policy(name))
    d = work / name.replace("/", "_")
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{cname}.c").write_text(result.c_source)
    (d / f"{cname}.h").write_text(result.h_source)
    t = result.graph.model.tensors[result.graph.input]
    rng = np.random.default_rng(0)
    if t.type_code == 0:
        xs = rng.normal(0, 1, (1, *t.shape)).astype(np.float32)
    else:
        xs = rng.integers(-128, 128, (1, *t.shape), dtype=np.int8)
    expected = run_reference_batch(tflite, xs)
    # with `profile`, the model's step-observing twin (invoke_steps, as the PROFILE request) times every step
    main = harness_source(cname, xs, expected, repeats=2, step_ticks=len(result.graph.steps) if profile else 0)
    (d / "main.c").write_text(main)
    sources = [d / "main.c", d / f"{cname}.c", *kernel_sources()]
    out: dict = {}
    for variant, flags in (("ref", ["-DNN_OPTIMIZED=0"]), ("opt", [])):
        if profile and variant == "ref":
            continue
        elf = build_bare_metal(sources, d / variant, includes=[d], name=cname, extra_cflags=flags)
        run = run_bare_metal(elf, timeout=600).check()
        res = parse_result(run.output)
        if res["mismatches"]:
            raise RuntimeError(f"{name}: {variant} kernels differ from TFLite Micro under QEMU")
        out[variant] = res["ticks_min"] * INSTRUCTIONS_PER_TICK
        if profile:
            out["steps"] = [_step_row(s, t * INSTRUCTIONS_PER_TICK)
                            for s, t in zip(result.graph.steps, parse_step_ticks(run.output))]
    return out


def _step_row(step, instructions: int) -> dict:
    """One per-operator row: operator, shapes, MACs, instructions, per MAC (or per output element)."""
    from edgeloop.models.compiler.kernel_facts import add_path, conv_facts, fc_facts

    row = {"op": step.op, "in": list(step.in_shapes[0]) if step.in_shapes else [], "out": list(step.out_shape),
           "macc": step.macc, "instructions": instructions}
    if step.kernel in ("nn_conv2d_s8", "nn_depthwise_conv2d_s8"):
        row["path"] = conv_facts(step.params, step.consts["shift"].tolist(),
                                 depthwise=step.kernel == "nn_depthwise_conv2d_s8", bias=step.consts.get("bias"))[0]
    elif step.kernel == "nn_fc_s8":
        row["path"] = fc_facts(step.params, step.consts["shift"].tolist())[0]
    elif step.kernel == "nn_add_s8":
        row["path"] = add_path(step.params)
    if step.macc and step.kernel in ("nn_conv2d_s8", "nn_depthwise_conv2d_s8", "nn_fc_s8"):
        row["instr_per_mac"] = round(instructions / step.macc, 3)
    else:
        elements = int(np.prod(step.in_shapes[0])) if step.in_shapes else 0
        row["instr_per_input_element"] = round(instructions / elements, 3) if elements else None
        row["instr_per_output_element"] = round(instructions / max(int(np.prod(step.out_shape)), 1), 3)
    return row


def wide_policy(name: str) -> str:
    """The reference networks may widen weights up to TFLite Micro's arena (issue 18); the rest never grow it."""
    return "tflm" if name.startswith("net/") else "free"


def measure(name: str, tflite: bytes, work: Path, qemu: bool, profile: bool = False) -> dict:
    result = compile_bytes(tflite, name="bench_model", wide_weights=wide_policy(name))
    row: dict = {
        "macc": result.macc,
        "arena_bytes": result.arena_bytes,
        "tflm_arena_bytes": tflm_arena_bytes(tflite),
        "bound_bytes": result.plan.lower_bound,
        "weights_params_bytes": result.const_bytes,
        "flatbuffer_bytes": len(tflite),
    }
    arm = arm_sizes(result)
    if arm:
        row["m7_flash_bytes"] = arm["flash"]
    if qemu:
        instr = qemu_instructions(name, tflite, work)
        row["instructions_ref"] = instr["ref"]
        row["instructions_opt"] = instr["opt"]
        if result.macc:
            row["instr_per_mac_ref"] = round(instr["ref"] / result.macc, 3)
            row["instr_per_mac_opt"] = round(instr["opt"] / result.macc, 3)
        if profile:
            row["steps"] = qemu_instructions(name, tflite, work / "profile", profile=True)["steps"]
    return row


def network_row(row: dict) -> dict:
    """The `networks` entry of a reference network: the issue's keys."""
    out = {k: row[k] for k in ("macc", "arena_bytes", "tflm_arena_bytes", "bound_bytes")}
    if "instr_per_mac_opt" in row:
        out["instr_per_mac"] = row["instr_per_mac_opt"]
        out["instr_per_mac_ref"] = row["instr_per_mac_ref"]
    if "steps" in row:
        out["steps"] = row["steps"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object of the figures last")
    parser.add_argument("--no-qemu", action="store_true", help="skip the instruction counts")
    parser.add_argument("--only", metavar="PREFIX", default="",
                        help="measure only the entries whose name starts with PREFIX (e.g. plain/, net/resnet8)")
    parser.add_argument("--profile", action="store_true",
                        help="also time every operator of the reference networks (net/), optimized kernels")
    args = parser.parse_args(argv)
    qemu = not args.no_qemu and shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")
    models: dict[str, bytes] = {}
    sources = ((standard_layers, ("",)), (plain_cnn_layers, ("demo/", "tiny/")), (plain_cnn_models, ("plain/",)),
               (corpus_cnns, ("cnn/",)), (zoo_models, ("zoo/",)),
               (lambda: reference_networks(args.only), ("net/",)))
    for source, prefixes in sources:
        # Keras and the zoo cost seconds: build only the sources that --only can select from
        if any(p.startswith(args.only) or args.only.startswith(p) for p in prefixes):
            models.update((k, v) for k, v in source().items() if k.startswith(args.only))
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="edgeloop-bench-") as tmp:
        for name, data in models.items():
            figures[name] = measure(name, data, Path(tmp), bool(qemu), args.profile and name.startswith("net/"))
            r = figures[name]
            print(f"{name:40s} MACs {r['macc']:>9,}  arena {r['arena_bytes']:>7,} B (TFLM {r['tflm_arena_bytes']:>7,})"
                  f"  weights+params {r['weights_params_bytes']:>7,} B (flatbuffer {r['flatbuffer_bytes']:>7,})"
                  + (f"  instr/MAC ref {r['instr_per_mac_ref']:.2f} opt {r['instr_per_mac_opt']:.2f}"
                     if "instr_per_mac_opt" in r else ""), flush=True)
            for i, s in enumerate(r.get("steps", [])):
                per = (f"{s['instr_per_mac']:.2f}/MAC" if "instr_per_mac" in s
                       else f"{s['instr_per_input_element']}/in-element")
                print(f"    {i:2d} {s['op']:18s} {str(s['in']):18s}-> {str(s['out']):18s} {s.get('path', ''):12s}"
                      f" {s['instructions']:>10,} instr  {per}", flush=True)
    networks = {name[len("net/"):]: network_row(r) for name, r in figures.items() if name.startswith("net/")}
    if not args.only or "import/".startswith(args.only):
        from compiler_imports import import_figures  # import rows: one per source format (issue 17)

        with tempfile.TemporaryDirectory(prefix="edgeloop-bench-import-") as tmp:
            imports = import_figures(Path(tmp), bool(qemu))
    else:
        imports = {}
    summary = {
        "source": "emulated instruction counts (qemu-system-arm -icount shift=0, mps2-an500 Cortex-M7)"
        if qemu else "no QEMU run",
        "networks": networks,
        "models": {k: {f: v for f, v in r.items() if f != "steps"} for k, r in figures.items()},
        "imports": imports,
        "arena_le_tflm_all": all(r["arena_bytes"] <= r["tflm_arena_bytes"] for r in figures.values()),
        "weights_le_flatbuffer_all": all(r["weights_params_bytes"] <= r["flatbuffer_bytes"]
                                         for r in figures.values()),
    }
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
