/* el_steps.c - PROFILE and DUMP_TENSOR (SPEC.md 9.6, 9.7); see el_steps.h. */
#include "el_steps.h"

#include <string.h>

#include "el_core.h"
#include "el_registry.h"
#include "port.h"

/* Profiling state: ticks of each step (at most what fits one reply), and the last tick mark. */
typedef struct {
    uint32_t mark;
    uint16_t count;
    uint16_t capacity;
    uint8_t *ticks; /* little-endian u32 per step, written straight into the reply body */
} el_profile_t;

/* Dump state: the step wanted and, once seen, where its output lives. */
typedef struct {
    uint16_t step;
    const uint8_t *data;
    uint32_t bytes;
    bool seen;
} el_dump_t;

static void el_steps_le32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
    b[2] = (uint8_t)(v >> 16);
    b[3] = (uint8_t)(v >> 24);
}

static uint32_t el_steps_rd32(const uint8_t *b)
{
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

/* nn_step_hook_t of PROFILE: the step's ticks since the last mark; the mark is taken after recording,
 * so the hook's own time is counted in no step. */
static bool el_profile_hook(void *ctx, uint16_t step, const void *output, uint32_t bytes)
{
    el_profile_t *pr = (el_profile_t *)ctx;
    uint32_t now = port_ticks();
    (void)output;
    (void)bytes;
    if (step < pr->capacity) {
        el_steps_le32(pr->ticks + 4u * step, now - pr->mark);
        pr->count = (uint16_t)(step + 1u);
    }
    pr->mark = port_ticks();
    return true;
}

/* nn_step_hook_t of DUMP_TENSOR: remember the wanted step's output and stop the inference there. */
static bool el_dump_hook(void *ctx, uint16_t step, const void *output, uint32_t bytes)
{
    el_dump_t *d = (el_dump_t *)ctx;
    if (step != d->step) {
        return true;
    }
    d->data = (const uint8_t *)output;
    d->bytes = bytes;
    d->seen = true;
    return false;
}

/* Checks shared by both requests (`extra`: bytes after the input); on failure the error is sent and NULL
 * returned. */
static const nn_model_t *el_steps_model(const el_steps_env_t *env, uint16_t seq, const uint8_t *p, size_t n,
                                        size_t extra, uint8_t *index)
{
    if (n < 2u + extra) {
        env->send_error(seq, EL_ERR_BAD_PAYLOAD, extra == 0u ? "PROFILE needs model, reserved and the input tensor"
                                                             : "DUMP_TENSOR needs model, reserved, the input tensor, "
                                                               "step and offset");
        return NULL;
    }
    if (!env->model_index(seq, p[0], index)) {
        return NULL;
    }
    const nn_model_t *m = env->model_at(*index); /* an upload slot index is past el_models[] */
    if (m->invoke_steps == NULL || m->step_count == 0u) {
        env->send_error(seq, EL_ERR_BAD_PAYLOAD, "this model was built without step hooks (NN_NO_STEP_HOOKS or "
                                                 "hand-written): recompile it with edgeloop compile");
        return NULL;
    }
    if (n - 2u - extra != m->input.bytes) {
        env->send_error(seq, EL_ERR_BAD_INPUT_SIZE, "input size differs from the model's input tensor");
        return NULL;
    }
    return m;
}

static void el_on_profile(const el_steps_env_t *env, uint16_t seq, const uint8_t *p, size_t n)
{
    uint8_t i;
    const nn_model_t *m = el_steps_model(env, seq, p, n, 0u, &i);
    if (m == NULL) {
        return;
    }
    /* The reply is built here: 8 header bytes, then one u32 per step (at most EL_PROFILE_MAX_STEPS). */
    static uint8_t body[8u + 4u * EL_PROFILE_MAX_STEPS];
    const size_t head = 8u;
    el_profile_t pr = {0u, 0u, (uint16_t)EL_PROFILE_MAX_STEPS, body + head};
    if (pr.capacity > m->step_count) {
        pr.capacity = m->step_count;
    }
    pr.mark = port_ticks();
    nn_status_t st = m->invoke_steps(p + 2, env->output_buffer(i), el_arena, el_profile_hook, &pr);
    if (st != NN_OK) {
        env->send_error(seq, EL_ERR_INTERNAL, "model invoke_steps failed");
        return;
    }
    body[0] = i;
    body[1] = 0u;
    el_steps_le32(body + 2, port_tick_hz());
    body[6] = (uint8_t)pr.count;
    body[7] = (uint8_t)(pr.count >> 8);
    el_tx_t tx;
    el_tx_begin(&tx, env->sink, NULL, (uint8_t)(EL_MSG_PROFILE | EL_MSG_REPLY), seq);
    el_tx_put(&tx, body, head + 4u * pr.count);
    el_tx_end(&tx);
}

static void el_on_dump_tensor(const el_steps_env_t *env, uint16_t seq, const uint8_t *p, size_t n)
{
    uint8_t i;
    const nn_model_t *m = el_steps_model(env, seq, p, n, 6u, &i);
    if (m == NULL) {
        return;
    }
    const uint8_t *tail = p + 2u + m->input.bytes; /* step and offset follow the input (SPEC.md 9.7) */
    el_dump_t d = {(uint16_t)(tail[0] | (tail[1] << 8)), NULL, 0u, false};
    uint32_t offset = el_steps_rd32(tail + 2);
    if (d.step >= m->step_count) {
        env->send_error(seq, EL_ERR_BAD_PAYLOAD, "DUMP_TENSOR step is beyond the model's last step");
        return;
    }
    nn_status_t st = m->invoke_steps(p + 2, env->output_buffer(i), el_arena, el_dump_hook, &d); /* aligned as INFER's */
    if (st != NN_OK || !d.seen) {
        env->send_error(seq, EL_ERR_INTERNAL, "model invoke_steps failed before the requested step");
        return;
    }
    if (offset >= d.bytes) {
        env->send_error(seq, EL_ERR_BAD_PAYLOAD, "DUMP_TENSOR offset is at or beyond the end of the tensor");
        return;
    }
    uint32_t len = d.bytes - offset;
    if (len > EL_MAX_PAYLOAD - 12u) {
        len = EL_MAX_PAYLOAD - 12u;
    }
    uint8_t head[12];
    head[0] = i;
    head[1] = 0u;
    head[2] = (uint8_t)d.step;
    head[3] = (uint8_t)(d.step >> 8);
    el_steps_le32(head + 4, d.bytes);
    el_steps_le32(head + 8, offset);
    el_tx_t tx;
    el_tx_begin(&tx, env->sink, NULL, (uint8_t)(EL_MSG_DUMP_TENSOR | EL_MSG_REPLY), seq);
    el_tx_put(&tx, head, sizeof head);
    el_tx_put(&tx, d.data + offset, len);
    el_tx_end(&tx);
}

void el_steps_serve(const el_steps_env_t *env, uint8_t type, uint16_t seq, const uint8_t *p, size_t n)
{
    if (type == EL_MSG_PROFILE) {
        el_on_profile(env, seq, p, n);
    } else {
        el_on_dump_tensor(env, seq, p, n);
    }
}
