/* mean64.c - test model "mean64" (4096-byte image in, its mean out); see el_test_mean.h. */
#include "mean64.h"

#include "el_test_mean.h"

EL_TEST_MEAN_MODEL(mean64, 64, 64)
