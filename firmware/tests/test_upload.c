/*
 * test_upload.c - the upload state machine (el_upload.c) against the golden upload vectors of
 * protocol/vectors/upload.json (SPEC.md 9.8), the same bytes the Python codec is tested with.
 *
 * Each golden request is decoded by el_upload_serve() and its reply encoded by it: the reply
 * type, the ERROR code, and the exact payload (or, for UPLOAD_COMMITTED, its first bytes and
 * the descriptor flag) must be the vector's. The model the conversation commits, the zoo sine
 * container, must then run bit-exact with the compiled sine model, through invoke() and
 * through invoke_steps() (PROFILE / DUMP_TENSOR). Built with 2 slots of 64 KB, as the vectors'
 * board (tests/firmware/test_upload_slots.py uses the same sizes).
 */
#include <stdint.h>
#include <string.h>

#include "el_golden_vectors.h"
#include "el_test.h"
#include "el_upload.h"
#include "sine.h"

static void test_golden_conversation(void)
{
    el_upload_init(el_golden_upload_first_id);
    EL_CHECK(el_golden_upload_step_count >= 10, "only %zu upload steps", el_golden_upload_step_count);
    for (size_t i = 0; i < el_golden_upload_step_count; i++) {
        const el_golden_upload_step_t *g = &el_golden_upload_steps[i];
        static el_upload_reply_t r;
        EL_CHECK(el_upload_handles(g->request_type), "step %zu (%s): type 0x%02x not an upload request", i, g->note,
                 g->request_type);
        el_upload_serve(g->request_type, g->request, g->request_len, g->active_model, &r);
        EL_CHECK(r.type == g->reply_type, "step %zu (%s): reply type 0x%02x, want 0x%02x (%s)", i, g->note, r.type,
                 g->reply_type, r.text);
        if (g->reply_type == 0xFFu) {
            EL_CHECK(r.error == g->code, "step %zu (%s): error %u, want %u", i, g->note, r.error, g->code);
            EL_CHECK(r.text[0] != '\0' && strchr(r.text, '\n') == NULL, "step %zu (%s): no one-line text", i, g->note);
        } else {
            EL_CHECK(r.len == g->reply_len && memcmp(r.payload, g->reply, g->reply_len) == 0,
                     "step %zu (%s): reply payload differs (%zu bytes, want %zu)", i, g->note, r.len, g->reply_len);
            EL_CHECK(r.append_descriptor == (g->head != 0), "step %zu (%s): descriptor flag %d", i, g->note,
                     r.append_descriptor);
        }
    }
}

static bool last_step_hook(void *ctx, uint16_t step, const void *output, uint32_t bytes)
{
    uint16_t *seen = ctx;
    EL_CHECK(step == *seen, "step %u after %u", step, *seen);
    EL_CHECK(bytes >= 1u && output != NULL, "step %u: empty output", step);
    (*seen)++;
    return true;
}

/* The committed slot model equals the compiled sine model for every input. */
static void test_the_committed_model_runs_bit_exact_with_the_compiled_c(void)
{
    el_upload_reply_t r;
    static const uint8_t commit[2] = {0, 1};
    el_upload_init(el_golden_upload_first_id);
    /* Upload the vectors' container again, in one chunk, and commit it. */
    uint8_t begin[40] = {0, 0};
    const uint32_t size = (uint32_t)el_golden_upload_container_bytes;
    memcpy(begin + 2, &size, 4);
    const uint16_t chunk = (uint16_t)size;
    memcpy(begin + 6, &chunk, 2);
    memcpy(begin + 8, el_golden_upload_steps[0].request + 8, 32); /* the vectors' BEGIN carries its SHA-256 */
    el_upload_serve(EL_MSG_UPLOAD_BEGIN, begin, sizeof begin, 0, &r);
    EL_CHECK(r.type == 0x90, "BEGIN: %s", r.text);
    static uint8_t data[6 + 65536];
    memset(data, 0, 6);
    memcpy(data + 6, el_golden_upload_container, size);
    el_upload_serve(EL_MSG_UPLOAD_CHUNK, data, 6u + size, 0, &r);
    EL_CHECK(r.type == 0x91, "CHUNK: %s", r.text);
    el_upload_serve(EL_MSG_UPLOAD_COMMIT, commit, sizeof commit, 0, &r);
    EL_CHECK(r.type == 0x92 && r.new_active == el_golden_upload_first_id, "COMMIT: %s", r.text);
    const nn_model_t *m = el_upload_model(el_golden_upload_first_id);
    EL_CHECK(m != NULL && strcmp(m->name, "sine") == 0, "no slot model named sine");
    if (m == NULL) {
        return;
    }
    EL_CHECK(m->step_count == nn_model_sine.step_count && m->invoke_steps != NULL,
             "slot model: %u steps and invoke_steps %p; the compiled model has %u", m->step_count,
             (void *)m->invoke_steps, nn_model_sine.step_count);
    static _Alignas(16) uint8_t arena[SINE_ARENA_BYTES];
    _Alignas(4) int8_t x[4] = {0};
    _Alignas(4) int8_t want[4], got[4], stepped[4];
    for (int v = -128; v < 128; v++) {
        x[0] = (int8_t)v;
        EL_CHECK(nn_model_sine.invoke(x, want, arena) == NN_OK, "compiled sine failed");
        EL_CHECK(m->invoke(x, got, NULL) == NN_OK && got[0] == want[0], "x=%d: slot %d, compiled %d", v, got[0],
                 want[0]);
        uint16_t seen = 0;
        EL_CHECK(m->invoke_steps(x, stepped, NULL, last_step_hook, &seen) == NN_OK && stepped[0] == want[0] &&
                     seen == m->step_count,
                 "x=%d: invoke_steps gave %d after %u steps", v, stepped[0], seen);
    }
}

int main(void)
{
    test_golden_conversation();
    test_the_committed_model_runs_bit_exact_with_the_compiled_c();
    return el_test_exit("upload");
}
