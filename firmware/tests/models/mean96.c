/* mean96.c - test model "mean96" (9216-byte image in, its mean out); see el_test_mean.h. */
#include "mean96.h"

#include "el_test_mean.h"

EL_TEST_MEAN_MODEL(mean96, 96, 96)
