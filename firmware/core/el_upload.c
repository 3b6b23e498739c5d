/* el_upload.c - upload slots and their state machine; see el_upload.h and SPEC.md 9.8. */
#include "el_upload.h"

#include <string.h>

#include "el_config.h"
#include "el_flash_slot.h"
#include "el_sha256.h"
#include "el_text.h"

#define EL_UP_ERROR 0xFFu
#define EL_SLOTS_MAX 4u

/* The flash slot, when built in, follows the RAM slots. */
#define EL_SLOT_COUNT (EL_UPLOAD_SLOTS + EL_FLASH_SLOT)

#if EL_SLOT_COUNT > EL_SLOTS_MAX
#error "EL_UPLOAD_SLOTS + EL_FLASH_SLOT must be at most 4"
#endif
#if EL_FLASH_SLOT && EL_UPLOAD_SLOTS == 0
#error "a flash slot needs at least one RAM slot (EL_UPLOAD_SLOTS >= 1)"
#endif

const uint8_t el_upload_slot_count = EL_SLOT_COUNT;

#if EL_SLOT_COUNT > 0

#define el_slot_count el_upload_slot_count

typedef struct {
    uint8_t state;
    uint32_t size;
    uint16_t chunk_bytes, chunk_count, received;
    uint8_t sha[32];
    uint8_t got[EL_UPLOAD_MAX_CHUNKS / 8u];
    uint32_t input_at, output_at; /* offsets in the slot of a loaded model's buffers */
    el_program_t prog;
} el_slot_t;

/* Named so that Cortex-M linker scripts place them in the big memory (cm_sections.ld: .bulk, the
 * Nucleo's AXI SRAM) with -fdata-sections. */
static _Alignas(16) uint32_t el_slot_mem[EL_UPLOAD_SLOTS][EL_SLOT_BYTES / 4u];
static _Alignas(16) uint8_t el_slot_arena[EL_UPLOAD_SLOTS][EL_SLOT_ARENA_BYTES];
#if EL_FLASH_SLOT
/* The flash slot's executor arena and, as flash is read-only, its model's last input and output. */
static _Alignas(16) uint8_t el_flash_arena[EL_FLASH_SLOT_ARENA_BYTES];
static _Alignas(16) uint8_t el_flash_io[EL_FLASH_SLOT_IO_BYTES];
#endif
static el_slot_t el_slots_state[EL_SLOT_COUNT];
static uint8_t el_first_id;

/* nn_model_t.invoke and invoke_steps have no context argument: one trampoline pair per slot. */
#define EL_SLOT_INVOKE(s)                                                                          \
    static nn_status_t el_slot_invoke_##s(const void *in, void *out, void *arena)                  \
    {                                                                                              \
        (void)arena; /* a slot model runs in its own executor arena */                            \
        return el_program_run(&el_slots_state[(s) % EL_SLOT_COUNT].prog, in, out);                 \
    }                                                                                              \
    static nn_status_t el_slot_invoke_steps_##s(const void *in, void *out, void *arena,            \
                                                nn_step_hook_t hook, void *ctx)                    \
    {                                                                                              \
        (void)arena;                                                                               \
        return el_program_run_steps(&el_slots_state[(s) % EL_SLOT_COUNT].prog, in, out, hook, ctx); \
    }
EL_SLOT_INVOKE(0)
EL_SLOT_INVOKE(1)
EL_SLOT_INVOKE(2)
EL_SLOT_INVOKE(3)
static nn_status_t (*const el_slot_invoke[EL_SLOTS_MAX])(const void *, void *, void *) = {
    el_slot_invoke_0, el_slot_invoke_1, el_slot_invoke_2, el_slot_invoke_3};
/* PROFILE and DUMP_TENSOR (SPEC 9.6, 9.7) observe a slot model's steps like a compiled model's. */
static nn_status_t (*const el_slot_invoke_steps[EL_SLOTS_MAX])(const void *, void *, void *, nn_step_hook_t,
                                                              void *) = {
    el_slot_invoke_steps_0, el_slot_invoke_steps_1, el_slot_invoke_steps_2, el_slot_invoke_steps_3};

