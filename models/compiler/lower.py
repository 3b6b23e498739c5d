"""Lowering: each TFLite operator becomes one kernel call with precomputed integer parameters.

Every check that TFLite Micro's Prepare() would make is made here, at compile
time, and failures name the operator, its index and what is supported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edgeloop.models.compiler.errors import UnsupportedError
from edgeloop.models.compiler.quant import (
    activation_range,
    input_radius,
    quantize_multiplier,
    wrap_int32,
)
from edgeloop.models.compiler.kernel_facts import add_rescale_table, depthwise_in_place
from edgeloop.models.compiler.scratch import conv_scratch_bytes, depthwise_scratch_bytes, fc_scratch_bytes
from edgeloop.models.compiler.tflite_reader import Operator, Tensor, TFLiteModel, schema
from edgeloop.models.quantization import round_half_away_int

SUPPORTED_OPS = (
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN",
    "ADD", "MUL", "RESHAPE", "SQUEEZE", "EXPAND_DIMS", "SOFTMAX", "LOGISTIC", "PAD", "PADV2",
    "CONCATENATION", "RELU", "RELU6", "QUANTIZE", "DEQUANTIZE",
    "SPACE_TO_BATCH_ND + CONV_2D/DEPTHWISE_CONV_2D + BATCH_TO_SPACE_ND (as a dilated convolution)",
)
ACTIVATION_NAMES = {v: k for k, v in vars(schema.ActivationFunctionType).items() if isinstance(v, int)}
INT8, FLOAT32, INT32 = schema.TensorType.INT8, schema.TensorType.FLOAT32, schema.TensorType.INT32


@dataclass
class Step:
    """One kernel call of the compiled model."""

    index: int                       # operator index in the .tflite subgraph
    op: str                          # TFLite operator name
    kernel: str                      # C function called
    struct: str | None               # C parameter struct type (None: no struct)
    params: dict[str, object]        # struct fields: ints, floats, lists, or const-array names
    inputs: list[int]                # activation tensors read (graph tensor indices)
    output: int                      # tensor written
    consts: dict[str, np.ndarray] = field(default_factory=dict)  # arrays the params point to
    const_inputs: dict[int, str] = field(default_factory=dict)   # input position -> const array
    in_place: tuple[int, ...] = ()   # inputs whose storage the output may reuse
    alias: bool = False              # RESHAPE-like: output may share the input's storage
    macc: int = 0
    scratch_bytes: int = 0
    out_shape: tuple[int, ...] = ()
    in_shapes: list[tuple[int, ...]] = field(default_factory=list)


@dataclass
class LoweredGraph:
    model: TFLiteModel
    steps: list[Step]
    input: int
    output: int


def _err(op: Operator, msg: str) -> UnsupportedError:
    return UnsupportedError(f"operator {op.index} ({op.name}): {msg}")


def _tensor(model: TFLiteModel, op: Operator, pos: int, role: str) -> Tensor:
    if pos >= len(op.inputs) or op.inputs[pos] < 0:
        raise _err(op, f"missing its {role} input")
    return model.tensors[op.inputs[pos]]


def _qparams(op: Operator, t: Tensor, role: str) -> tuple[float, int]:
    if t.quant is None:
        raise _err(op, f"{role} tensor {t.name!r} has no quantization parameters; the compiler needs a "
                       "fully int8-quantized model (converter: optimizations=[DEFAULT], a representative "
                       "dataset and supported_ops=[TFLITE_BUILTINS_INT8])")
    if not t.quant.per_tensor:
        raise _err(op, f"{role} tensor {t.name!r} is quantized per axis; only weights may be")
    _check_scales(op, t, role)
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def _check_scales(op: Operator, t: Tensor, role: str) -> None:
    """Quantized tensors need finite scales > 0 (a corrupt file can hold NaN, 0 or inf)."""
    bad = [float(s) for s in t.quant.scale if not (np.isfinite(s) and s > 0)]
    if bad:
        raise _err(op, f"{role} tensor {t.name!r} has quantization scale {bad[0]}; scales must be finite "
                       "and > 0: the file is corrupt")


def _require_int8(op: Operator, t: Tensor, role: str) -> None:
    if t.type_code != INT8:
        raise _err(op, f"{role} tensor {t.name!r} is {t.dtype_name}; supported: int8 activations "
                       "(float32 only at QUANTIZE inputs and DEQUANTIZE outputs)")


def _activation(op: Operator, code: int, scale: float, zp: int) -> tuple[int, int]:
    if code not in (0, 1, 2, 3):
        raise _err(op, f"fused activation {ACTIVATION_NAMES.get(code, code)} is not supported; "
                       "supported: NONE, RELU, RELU6, RELU_N1_TO_1")
    return activation_range(code, scale, zp)


def _pad_4d(shape: tuple[int, ...]) -> list[int]:
    if len(shape) > 4:
        raise UnsupportedError(f"rank {len(shape)} > 4")
    return [1] * (4 - len(shape)) + list(shape)


def _padding(op: Operator, padding: int, in_size: int, k: int, stride: int, dil: int, out_size: int) -> int:
    eff = (k - 1) * dil + 1
    if padding == 0:  # SAME
        expected = (in_size + stride - 1) // stride
    elif padding == 1:  # VALID
        expected = (in_size + stride - eff) // stride
    else:
        raise _err(op, f"padding type {padding} is not supported; supported: SAME, VALID")
    if expected != out_size:
        raise _err(op, f"output size {out_size} does not match {('SAME', 'VALID')[padding]} padding "
                       f"of input {in_size} with kernel {k}, stride {stride}, dilation {dil} "
                       f"(expected {expected}); the file is inconsistent")
    if padding == 1:
        return 0
    return max((out_size - 1) * stride + eff - in_size, 0) // 2


def _multipliers(op: Operator, s_in: float, w: Tensor, s_out: float, channels: int) -> tuple[np.ndarray, np.ndarray, int]:
    q = w.quant
    if q is None:
        raise _err(op, f"weights {w.name!r} are not quantized")
    if np.any(q.zero_point != 0):
        raise _err(op, f"weights {w.name!r} have a non-zero zero point; int8 weights must be symmetric")
    _check_scales(op, w, "weights")
    scales = [float(s) for s in q.scale]
    if len(scales) not in (1, channels):
        raise _err(op, f"weights {w.name!r} have {len(scales)} scales for {channels} output channels")
    pairs = [quantize_multiplier(s_in * s_w / s_out) for s_w in scales]
    mult = np.array([m for m, _ in pairs], np.int32)
    shift = np.array([s for _, s in pairs], np.int32)
    return mult, shift, int(len(scales) > 1)


def _bias(op: Operator, model: TFLiteModel, pos: int, channels: int) -> np.ndarray | None:
    if pos >= len(op.inputs) or op.inputs[pos] < 0:
        return None
    b = model.tensors[op.inputs[pos]]
    if b.data is None:
        raise _err(op, f"bias {b.name!r} is not constant")
    if b.type_code != INT32:
        raise _err(op, f"bias {b.name!r} is {b.dtype_name}; supported: int32")
    if b.size != channels:
        raise _err(op, f"bias {b.name!r} has {b.size} entries for {channels} channels")
    return b.data.reshape(-1).astype(np.int32)


@dataclass
class _Dilation:
    """SPACE_TO_BATCH_ND -> conv -> BATCH_TO_SPACE_ND, folded into one dilated convolution."""

    x: Tensor
    y: Tensor
    dil_h: int
    dil_w: int
    pad_top: int
    pad_left: int


def _conv_like(model: TFLiteModel, op: Operator, depthwise: bool, fused: _Dilation | None = None) -> Step:
    x = _tensor(model, op, 0, "input") if fused is None else fused.x
    w = _tensor(model, op, 1, "filter")
    y = model.tensors[op.outputs[0]] if fused is None else fused.y
    for t, role in ((x, "input"), (w, "filter"), (y, "output")):
        _require_int8(op, t, role)
    if w.data is None:
        raise _err(op, "the filter is not a constant tensor")
    if len(x.shape) != 4 or len(w.shape) != 4 or len(y.shape) != 4:
        raise _err(op, f"expects 4-D input/filter/output, got {x.shape}, {w.shape}, {y.shape}")
    s_in, zp_in = _qparams(op, x, "input")
    s_out, zp_out = _qparams(op, y, "output")
    n, ih, iw, ic = x.shape
    _, oh, ow, oc = y.shape
    if depthwise:
        o = op.options(schema.DepthwiseConv2DOptions)
        padding, stride_w, stride_h = o.Padding(), o.StrideW(), o.StrideH()
        act, dil_w, dil_h = o.FusedActivationFunction(), o.DilationWFactor(), o.DilationHFactor()
        _, kh, kw, wc = w.shape
        if wc != oc or oc % ic:
            raise _err(op, f"filter {w.shape} does not match input channels {ic} / output channels {oc}")
        mult_d = oc // ic
        weights = w.data.astype(np.int8).reshape(-1)
        macc = n * oh * ow * oc * kh * kw
    else:
        o = op.options(schema.Conv2DOptions)
        padding, stride_w, stride_h = o.Padding(), o.StrideW(), o.StrideH()
        act, dil_w, dil_h = o.FusedActivationFunction(), o.DilationWFactor(), o.DilationHFactor()
        wo, kh, kw, wi = w.shape
        if wo != oc:
            raise _err(op, f"filter has {wo} output channels but the output has {oc}")
        if wi != ic:
            raise _err(op, f"grouped convolution (filter depth {wi}, input depth {ic}) is not supported")
        mult_d = 1
        weights = w.data.astype(np.int8).reshape(-1)
        macc = n * oh * ow * oc * kh * kw * ic
    if min(stride_h, stride_w, dil_h, dil_w) < 1:
        raise _err(op, f"invalid stride {stride_h}x{stride_w} or dilation {dil_h}x{dil_w}")
    if y.shape[0] != n:
        raise _err(op, f"batch {n} in, {y.shape[0]} out")
    if fused is None:
        pad_top = _padding(op, padding, ih, kh, stride_h, dil_h, oh)
        pad_left = _padding(op, padding, iw, kw, stride_w, dil_w, ow)
    else:
        if padding != 1 or (stride_h, stride_w, dil_h, dil_w) != (1, 1, 1, 1):
            raise _err(op, "between SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND only a VALID, stride-1, "
                           "undilated convolution can be folded into a dilated one")
        dil_h, dil_w, pad_top, pad_left = fused.dil_h, fused.dil_w, fused.pad_top, fused.pad_left
    mult, shift, per_channel = _multipliers(op, s_in, w, s_out, oc)
    bias = _bias(op, model, 2, oc)
    act_min, act_max = _activation(op, act, s_out, zp_out)
    consts = {"weights": weights, "mult": mult, "shift": shift}
    if bias is not None:
        consts["bias"] = bias
    params = dict(
        batches=n, in_h=ih, in_w=iw, in_c=ic, out_h=oh, out_w=ow, out_c=oc, k_h=kh, k_w=kw,
        stride_h=stride_h, stride_w=stride_w, dil_h=dil_h, dil_w=dil_w, pad_top=pad_top,
        pad_left=pad_left, depth_mult=mult_d, in_offset=-zp_in, out_offset=zp_out,
        act_min=act_min, act_max=act_max, weights="weights", bias="bias" if bias is not None else None,
        mult="mult", shift="shift", per_channel=per_channel, wide_weights=0,
    )
    scratch = depthwise_scratch_bytes(params, shift) if depthwise else conv_scratch_bytes(params, shift, bias)
    kernel = "nn_depthwise_conv2d_s8" if depthwise else "nn_conv2d_s8"
    # a depthwise layer the kernels can run in place may take over its input's storage (planner)
    in_place = (x.index,) if depthwise and depthwise_in_place(params, shift) else ()
    return Step(op.index, op.name, kernel, "nn_conv_params_t", params, [x.index], y.index, consts,
                macc=macc, scratch_bytes=scratch, in_place=in_place)


def _fully_connected(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    w = _tensor(model, op, 1, "weights")
    y = model.tensors[op.outputs[0]]
    for t, role in ((x, "input"), (w, "weights"), (y, "output")):
        _require_int8(op, t, role)
    if w.data is None or len(w.shape) != 2:
        raise _err(op, "weights must be a constant 2-D tensor [out, in]")
    fc = op.options(schema.FullyConnectedOptions)
    if fc.WeightsFormat() != schema.FullyConnectedOptionsWeightsFormat.DEFAULT:
        raise _err(op, "only the DEFAULT weights format is supported")
    out_f, in_f = w.shape
    if x.size % in_f:
        raise _err(op, f"input of {x.size} elements is not a multiple of {in_f} features")
    batches = x.size // in_f
    if y.size != batches * out_f:
        raise _err(op, f"output of {y.size} elements, expected {batches}x{out_f}")
    s_in, zp_in = _qparams(op, x, "input")
    s_out, zp_out = _qparams(op, y, "output")
    mult, shift, per_channel = _multipliers(op, s_in, w, s_out, out_f)
    bias = _bias(op, model, 2, out_f)
    act_min, act_max = _activation(op, fc.FusedActivationFunction(), s_out, zp_out)
    consts = {"weights": w.data.astype(np.int8).reshape(-1), "mult": mult, "shift": shift}
    if bias is not None:
        consts["bias"] = bias
    params = dict(batches=batches, in_features=in_f, out_features=out_f, in_offset=-zp_in,
                  out_offset=zp_out, act_min=act_min, act_max=act_max, weights="weights",
                  bias="bias" if bias is not None else None, mult="mult", shift="shift",
                  per_channel=per_channel)
    return Step(op.index, op.name, "nn_fc_s8", "nn_fc_params_t", params, [x.index], y.index, consts,
                macc=batches * in_f * out_f, scratch_bytes=fc_scratch_bytes(params, shift))


def _pool(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    _require_int8(op, y, "output")
    if len(x.shape) != 4:
        raise _err(op, f"expects a 4-D NHWC input, got {x.shape}")
    if _qparams(op, x, "input") != _qparams(op, y, "output"):
        raise _err(op, "input and output quantization differ; TFLite Micro requires them equal")
    o = op.options(schema.Pool2DOptions)
    padding, sw, sh, fw, fh, act = (o.Padding(), o.StrideW(), o.StrideH(), o.FilterWidth(), o.FilterHeight(),
                                    o.FusedActivationFunction())
    n, ih, iw, c = x.shape
    _, oh, ow, _ = y.shape
    s_out, zp_out = _qparams(op, y, "output")
    act_min, act_max = _activation(op, act, s_out, zp_out)
    params = dict(batches=n, in_h=ih, in_w=iw, channels=c, out_h=oh, out_w=ow, k_h=fh, k_w=fw,
                  stride_h=sh, stride_w=sw, pad_top=_padding(op, padding, ih, fh, sh, 1, oh),
                  pad_left=_padding(op, padding, iw, fw, sw, 1, ow), act_min=act_min, act_max=act_max)
    kernel = "nn_max_pool_s8" if op.name == "MAX_POOL_2D" else "nn_avg_pool_s8"
    return Step(op.index, op.name, kernel, "nn_pool_params_t", params, [x.index], y.index,
                macc=n * oh * ow * c * fh * fw)


def _mean(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    axes_t = _tensor(model, op, 1, "axis")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    _require_int8(op, y, "output")
    if axes_t.data is None:
        raise _err(op, "the axis tensor must be constant")
    rank = len(x.shape)
    axes = sorted({int(a) + rank if a < 0 else int(a) for a in axes_t.data.reshape(-1)})
    if not axes or any(not 0 <= a < rank for a in axes) or axes != list(range(axes[0], axes[-1] + 1)):
        raise _err(op, f"reduction axes {axes_t.data.reshape(-1).tolist()} of a rank-{rank} input; "
                       "supported: one contiguous run of axes (e.g. [1, 2] for global average pooling)")
    outer = int(np.prod(x.shape[:axes[0]], dtype=np.int64))
    reduce = int(np.prod(x.shape[axes[0]:axes[-1] + 1], dtype=np.int64))
    inner = int(np.prod(x.shape[axes[-1] + 1:], dtype=np.int64))
    s_in, zp_in = _qparams(op, x, "input")
    s_out, zp_out = _qparams(op, y, "output")
    mult, shift = quantize_multiplier(s_in / s_out)
    if reduce > 0:
        # TFLM folds 1/count into the multiplier (reference_ops::QuantizedMeanOrSum).
        sh = min(int(reduce).bit_length() - 1, 32, 31 + shift)
        mult = wrap_int32((mult << sh) // reduce) if sh >= 0 else wrap_int32((mult >> -sh) // reduce)
        shift -= sh
    params = dict(outer=outer, reduce=reduce, inner=inner,
                  zp_times_count=wrap_int32(zp_in * reduce), mult=mult, shift=shift, out_offset=zp_out)
    return Step(op.index, op.name, "nn_mean_s8", "nn_mean_params_t", params, [x.index], y.index,
                macc=x.size)


def _broadcast_strides(op: Operator, shape: tuple[int, ...], out4: list[int]) -> list[int]:
    s4 = _pad_4d(shape)
    strides, acc = [0] * 4, 1
    for d in range(3, -1, -1):
        if s4[d] == out4[d]:
            strides[d] = acc if s4[d] > 1 else 0
        elif s4[d] == 1:
            strides[d] = 0
        else:
            raise _err(op, f"cannot broadcast shape {shape} to {out4}")
        acc *= s4[d]
    return strides


def _binary(model: TFLiteModel, op: Operator) -> Step:
    a = _tensor(model, op, 0, "first")
    b = _tensor(model, op, 1, "second")
    y = model.tensors[op.outputs[0]]
    for t, role in ((a, "first input"), (b, "second input"), (y, "output")):
        _require_int8(op, t, role)
    if max(len(a.shape), len(b.shape), len(y.shape)) > 4:
        raise _err(op, "tensors of rank above 4 are not supported")
    s1, z1 = _qparams(op, a, "first input")
    s2, z2 = _qparams(op, b, "second input")
    so, zo = _qparams(op, y, "output")
    out4 = _pad_4d(y.shape)
    o = op.options(schema.AddOptions if op.name == "ADD" else schema.MulOptions)
    act_min, act_max = _activation(op, o.FusedActivationFunction(), so, zo)
    params: dict[str, object] = dict(
        out_dims=out4, in1_strides=_broadcast_strides(op, a.shape, out4),
        in2_strides=_broadcast_strides(op, b.shape, out4), in1_offset=-z1, in2_offset=-z2,
        out_offset=zo, act_min=act_min, act_max=act_max)
    if op.name == "ADD":
        left_shift = 20
        twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
        m1, sh1 = quantize_multiplier(s1 / twice_max)
        m2, sh2 = quantize_multiplier(s2 / twice_max)
        mo, sho = quantize_multiplier(twice_max / ((1 << left_shift) * so))
        params.update(left_shift=left_shift, in1_mult=m1, in1_shift=sh1, in2_mult=m2, in2_shift=sh2,
                      out_mult=mo, out_shift=sho, in1_table="in1_table", in2_table="in2_table")
        kernel, macc = "nn_add_s8", 0
    else:
        mo, sho = quantize_multiplier(s1 * s2 / so)
        params.update(left_shift=0, in1_mult=0, in1_shift=0, in2_mult=0, in2_shift=0,
                      out_mult=mo, out_shift=sho)
        kernel, macc = "nn_mul_s8", y.size
    step = Step(op.index, op.name, kernel, "nn_binary_params_t", params, [], y.index, macc=macc)
    if op.name == "ADD":   # each input's rescaling as a table (the optimized ADD loads it)
        step.consts["in1_table"] = add_rescale_table(-z1, 20, m1, sh1)
        step.consts["in2_table"] = add_rescale_table(-z2, 20, m2, sh2)
    for pos, t in enumerate((a, b)):
        if t.data is not None:
            name = f"in{pos + 1}"
            step.consts[name] = t.data.astype(np.int8).reshape(-1)
            step.const_inputs[pos] = name
        else:
            step.inputs.append(t.index)
            if tuple(_pad_4d(t.shape)) == tuple(out4):
                step.in_place += (t.index,)
    return step


def _softmax(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    _require_int8(op, y, "output")
    s_in, _ = _qparams(op, x, "input")
    s_out, zp_out = _qparams(op, y, "output")
    if zp_out != -128 or np.float32(s_out) != np.float32(1.0 / 256):
        raise _err(op, f"int8 softmax needs output scale 1/256 and zero point -128, got {s_out} and {zp_out}")
    beta = float(op.options(schema.SoftmaxOptions).Beta())
    real = min(beta * s_in * (1 << (31 - 5)), (1 << 31) - 1.0)
    mult, left_shift = quantize_multiplier(real)
    if real <= 1.0 or left_shift < 0:
        raise _err(op, f"input scale {s_in} with beta {beta} is too small for TFLM's int8 softmax")
    depth = x.shape[-1] if x.shape else 1
    params = dict(outer=x.size // depth, depth=depth, input_mult=mult, input_left_shift=left_shift,
                  diff_min=-input_radius(5, left_shift))
    return Step(op.index, op.name, "nn_softmax_s8", "nn_softmax_params_t", params, [x.index], y.index,
                in_place=(x.index,))


def _logistic(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    _require_int8(op, y, "output")
    s_in, zp_in = _qparams(op, x, "input")
    _, zp_out = _qparams(op, y, "output")
    if zp_out != -128:
        raise _err(op, f"int8 logistic needs output zero point -128, got {zp_out}")
    q, left_shift = math.frexp(s_in * (1 << (31 - 4)))
    mult = wrap_int32(int(math.floor(q * (1 << 31) + 0.5)))  # TFLM does not renormalize here
    params = dict(size=x.size, in_zp=zp_in, radius=input_radius(4, left_shift), mult=mult,
                  left_shift=left_shift)
    return Step(op.index, op.name, "nn_logistic_s8", "nn_logistic_params_t", params, [x.index], y.index,
                in_place=(x.index,))


def _relu(model: TFLiteModel, op: Operator) -> Step:
    """RELU requantizes into the output's scale; RELU6 clamps in the input's quantization (as TFLM)."""
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    _require_int8(op, y, "output")
    s_in, zp_in = _qparams(op, x, "input")
    s_out, zp_out = _qparams(op, y, "output")
    if op.name == "RELU":
        mult, shift = quantize_multiplier(s_in / s_out)
        lo, hi = activation_range(1, s_out, zp_out)
        params = dict(size=x.size, in_zp=zp_in, out_zp=zp_out, mult=mult, shift=shift, act_min=lo, act_max=hi)
    else:
        six = max(-128, min(127, zp_in + round_half_away_int(float(np.float32(6.0) / np.float32(s_in)))))
        params = dict(size=x.size, in_zp=zp_in, out_zp=zp_in, mult=1 << 30, shift=1, act_min=zp_in,
                      act_max=six)
    return Step(op.index, op.name, "nn_requantize_s8", "nn_requant_params_t", params, [x.index], y.index,
                in_place=(x.index,))


def _pad(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    pads = _tensor(model, op, 1, "paddings")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    _require_int8(op, y, "output")
    if pads.data is None:
        raise _err(op, "paddings must be constant")
    if len(x.shape) > 4:
        raise _err(op, "tensors of rank above 4 are not supported")
    if _qparams(op, x, "input") != _qparams(op, y, "output"):
        raise _err(op, "input and output quantization differ; TFLite Micro requires them equal")
    _, zp = _qparams(op, y, "output")
    pad_value = zp
    if op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
        cv = model.tensors[op.inputs[2]]
        if cv.data is None:
            raise _err(op, "the constant value must be constant")
        pad_value = int(cv.data.reshape(-1)[0])
    p = pads.data.reshape(-1, 2).astype(np.int64)
    before = [0] * (4 - len(x.shape)) + [int(v) for v in p[:, 0]]
    if any(v < 0 for v in p.reshape(-1)):
        raise _err(op, "negative paddings are not supported")
    params = dict(in_dims=_pad_4d(x.shape), out_dims=_pad_4d(y.shape), before=before,
                  pad_value=pad_value, elem_bytes=1)
    return Step(op.index, op.name, "nn_pad", "nn_pad_params_t", params, [x.index], y.index)


def _concat(model: TFLiteModel, op: Operator) -> Step:
    y = model.tensors[op.outputs[0]]
    _require_int8(op, y, "output")
    qy = _qparams(op, y, "output")
    rank = len(y.shape)
    o = op.options(schema.ConcatenationOptions)
    axis = int(o.Axis())
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise _err(op, f"axis {axis} out of range for rank {rank}")
    if o.FusedActivationFunction() != schema.ActivationFunctionType.NONE:
        raise _err(op, "a fused activation on CONCATENATION is not supported")
    if len(op.inputs) > 16:
        raise _err(op, f"{len(op.inputs)} inputs; at most 16 are supported")
    outer = int(np.prod(y.shape[:axis], dtype=np.int64))
    parts, step_inputs = [], []
    step = Step(op.index, op.name, "nn_concat", "nn_concat_params_t", {}, [], y.index)
    for pos, ti in enumerate(op.inputs):
        t = model.tensors[ti]
        _require_int8(op, t, f"input {pos}")
        if _qparams(op, t, f"input {pos}") != qy:
            raise _err(op, f"input {pos} is quantized differently from the output; TFLite Micro "
                           "requires equal scales and zero points")
        parts.append(int(np.prod(t.shape[axis:], dtype=np.int64)))
        if t.data is not None:
            name = f"in{pos + 1}"
            step.consts[name] = t.data.astype(np.int8).reshape(-1)
            step.const_inputs[pos] = name
        else:
            step_inputs.append(ti)
    step.inputs = step_inputs
    step.params = dict(outer=outer, count=len(parts), part_bytes=parts + [0] * (16 - len(parts)))
    return step


def _quantize(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, y, "output")
    s_out, zp_out = _qparams(op, y, "output")
    if x.type_code == FLOAT32:
        params = dict(size=x.size, scale=float(np.float32(s_out)), zero_point=zp_out)
        return Step(op.index, op.name, "nn_quantize_f32_s8", "nn_affine_params_t", params, [x.index], y.index)
    if x.type_code == INT8:
        s_in, zp_in = _qparams(op, x, "input")
        mult, shift = quantize_multiplier(s_in / s_out)
        params = dict(size=x.size, in_zp=zp_in, out_zp=zp_out, mult=mult, shift=shift, act_min=-128,
                      act_max=127)
        return Step(op.index, op.name, "nn_requantize_s8", "nn_requant_params_t", params, [x.index],
                    y.index, in_place=(x.index,))
    raise _err(op, f"input type {x.dtype_name}; supported: float32 or int8 -> int8")


def _dequantize(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    _require_int8(op, x, "input")
    if y.type_code != FLOAT32:
        raise _err(op, f"output type {y.dtype_name}; supported: int8 -> float32")
    s_in, zp_in = _qparams(op, x, "input")
    params = dict(size=x.size, scale=float(np.float32(s_in)), zero_point=zp_in)
    return Step(op.index, op.name, "nn_dequantize_s8_f32", "nn_affine_params_t", params, [x.index], y.index)


def _reshape(model: TFLiteModel, op: Operator) -> Step:
    x = _tensor(model, op, 0, "input")
    y = model.tensors[op.outputs[0]]
    if x.type_code != y.type_code or x.size != y.size:
        raise _err(op, f"changes type or size ({x.dtype_name}{list(x.shape)} -> {y.dtype_name}{list(y.shape)})")
    if x.data is not None:
        raise _err(op, "reshaping a constant tensor is not supported")
    return Step(op.index, op.name, "nn_copy", None, {"bytes": x.nbytes}, [x.index], y.index,
                in_place=(x.index,), alias=True)


LOWERINGS: dict[str, Callable[[TFLiteModel, Operator], Step]] = {
    "CONV_2D": lambda m, o: _conv_like(m, o, depthwise=False),
    "DEPTHWISE_CONV_2D": lambda m, o: _conv_like(m, o, depthwise=True),
    "FULLY_CONNECTED": _fully_connected,
    "MAX_POOL_2D": _pool,
    "AVERAGE_POOL_2D": _pool,
    "MEAN": _mean,
    "ADD": _binary,
    "MUL": _binary,
    "RESHAPE": _reshape,
    "SQUEEZE": _reshape,
    "EXPAND_DIMS": _reshape,
    "SOFTMAX": _softmax,
    "LOGISTIC": _logistic,
    "PAD": _pad,
    "PADV2": _pad,
    "CONCATENATION": _concat,
    "RELU": _relu,
    "RELU6": _relu,
    "QUANTIZE": _quantize,
    "DEQUANTIZE": _dequantize,
}


def _match_dilation(model: TFLiteModel, s2b: Operator,
                    consumers: dict[int, list[Operator]]) -> tuple[Operator, Operator, _Dilation]:
    """Recognize the converter's dilated-convolution pattern starting at SPACE_TO_BATCH_ND."""
    users = consumers.get(s2b.outputs[0], [])
    conv = users[0] if len(users) == 1 else None
    if conv is None or conv.name not in ("CONV_2D", "DEPTHWISE_CONV_2D") or conv.inputs[0] != s2b.outputs[0]:
        raise _err(s2b, "supported only as part of SPACE_TO_BATCH_ND -> CONV_2D/DEPTHWISE_CONV_2D -> "
                        "BATCH_TO_SPACE_ND (a dilated convolution)")
    users = consumers.get(conv.outputs[0], [])
    b2s = users[0] if len(users) == 1 else None
    if b2s is None or b2s.name != "BATCH_TO_SPACE_ND":
        raise _err(s2b, "is not followed by a convolution and BATCH_TO_SPACE_ND; only that pattern "
                        "(a dilated convolution) is supported")
    consts = []
    for op, pos in ((s2b, 1), (s2b, 2), (b2s, 1), (b2s, 2)):
        t = _tensor(model, op, pos, "block shape" if pos == 1 else "paddings/crops")
        if t.data is None:
            raise _err(op, "block shape, paddings and crops must be constant")
        consts.append(t.data.astype(np.int64))
    block, pads, block2, crops = consts
    if block.shape != (2,) or not np.array_equal(block, block2) or np.any(block < 1):
        raise _err(s2b, f"block shapes {block.tolist()} and {block2.tolist()} must be equal 2-D blocks")
    x, y = model.tensors[s2b.inputs[0]], model.tensors[b2s.outputs[0]]
    if len(x.shape) != 4 or len(y.shape) != 4:
        raise _err(s2b, "a dilated convolution needs 4-D input and output tensors")
    q_in, q_mid = _qparams(s2b, x, "input"), _qparams(s2b, model.tensors[s2b.outputs[0]], "output")
    q_conv, q_out = _qparams(b2s, model.tensors[b2s.inputs[0]], "input"), _qparams(b2s, y, "output")
    if q_in != q_mid or q_conv != q_out:
        raise _err(s2b, "SPACE_TO_BATCH_ND/BATCH_TO_SPACE_ND change quantization; TFLite Micro requires "
                        "them to keep it")
    fused = _Dilation(x, y, int(block[0]), int(block[1]), int(pads[0, 0] - crops[0, 0]),
                      int(pads[1, 0] - crops[1, 0]))
    return conv, b2s, fused


