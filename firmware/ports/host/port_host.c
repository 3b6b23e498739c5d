/* port_host.c - port.h for a Linux process (TCP and pty link, host clock); see port_host.h. */
#include "port_host.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "el_config.h"

#define PORT_HOST_TX_RING_BYTES (256u * 1024u)
#define PORT_HOST_IO_CHUNK 4096u

typedef struct {
    uint8_t *mem;
    size_t size, head, used; /* head: next byte out */
} port_host_ring_t;

static struct {
    port_host_config_t cfg;
    pthread_t io;
    bool io_running;
    atomic_bool stop;
    atomic_bool link_changed;
    pthread_mutex_t lock;    /* guards the rings */
    pthread_cond_t wake;     /* RX data arrived or TX space freed */
    port_host_ring_t rx, tx;
    bool rx_lost;            /* RX bytes were lost and the 0x00 marking it is still owed */
    atomic_uint rx_overflows;
    int listen_fd, client_fd, pty_fd, pty_slave_fd, out_fd, event_fd;
    char url[64];
    char pty_path[64];
    uint64_t t0_ns;
    bool led;
} H = {.listen_fd = -1, .client_fd = -1, .pty_fd = -1, .pty_slave_fd = -1, .out_fd = -1, .event_fd = -1};

static uint64_t port_host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- rings (caller holds H.lock) --------------------------------------- */

static size_t ring_put(port_host_ring_t *r, const uint8_t *src, size_t n)
{
    size_t room = r->size - r->used;
    n = n < room ? n : room;
    for (size_t i = 0; i < n; i++) {
        r->mem[(r->head + r->used + i) % r->size] = src[i];
    }
    r->used += n;
    return n;
}

static size_t ring_get(port_host_ring_t *r, uint8_t *dst, size_t n)
{
    n = n < r->used ? n : r->used;
    for (size_t i = 0; i < n; i++) {
        dst[i] = r->mem[(r->head + i) % r->size];
    }
    r->head = (r->head + n) % r->size;
    r->used -= n;
    return n;
}

/*
 * Put received bytes into the RX ring as a UART with an overrun flag would:
 * what does not fit is lost, and a 0x00 marks the loss (SPEC.md 2) so that
 * the frame that lost bytes ends there instead of swallowing the next one.
 * The marker takes the last free byte; if none is free it is owed and goes
 * in first when room appears. Returns the data bytes kept. Holds H.lock.
 */
static size_t port_host_rx_put(const uint8_t *src, size_t n)
{
    static const uint8_t marker = 0;
    if (H.rx_lost) {
        if (ring_put(&H.rx, &marker, 1) == 0) {
            return 0;
        }
        H.rx_lost = false;
    }
    size_t room = H.rx.size - H.rx.used;
    if (n <= room) {
        return ring_put(&H.rx, src, n);
    }
    size_t kept = room > 0 ? ring_put(&H.rx, src, room - 1) : 0;
    H.rx_lost = ring_put(&H.rx, &marker, 1) == 0;
    return kept;
}

/* ---- pacing: a token bucket at baud/10 bytes per second ---------------- */

typedef struct {
    double tokens;
    uint64_t last_ns;
} port_host_pace_t;

/* Bytes that may cross the wire now; the bucket holds at most ~4 ms of line time (poll ticks are ~1 ms). */
static size_t pace_allow(port_host_pace_t *p, uint64_t now)
{
    if (H.cfg.baud == 0) {
        return SIZE_MAX;
    }
    double rate = H.cfg.baud / 10.0;
    double cap = rate * 0.004 > 16.0 ? rate * 0.004 : 16.0;
    p->tokens += (double)(now - p->last_ns) * 1e-9 * rate;
    p->tokens = p->tokens > cap ? cap : p->tokens;
    p->last_ns = now;
    return (size_t)p->tokens;
}

static void pace_spend(port_host_pace_t *p, size_t n)
{
    if (H.cfg.baud != 0) {
        p->tokens -= (double)n;
    }
}

/* ---- link set-up -------------------------------------------------------- */

