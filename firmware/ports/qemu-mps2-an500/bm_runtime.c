/* bm_runtime.c - newlib system calls for bare-metal test images (contract in bm_runtime.h). */
#include "bm_runtime.h"

#include <errno.h>
#include <sys/stat.h>

#include "qemu_mps2.h"

int _write(int fd, const char *buf, int len);
int _fstat(int fd, struct stat *st);
int _isatty(int fd);

/* stdout and stderr: polled UART0, independent of port_init() and of the link rings. */
int _write(int fd, const char *buf, int len)
{
    if (fd != 1 && fd != 2) {
        errno = EBADF;
        return -1;
    }
    MPS2_UART0_CTRL |= MPS2_UART_CTRL_TX_EN;
    for (int i = 0; i < len; ++i) {
        while (MPS2_UART0_STATE & MPS2_UART_STATE_TXFULL) {
        }
        MPS2_UART0_DATA = (uint8_t)buf[i];
    }
    return len;
}

/* A character device, so that newlib line-buffers stdout. */
int _fstat(int fd, struct stat *st)
{
    (void)fd;
    st->st_mode = S_IFCHR;
    return 0;
}

int _isatty(int fd)
{
    return fd <= 2;
}