static bool el_is_flash(uint8_t s)
{
    return EL_FLASH_SLOT && s == EL_UPLOAD_SLOTS;
}

/* The container bytes of slot s: RAM, or the flash slot's memory-mapped data. */
static const uint8_t *el_slot_data(uint8_t s)
{
#if EL_FLASH_SLOT
    if (el_is_flash(s)) {
        const el_flash_t *f = el_flash_slot_driver();
        return f->map(f->ctx, f->base + EL_FLASH_DATA_AT);
    }
#endif
    return (const uint8_t *)el_slot_mem[s];
}

static uint32_t el_slot_capacity(uint8_t s)
{
    (void)s;
#if EL_FLASH_SLOT
    if (el_is_flash(s)) {
        return el_flash_slot_capacity(el_flash_slot_driver());
    }
#endif
    return EL_SLOT_BYTES;
}

static uint32_t el_slot_arena_bytes(uint8_t s)
{
    return el_is_flash(s) ? EL_FLASH_SLOT_ARENA_BYTES : EL_SLOT_ARENA_BYTES;
}

static uint8_t *el_slot_arena_of(uint8_t s)
{
#if EL_FLASH_SLOT
    if (el_is_flash(s)) {
        return el_flash_arena;
    }
#endif
    return el_slot_arena[s];
}

/* Where a loaded model's last input and output live: after the container, or (flash) in el_flash_io. */
static uint8_t *el_slot_io(uint8_t s)
{
#if EL_FLASH_SLOT
    if (el_is_flash(s)) {
        return el_flash_io;
    }
#endif
    return (uint8_t *)el_slot_mem[s];
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)v;
    b[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *b, uint32_t v)
{
    wr16(b, v);
    wr16(b + 2, v >> 16);
}

static uint32_t align16(uint32_t v)
{
    return (v + 15u) & ~15u;
}

static bool el_load(uint8_t s, char *why);
static bool el_place_io(uint8_t s);

void el_upload_init(uint8_t first_model_id)
{
    memset(el_slots_state, 0, sizeof el_slots_state);
    el_first_id = first_model_id;
#if EL_FLASH_SLOT
    /* A committed flash model survives a reset: intact marker, record and data, and it validates. */
    uint8_t s = EL_UPLOAD_SLOTS;
    uint32_t size;
    char why[EL_WHY_BYTES];
    if (el_flash_slot_boot(el_flash_slot_driver(), &size, why) == EL_FLASH_LOADED) {
        el_slots_state[s].size = size;
        if (!el_load(s, why) || !el_place_io(s)) {
            memset(&el_slots_state[s], 0, sizeof el_slots_state[s]);
        }
    }
#endif
}

bool el_upload_handles(uint8_t type)
{
    return type >= EL_MSG_UPLOAD_BEGIN && type <= EL_MSG_SLOT_ERASE;
}

/* ---- replies ------------------------------------------------------------- */

static void el_reply_init(el_upload_reply_t *r, uint8_t type)
{
    memset(r, 0, sizeof *r);
    r->type = (uint8_t)(type | 0x80u);
    r->new_active = EL_UPLOAD_NONE;
    r->forget_input = EL_UPLOAD_NONE;
}

/* ERROR "a<u1>b<u2>c" (NULL b or c ends the text as el_core's el_send_error_fmt does). */
static void el_error(el_upload_reply_t *r, uint16_t code, const char *a, uint32_t u1, const char *b, uint32_t u2,
                     const char *c)
{
    char *p = r->text, *end = r->text + EL_WHY_BYTES - 1u;
    r->type = EL_UP_ERROR;
    r->error = code;
    r->len = 0;
    p = el_fmt_str(p, end, a);
    if (b) {
        p = el_fmt_u32(p, end, u1);
        p = el_fmt_str(p, end, b);
        if (c) {
            p = el_fmt_u32(p, end, u2);
            p = el_fmt_str(p, end, c);
        }
    }
    *p = '\0';
}

/* ---- slot state ------------------------------------------------------------ */

