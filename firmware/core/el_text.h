/*
 * el_text.h - one-line message formatting without printf (not every libc-less port has it).
 *
 * Contract: each function appends to the text at p, never writes at or past
 * `end`, and returns the new end of the text; the caller writes the NUL.
 *
 * Example:
 *
 *     char text[32], *p = text, *end = text + sizeof text - 1;
 *     p = el_fmt_str(p, end, "model ");
 *     p = el_fmt_u32(p, end, 7);
 *     *p = '\0';                          // "model 7"
 */
#ifndef EL_TEXT_H
#define EL_TEXT_H

#include <stdint.h>

/* Append the NUL-terminated string s. */
char *el_fmt_str(char *p, char *end, const char *s);

/* Append v in decimal. */
char *el_fmt_u32(char *p, char *end, uint32_t v);

#endif /* EL_TEXT_H */
