/*
 * nn_ref.c - reference int8 kernels: plain loops, the specification that the
 * optimized kernels must match bit for bit. Semantics follow TFLite Micro's
 * reference kernels (see nn_kernels.h).
 */
#include <math.h>
#include <string.h>

#include "nn_fixedpoint.h"
#include "nn_kernels.h"

int32_t nn_srdhm(int32_t a, int32_t b) { return nn_fx_srdhm(a, b); }

int32_t nn_rounding_shift_right(int32_t x, int exponent) { return nn_fx_rdivpot(x, exponent); }

int32_t nn_requantize(int32_t acc, int32_t mult, int32_t shift) {
    return nn_fx_requantize(acc, mult, shift);
}

void nn_ref_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    (void)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                for (int32_t oc = 0; oc < p->out_c; ++oc) {
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + ky * p->dil_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + kx * p->dil_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const int8_t *x = in + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                            const int8_t *w = p->weights + ((oc * p->k_h + ky) * p->k_w + kx) * p->in_c;
                            for (int32_t ic = 0; ic < p->in_c; ++ic) {
                                acc += (int32_t)w[ic] * ((int32_t)x[ic] + p->in_offset);
                            }
                        }
                    }
                    if (p->bias) acc += p->bias[oc];
                    const int32_t q = p->per_channel ? oc : 0;
                    acc = nn_fx_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
                    out[((b * p->out_h + oy) * p->out_w + ox) * p->out_c + oc] =
                        (int8_t)nn_fx_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* One depthwise output: channel `ic`'s input at x (pixel (0, 0) of the image), col_step and row_step bytes
 * between its columns and rows. */
static int8_t ref_dw_output(const nn_conv_params_t *p, const int8_t *x, int32_t col_step, int32_t row_step,
                            int32_t oy, int32_t ox, int32_t oc) {
    const int32_t iy0 = oy * p->stride_h - p->pad_top, ix0 = ox * p->stride_w - p->pad_left;
    int32_t acc = 0;
    for (int32_t ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) continue;
        for (int32_t kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) continue;
            const int32_t w = p->weights[(ky * p->k_w + kx) * p->out_c + oc];
            acc += w * (x[iy * row_step + ix * col_step] + p->in_offset);
        }
    }
    if (p->bias) acc += p->bias[oc];
    const int32_t q = p->per_channel ? oc : 0;
    acc = nn_fx_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
    return (int8_t)nn_fx_clamp(acc, p->act_min, p->act_max);
}

void nn_ref_depthwise_conv2d_s8(const nn_conv_params_t *p, const int8_t *in, int8_t *out,
                                void *scratch) {
    const int32_t in_img = p->in_h * p->in_w * p->in_c, out_img = p->out_h * p->out_w * p->out_c;
    if ((const void *)in == (void *)out && nn_depthwise_conv2d_s8_in_place(p)) {
        /* in place (multiplier 1, equal shapes): a channel's input copied to scratch, then its outputs */
        int8_t *plane = (int8_t *)scratch;
        for (int32_t b = 0; b < p->batches; ++b) {
            int8_t *img = out + b * out_img;
            for (int32_t c = 0; c < p->in_c; ++c) {
                for (int32_t i = 0; i < p->in_h * p->in_w; ++i) plane[i] = img[i * p->in_c + c];
                for (int32_t oy = 0; oy < p->out_h; ++oy) {
                    for (int32_t ox = 0; ox < p->out_w; ++ox) {
                        img[(oy * p->out_w + ox) * p->out_c + c] = ref_dw_output(p, plane, 1, p->in_w, oy, ox, c);
                    }
                }
            }
        }
        return;
    }
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                for (int32_t ic = 0; ic < p->in_c; ++ic) {
                    for (int32_t m = 0; m < p->depth_mult; ++m) {
                        const int32_t oc = m + ic * p->depth_mult;
                        out[b * out_img + (oy * p->out_w + ox) * p->out_c + oc] =
                            ref_dw_output(p, in + b * in_img + ic, p->in_c, p->in_w * p->in_c, oy, ox, oc);
                    }
                }
            }
        }
    }
}