static bool port_host_open_tcp(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)H.cfg.tcp_port)};
    if (inet_pton(AF_INET, H.cfg.bind_addr, &addr.sin_addr) != 1) {
        fprintf(stderr, "edgeloop-board: --host %s is not an IPv4 address\n", H.cfg.bind_addr);
        return false;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    socklen_t len = sizeof addr;
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        fprintf(stderr, "edgeloop-board: cannot listen on %s:%d: %s (pick another --tcp port)\n",
                H.cfg.bind_addr, H.cfg.tcp_port, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    H.listen_fd = fd;
    snprintf(H.url, sizeof H.url, "socket://%s:%u", H.cfg.bind_addr, (unsigned)ntohs(addr.sin_port));
    return true;
}

static bool port_host_open_pty(void)
{
    int fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0 || grantpt(fd) != 0 || unlockpt(fd) != 0 || ptsname_r(fd, H.pty_path, sizeof H.pty_path) != 0) {
        fprintf(stderr, "edgeloop-board: cannot create a pty: %s (use TCP instead)\n", strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    /* Keep the slave open ourselves: the master then never sees a hang-up
     * between clients, and raw mode set here stops echo and CR/LF mangling. */
    H.pty_slave_fd = open(H.pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
    struct termios tio;
    if (H.pty_slave_fd >= 0 && tcgetattr(H.pty_slave_fd, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(H.pty_slave_fd, TCSANOW, &tio);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    H.pty_fd = fd;
    H.out_fd = fd;
    return true;
}

static void port_host_drop_client(void)
{
    if (H.client_fd >= 0) {
        close(H.client_fd);
        if (H.out_fd == H.client_fd) {
            H.out_fd = H.pty_fd;
        }
        H.client_fd = -1;
    }
}

static void port_host_accept(void)
{
    int fd = accept4(H.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_mutex_lock(&H.lock);
    H.rx.used = H.tx.used = 0; /* nothing of the previous client reaches the new one */
    H.rx_lost = false;
    pthread_mutex_unlock(&H.lock);
    H.client_fd = fd;
    H.out_fd = fd;
    atomic_store(&H.link_changed, true);
}

/* ---- the I/O thread ----------------------------------------------------- */

/* Read what the pacing allows from fd into the RX ring; returns false on hang-up. */
static bool port_host_pump_in(int fd, port_host_pace_t *pace, uint64_t now)
{
    uint8_t buf[PORT_HOST_IO_CHUNK];
    size_t allow = pace_allow(pace, now);
    size_t want = allow < sizeof buf ? allow : sizeof buf;
    if (want == 0) {
        return true;
    }
    ssize_t n = read(fd, buf, want);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        return fd == H.pty_fd; /* a pty without client reads EIO; that is not a hang-up */
    }
    if (n < 0) {
        return true;
    }
    pace_spend(pace, (size_t)n);
    H.out_fd = fd; /* replies go where requests come from */
    pthread_mutex_lock(&H.lock);
    size_t kept = port_host_rx_put(buf, (size_t)n);
    pthread_cond_broadcast(&H.wake);
    pthread_mutex_unlock(&H.lock);
    if (kept < (size_t)n) {
        atomic_fetch_add(&H.rx_overflows, (unsigned)((size_t)n - kept)); /* a UART drops what its ring cannot hold */
    }
    return true;
}

static void port_host_pump_out(port_host_pace_t *pace, uint64_t now)
{
    uint8_t buf[PORT_HOST_IO_CHUNK];
    size_t allow = pace_allow(pace, now);
    pthread_mutex_lock(&H.lock);
    size_t n = H.tx.used < sizeof buf ? H.tx.used : sizeof buf;
    n = n < allow ? n : allow;
    for (size_t i = 0; i < n; i++) {
        buf[i] = H.tx.mem[(H.tx.head + i) % H.tx.size];
    }
    pthread_mutex_unlock(&H.lock);
    if (n == 0) {
        return;
    }
    ssize_t w = H.out_fd >= 0 ? write(H.out_fd, buf, n) : (ssize_t)n; /* no link: the bytes are lost */
    if (w <= 0) {
        if (w < 0 && errno != EAGAIN && errno != EINTR && H.out_fd == H.client_fd) {
            port_host_drop_client();
        }
        return;
    }
    pace_spend(pace, (size_t)w);
    pthread_mutex_lock(&H.lock);
    H.tx.head = (H.tx.head + (size_t)w) % H.tx.size;
    H.tx.used -= (size_t)w;
    pthread_cond_broadcast(&H.wake);
    pthread_mutex_unlock(&H.lock);
}

static void *port_host_io_main(void *arg)
{
    (void)arg;
    port_host_pace_t rx_pace = {0, port_host_now_ns()}, tx_pace = rx_pace;
    while (!atomic_load(&H.stop)) {
        struct pollfd fds[4];
        int nfds = 0, i_listen = -1, i_client = -1, i_pty = -1;
        uint64_t before = port_host_now_ns();
        pthread_mutex_lock(&H.lock);
        bool tx_pending = H.tx.used > 0;
        pthread_mutex_unlock(&H.lock);
        /* Ask only for what the pacing allows now, or poll would return at once and spin. */
        short in = pace_allow(&rx_pace, before) > 0 ? POLLIN : 0;
        bool tx_ok = tx_pending && pace_allow(&tx_pace, before) > 0;
        fds[nfds++] = (struct pollfd){H.event_fd, POLLIN, 0};
        if (H.client_fd < 0 && H.listen_fd >= 0) {
            i_listen = nfds;
            fds[nfds++] = (struct pollfd){H.listen_fd, POLLIN, 0};
        }
        if (H.client_fd >= 0) {
            i_client = nfds;
            fds[nfds++] = (struct pollfd){H.client_fd, (short)(in | (tx_ok && H.out_fd == H.client_fd ? POLLOUT : 0)), 0};
        }
        if (H.pty_fd >= 0) {
            i_pty = nfds;
            fds[nfds++] = (struct pollfd){H.pty_fd, (short)(in | (tx_ok && H.out_fd == H.pty_fd ? POLLOUT : 0)), 0};
        }
        /* Paced links are serviced every millisecond; otherwise poll sleeps until something happens. */
        int timeout = H.cfg.baud ? 1 : 100;
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
            break;
        }
        uint64_t now = port_host_now_ns();
        if (fds[0].revents & POLLIN) {
            uint64_t v;
            ssize_t ignored = read(H.event_fd, &v, sizeof v);
            (void)ignored;
        }
        if (i_listen >= 0 && (fds[i_listen].revents & POLLIN)) {
            port_host_accept();
            continue;
        }
        if (i_client >= 0 && (fds[i_client].revents & (POLLIN | POLLHUP | POLLERR))) {
            if (!port_host_pump_in(H.client_fd, &rx_pace, now)) {
                port_host_drop_client();
                continue;
            }
        }
        if (i_pty >= 0 && (fds[i_pty].revents & POLLIN)) {
            port_host_pump_in(H.pty_fd, &rx_pace, now);
        }
        if (tx_ok || (tx_pending && H.cfg.baud)) {
            port_host_pump_out(&tx_pace, now);
        }
    }
    return NULL;
}

/* ---- port.h ------------------------------------------------------------- */

bool port_host_configure(const port_host_config_t *cfg)
{
    if (cfg->tcp_port > 65535 || cfg->tcp_port < -1) {
        fprintf(stderr, "edgeloop-board: TCP port %d out of range 0..65535\n", cfg->tcp_port);
        return false;
    }
    if (cfg->tcp_port < 0 && !cfg->pty) {
        fprintf(stderr, "edgeloop-board: no link: enable TCP or --pty\n");
        return false;
    }
    if (cfg->rx_ring != 0 && cfg->rx_ring < 64u) {
        fprintf(stderr, "edgeloop-board: --rx-ring %u is below the 64-byte minimum\n", (unsigned)cfg->rx_ring);
        return false;
    }
    H.cfg = *cfg;
    return true;
}

bool port_init(void)
{
    H.t0_ns = port_host_now_ns();
    if (H.cfg.bind_addr == NULL) {
        port_host_config_t defaults = PORT_HOST_DEFAULTS;
        H.cfg = defaults;
    }
    H.rx.size = H.cfg.rx_ring ? H.cfg.rx_ring : EL_PORT_RX_RING_BYTES;
    H.tx.size = PORT_HOST_TX_RING_BYTES;
    H.rx.mem = malloc(H.rx.size); /* the host board is a desktop process: the no-malloc rule is the MCU's */
    H.tx.mem = malloc(H.tx.size);
    H.event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!H.rx.mem || !H.tx.mem || H.event_fd < 0) {
        fprintf(stderr, "edgeloop-board: out of memory\n");
        return false;
    }
    pthread_mutex_init(&H.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&H.wake, &ca);
    if ((H.cfg.tcp_port >= 0 && !port_host_open_tcp()) || (H.cfg.pty && !port_host_open_pty())) {
        return false;
    }
    if (pthread_create(&H.io, NULL, port_host_io_main, NULL) != 0) {
        fprintf(stderr, "edgeloop-board: cannot start the I/O thread\n");
        return false;
    }
    H.io_running = true;
    return true;
}

size_t port_link_read(uint8_t *buf, size_t cap)
{
    if (atomic_load(&H.link_changed)) {
        return 0; /* the new client's bytes wait until the core has dropped the old client's requests */
    }
    pthread_mutex_lock(&H.lock);
    size_t n = ring_get(&H.rx, buf, cap);
    pthread_mutex_unlock(&H.lock);
    return n;
}

size_t port_link_write(const uint8_t *buf, size_t len)
{
    if (atomic_load(&H.link_changed)) {
        return len; /* a reply to the previous client: it must not reach the new one */
    }
    pthread_mutex_lock(&H.lock);
    size_t n = ring_put(&H.tx, buf, len);
    pthread_mutex_unlock(&H.lock);
    if (n > 0) {
        uint64_t one = 1;
        ssize_t ignored = write(H.event_fd, &one, sizeof one);
        (void)ignored;
    }
    return n;
}

void port_host_stretch(uint32_t t0)
{
    uint32_t want_ns = H.cfg.infer_us * 1000u; /* <= 1 s by main_host.c: fits 32 bits */
    uint32_t done_ns = (uint32_t)(port_ticks() - t0);
    if (want_ns <= done_ns) {
        return;
    }
    /* Sleep to an absolute deadline rather than spin: the link's I/O thread
     * must keep its core, as a UART's DMA keeps running while an MCU computes. */
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    uint64_t ns = (uint64_t)until.tv_nsec + (want_ns - done_ns);
    until.tv_sec += (time_t)(ns / 1000000000u);
    until.tv_nsec = (long)(ns % 1000000000u);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
}

uint32_t port_ticks(void)
{
    return (uint32_t)port_host_now_ns();
}

uint32_t port_tick_hz(void)
{
    return 1000000000u;
}

uint32_t port_cpu_hz(void)
{
    return 0;
}

uint16_t port_instr_per_tick(void)
{
    return 0; /* host-clock ticks are nanoseconds, not instructions */
}

uint8_t port_timing_source(void)
{
    return PORT_TIMING_HOST_CLOCK;
}

const char *port_board_name(void)
{
    return "host";
}

uint32_t port_rx_overflows(void)
{
    return atomic_load(&H.rx_overflows);
}

uint32_t port_millis(void)
{
    return (uint32_t)((port_host_now_ns() - H.t0_ns) / 1000000u);
}

void port_led(bool on)
{
    H.led = on;
}

void port_watchdog_kick(void)
{
}

void port_idle(void)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_nsec += 1000000; /* 1 ms at most: the core re-checks the link */
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&H.lock);
    if (H.rx.used == 0) {
        pthread_cond_timedwait(&H.wake, &H.lock, &until);
    }
    pthread_mutex_unlock(&H.lock);
}

/* ---- host extras -------------------------------------------------------- */

const char *port_host_url(void)
{
    return H.url;
}

const char *port_host_pty_path(void)
{
    return H.pty_path;
}

bool port_host_link_changed(void)
{
    return atomic_exchange(&H.link_changed, false);
}

void port_host_shutdown(void)
{
    atomic_store(&H.stop, true);
    if (H.io_running) {
        uint64_t one = 1;
        ssize_t ignored = write(H.event_fd, &one, sizeof one);
        (void)ignored;
        pthread_join(H.io, NULL);
        H.io_running = false;
    }
    port_host_drop_client();
    int *fds[] = {&H.listen_fd, &H.pty_fd, &H.pty_slave_fd, &H.event_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    }
    free(H.rx.mem);
    free(H.tx.mem);
    H.rx.mem = H.tx.mem = NULL;
}
