/*
 * fuzz_container.c - libFuzzer target of the model container parser and executor (el_container.h).
 *
 * The input is a container. It is copied into a heap block of exactly its
 * size (the slot), validated against a 64 KiB executor arena, and, when
 * accepted and cheap enough to run, loaded again with a heap arena of exactly
 * the planned size and run on heap input/output buffers of exactly the
 * descriptor's sizes. AddressSanitizer then reports any read or write outside
 * the slot, the arena, the input or the output; UBSan any overflow or bad
 * shift in the kernels (the optimized ones, through the portable DSP model).
 * A rejection must come with a one-line reason. Built by `make -C firmware fuzz`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "el_container.h"

#define ARENA_LIMIT (64u * 1024u)
#define WORK_LIMIT 2000000u /* kernel inner iterations per run, to keep executions fast */

static void check(int ok)
{
    if (!ok) {
        abort();
    }
}

/* Rough inner-loop count of one run, from the validated parameter structs. */
static uint64_t work(const el_program_t *prog)
{
    uint64_t total = 0;
    for (uint16_t i = 0; i < prog->step_count; i++) {
        const el_exec_step_t *s = &prog->steps[i];
        switch (s->op) {
        case 1:
        case 2: {
            const nn_conv_params_t *p = s->params;
            total += (uint64_t)p->batches * p->out_h * p->out_w * p->out_c * p->k_h * p->k_w * (s->op == 1 ? p->in_c : 1);
            break;
        }
        case 3: {
            const nn_fc_params_t *p = s->params;
            total += (uint64_t)p->batches * p->in_features * p->out_features;
            break;
        }
        case 4:
        case 5: {
            const nn_pool_params_t *p = s->params;
            total += (uint64_t)p->batches * p->out_h * p->out_w * p->channels * p->k_h * p->k_w;
            break;
        }
        default: total += 1u << 16; break; /* element-wise ops: bounded by the arena and buffers */
        }
    }
    return total;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static el_program_t prog;
    static _Alignas(16) uint8_t probe_arena[ARENA_LIMIT];
    char why[EL_WHY_BYTES];
    if (size == 0 || size > (1u << 20)) {
        return 0;
    }
    uint8_t *slot = malloc(size);
    check(slot != NULL);
    memcpy(slot, data, size);
    if (!el_container_load(&prog, slot, (uint32_t)size, (uint32_t)size, probe_arena, ARENA_LIMIT, why)) {
        size_t n = strlen(why);
        check(n > 19 && n < EL_WHY_BYTES && strchr(why, '\n') == NULL);
        check(!prog.loaded);
        free(slot);
        return 0;
    }
    const uint32_t planned = prog.model.arena_bytes;
    if (work(&prog) <= WORK_LIMIT && prog.model.input.bytes <= ARENA_LIMIT && prog.model.output.bytes <= ARENA_LIMIT) {
        const uint32_t rounded = planned ? (planned + 15u) & ~15u : 16u; /* aligned_alloc wants a multiple */
        uint8_t *arena = aligned_alloc(16, rounded);
        uint8_t *in = malloc(prog.model.input.bytes);
        uint8_t *out = malloc(prog.model.output.bytes);
        check(arena && in && out);
        check(el_container_load(&prog, slot, (uint32_t)size, (uint32_t)size, arena, planned, why));
        for (uint32_t i = 0; i < prog.model.input.bytes; i++) {
            in[i] = (uint8_t)(i * 37u + size);
        }
        if (prog.model.input.dtype == NN_DTYPE_FLOAT32) {
            for (uint32_t i = 0; i + 4u <= prog.model.input.bytes; i += 4u) {
                float f = (float)((int)(i % 200u) - 100) * 0.25f; /* finite inputs: QUANTIZE's contract */
                memcpy(in + i, &f, sizeof f);
            }
        }
        check(el_program_run(&prog, in, out) == NN_OK);
        free(out);
        free(in);
        free(arena);
    }
    free(slot);
    return 0;
}
