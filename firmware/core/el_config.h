/*
 * el_config.h - compile-time limits of the firmware core.
 *
 * Every value can be overridden from the build (-DEL_MAX_PAYLOAD=16384) or a
 * port's port.mk. The defaults suit the host board and boards with >= 256 KiB
 * of RAM; RAM used by the core is about
 *   EL_RX_CREDIT * (EL_MAX_PAYLOAD + 16)   frame slots
 * + EL_IO_POOL_BYTES                       last inputs (BENCH) + one output
 * + the largest model arena                (el_registry.c)
 * and a port adds its receive ring of EL_PORT_RX_RING_BYTES.
 */
#ifndef EL_CONFIG_H
#define EL_CONFIG_H

#include "el_frame.h"

/* Protocol minor version reported in INFO (SPEC.md 7 and 9). */
#define EL_PROTO_MINOR 1u

/* INFO capabilities (SPEC.md 9.1): the 1.1 requests this core serves. */
#define EL_CAP_DESCRIBE (1u << 0)
#define EL_CAPABILITIES EL_CAP_DESCRIBE

/* Largest DESCRIBE_MODEL page the core sends (SPEC.md 9.5); a host may ask for less. */
#ifndef EL_DESCRIBE_PAGE_BYTES
#define EL_DESCRIBE_PAGE_BYTES 1024u
#endif

/* Firmware version reported in INFO. */
#ifndef EL_FIRMWARE_VERSION
#define EL_FIRMWARE_VERSION "0.1.0"
#endif

/* Largest request payload accepted (INFO.max_payload); >= 256 by the protocol.
 * Holds an INFER of a 96x96x3 image (27,648 + 2 bytes). */
#ifndef EL_MAX_PAYLOAD
#define EL_MAX_PAYLOAD 32768u
#endif

/* Requests the host may keep in flight (INFO.rx_credit); one frame slot each. */
#ifndef EL_RX_CREDIT
#define EL_RX_CREDIT 2u
#endif

/* Bytes for the last input of every model (BENCH reuses it) plus one output
 * buffer sized to the largest output; el_core_init() checks the fit. */
#ifndef EL_IO_POOL_BYTES
#define EL_IO_POOL_BYTES (64u * 1024u)
#endif

/* A reply that cannot be sent for this long (host not reading) is abandoned. */
#ifndef EL_TX_TIMEOUT_MS
#define EL_TX_TIMEOUT_MS 2000u
#endif

/* Wire bytes the core takes from the port per poll before serving a request,
 * so a flood of input cannot starve the dispatcher. */
#ifndef EL_RX_BURST_BYTES
#define EL_RX_BURST_BYTES (EL_WIRE_MAX(EL_MAX_PAYLOAD) * EL_RX_CREDIT)
#endif

/* Receive ring a port needs so that EL_RX_CREDIT maximum-size frames can
 * arrive while the core is busy computing (the credit promise of SPEC 4). */
#ifndef EL_PORT_RX_RING_BYTES
#define EL_PORT_RX_RING_BYTES (EL_WIRE_MAX(EL_MAX_PAYLOAD) * EL_RX_CREDIT)
#endif

/* Called right after every model invocation (INFER and BENCH), before its
 * time is taken, with the tick value read just before the call. A port may
 * define it: the host board stretches inference to an emulated MCU compute
 * time (--infer-us) so link pipelining can be shown on a PC. */
#ifndef EL_AFTER_INVOKE
#define EL_AFTER_INVOKE(t0) ((void)(t0))
#endif

/* Models the registry may hold: compiled-in models plus upload slots, each with
 * a stable index (SPEC.md 9.4). Index 0xFF means "the active model" in INFER
 * and BENCH, so 254 is the protocol's ceiling. Each model costs 5 bytes of
 * core state. */
#ifndef EL_MAX_MODELS
#define EL_MAX_MODELS 254u
#endif

#if EL_MAX_MODELS < 1u || EL_MAX_MODELS > 254u
#error "EL_MAX_MODELS must be in 1..254: index 255 means the active model (SPEC.md 5.7)"
#endif
#if EL_MAX_PAYLOAD < 256u || EL_MAX_PAYLOAD > 65535u
#error "EL_MAX_PAYLOAD must be in 256..65535 (SPEC.md section 4)"
#endif
#if EL_RX_CREDIT < 1u || EL_RX_CREDIT > 16u
#error "EL_RX_CREDIT must be in 1..16"
#endif

/* Decoded frame bytes per slot, rounded up to keep every slot 16-byte aligned. */
#define EL_FRAME_SLOT_BYTES (((EL_MAX_PAYLOAD + EL_FRAME_OVERHEAD) + 15u) & ~15u)

#endif /* EL_CONFIG_H */
