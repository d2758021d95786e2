/* A disk that fails or is slow, for the tests of `shmim log`: loaded with LD_PRELOAD into a
 * `shmim` child, it stands in front of the C library's fsync(2).
 *
 *   SHMIM_TEST_FSYNC_FAIL_AT=N   the Nth call (1-based) fails with EIO, as a disk, NFS or a
 *                                full quota reports a write it could not carry out;
 *   SHMIM_TEST_FSYNC_DELAY_MS=M  every call first sleeps M ms, as a slow disk does.
 *
 * Every other call is the real fsync. Nothing else is touched: the files are real files. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

static atomic_long calls;

int fsync(int fd) {
    static int (*real)(int);
    if (!real) {
        real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    long n = atomic_fetch_add(&calls, 1) + 1;
    const char *delay = getenv("SHMIM_TEST_FSYNC_DELAY_MS");
    if (delay) {
        long ms = atol(delay);
        struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
        while (nanosleep(&t, &t) == -1 && errno == EINTR) {
        }
    }
    const char *fail = getenv("SHMIM_TEST_FSYNC_FAIL_AT");
    if (fail && n == atol(fail)) {
        errno = EIO;
        return -1;
    }
    return real(fd);
}