/* Empty slot s; if it held a model, the core forgets its input and falls back if it was active. */
static void el_slot_empty(uint8_t s, uint8_t active_model, el_upload_reply_t *r)
{
    el_slot_t *st = &el_slots_state[s];
    uint8_t id = (uint8_t)(el_first_id + s);
    if (st->state == EL_SLOT_LOADED) {
        r->forget_input = id;
        if (active_model == id) {
            r->new_active = 0; /* the first compiled-in model: always there */
        }
    }
    memset(st, 0, sizeof *st);
}

static bool el_slot_arg(const uint8_t *p, size_t n, size_t need, const char *what, el_upload_reply_t *r, uint8_t *s)
{
    if (n < need) {
        el_error(r, 1 /* BAD_PAYLOAD */, what, 0, NULL, 0, NULL);
        return false;
    }
    if (p[0] >= el_slot_count) {
        el_error(r, 1, "slot ", p[0], " does not exist: this board has ", EL_SLOT_COUNT, " upload slots (INFO)");
        return false;
    }
    *s = p[0];
    return true;
}

/* UPLOAD_STATUS / resume report: slot, model_id, state, 0, size, chunk_bytes, chunk_count, received, bitmap. */
static void el_status(uint8_t s, el_upload_reply_t *r)
{
    const el_slot_t *st = &el_slots_state[s];
    uint8_t *b = r->payload;
    b[0] = s;
    b[1] = (uint8_t)(el_first_id + s);
    b[2] = st->state;
    b[3] = 0;
    wr32(b + 4, st->size);
    wr16(b + 8, st->chunk_bytes);
    wr16(b + 10, st->chunk_count);
    wr16(b + 12, st->received);
    size_t map = (st->chunk_count + 7u) / 8u;
    memcpy(b + 14, st->got, map);
    r->len = 14u + map;
}

static void el_on_begin(const uint8_t *p, size_t n, uint8_t active_model, el_upload_reply_t *r)
{
    uint8_t s;
    if (!el_slot_arg(p, n, 40, "UPLOAD_BEGIN needs slot, reserved, size u32, chunk_bytes u16 and sha256", r, &s)) {
        return;
    }
    uint32_t size = rd32(p + 2);
    uint32_t chunk = (uint32_t)p[6] | (uint32_t)p[7] << 8;
    const uint8_t *sha = p + 8;
    el_slot_t *st = &el_slots_state[s];
    if (active_model == el_first_id + s && st->state == EL_SLOT_LOADED) {
        el_error(r, EL_ERR_SLOT_BUSY, "slot ", s, " holds the active model: select another model first, or upload "
                 "into another slot", 0, NULL);
        return;
    }
    if (size == 0 || size > el_slot_capacity(s)) {
        el_error(r, EL_ERR_NO_SPACE, "the model is ", size, " bytes; slot holds ", el_slot_capacity(s), " bytes");
        return;
    }
    if (el_is_flash(s) && (chunk == 0 || chunk % EL_FLASH_WORD != 0)) {
        el_error(r, 1, "chunk_bytes ", chunk, " must be a multiple of ", EL_FLASH_WORD, " for the flash slot");
        return;
    }
    uint32_t count = chunk ? (size + chunk - 1u) / chunk : 0u;
    if (chunk == 0 || count > EL_UPLOAD_MAX_CHUNKS) {
        el_error(r, 1, "chunk_bytes must be at least ", (size + EL_UPLOAD_MAX_CHUNKS - 1u) / EL_UPLOAD_MAX_CHUNKS,
                 " for a model of this size (at most ", EL_UPLOAD_MAX_CHUNKS, " chunks)");
        return;
    }
    bool resume = st->state == EL_SLOT_RECEIVING && st->size == size && st->chunk_bytes == chunk &&
                  memcmp(st->sha, sha, 32) == 0;
    if (!resume) {
        el_slot_empty(s, active_model, r);
        st->state = EL_SLOT_RECEIVING;
        st->size = size;
        st->chunk_bytes = (uint16_t)chunk;
        st->chunk_count = (uint16_t)count;
        memcpy(st->sha, sha, 32);
#if EL_FLASH_SLOT
        char why[EL_WHY_BYTES];
        if (el_is_flash(s) && !el_flash_slot_begin(el_flash_slot_driver(), size, why)) {
            memset(st, 0, sizeof *st);
            el_error(r, 8 /* INTERNAL */, why, 0, NULL, 0, NULL);
            return;
        }
#endif
    }
    el_status(s, r);
}