# Operators whose later inputs only describe a shape that the output tensor already has.
_SHAPE_INPUTS_IGNORED = ("RESHAPE", "SQUEEZE", "EXPAND_DIMS")


def live_operators(model: TFLiteModel) -> list[Operator]:
    """Operators the output depends on, in graph order.

    Keras 3 exports compute RESHAPE targets at run time (SHAPE, STRIDED_SLICE,
    PACK) to keep the batch dimension dynamic; with static tensor shapes those
    computations are dead and are dropped here instead of being compiled.
    """
    needed = {model.outputs[0]}
    live = []
    for op in reversed(model.operators):
        if not any(t in needed for t in op.outputs):
            continue
        live.append(op)
        data = op.inputs[:1] if op.name in _SHAPE_INPUTS_IGNORED else op.inputs
        needed.update(t for t in data if t >= 0)
    return live[::-1]


def _check_dataflow(model: TFLiteModel, op: Operator, step: Step, earlier: list[Step]) -> None:
    produced = {model.inputs[0]} | {s.output for s in earlier}
    for t in step.inputs:
        if t not in produced:
            raise _err(op, f"reads tensor {t} ({model.tensors[t].name!r}), which is neither the model input, "
                           "a constant nor the output of an earlier operator; the file is corrupt")
    if step.output in produced:
        raise _err(op, f"writes tensor {step.output}, which is already the model input or another "
                       "operator's output; the file is corrupt")


