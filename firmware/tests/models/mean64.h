/*
 * mean64.h - test model "mean64": the int8 mean of a 64x64 grayscale image
 * (4096-byte input, 1-byte output); see el_test_mean.h.
 *
 * Example: nn_model_mean64.invoke(image, &mean, NULL);
 */
#ifndef MEAN64_H
#define MEAN64_H

#include "nn_model.h"

#define MEAN64_ARENA_BYTES 0u

extern const nn_model_t nn_model_mean64;

#endif /* MEAN64_H */
