/*
 * el_upload.h - model upload into RAM slots (SPEC.md 9.8): UPLOAD_BEGIN, UPLOAD_CHUNK,
 * UPLOAD_COMMIT and SLOT_ERASE, and the models the slots hold.
 *
 * Purpose: a board keeps its compiled-in models and adds EL_UPLOAD_SLOTS slots
 * of EL_SLOT_BYTES each, with an executor arena of EL_SLOT_ARENA_BYTES each.
 * A container (docs/container.md) arrives in chunks, is checked against the
 * SHA-256 announced at UPLOAD_BEGIN, validated by el_container_load() and only
 * then becomes a model of the model list, at the slot's fixed index
 * first_model_id + slot (SPEC 9.4).
 *
 * Contract:
 *   - Pure state machine: el_upload_serve() never sends; it fills an
 *     el_upload_reply_t that the core turns into the reply frame, and tells the
 *     core which model to activate and whose remembered input to forget. So
 *     every reply path is unit-testable without a link.
 *   - A slot is in the model list only while its state is EL_SLOT_LOADED. A
 *     BEGIN empties the slot first (unless it resumes the same upload), so a
 *     half-written slot is never a model; every failed COMMIT (missing chunks
 *     excepted) empties it too. The active model is never touched by a failed
 *     request: a BEGIN or ERASE of the slot holding the active model is
 *     refused (BEGIN) or falls back to model 0, a compiled-in model (ERASE).
 *   - Chunks are idempotent: each is tracked in a bitmap, a repeat overwrites
 *     the same bytes, and a BEGIN with the same size, chunk size and SHA-256
 *     resumes with the chunks already received (a link loss does not reset
 *     RAM; a board reset does).
 *   - A slot model's last input (BENCH) and its output buffer live in the
 *     slot after the container, so a model needs
 *     align16(container) + align16(input) + align16(output) bytes of slot.
 *   - Single-threaded, like el_core.
 *
 * Example (what el_core does with a request of an upload type):
 *
 *     el_upload_reply_t r;
 *     el_upload_serve(type, payload, n, active_model, &r);
 *     if (r.new_active != EL_UPLOAD_NONE) active_model = r.new_active;
 *     if (r.forget_input != EL_UPLOAD_NONE) has_input[r.forget_input] = 0;
 *     if (r.type == EL_MSG_ERROR) send_error(seq, r.error, r.text);
 *     else send(r.type, seq, r.payload, r.len [+ descriptor of r.model_id if r.append_descriptor]);
 */
#ifndef EL_UPLOAD_H
#define EL_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "el_container.h"

/* Upload slots of this build (0: no upload; the capability bit stays clear). */
#ifndef EL_UPLOAD_SLOTS
#define EL_UPLOAD_SLOTS 0u
#endif
/* Bytes of each slot: container + last input + output. */
#ifndef EL_SLOT_BYTES
#define EL_SLOT_BYTES (64u * 1024u)
#endif
/* Bytes of each slot's executor arena (activations + kernel scratch of its model). */
#ifndef EL_SLOT_ARENA_BYTES
#define EL_SLOT_ARENA_BYTES (32u * 1024u)
#endif
/* A flash slot after the RAM slots (1: the port provides el_flash_slot_driver(), el_flash_slot.h). */
#ifndef EL_FLASH_SLOT
#define EL_FLASH_SLOT 0
#endif
/* The flash slot's executor arena, and RAM for its model's last input and output. */
#ifndef EL_FLASH_SLOT_ARENA_BYTES
#define EL_FLASH_SLOT_ARENA_BYTES (32u * 1024u)
#endif
#ifndef EL_FLASH_SLOT_IO_BYTES
#define EL_FLASH_SLOT_IO_BYTES (16u * 1024u)
#endif
/* Most chunks one upload may have: chunk_bytes >= size / this. */
#ifndef EL_UPLOAD_MAX_CHUNKS
#define EL_UPLOAD_MAX_CHUNKS 1024u
#endif

#if EL_SLOT_BYTES % 16u || EL_SLOT_ARENA_BYTES % 16u || EL_SLOT_BYTES > 0x0FFFFFFFu
#error "EL_SLOT_BYTES and EL_SLOT_ARENA_BYTES must be multiples of 16 (and slots below 256 MB)"
#endif

/* Request and reply types (SPEC 9.1). */
enum {
    EL_MSG_UPLOAD_BEGIN = 0x10,
    EL_MSG_UPLOAD_CHUNK = 0x11,
    EL_MSG_UPLOAD_COMMIT = 0x12,
    EL_MSG_SLOT_ERASE = 0x13
};

/* ERROR codes added for uploads (SPEC 9.8.6). */
enum {
    EL_ERR_NO_SPACE = 9,       /* the model does not fit the slot or its arena */
    EL_ERR_UPLOAD_STATE = 10,  /* chunk or commit without a matching upload, missing chunks */
    EL_ERR_INTEGRITY = 11,     /* SHA-256 of the received bytes differs from UPLOAD_BEGIN's */
    EL_ERR_INVALID_MODEL = 12, /* the container failed validation (the text names the check) */
    EL_ERR_SLOT_BUSY = 13      /* the slot holds the active model */
};

/* Slot states (INFO, UPLOAD_STATUS). */
enum { EL_SLOT_EMPTY = 0, EL_SLOT_RECEIVING = 1, EL_SLOT_LOADED = 2 };

#define EL_UPLOAD_NONE 0xFFu
#define EL_UPLOAD_REPLY_BYTES (16u + EL_UPLOAD_MAX_CHUNKS / 8u)

typedef struct {
    uint8_t type;         /* reply type (request | 0x80), or 0xFF for ERROR */
    uint16_t error;       /* ERROR code when type is 0xFF */
    char text[EL_WHY_BYTES];
    uint8_t payload[EL_UPLOAD_REPLY_BYTES];
    size_t len;
    bool append_descriptor; /* COMMITTED: the core appends the descriptor (SPEC 5.3 + 9.3) of model_id */
    uint8_t model_id;
    uint8_t new_active;   /* EL_UPLOAD_NONE or the model the core must make active */
    uint8_t forget_input; /* EL_UPLOAD_NONE or the model whose remembered input the core must drop */
} el_upload_reply_t;

/* EL_UPLOAD_SLOTS as a variable (loops over it compile without "always false" warnings at 0). */
extern const uint8_t el_upload_slot_count;

/* Forget every slot (boot): slot s becomes model first_model_id + s. */
void el_upload_init(uint8_t first_model_id);

/* Whether `type` is one of the four upload requests. */
bool el_upload_handles(uint8_t type);

/* Serve one upload request of payload p[0..n); active_model is the core's. */
void el_upload_serve(uint8_t type, const uint8_t *p, size_t n, uint8_t active_model, el_upload_reply_t *r);

/* The loaded model at model_id, or NULL (not a slot, or not loaded). */
const nn_model_t *el_upload_model(uint8_t model_id);

/* A loaded slot model's remembered-input buffer (input.bytes) and output buffer (output.bytes). */
uint8_t *el_upload_input_buffer(uint8_t model_id);
uint8_t *el_upload_output_buffer(uint8_t model_id);

/* INFO's slot fields (SPEC 9.8.1) into buf; returns the bytes written (at most 1 + 10 * slots). */
size_t el_upload_info(uint8_t *buf, size_t cap);

#endif /* EL_UPLOAD_H */
