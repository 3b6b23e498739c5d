/*
 * el_container.h - validate a model container and run it with the firmware's kernels.
 *
 * Purpose: a model uploaded over the link arrives as a container (format in
 * docs/container.md, written by `edgeloop compile --container`): the compiled
 * model's steps, kernel parameters, constants, arena plan and descriptor as
 * packed, pointer-free data, and no code. el_container_load() checks every
 * byte of it before use and builds, in the caller's el_program_t, the kernel
 * parameter structs and an nn_model_t descriptor that point into the
 * container; el_program_run() then calls, step by step, the very kernel entry
 * points (nn_kernels.h) a compiled model's invoke() calls, so the outputs are
 * bit-exact with the compiled C of the same model.
 *
 * Contract:
 *   - A container is hostile until el_container_load() returns true. The
 *     checks: magic, format version, kernel ABI (EL_CONTAINER_KERNEL_ABI),
 *     section offsets and sizes within the container and the container within
 *     the slot; every step's op code, operand count and parameter ranges (the
 *     ranges the compiler emits, so no kernel can overflow or divide by zero);
 *     every region a kernel reads or writes (derived from its parameters, the
 *     kernel's *_scratch_bytes() included) within the arena, the model input,
 *     the model output or the constants; the planned arena within the
 *     executor arena; strings NUL-terminated within the strings section. A
 *     container that passes cannot make a kernel read or write outside its
 *     slot, the executor arena and the input/output buffers. On failure the
 *     program is left unusable (loaded is false) and `why` holds one
 *     line naming the failed check.
 *   - The container bytes must stay unchanged and 4-byte aligned in memory
 *     while the program is in use: parameter structs point into them.
 *   - RAM: sizeof(el_program_t), a compile-time constant (EL_EXEC_* limits).
 *   - el_program_run() has invoke()'s contract (nn_model.h): input of
 *     model.input.bytes and output of model.output.bytes, both 4-byte
 *     aligned (SPEC 5.7 puts an INFER input at 8); it uses the arena given at load time. Not reentrant per program.
 *
 * Example:
 *
 *     static el_program_t prog;
 *     static _Alignas(16) uint8_t arena[16384];
 *     char why[EL_WHY_BYTES];
 *     if (!el_container_load(&prog, slot, slot_used, slot_capacity, arena, sizeof arena, why))
 *         report(why);
 *     else
 *         el_program_run(&prog, input, output);
 */
#ifndef EL_CONTAINER_H
#define EL_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nn_kernels.h"
#include "nn_model.h"

/* Container format version this executor reads (2: ADD rescale tables, shared-storage reshape steps). */
#define EL_CONTAINER_FORMAT 2u
#define EL_CONTAINER_FORMAT_TEXT "2"

/* Kernel ABI a container's parameter layouts must follow: the kernels' own version. */
#define EL_CONTAINER_KERNEL_ABI ((uint32_t)NN_KERNEL_ABI_VERSION)

/* Most steps a program holds (28 bytes of RAM each on a 32-bit core). */
#ifndef EL_EXEC_MAX_STEPS
#define EL_EXEC_MAX_STEPS 64u
#endif

/* Bytes for the kernel parameter structs of all steps (a convolution takes 104). */
#ifndef EL_EXEC_PARAM_BYTES
#define EL_EXEC_PARAM_BYTES 3072u
#endif

/* Most labels a program's descriptor lists (one pointer of RAM each). */
#ifndef EL_EXEC_MAX_LABELS
#define EL_EXEC_MAX_LABELS 255u
#endif

/* Size of a `why` buffer (the protocol's ERROR text limit plus the NUL). */
#define EL_WHY_BYTES 121u

/* A kernel behind one signature: parameters, then operands 0..2. */
typedef void (*el_exec_fn_t)(const void *params, uint8_t *o0, uint8_t *o1, uint8_t *o2);

/* One step: the kernel, its operands, its parameter struct. */
typedef struct {
    el_exec_fn_t fn;          /* NULL for CONCATENATION (up to 17 operands, resolved per run) */
    const void *params;       /* in el_program_t.param_pool */
    uint8_t *ptr[3];          /* operands 0..2: resolved at load, or an offset into the model
                               * input (io bits 01) or output (io bits 10) of operand k at bits 2k */
    const uint32_t *operands; /* references: kind << 28 | offset (docs/container.md) */
    uint32_t result_ref;      /* the step's output region (a reference), for step observers */
    uint32_t result_bytes;
    uint8_t op;
    uint8_t operand_count;
    uint8_t io;               /* 2 bits per operand: 0 resolved, 1 input, 2 output */
} el_exec_step_t;

/* A validated container, ready to run. */
typedef struct {
    nn_model_t model;         /* descriptor for INFO; invoke is left to the caller */
    bool loaded;              /* true after a successful el_container_load() */
    const char *labels[EL_EXEC_MAX_LABELS];
    const uint8_t *container;
    uint32_t container_bytes;
    uint8_t *arena;
    uint32_t arena_bytes;     /* the executor arena given at load time */
    uint16_t step_count;
    el_exec_step_t steps[EL_EXEC_MAX_STEPS];
    _Alignas(8) uint8_t param_pool[EL_EXEC_PARAM_BYTES];
} el_program_t;

/*
 * Validate the container of `size` bytes at `data` (4-byte aligned) held in a
 * slot of `capacity` bytes, for an executor arena of `arena_bytes` at `arena`
 * (16-byte aligned), and build `prog`. Returns true on success; on failure
 * writes one line naming the failed check to why[EL_WHY_BYTES] (if why is not NULL).
 * prog->model.invoke is left NULL: the caller installs the trampoline that
 * calls el_program_run() for its slot.
 */
bool el_container_load(el_program_t *prog, const uint8_t *data, uint32_t size, uint32_t capacity,
                       uint8_t *arena, uint32_t arena_bytes, char *why);

/* Run a loaded program; NN_ERR_ARGUMENT for NULL or misaligned buffers or an unloaded program. */
nn_status_t el_program_run(const el_program_t *prog, const void *input, void *output);

/*
 * Step observer (per-layer profiling, tensor dumps): called after step `step` wrote `bytes`
 * bytes at `output`; returning false stops the run there (el_program_run_steps then returns
 * NN_OK). The same signature as the compiled models' step hook, so one observer serves both.
 */
typedef bool (*el_step_hook_t)(void *ctx, uint16_t step, const void *output, uint32_t bytes);

/* el_program_run() with `hook` (may be NULL) called after every step, in step order. */
nn_status_t el_program_run_steps(const el_program_t *prog, const void *input, void *output, el_step_hook_t hook,
                                 void *ctx);

#endif /* EL_CONTAINER_H */
