/*
 * mean96.h - test model "mean96": the int8 mean of a 96x96 grayscale image
 * (9216-byte input, 1-byte output); see el_test_mean.h.
 *
 * Example: nn_model_mean96.invoke(image, &mean, NULL);
 */
#ifndef MEAN96_H
#define MEAN96_H

#include "nn_model.h"

#define MEAN96_ARENA_BYTES 0u

extern const nn_model_t nn_model_mean96;

#endif /* MEAN96_H */
