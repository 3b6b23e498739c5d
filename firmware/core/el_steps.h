/*
 * el_steps.h - per-step requests of protocol 1.1: PROFILE (time of every step) and DUMP_TENSOR (one
 * step's output, chunked). SPEC.md 9.6 and 9.7.
 *
 * Both run the model through its step-observing entry (nn_model_t.invoke_steps), so a normal INFER
 * (invoke) pays nothing for them. The core's dispatcher hands the two request types here with the
 * means to reply; this module owns no buffers beyond the caller's.
 *
 * Example (el_core.c):
 *     case EL_MSG_PROFILE:
 *     case EL_MSG_DUMP_TENSOR: el_steps_serve(&env, h.type, h.seq, p, n); break;
 */
#ifndef EL_STEPS_H
#define EL_STEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "el_config.h" /* EL_CAP_PROFILE, EL_CAP_TENSOR_DUMP: the INFO capability bits of these requests */
#include "el_frame.h"
#include "nn_model.h"

#define EL_MSG_PROFILE 0x09u
#define EL_MSG_DUMP_TENSOR 0x0Au
/* Steps a PROFILE reply times at most (4 bytes of static RAM each); later steps are left out. */
#ifndef EL_PROFILE_MAX_STEPS
#define EL_PROFILE_MAX_STEPS 256u
#endif

/* What the dispatcher lends the per-step requests. */
typedef struct {
    el_sink_fn sink;                 /* writes reply bytes to the link */
    void (*send_error)(uint16_t seq, uint16_t code, const char *text);
    bool (*model_index)(uint16_t seq, uint8_t requested, uint8_t *index); /* replies UNKNOWN_MODEL itself */
    const nn_model_t *(*model_at)(uint8_t index);  /* compiled-in or uploaded model at a valid index */
    uint8_t *(*output_buffer)(uint8_t index);      /* where that model's output goes */
} el_steps_env_t;

/* Serve one PROFILE or DUMP_TENSOR request (payload p, n bytes); always sends exactly one reply. */
void el_steps_serve(const el_steps_env_t *env, uint8_t type, uint16_t seq, const uint8_t *p, size_t n);

#endif /* EL_STEPS_H */