static void el_on_chunk(const uint8_t *p, size_t n, el_upload_reply_t *r)
{
    uint8_t s;
    if (!el_slot_arg(p, n, 7, "UPLOAD_CHUNK needs slot, reserved, offset u32 and at least one byte", r, &s)) {
        return;
    }
    el_slot_t *st = &el_slots_state[s];
    uint32_t off = rd32(p + 2), len = (uint32_t)(n - 6u);
    if (st->state != EL_SLOT_RECEIVING) {
        el_error(r, EL_ERR_UPLOAD_STATE, "no upload in progress on slot ", s, ": send UPLOAD_BEGIN first", 0, NULL);
        return;
    }
    if ((uint64_t)off + len > st->size) {
        el_error(r, EL_ERR_UPLOAD_STATE, "chunk ends at byte ", (uint32_t)((uint64_t)off + len > 0xFFFFFFFFu
                 ? 0xFFFFFFFFu : off + len), " beyond the announced size of ", st->size, " bytes");
        return;
    }
    uint32_t index = off / st->chunk_bytes;
    uint32_t want = index + 1u == st->chunk_count ? st->size - off : st->chunk_bytes;
    if (off % st->chunk_bytes != 0 || len != want) {
        el_error(r, 1, "chunk at offset ", off, " must start at a multiple of chunk_bytes and hold ", want, " bytes");
        return;
    }
    uint8_t bit = (uint8_t)(1u << (index % 8u));
    if (!el_is_flash(s)) {
        memcpy((uint8_t *)el_slot_mem[s] + off, p + 6, len); /* idempotent: a repeat writes the same place */
    }
#if EL_FLASH_SLOT
    else if (!(st->got[index / 8u] & bit)) { /* a flash word is programmed once: a repeat is acknowledged only */
        char why[EL_WHY_BYTES];
        if (!el_flash_slot_write(el_flash_slot_driver(), st->size, off, p + 6, len, why)) {
            el_error(r, 8 /* INTERNAL */, why, 0, NULL, 0, NULL);
            return;
        }
    }
#endif
    if (!(st->got[index / 8u] & bit)) {
        st->got[index / 8u] |= bit;
        st->received++;
    }
    uint8_t *b = r->payload;
    b[0] = s;
    b[1] = 0;
    wr32(b + 2, off);
    wr16(b + 6, st->received);
    wr16(b + 8, st->chunk_count);
    r->len = 10;
}

/* Validate slot s's container in place and build its program. */
static bool el_load(uint8_t s, char *why)
{
    el_slot_t *st = &el_slots_state[s];
    return el_container_load(&st->prog, el_slot_data(s), st->size, el_slot_capacity(s), el_slot_arena_of(s),
                             el_slot_arena_bytes(s), why);
}

/* Place a loaded model's last input and output; false when they do not fit. Marks the slot loaded. */
static bool el_place_io(uint8_t s)
{
    el_slot_t *st = &el_slots_state[s];
    const nn_model_t *m = &st->prog.model;
    uint32_t in_at = el_is_flash(s) ? 0u : align16(st->size);
    uint32_t limit = el_is_flash(s) ? EL_FLASH_SLOT_IO_BYTES : EL_SLOT_BYTES;
    st->input_at = in_at;
    st->output_at = in_at + align16(m->input.bytes);
    if ((uint64_t)st->output_at + align16(m->output.bytes) > limit) {
        return false;
    }
    st->prog.model.invoke = el_slot_invoke[s];
    st->prog.model.invoke_steps = el_slot_invoke_steps[s];
    st->prog.model.step_count = st->prog.step_count;
    st->state = EL_SLOT_LOADED;
    return true;
}

