/*
 * flash_sim.c - a simulated STM32H7 flash for the host tests of the flash slot (el_flash_slot.h).
 *
 * Rules the part enforces, enforced here: erase by sector to 0xFF; program whole 32-byte flash
 * words, each once after an erase; a power cut during an erase or a program leaves the words it
 * touched torn, and reading a torn word fails as an ECC error does. Build with -DSIM_SECTOR=bytes
 * -DSIM_SECTORS=n -DSIM_BASE=address; sim_power(k) cuts power at the k-th next flash operation.
 * It also provides el_flash_slot_driver(), so firmware built with EL_FLASH_SLOT=1 uses it.
 */
#include <string.h>
#include "el_flash_slot.h"
#define WORDS (SIM_SECTORS * SIM_SECTOR / 32)
static unsigned char mem[SIM_SECTORS * SIM_SECTOR];
static unsigned char state[WORDS];          /* 0 erased, 1 programmed, 2 torn (ECC error on read) */
static long ops_left = -1;                  /* power cut when it reaches 0; -1: never */
static int dead;
static long ops;
static int word_of(unsigned addr) { return (int)((addr - SIM_BASE) / 32u); }
static bool erase(void *c, uint32_t addr) {
    (void)c;
    if (dead) return 0;
    unsigned off = addr - SIM_BASE;
    ops++;
    if (ops_left == 0) {                     /* an interrupted erase: its words are undefined */
        for (unsigned w = off / 32; w < (off + SIM_SECTOR) / 32; w++) state[w] = (w % 3) ? 2 : state[w];
        dead = 1;
        return 0;
    }
    if (ops_left > 0) ops_left--;
    memset(mem + off, 0xFF, SIM_SECTOR);
    memset(state + off / 32, 0, SIM_SECTOR / 32);
    return 1;
}
static bool program(void *c, uint32_t addr, const uint8_t *w) {
    (void)c;
    if (dead || addr % 32) return 0;
    int i = word_of(addr);
    if (state[i] != 0) return 0;             /* a flash word is programmed once after an erase */
    ops++;
    if (ops_left == 0) {                     /* power cut mid-word: half written, ECC broken */
        memcpy(mem + (addr - SIM_BASE), w, 16);
        state[i] = 2;
        dead = 1;
        return 0;
    }
    if (ops_left > 0) ops_left--;
    memcpy(mem + (addr - SIM_BASE), w, 32);
    state[i] = 1;
    return 1;
}
static bool readf(void *c, uint32_t addr, uint8_t *out, uint32_t len) {
    (void)c;
    for (unsigned a = addr & ~31u; a < addr + len; a += 32) if (state[word_of(a)] == 2) return 0;
    memcpy(out, mem + (addr - SIM_BASE), len);
    return 1;
}
static const uint8_t *map(void *c, uint32_t addr) { (void)c; return mem + (addr - SIM_BASE); }
static el_flash_t F = {SIM_BASE, SIM_SECTORS, SIM_SECTOR, erase, program, readf, map, 0};
static char why[121];
void sim_power(long cut) { ops_left = cut; dead = 0; }
long sim_ops(void) { return ops; }
void sim_wipe(void) { memset(mem, 0xFF, sizeof mem); memset(state, 0, sizeof state); ops = 0; }
const char *sim_why(void) { return why; }
unsigned sim_capacity(void) { return el_flash_slot_capacity(&F); }
int sim_begin(unsigned size) { return el_flash_slot_begin(&F, size, why); }
int sim_write(unsigned size, unsigned off, const unsigned char *d, unsigned n) {
    return el_flash_slot_write(&F, size, off, d, n, why);
}
int sim_commit(unsigned size, const unsigned char *sha) { return el_flash_slot_commit(&F, size, sha, why); }
int sim_boot(unsigned *size) { return el_flash_slot_boot(&F, size, why); }
const unsigned char *sim_data(void) { return map(0, SIM_BASE + EL_FLASH_DATA_AT); }
const el_flash_t *el_flash_slot_driver(void) { return &F; }
