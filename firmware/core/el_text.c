/* el_text.c - message formatting; see el_text.h. */
#include "el_text.h"

char *el_fmt_str(char *p, char *end, const char *s)
{
    while (*s && p < end) {
        *p++ = *s++;
    }
    return p;
}

char *el_fmt_u32(char *p, char *end, uint32_t v)
{
    char digits[10];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (n > 0 && p < end) {
        *p++ = digits[--n];
    }
    return p;
}
