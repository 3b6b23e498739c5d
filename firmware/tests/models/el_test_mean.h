/*
 * el_test_mean.h - the "mean" test models: the int8 average of an image,
 * used to measure link throughput with large inputs and next to no compute.
 *
 * Contract: EL_TEST_MEAN_MODEL(name, H, W) defines nn_model_<name> with input
 * [1, H, W, 1] int8 (scale 1/255, zero point -128) and output [1, 1] int8 in
 * the same quantization: round-half-away-from-zero(sum(x) / (H * W)). It
 * needs no arena (NAME_ARENA_BYTES is 0).
 *
 * Example (mean64.c):
 *     #include "mean64.h"
 *     #include "el_test_mean.h"
 *     EL_TEST_MEAN_MODEL(mean64, 64, 64)
 */
#ifndef EL_TEST_MEAN_H
#define EL_TEST_MEAN_H

#include <stdint.h>

#include "nn_model.h"

static inline nn_status_t el_test_mean_invoke(const int8_t *x, int8_t *y, int32_t n)
{
    if (!x || !y) {
        return NN_ERR_ARGUMENT;
    }
    int32_t sum = 0;
    for (int32_t i = 0; i < n; i++) {
        sum += x[i];
    }
    int32_t q = sum >= 0 ? (2 * sum + n) / (2 * n) : -((-2 * sum + n) / (2 * n));
    *y = (int8_t)q;
    return NN_OK;
}

static const char *const el_test_mean_labels[1] = {"mean"};

#define EL_TEST_MEAN_MODEL(NAME, H, W)                                                          \
    static nn_status_t NAME##_invoke(const void *input, void *output, void *arena)              \
    {                                                                                           \
        (void)arena;                                                                            \
        return el_test_mean_invoke((const int8_t *)input, (int8_t *)output, (H) * (W));         \
    }                                                                                           \
    const nn_model_t nn_model_##NAME = {                                                        \
        .name = #NAME,                                                                          \
        .hash = {0},                                                                            \
        .macc = (H) * (W),                                                                      \
        .flash_bytes = 64,                                                                      \
        .ram_bytes = 0,                                                                         \
        .input_kind = NN_INPUT_IMAGE,                                                           \
        .input = {NN_DTYPE_INT8, 4, {1, (H), (W), 1}, 1.0f / 255.0f, -128, (H) * (W)},          \
        .output = {NN_DTYPE_INT8, 2, {1, 1}, 1.0f / 255.0f, -128, 1},                           \
        .label_count = 1,                                                                       \
        .labels = el_test_mean_labels,                                                          \
        .arena_bytes = 0,                                                                       \
        .invoke = NAME##_invoke,                                                                \
    };

#endif /* EL_TEST_MEAN_H */