void nn_ref_fc_s8(const nn_fc_params_t *p, const int8_t *in, int8_t *out, void *scratch) {
    (void)scratch;
    for (int32_t b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->in_features;
        for (int32_t o = 0; o < p->out_features; ++o) {
            const int8_t *w = p->weights + o * p->in_features;
            int32_t acc = 0;
            for (int32_t i = 0; i < p->in_features; ++i) {
                acc += (int32_t)w[i] * ((int32_t)x[i] + p->in_offset);
            }
            if (p->bias) acc += p->bias[o];
            const int32_t q = p->per_channel ? o : 0;
            acc = nn_fx_requantize(acc, p->mult[q], p->shift[q]) + p->out_offset;
            out[b * p->out_features + o] = (int8_t)nn_fx_clamp(acc, p->act_min, p->act_max);
        }
    }
}

/* Shared window walk of both pools; `average` selects the reduction. */
static void pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out, int average) {
    for (int32_t b = 0; b < p->batches; ++b) {
        for (int32_t oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_top;
            const int32_t ky0 = iy0 < 0 ? -iy0 : 0;
            const int32_t ky1 = p->k_h < p->in_h - iy0 ? p->k_h : p->in_h - iy0;
            for (int32_t ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_left;
                const int32_t kx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t kx1 = p->k_w < p->in_w - ix0 ? p->k_w : p->in_w - ix0;
                for (int32_t c = 0; c < p->channels; ++c) {
                    int32_t acc = average ? 0 : -128;
                    int32_t count = 0;
                    for (int32_t ky = ky0; ky < ky1; ++ky) {
                        for (int32_t kx = kx0; kx < kx1; ++kx) {
                            const int32_t v =
                                in[((b * p->in_h + iy0 + ky) * p->in_w + ix0 + kx) * p->channels + c];
                            if (average) {
                                acc += v;
                            } else if (v > acc) {
                                acc = v;
                            }
                            ++count;
                        }
                    }
                    if (average && count > 0) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[((b * p->out_h + oy) * p->out_w + ox) * p->channels + c] =
                        (int8_t)nn_fx_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void nn_ref_max_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out) { pool_s8(p, in, out, 0); }

void nn_ref_avg_pool_s8(const nn_pool_params_t *p, const int8_t *in, int8_t *out) { pool_s8(p, in, out, 1); }

void nn_mean_s8(const nn_mean_params_t *p, const int8_t *in, int8_t *out) {
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->inner; ++i) {
            const int8_t *x = in + o * p->reduce * p->inner + i;
            int32_t sum = 0;
            for (int32_t r = 0; r < p->reduce; ++r) {
                sum += x[r * p->inner];
            }
            const int32_t v = nn_fx_requantize(nn_fx_wrap_sub(sum, p->zp_times_count), p->mult, p->shift) +
                              p->out_offset;
            out[o * p->inner + i] = (int8_t)nn_fx_clamp(v, -128, 127);
        }
    }
}

/* Visit every output element of a broadcast binary op with its input indices. */
#define NN_BINARY_LOOP(p, BODY)                                                              \
    do {                                                                                     \
        int32_t idx = 0;                                                                     \
        for (int32_t d0 = 0; d0 < (p)->out_dims[0]; ++d0)                                    \
            for (int32_t d1 = 0; d1 < (p)->out_dims[1]; ++d1)                                \
                for (int32_t d2 = 0; d2 < (p)->out_dims[2]; ++d2)                            \
                    for (int32_t d3 = 0; d3 < (p)->out_dims[3]; ++d3, ++idx) {               \
                        const int32_t i1 = d0 * (p)->in1_strides[0] + d1 * (p)->in1_strides[1] + \
                                           d2 * (p)->in1_strides[2] + d3 * (p)->in1_strides[3]; \
                        const int32_t i2 = d0 * (p)->in2_strides[0] + d1 * (p)->in2_strides[1] + \
                                           d2 * (p)->in2_strides[2] + d3 * (p)->in2_strides[3]; \
                        BODY                                                                 \
                    }                                                                        \
    } while (0)

void nn_ref_add_s8(const nn_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    NN_BINARY_LOOP(p, {
        const int32_t a = nn_fx_shl(p->in1_offset + in1[i1], p->left_shift);
        const int32_t c = nn_fx_shl(p->in2_offset + in2[i2], p->left_shift);
        const int32_t sa = nn_fx_requantize(a, p->in1_mult, p->in1_shift);
        const int32_t sc = nn_fx_requantize(c, p->in2_mult, p->in2_shift);
        const int32_t r = nn_fx_requantize(nn_fx_wrap_add(sa, sc), p->out_mult, p->out_shift) +
                          p->out_offset;
        out[idx] = (int8_t)nn_fx_clamp(r, p->act_min, p->act_max);
    });
}

void nn_mul_s8(const nn_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out) {
    NN_BINARY_LOOP(p, {
        const int32_t prod = (p->in1_offset + in1[i1]) * (p->in2_offset + in2[i2]);
        const int32_t r = nn_fx_requantize(prod, p->out_mult, p->out_shift) + p->out_offset;
        out[idx] = (int8_t)nn_fx_clamp(r, p->act_min, p->act_max);
    });
}

void nn_softmax_s8(const nn_softmax_params_t *p, const int8_t *in, int8_t *out) {
    for (int32_t o = 0; o < p->outer; ++o) {
        const int8_t *x = in + o * p->depth;
        int8_t *y = out + o * p->depth;
        int32_t max_in_row = -128;
        for (int32_t c = 0; c < p->depth; ++c) {
            if (x[c] > max_in_row) max_in_row = x[c];
        }
        int32_t sum_of_exps = 0;  /* Q12.19 */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = nn_fx_srdhm(nn_fx_shl(diff, p->input_left_shift), p->input_mult);
                sum_of_exps = nn_fx_wrap_add(sum_of_exps, nn_fx_rdivpot(nn_fx_exp_on_negative(scaled, 5), 12));
            }
        }
        const int headroom_plus_one = nn_fx_clz32((uint32_t)sum_of_exps);
        const int num_bits_over_unit = 12 - headroom_plus_one;
        const int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31));
        const int32_t shifted_scale = nn_fx_one_over_one_plus_x(shifted_sum_minus_one);
        const int exponent = num_bits_over_unit + 31 - 8;
        /* Written after all reads of x[c]: in place is safe. */
        for (int32_t c = 0; c < p->depth; ++c) {
            const int32_t diff = x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t scaled = nn_fx_srdhm(nn_fx_shl(diff, p->input_left_shift), p->input_mult);
                const int32_t e = nn_fx_exp_on_negative(scaled, 5);
                const int32_t unsat = nn_fx_rdivpot(nn_fx_srdhm(shifted_scale, e), exponent);
                y[c] = (int8_t)nn_fx_clamp(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

void nn_logistic_s8(const nn_logistic_params_t *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->in_zp;
        if (x <= -p->radius) {
            out[i] = -128;
        } else if (x >= p->radius) {
            out[i] = 127;
        } else {
            const int32_t a = nn_fx_requantize(x, p->mult, p->left_shift);  /* Q4.27 */
            int32_t r;
            if (a == 0) {
                r = 1 << 30;
            } else {
                const int32_t abs_a = a > 0 ? a : (int32_t)(0u - (uint32_t)a);
                const int32_t pos = nn_fx_one_over_one_plus_x(
                    nn_fx_exp_on_negative((int32_t)(0u - (uint32_t)abs_a), 4));
                r = a > 0 ? pos : nn_fx_wrap_sub(INT32_MAX, pos);
            }
            const int32_t q = nn_fx_rdivpot(r, 23) - 128;
            out[i] = (int8_t)nn_fx_clamp(q, -128, 127);
        }
    }
}

void nn_pad(const nn_pad_params_t *p, const void *in, void *out) {
    const uint8_t *src = (const uint8_t *)in;
    uint8_t *dst = (uint8_t *)out;
    const int32_t eb = p->elem_bytes;
    const int32_t row = p->out_dims[3] * eb;
    for (int32_t d0 = 0; d0 < p->out_dims[0]; ++d0) {
        for (int32_t d1 = 0; d1 < p->out_dims[1]; ++d1) {
            for (int32_t d2 = 0; d2 < p->out_dims[2]; ++d2) {
                uint8_t *o = dst + (((d0 * p->out_dims[1] + d1) * p->out_dims[2]) + d2) * row;
                const int32_t s0 = d0 - p->before[0], s1 = d1 - p->before[1], s2 = d2 - p->before[2];
                const int inside = s0 >= 0 && s0 < p->in_dims[0] && s1 >= 0 && s1 < p->in_dims[1] &&
                                   s2 >= 0 && s2 < p->in_dims[2];
                for (int32_t d3 = 0; d3 < p->out_dims[3]; ++d3) {
                    const int32_t s3 = d3 - p->before[3];
                    if (inside && s3 >= 0 && s3 < p->in_dims[3]) {
                        memcpy(o + d3 * eb,
                               src + ((((s0 * p->in_dims[1] + s1) * p->in_dims[2]) + s2) * p->in_dims[3] + s3) * eb,
                               (size_t)eb);
                    } else if (eb == 1) {
                        o[d3] = (uint8_t)(int8_t)p->pad_value;
                    } else {
                        memset(o + d3 * eb, 0, (size_t)eb);
                    }
                }
            }
        }
    }
}

void nn_concat(const nn_concat_params_t *p, const void *const *in, void *out) {
    uint8_t *dst = (uint8_t *)out;
    for (int32_t o = 0; o < p->outer; ++o) {
        for (int32_t i = 0; i < p->count; ++i) {
            const int32_t n = p->part_bytes[i];
            memcpy(dst, (const uint8_t *)in[i] + (size_t)o * (size_t)n, (size_t)n);
            dst += n;
        }
    }
}

void nn_quantize_f32_s8(const nn_affine_params_t *p, const float *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        /* Clamp in float first: converting an out-of-range float (or NaN) to int is undefined. */
        float r = roundf(in[i] / p->scale);
        r = r >= -512.0f ? (r <= 512.0f ? r : 512.0f) : -512.0f;
        const int32_t q = (int32_t)r + p->zero_point;
        out[i] = (int8_t)nn_fx_clamp(q, -128, 127);
    }
}

void nn_dequantize_s8_f32(const nn_affine_params_t *p, const int8_t *in, float *out) {
    /* The product of a float and a 9-bit integer is exact in double, so one
     * float multiply rounds exactly as TFLM's double product cast to float. */
    for (int32_t i = 0; i < p->size; ++i) {
        out[i] = p->scale * (float)((int32_t)in[i] - p->zero_point);
    }
}

void nn_requantize_s8(const nn_requant_params_t *p, const int8_t *in, int8_t *out) {
    for (int32_t i = 0; i < p->size; ++i) {
        const int32_t v = nn_fx_requantize((int32_t)in[i] - p->in_zp, p->mult, p->shift) + p->out_zp;
        out[i] = (int8_t)nn_fx_clamp(v, p->act_min, p->act_max);
    }
}

void nn_copy(const void *in, void *out, size_t bytes) {
    if (in != out) memmove(out, in, bytes);
}