static void el_on_commit(const uint8_t *p, size_t n, uint8_t active_model, el_upload_reply_t *r)
{
    uint8_t s;
    if (!el_slot_arg(p, n, 2, "UPLOAD_COMMIT needs slot and activate", r, &s)) {
        return;
    }
    el_slot_t *st = &el_slots_state[s];
    if (st->state != EL_SLOT_RECEIVING) {
        el_error(r, EL_ERR_UPLOAD_STATE, "no upload in progress on slot ", s, ": send UPLOAD_BEGIN first", 0, NULL);
        return;
    }
    if (st->received != st->chunk_count) {
        el_error(r, EL_ERR_UPLOAD_STATE, "commit with ", st->received, " of ", st->chunk_count,
                 " chunks received: send the missing ones (UPLOAD_BEGIN again lists them)");
        return;
    }
    uint8_t digest[32];
    el_sha256_t h;
    el_sha256_init(&h);
    el_sha256_update(&h, el_slot_data(s), st->size);
    el_sha256_final(&h, digest);
    bool intact = memcmp(digest, st->sha, 32) == 0;
#if EL_FLASH_SLOT
    if (intact && el_is_flash(s)) { /* re-read through the ECC check, then record and marker (last) */
        char why[EL_WHY_BYTES];
        intact = el_flash_slot_commit(el_flash_slot_driver(), st->size, st->sha, why);
    }
#endif
    if (!intact) {
        el_slot_empty(s, active_model, r);
        el_error(r, EL_ERR_INTEGRITY, "sha256 of the received bytes differs from UPLOAD_BEGIN's: upload again", 0,
                 NULL, 0, NULL);
        return;
    }
    char why[EL_WHY_BYTES];
    if (!el_load(s, why)) {
        el_slot_empty(s, active_model, r);
        r->type = EL_UP_ERROR;
        r->error = strstr(why, "do not fit") || strstr(why, "needs an arena") ? EL_ERR_NO_SPACE : EL_ERR_INVALID_MODEL;
        memcpy(r->text, why, sizeof why);
        return;
    }
    const nn_model_t *m = &st->prog.model;
    if (m->input.bytes + 2u > EL_MAX_PAYLOAD) {
        uint32_t in_bytes = m->input.bytes;
        el_slot_empty(s, active_model, r);
        el_error(r, EL_ERR_NO_SPACE, "the model's input of ", in_bytes, " bytes does not fit one INFER (max_payload ",
                 EL_MAX_PAYLOAD, ")");
        return;
    }
    if (!el_place_io(s)) {
        uint32_t need = st->output_at + align16(m->output.bytes);
        el_slot_empty(s, active_model, r);
        el_error(r, EL_ERR_NO_SPACE, "the model with its input and output needs ", need, " bytes; slot holds ",
                 el_is_flash(s) ? EL_FLASH_SLOT_IO_BYTES : EL_SLOT_BYTES, " bytes");
        return;
    }
    uint8_t id = (uint8_t)(el_first_id + s);
    if (p[1]) {
        r->new_active = id;
    }
    r->forget_input = id; /* a new model: no remembered input yet */
    r->payload[0] = s;
    r->payload[1] = id;
    r->payload[2] = p[1] ? id : active_model;
    r->len = 3;
    r->append_descriptor = true;
    r->model_id = id;
}

static void el_on_erase(const uint8_t *p, size_t n, uint8_t active_model, el_upload_reply_t *r)
{
    uint8_t s;
    if (!el_slot_arg(p, n, 1, "SLOT_ERASE needs a slot", r, &s)) {
        return;
    }
    el_slot_empty(s, active_model, r);
#if EL_FLASH_SLOT
    char why[EL_WHY_BYTES];
    if (el_is_flash(s) && !el_flash_slot_erase(el_flash_slot_driver(), why)) {
        el_error(r, 8 /* INTERNAL */, why, 0, NULL, 0, NULL);
        return;
    }
#endif
    r->payload[0] = s;
    r->payload[1] = r->new_active != EL_UPLOAD_NONE ? r->new_active : active_model;
    r->len = 2;
}

