/*
 * el_registry.c - model table and shared arena, expanded from the generated
 * el_models_gen.h (EL_MODEL_LIST is X(name, NAME) once per model).
 */
#include "el_registry.h"

#include "el_models_gen.h"

#ifndef EL_MODEL_LIST
#error "el_models_gen.h must define EL_MODEL_LIST: build with firmware/Makefile and MODELS=\"...\""
#endif

#define X(name, NAME) &nn_model_##name,
const nn_model_t *const el_models[] = {EL_MODEL_LIST};
#undef X

const uint8_t el_model_count = (uint8_t)(sizeof el_models / sizeof el_models[0]);

/* The union's size is the largest arena, known at compile time. */
#define X(name, NAME) uint8_t name[(NAME##_ARENA_BYTES) > 0 ? (NAME##_ARENA_BYTES) : 1];
typedef union {
    EL_MODEL_LIST
} el_arena_sizes_t;
#undef X

_Alignas(16) uint8_t el_arena[sizeof(el_arena_sizes_t)];
const uint32_t el_arena_bytes = (uint32_t)sizeof(el_arena_sizes_t);

#include "el_config.h"

_Static_assert(sizeof el_models / sizeof el_models[0] <= EL_MAX_MODELS,
               "more models than EL_MAX_MODELS (el_config.h; at most 254, 0xFF means the active one)");
