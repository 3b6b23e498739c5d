/*
 * nn_model.h - the descriptor of a compiled int8 model, and how to run it.
 *
 * `edgeloop compile model.tflite --out DIR --name NAME` emits NAME.c / NAME.h
 * defining `const nn_model_t nn_model_NAME`. The firmware registry lists these
 * descriptors; the protocol's INFO message is built from them (SPEC.md 5.3).
 *
 * Contract of invoke():
 *   - input:  input.bytes bytes, row-major, dtype input.dtype; read only.
 *   - output: output.bytes bytes written, dtype output.dtype.
 *   - arena:  arena_bytes bytes of caller-owned scratch, 16-byte aligned; the
 *             model keeps no state in it between calls, so several models may
 *             share one arena as long as they do not run concurrently.
 *   - returns NN_OK, or an error status; never allocates, never blocks.
 *
 * Example:
 *
 *     #include "sine.h"
 *     static uint8_t arena[SINE_ARENA_BYTES] __attribute__((aligned(16)));
 *     int8_t x = 0, y;
 *     if (nn_model_sine.invoke(&x, &y, arena) == NN_OK) { ... }
 */
#ifndef NN_MODEL_H
#define NN_MODEL_H

#include <stdint.h>

/* Tensor element types, numbered as the protocol's tensor dtype (SPEC.md 5.4). */
typedef enum {
    NN_DTYPE_INT8 = 0,
    NN_DTYPE_UINT8 = 1,
    NN_DTYPE_INT16 = 2,
    NN_DTYPE_INT32 = 3,
    NN_DTYPE_FLOAT32 = 4
} nn_dtype_t;

/* What the host should send as input, numbered as the protocol's input_kind (SPEC.md 5.3). */
typedef enum {
    NN_INPUT_TENSOR = 0,       /* a plain tensor */
    NN_INPUT_IMAGE = 1,        /* [1, H, W, C] pixels */
    NN_INPUT_IMU_WINDOW = 2,   /* [1, window, channels] raw samples */
    NN_INPUT_IMU_FEATURES = 3, /* [1, channels * 9] window statistics */
    NN_INPUT_TIMESERIES_WINDOW = 4,  /* [1, window, channels] raw samples of any sensor (SPEC.md 9.3) */
    NN_INPUT_TIMESERIES_FEATURES = 5 /* [1, features] computed by the descriptor's feature_set */
} nn_input_kind_t;

typedef enum {
    NN_OK = 0,
    NN_ERR_ARGUMENT = 1, /* a NULL pointer or a misaligned arena */
    NN_ERR_INTERNAL = 2  /* a kernel reported an impossible state */
} nn_status_t;

/* Shape, type and quantization of a model's input or output tensor. */
typedef struct {
    uint8_t dtype;       /* nn_dtype_t */
    uint8_t rank;        /* 1..4 */
    uint16_t dims[4];    /* shape, first rank entries used */
    float scale;         /* real = scale * (q - zero_point); 0 for float tensors */
    int32_t zero_point;
    uint32_t bytes;      /* total size in bytes */
} nn_tensor_desc_t;

/* Everything the runtime and the host need to know about one compiled model. */
typedef struct nn_model {
    const char *name;
    uint8_t hash[32];          /* SHA-256 of the source .tflite file */
    uint32_t macc;             /* multiply-accumulates per inference */
    uint32_t flash_bytes;      /* constant data + code estimate */
    uint32_t ram_bytes;        /* arena_bytes plus any static state */
    uint8_t input_kind;        /* nn_input_kind_t */
    uint16_t sample_rate_hz;   /* IMU kinds only, else 0 */
    uint16_t window;           /* IMU kinds only, else 0 */
    uint16_t hop;              /* IMU kinds only, else 0 */
    nn_tensor_desc_t input;
    nn_tensor_desc_t output;
    uint8_t label_count;
    const char *const *labels; /* label_count class names, output index order */
    uint32_t arena_bytes;      /* scratch invoke() needs, see the contract above */
    nn_status_t (*invoke)(const void *input, void *output, void *arena);
    uint16_t input_norm_count; /* 0, or input element count: the host standardises inputs */
    const float *input_norm;   /* input_norm_count (mean, std) pairs: x' = (x - mean) / std (SPEC.md 5.3) */
    /* SPEC.md 9.3 (protocol 1.1). Left 0 by older generated models, which the core reads as 1.0 meant. */
    uint8_t feature_set;       /* 0 none (imu-features models report 1, edgeloop-stats9), 1 edgeloop-stats9 */
    uint32_t sample_rate_mhz;  /* fractional sample rate in mHz; 0: sample_rate_hz * 1000 */
    uint8_t norm_mode;         /* 0 per element, 1 per channel (input_norm_count = channels) */
} nn_model_t;

#endif /* NN_MODEL_H */
