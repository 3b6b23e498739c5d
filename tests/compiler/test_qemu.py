"""Compiled models on the real Cortex-M7 instructions under QEMU: reference and DSP kernels, 0 mismatches."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import FIXTURES, random_inputs, with_wide_blocks

from edgeloop.models.compiler import compile_bytes
from edgeloop.models.compiler.harness import harness_source, parse_result
from edgeloop.models.compiler.host import kernel_sources
from edgeloop.models.reference import run_reference_batch

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                       reason="needs qemu-system-arm and arm-none-eabi-gcc"),
]

# conv + depthwise + pad + float edges; residual add + mean; concat + pools; mul/logistic gating
MODELS = ["random_04", "random_05", "random_20", "random_16"]


# Models of test_kernel_paths.py that walk the optimized kernels' paths
PATH_MODELS = {
    "kernel_paths": "qemu_chain_model", "plain_paths": "plain_paths_model", "gray_stem": "gray_stem_model",
    "fused_paths": "fused_paths_model", "wide_paths": "fused_paths_model", "wide_blocks": "fused_paths_model",
    "add_paths": "add_paths_model", "rgb_stem": "rgb_stem_model", "fc_pair": "fc_pair_model",
    "dw_rows": "dw_rows_model", "fc_paths": "fc_paths_model", "dw_lines": "dw_lines_model",
    "dw_in_place": "dw_in_place_model", "fc_fused": "fc_fused_model", "avg_pools": "avg_pool_model",
    "dw_plane": "dw_plane_model", "dw_s2_lines": "dw_s2_lines_model",
    "wide_stem_rows": "stem_rows_model", "avg_runs": "avg_run_model",
    "wide_pointwise": "pointwise_paths_model",
    "dw_pairs": "dw_pairs_model", "dw_pairs_thin": "dw_pairs_thin_model",
    "dw_map3": "dw_map3_model", "dw_map3_per_tensor": "dw_map3_per_tensor_model",
    "dw_s2pairs": "dw_s2pairs_model", "dw_s2pairs_tall": "dw_s2pairs_tall_model",
    "dw_s2pairs_wide": "dw_s2pairs_wide_model", "dw_s2pairs_per_tensor": "dw_s2pairs_per_tensor_model",
    "dw_s2p33_ties": "dw_s2p33_ties_model",
    "wide_pw8_bias_limit": "pointwise8_bias_limit_model", "wide_pw16_bias_limit": "pointwise16_bias_limit_model",
}


def _model(stem: str) -> bytes:
    if stem in PATH_MODELS:
        import test_kernel_paths

        return getattr(test_kernel_paths, PATH_MODELS[stem])()
    return (FIXTURES / f"{stem}.tflite").read_bytes()


def _run(stem: str, tmp_path, variants: dict[str, list[str]], kernels=None) -> tuple[object, dict]:
    """Compile model `stem`, build it for each variant (name -> extra flags) with `kernels` (default:
    firmware/nn's) and run it under QEMU on 3 inputs; returns (compiled model, variant -> EL_RESULT)."""
    from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal

    tflite = _model(stem)
    result = compile_bytes(tflite, name=stem, wide_weights="all" if stem.startswith("wide_") else "free")
    (tmp_path / f"{stem}.c").write_text(with_wide_blocks(result.c_source, 3 if stem == "wide_blocks" else 1))
    (tmp_path / f"{stem}.h").write_text(result.h_source)
    xs = random_inputs(tflite, 3, np.random.default_rng(7))
    expected = run_reference_batch(tflite, xs)
    (tmp_path / "main.c").write_text(harness_source(stem, xs, expected))
    sources = [tmp_path / "main.c", tmp_path / f"{stem}.c", *(kernels or kernel_sources())]
    results = {}
    for variant, flags in variants.items():
        elf = build_bare_metal(sources, tmp_path / variant, includes=[tmp_path], name=stem, extra_cflags=flags)
        run = run_bare_metal(elf, timeout=120)   # exits non-zero on mismatches: the counts tell
        assert not run.timed_out, run.output[-2000:]
        results[variant] = parse_result(run.output)
    return result, results


@pytest.mark.parametrize("stem", [*MODELS, *PATH_MODELS])
def test_model_runs_bit_exact_on_cortex_m7(stem: str, tmp_path) -> None:
    """`kernel_paths` chains every optimized conv/depthwise/FC path, `plain_paths` the small-K
    first layers and max pools, `gray_stem` the grayscale register path, `fused_paths` the fused
    conv blocks and the no-bounds max pool, `wide_paths` the same model with every convolution's
    weights widened (`wide_blocks`: in 3 blocks of channel pairs), `add_paths` the ADD paths (test_kernel_paths.py)."""
    result, res = _run(stem, tmp_path, {"ref": ["-DNN_OPTIMIZED=0"], "opt": []})
    for r in res.values():
        assert r["mismatches"] == 0 and r["runs"] == 3, res
    # the DSP kernels must actually be faster on conv-heavy models
    if result.macc > 20000:
        assert res["opt"]["ticks_min"] < res["ref"]["ticks_min"], res


# Mutation checks of the assembly paths: each deliberate break of one instruction must make the
# model that walks the path differ from TFLite Micro under QEMU (file, original text, broken text, model).
MUTATIONS = {
    "add_sign_correction": ("nn_opt_add.c", '"add    %[d], %[d], %[c], asr #31\\n\\t"', '"mov    %[d], %[d]\\n\\t"',
                            "add_paths"),
    "fc_second_group": ("nn_opt_fc.c", '"smlad  %[s1], %[wb], %[y13], %[s1]\\n\\t"',
                        '"smlad  %[s1], %[wb], %[x13], %[s1]\\n\\t"', "fc_pair"),
    "fc_quad_row_3": ("nn_opt_fc.c", 'FC_ROW("r3", "ldr    r11, [r5, r7]")', 'FC_ROW("r3", "ldr    r11, [r4, r7]")',
                      "fc_paths"),
    "fc_quads_half_entry": ("nn_opt_fc.c", '"tst    r7, #8\\n\\t"', '"tst    r7, #0\\n\\t"', "fc_fused"),
    "fc_quads_clamp_max": ("nn_opt_fc.c", '"sel    r0, r10, r0\\n"', '"sel    r0, r0, r10\\n"', "fc_fused"),
    "rq_fast_zp_halving": ("nn_opt_internal.h", '", #8, " H ", asr #1', '", #8, " H ", asr #2', "fc_fused"),
    "dw33_lane_3": ("nn_opt_depthwise.c", '"smlatt %[a3], %[w13], %[xv], %[a3]\\n\\t"',
                    '"smlabb %[a3], %[w13], %[xv], %[a3]\\n\\t"', "kernel_paths"),
    "dw3_quad_s1_tap2_lane3": ("nn_opt_depthwise.c", '"smlad  r3, r4, r6, r3\\n\\t"',
                               '"smlad  r3, r5, r6, r3\\n\\t"', "dw_lines"),
    "dw3_quad_s2_tap2_lane3": ("nn_opt_depthwise.c", '"smlatb r3, r4, r6, r3\\n\\t"',
                               '"smlabb r3, r4, r6, r3\\n\\t"', "dw_lines"),
    "dw3_single_tap2": ("nn_opt_depthwise.c", '"ldr    r6, [" Q ", #" X2 "]\\n\\t"',
                        '"ldr    r6, [" Q "]\\n\\t"', "dw_lines"),
    "dw3_gather_channel_3": ("nn_opt_depthwise.c", '"sxtb16 " R(v3) ", " R(v2) ", ror #8\\n\\t"',
                             '"sxtb16 " R(v3) ", " R(v2) "\\n\\t"', "dw_lines"),
    "dw3_gather_unaligned_pixels_2_3": ("nn_opt_depthwise.c", '"str    " R(v3) ", [" R(L) "], #4\\n\\t"',
                                        '"str    " R(v1) ", [" R(L) "], #4\\n\\t"', "dw_in_place"),
    "dw3_lines2_second_line": ("nn_opt_depthwise.c", 'NN_DW3G2_LINE("24", "20")', 'NN_DW3G2_LINE("0", "20")',
                               "dw_s2_lines"),
    "dw3_lines2_channel_2": ("nn_opt_depthwise.c", '"add    r6, r5, lr\\n\\t"', '"add    r6, r4, lr\\n\\t"',
                             "dw_s2_lines"),
    "dw3_gather_one_channel_3": ("nn_opt_depthwise.c", '"add    r6, r5, r3\\n\\t"', '"add    r6, r4, r3\\n\\t"',
                                 "dw_lines"),
    "dw3_next_channel_line_2": ("nn_opt_depthwise.c", '"add    r10, r10, r7\\n\\t"',
                                '"add    r10, r9, r7\\n\\t"', "dw_lines"),
    "dw3_lines_bias_ldmdb": ("nn_opt_depthwise.c", '"ldmdb  r12, {r0-r3}\\n\\t"', '"ldm    r12, {r0-r3}\\n\\t"',
                             "dw_lines"),
    "dw3_lines_x4_channel_3": ("nn_opt_depthwise.c", "NN_DW3_NEXT_CHANNEL   /* channel 2 */", "/* channel 2 */",
                               "dw_s2_lines"),
    "dw3_line_s2_run_slots": ("nn_opt_depthwise.c", '"str    r7, [r12, #28]\\n\\t"', '"str    r6, [r12, #28]\\n\\t"',
                              "dw_s2_lines"),
    "dw3_fill_word_7": ("nn_opt_depthwise.c", '"mov    r8, r2\\n\\t"', '"mov    r8, r1\\n\\t"', "dw_s2_lines"),
    "dw3_rq_sign": ("nn_opt_depthwise.c", '"add    r7, r5, " A ", asr #31\\n\\t"',
                    '"mov    r7, r5\\n\\t"', "dw_lines"),
    "dw3p_lane_3": ("nn_opt_depthwise.c", '"smlatt %[a3], %[w13], %[x13], %[a3]\\n\\t"',
                    '"smlabb %[a3], %[w13], %[x13], %[a3]\\n\\t"', "dw_plane"),
    "dw3p_rq_sign": ("nn_opt_depthwise.c", '"add    %[t], %[x02], %[" A "], asr #31\\n\\t"',
                     '"mov    %[t], %[x02]\\n\\t"', "dw_plane"),
    "dw3p_left_window_columns": ("nn_opt_depthwise.c", "NN_DW3P_COLS_LEFT(R) NN_DW3P_TAP(R, 1) NN_DW3P_TAP(R, 2)",
                                 "NN_DW3P_COLS_LEFT(R) NN_DW3P_TAP(R, 0) NN_DW3P_TAP(R, 2)", "dw_plane"),
    "dw3p_top_rows": ("nn_opt_depthwise.c", "NN_DW3P_ROWS_TOP(COLS) NN_DW3P_NEXT_ROW COLS(1)",
                      "NN_DW3P_ROWS_TOP(COLS) NN_DW3P_NEXT_ROW COLS(0)", "dw_plane"),
    "dw3p_widen_pixel_2": ("nn_opt_depthwise.c", '"sxtab16 %[y1], %[off2], %[v1], ror #8\\n\\t"',
                           '"sxtab16 %[y1], %[off2], %[v0], ror #8\\n\\t"', "dw_plane"),
    "dw3p_widen_row_step": ("nn_opt_depthwise.c", '"add    %[d], %[d], %[v1]\\n\\t"', '"mov    %[d], %[d]\\n\\t"',
                            "dw_plane"),
    "stem9_row_straddle": ("nn_opt_conv_small_k.c", '"ldrsb  %[x1], [%[r], #8]\\n\\t"',
                           '"ldrsb  %[x1], [%[r], #7]\\n\\t"', "rgb_stem"),
    "avg8_run_round_sign": ("nn_opt_pool.c", '"sel     %[v], %[x], %[u]\\n\\t"',
                            '"sel     %[v], %[u], %[x]\\n\\t"', "avg_runs"),
    "wide_rq_sign": ("nn_opt_conv.c", '"add    %[w1], %[x1], %[" A "], asr #31\\n\\t"', '"mov    %[w1], %[x1]\\n\\t"',
                     "wide_pointwise"),
    "wide_group_pixel_1": ("nn_opt_conv.c", '"ldrd   %[y0], %[y1], [%[pc]], #8\\n\\t"',
                           '"ldrd   %[y0], %[y1], [%[pc]]\\n\\t"', "wide_pointwise"),
    "pw8_rq_sign": ("nn_opt_conv.c", '"add.w   r6, r6, r0, asr #31\\n\\t"', '"mov.w   r6, r6\\n\\t"', "wide_pointwise"),
    "pw8_pixel_step": ("nn_opt_conv.c", '"add     r0, r0, r1\\n\\t"', '"add     r0, r0, #8\\n\\t"', "wide_pointwise"),
    "pw16_rq_sign": ("nn_opt_conv.c", '"add.w   r1, r1, r0, asr #31\\n\\t"', '"mov.w   r1, r1\\n\\t"', "wide_pointwise"),
    "pw16_pixel_step": ("nn_opt_conv.c", '"add     r2, r0, r1\\n\\t"', '"add     r2, r0, #8\\n\\t"', "wide_pointwise"),
    "pw_loop_entry": ("nn_opt_conv.c", "(uint32_t)((4 - (channels & 3)) & 3)", "(uint32_t)((5 - (channels & 3)) & 3)",
                      "wide_pointwise"),
    "pw_output_skip": ("nn_opt_conv.c", '"add     lr, lr, r3\\n\\t"', '"add     lr, lr, #0\\n\\t"', "wide_pointwise"),
    "wide_loop_entry": ("nn_opt_conv.c", '"rsb    %[a00], %[a00], #4\\n\\t"', '"rsb    %[a00], %[a00], #5\\n\\t"',
                        "wide_pointwise"),
    "avg_pool_lanes_1_3": ("nn_dsp.h", '"sxtab16 %0, %1, %2, ror #8"', '"sxtab16 %0, %1, %2, ror #16"', "dw_rows"),
    "dwpq_pairs_channel_1": ("nn_opt_depthwise.c", '"pkhbt  %[t], %[v], %[v], lsl #16\\n\\t"',
                             '"pkhbt  %[t], %[y], %[y], lsl #16\\n\\t"', "dw_pairs"),
    "dwpq_right_edge": ("nn_opt_depthwise.c", '"smlad  %[a2], %[a], %[q0], %[a2]\\n\\t"',
                        '"smlad  %[a2], %[b], %[q0], %[a2]\\n\\t"', "dw_pairs"),
    "dwpq_rq_sign": ("nn_opt_internal.h", '"add    %[q0], %[a], %[" A "], asr #31\\n\\t"', '"mov    %[q0], %[a]\\n\\t"',
                     "dw_pairs"),
    "dwpq_bottom_rows": ("nn_opt_depthwise.c", '#define NN_DWPQ_ROWS_BOTTOM(K) NN_DWPQ_BIAS K(0, "a2", "a2")',
                         '#define NN_DWPQ_ROWS_BOTTOM(K) NN_DWPQ_BIAS K(2, "a2", "a2")', "dw_pairs"),
    "map3_middle_column_tap2": ("nn_opt_depthwise_map3.c", '"smlatt r10, " B ", r8, r10\\n\\t"',
                                '"smlabb r10, " B ", r8, r10\\n\\t"', "dw_map3"),
    "map3_rq_sign": ("nn_opt_depthwise_map3.c", '"add    lr, r7, " ACC ", asr #31\\n\\t"', '"mov    lr, r7\\n\\t"',
                     "dw_map3"),
    "map3_out_pixel_3": ("nn_opt_internal.h", '"str    r6, [r1, r2]\\n\\t"', '"str    r5, [r1, r2]\\n\\t"',
                         "dw_map3"),
    "map3_pairs_channel_3": ("nn_opt_depthwise_map3.c", 'SX "r10, " OFF "r12, ror #8\\n\\t"',
                             'SX "r10, " OFF "r12\\n\\t"', "dw_map3"),
    "map3_weights_doubled": ("nn_opt_depthwise_map3.c", '"sadd16 r7, r7, r7\\n\\t"', '"mov    r7, r7\\n\\t"',
                             "dw_map3"),
    "map3_words_tensor_step": ("nn_opt_depthwise_map3.c", '"add    r3, r3, r4\\n\\t"', '"add    r3, r3, #4\\n\\t"',
                               "dw_map3_per_tensor"),
    "map3_words_bias_check": ("nn_opt_depthwise_map3.c", '"orr    r6, r6, r11\\n\\t"', '"mov    r11, r11\\n\\t"',
                              "dw_map3"),
    "dwpq_record_weights_channel_3": ("nn_opt_depthwise.c", 'NN_DWPQ_WPAIR(KY, "v0", "v1", ", ror #8", "180")',
                                      'NN_DWPQ_WPAIR(KY, "v0", "v1", "", "180")', "dw_s2pairs"),
    "dwpq_record_rq_round": ("nn_opt_depthwise.c", '"mvn    %[t], %[s]\\n\\t"', '"mov    %[t], %[s]\\n\\t"', "dw_s2pairs"),
    "s2p_build2_channel_2": ("nn_opt_depthwise_s2pairs.c", '"sxtab16 %[wd], %[off2], %[wc]\\n\\t"',
                             '"sxtab16 %[wd], %[off2], %[wb]\\n\\t"', "dw_s2pairs"),
    "s2p_build1_channel_2": ("nn_opt_depthwise_s2pairs.c", '"str    %[e], [%[d], #96+" #OFF "]\\n\\t"',
                             '"str    %[e], [%[d], #144+" #OFF "]\\n\\t"', "dw_s2pairs_tall"),
    "s2p_rows3_third_tap": ("nn_opt_depthwise_s2pairs.c", '"smlabt %[a0], %[q1], %[b], %[a0]\\n\\t"',
                            '"smlabt %[a0], %[q1], %[a], %[a0]\\n\\t"', "dw_s2pairs_tall"),
    "s2p_rows6_output_4": ("nn_opt_depthwise_s2pairs.c", '"smlabt r4, r9, r7, r4\\n\\t"', '"smlabt r4, r8, r7, r4\\n\\t"',
                           "dw_s2pairs"),
    "s2p_rows12_inner_third_tap": ("nn_opt_depthwise_s2pairs.c", '"smlabt r5, r8, r7, r5\\n\\t"',
                                   '"smlabt r5, r9, r7, r5\\n\\t"', "dw_s2pairs_wide"),
    "s2p_map33_build_channel_3": ("nn_opt_depthwise_s2pairs.c", '"sxtab16 r9, r3, r12, ror #8\\n\\t"',
                                  '"sxtab16 r9, r3, r12\\n\\t"', "dw_s2pairs"),
    "s2p_map33_output_1_third_tap": ("nn_opt_depthwise_s2pairs.c", '"smlabt r10, r7, " B ", r10\\n\\t"',
                                     '"smlabt r10, r8, " B ", r10\\n\\t"', "dw_s2pairs"),
    "s2p_map33_rq_words_channel": ("nn_opt_depthwise_s2pairs.c", '"ldrd   r8, r12, [r0, #(60*" #J "+32)]\\n\\t"',
                                   '"ldrd   r8, r12, [r0, #(60*0+32)]\\n\\t"', "dw_s2pairs"),
    "s2p_map33_rq_sign": ("nn_opt_depthwise_s2pairs.c", '"add    r7, lr, " ACC ", asr #31\\n\\t"',
                          '"mov    r7, lr\\n\\t"', "dw_s2p33_ties"),
    "s2p_map33_out_pixel_7": ("nn_opt_internal.h", '"str    r10, [r1, r2]\\n\\t"',
                              '"str    r9, [r1, r2]\\n\\t"', "dw_s2pairs"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_broken_assembly_path_fails_the_bit_exact_check(mutation: str, tmp_path) -> None:
    import edgeloop

    file, original, broken, stem = MUTATIONS[mutation]
    kernels = tmp_path / "kernels"
    kernels.mkdir()
    for f in (*(edgeloop.FIRMWARE_DIR / "nn").glob("nn_*.h"), *kernel_sources()):
        text = f.read_text()
        if f.name == file:
            assert text.count(original) == 1, f"{original!r} is not in {file} exactly once"
            text = text.replace(original, broken)
        (kernels / f.name).write_text(text)
    _, res = _run(stem, tmp_path, {"opt": []}, kernels=[kernels / f.name for f in kernel_sources()])
    assert res["opt"]["mismatches"] > 0, res


def test_fused_zero_point_requantization_in_assembly_equals_the_reference(tmp_path) -> None:
    """rq_fast_zp's assembly (the text fc_quads_asm uses too) on the Cortex-M7 against the reference
    double rounding (test_kernel_paths.REQUANT_CHECK, fewer accumulators than on the host)."""
    import edgeloop
    from edgeloop.app.link.qemu import build_bare_metal, run_bare_metal
    from test_kernel_paths import REQUANT_CHECK

    src = tmp_path / "zp_check.c"
    src.write_text(REQUANT_CHECK)
    elf = build_bare_metal([src], tmp_path / "build", includes=[edgeloop.FIRMWARE_DIR / "nn"], name="zp_check",
                           extra_cflags=["-DZP=1", "-DITERS=60", "-DNN_OPTIMIZED=1"])
    run = run_bare_metal(elf, timeout=120)
    assert not run.timed_out, run.output[-2000:]
    assert "checked 54000, doubled 0, 0 differ" in run.output, run.output[-2000:]