void el_upload_serve(uint8_t type, const uint8_t *p, size_t n, uint8_t active_model, el_upload_reply_t *r)
{
    el_reply_init(r, type);
    switch (type) {
    case EL_MSG_UPLOAD_BEGIN: el_on_begin(p, n, active_model, r); break;
    case EL_MSG_UPLOAD_CHUNK: el_on_chunk(p, n, r); break;
    case EL_MSG_UPLOAD_COMMIT: el_on_commit(p, n, active_model, r); break;
    case EL_MSG_SLOT_ERASE: el_on_erase(p, n, active_model, r); break;
    default: el_error(r, 2 /* UNKNOWN_TYPE */, "not an upload request", 0, NULL, 0, NULL); break;
    }
}

static const el_slot_t *el_loaded(uint8_t model_id, uint8_t *s)
{
    if (model_id < el_first_id || model_id - el_first_id >= (int)el_slot_count) {
        return NULL;
    }
    *s = (uint8_t)(model_id - el_first_id);
    return el_slots_state[*s].state == EL_SLOT_LOADED ? &el_slots_state[*s] : NULL;
}

const nn_model_t *el_upload_model(uint8_t model_id)
{
    uint8_t s;
    const el_slot_t *st = el_loaded(model_id, &s);
    return st ? &st->prog.model : NULL;
}

uint8_t *el_upload_input_buffer(uint8_t model_id)
{
    uint8_t s;
    const el_slot_t *st = el_loaded(model_id, &s);
    return st ? el_slot_io(s) + st->input_at : NULL;
}

uint8_t *el_upload_output_buffer(uint8_t model_id)
{
    uint8_t s;
    const el_slot_t *st = el_loaded(model_id, &s);
    return st ? el_slot_io(s) + st->output_at : NULL;
}

size_t el_upload_info(uint8_t *buf, size_t cap)
{
    if (cap < 1u + 10u * EL_SLOT_COUNT) {
        return 0;
    }
    buf[0] = (uint8_t)EL_SLOT_COUNT;
    for (uint8_t s = 0; s < el_slot_count; s++) {
        uint8_t *b = buf + 1 + 10u * s;
        b[0] = (uint8_t)(el_first_id + s);
        b[1] = el_slots_state[s].state;
        wr32(b + 2, el_slot_capacity(s));
        wr32(b + 6, el_slot_arena_bytes(s));
    }
    return 1u + 10u * EL_SLOT_COUNT;
}

#else /* no slots: no upload; the requests stay unknown types (SPEC 9) */

void el_upload_init(uint8_t first_model_id)
{
    (void)first_model_id;
}

bool el_upload_handles(uint8_t type)
{
    (void)type;
    return false;
}

void el_upload_serve(uint8_t type, const uint8_t *p, size_t n, uint8_t active_model, el_upload_reply_t *r)
{
    (void)p;
    (void)n;
    (void)active_model;
    memset(r, 0, sizeof *r);
    r->type = 0xFFu;
    r->error = 2; /* UNKNOWN_TYPE */
    r->new_active = r->forget_input = EL_UPLOAD_NONE;
    char *t = el_fmt_str(r->text, r->text + EL_WHY_BYTES - 1u, "message type ");
    t = el_fmt_u32(t, r->text + EL_WHY_BYTES - 1u, type);
    *el_fmt_str(t, r->text + EL_WHY_BYTES - 1u, ": this firmware has no upload slots") = '\0';
}

const nn_model_t *el_upload_model(uint8_t model_id)
{
    (void)model_id;
    return NULL;
}

uint8_t *el_upload_input_buffer(uint8_t model_id)
{
    (void)model_id;
    return NULL;
}

uint8_t *el_upload_output_buffer(uint8_t model_id)
{
    (void)model_id;
    return NULL;
}

size_t el_upload_info(uint8_t *buf, size_t cap)
{
    if (cap < 1u) {
        return 0;
    }
    buf[0] = 0;
    return 1;
}

#endif /* EL_SLOT_COUNT > 0 */