def lower(model: TFLiteModel) -> LoweredGraph:
    """Lower every operator of the model's first subgraph, validating all of them first."""
    if model.subgraph_count != 1:
        raise UnsupportedError(f"the model has {model.subgraph_count} subgraphs; only single-subgraph "
                               "models (no control flow) are supported")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UnsupportedError(f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                               "supported: exactly one of each")
    for ti, role in ((model.inputs[0], "input"), (model.outputs[0], "output")):
        t = model.tensors[ti]
        if t.type_code not in (INT8, FLOAT32):
            raise UnsupportedError(f"model {role} {t.name!r} is {t.dtype_name}; supported: int8 or float32")
        if not 1 <= len(t.shape) <= 4 or any(not 0 < d < 65536 for d in t.shape):
            raise UnsupportedError(f"model {role} {t.name!r} has shape {list(t.shape)}; supported: rank 1-4, "
                                   "dimensions 1-65535")
    steps = []
    ops = live_operators(model)
    consumers: dict[int, list[Operator]] = {}
    for op in ops:
        for t in op.inputs:
            consumers.setdefault(t, []).append(op)
    folded: dict[int, _Dilation] = {}
    skipped: set[int] = set()
    for op in ops:
        if op.name == "SPACE_TO_BATCH_ND":
            conv, b2s, fused = _match_dilation(model, op, consumers)
            folded[conv.index] = fused
            skipped.update((op.index, b2s.index))
    for op in ops:
        if op.index in skipped:
            continue
        if op.index in folded:
            step = _conv_like(model, op, op.name == "DEPTHWISE_CONV_2D", folded[op.index])
            _check_dataflow(model, op, step, steps)
            step.out_shape = model.tensors[step.output].shape
            step.in_shapes = [model.tensors[step.inputs[0]].shape]
            steps.append(step)
            continue
        fn = LOWERINGS.get(op.name)
        if fn is None:
            raise UnsupportedError(
                f"operator {op.index} ({op.name}) is not supported; supported operators: "
                f"{', '.join(SUPPORTED_OPS)}")
        if len(op.outputs) != 1:
            raise _err(op, f"has {len(op.outputs)} outputs; supported: 1")
        for ti in op.inputs:
            if ti >= 0 and any(d < 0 for d in model.tensors[ti].shape):
                raise _err(op, f"tensor {model.tensors[ti].name!r} has a dynamic shape "
                               f"{list(model.tensors[ti].shape)}; re-export with a fixed batch size of 1")
        step = fn(model, op)
        _check_dataflow(model, op, step, steps)
        step.out_shape = model.tensors[step.output].shape
        step.in_shapes = [model.tensors[t].shape for t in step.inputs]
        steps.append(step)
    if not steps:
        raise UnsupportedError("the model has no operators")
    return LoweredGraph(model, steps, model.inputs[0], model.outputs[0])
