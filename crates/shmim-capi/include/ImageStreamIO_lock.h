/*
 * ImageStreamIO_lock.h - the shmim segment lock for C: header-only, static inline.
 *
 * The same lock as the Rust side (shmim_sync::lock, docs/segment-lock.md), on the same 8-byte
 * word, so C and Rust processes exclude each other. The word only says who holds it; nothing
 * in a shared file can make this code write anywhere but into the word:
 *
 *   bits  0-28  PID of the holder (in its PID namespace); 0 = free
 *   bit  29     FOREIGN: the holder is outside the PID namespace the lock belongs to
 *   bit  30     OWNER_DIED: a holder died holding it and nobody marked the data consistent
 *   bit  31     WAITERS: someone may sleep on the word (the low 32 bits are the futex word)
 *   bits 32-63  thread id of the holder
 *
 * Locking is one compare-and-swap (acquire). A busy lock is waited for with timed, process-shared
 * futex waits (a dead holder wakes nobody; every ISIO_LOCK_RECHECK_NS the holder is judged
 * again). A holder is dead when kill(pid, 0) fails with ESRCH, or /proc/PID/stat says it is a
 * zombie and /proc/PID/status that no other thread of it is left - asked only when the locker
 * and the holder are both in the lock's PID namespace (the inode of /proc/self/ns/pid its
 * creator recorded); otherwise a waiter times out (ETIMEDOUT) and only isio_lock_force takes
 * the lock. The locker after a death gets *owner_died = 1 (like
 * EOWNERDEAD): repair the data, then unlock with consistent = 1; unlocking with consistent = 0
 * tells the next locker again. Unlocking is one compare-and-swap (release) and, if someone
 * waits, one FUTEX_WAKE.
 *
 * A C process keeps no record of its guards (Rust processes do). Finding its own PID in the
 * word, a C locker looks at the recorded thread: this thread -> EDEADLK (the lock is not
 * recursive; but see below); another live thread of this process -> wait; no such thread ->
 * the record is stale (a dead process had our PID, or a thread of ours ended holding it): taken
 * over, owner died. Limits: a dead process whose PID *and* holding thread id equal ours (a
 * container restarting its program with the same PIDs) reads as EDEADLK: if this thread holds no
 * lock, take it with isio_lock_force. Outside the lock's PID namespace (or when it is unknown,
 * 0) this rule is not applied at all: the word cannot tell this thread from a holder in another
 * namespace with the same PID and thread id (two containers both run PID 1, thread 1), so a
 * thread relocking a lock it holds there is not told EDEADLK - it waits until its timeout
 * (isio_lock: forever). Do not relock; Rust, which keeps a record, refuses in every namespace.
 * Do not lock one lock from C and Rust code of one process.
 *
 * Segment files (NAME.seg.shm, format version 2): magic "SHMIMSEG" at 0, version (uint32) at 8,
 * value size (uint32) at 12, the lock word at 16, the creator's PID namespace (uint64) at 24,
 * the value at 64.
 *
 * Needs Linux, glibc and _GNU_SOURCE or _DEFAULT_SOURCE (syscall, kill): the default of
 * gcc/clang -std=gnu*. x86_64 (little-endian: the low half of the word is at its address).
 */
#ifndef IMAGESTREAMIO_LOCK_H
#define IMAGESTREAMIO_LOCK_H

#if defined(__STRICT_ANSI__) && !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE) &&             \
    !defined(__cplusplus)
#error "ImageStreamIO_lock.h needs syscall() and kill(): define _GNU_SOURCE or compile with -std=gnu*"
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ISIO_LOCK_OWNER_MASK 0x1fffffffu
#define ISIO_LOCK_FOREIGN 0x20000000u
#define ISIO_LOCK_OWNER_DIED 0x40000000u
#define ISIO_LOCK_WAITERS 0x80000000u
/* How long a waiter sleeps before judging the holder again (10 ms). */
#define ISIO_LOCK_RECHECK_NS 10000000L

#define ISIO_SEGMENT_MAGIC "SHMIMSEG"
#define ISIO_SEGMENT_VERSION 2u
#define ISIO_SEGMENT_LOCK_OFFSET 16
#define ISIO_SEGMENT_NAMESPACE_OFFSET 24
#define ISIO_SEGMENT_DATA_OFFSET 64

/* The inode of this process's PID namespace (/proc/self/ns/pid), 0 if it cannot be read. */
static inline uint64_t isio_pid_namespace(void)
{
    struct stat st;
    if (stat("/proc/self/ns/pid", &st) != 0)
        return 0;
    return (uint64_t)st.st_ino;
}

/* 0 if the segment mapped at `base` (`len` bytes) is a version-2 segment holding `value_size`
 * bytes; EPROTO for another magic or version, EINVAL for another size. */
static inline int isio_segment_check(const void *base, size_t len, size_t value_size)
{
    const unsigned char *b = (const unsigned char *)base;
    uint32_t version, size;
    if (len < ISIO_SEGMENT_DATA_OFFSET || memcmp(b, ISIO_SEGMENT_MAGIC, 8) != 0)
        return EPROTO;
    memcpy(&version, b + 8, 4);
    memcpy(&size, b + 12, 4);
    if (version != ISIO_SEGMENT_VERSION)
        return EPROTO;
    if ((size_t)size != value_size || len != ISIO_SEGMENT_DATA_OFFSET + value_size)
        return EINVAL;
    return 0;
}

/* The lock word of the segment mapped at `base` (the mapping is page-aligned). */
static inline uint64_t *isio_segment_lock_word(void *base)
{
    return (uint64_t *)((char *)base + ISIO_SEGMENT_LOCK_OFFSET);
}

/* The PID namespace its creator recorded in the segment mapped at `base`. */
static inline uint64_t isio_segment_namespace(const void *base)
{
    uint64_t ns;
    memcpy(&ns, (const char *)base + ISIO_SEGMENT_NAMESPACE_OFFSET, 8);
    return ns;
}

/* The value of the segment mapped at `base`. */
static inline void *isio_segment_value(void *base)
{
    return (char *)base + ISIO_SEGMENT_DATA_OFFSET;
}

/* --- internals ------------------------------------------------------------------------- */

typedef struct {
    uint32_t pid;
    uint32_t tid;
    int home; /* in the lock's PID namespace */
} isio__locker;

static inline isio__locker isio__me(uint64_t home_ns)
{
    isio__locker me;
    me.pid = (uint32_t)getpid();
    me.tid = (uint32_t)syscall(SYS_gettid);
    me.home = home_ns != 0 && isio_pid_namespace() == home_ns;
    return me;
}

static inline uint64_t isio__word_of(isio__locker me, int owner_died, int waiters)
{
    uint32_t low = (me.pid & ISIO_LOCK_OWNER_MASK) | (me.home ? 0u : ISIO_LOCK_FOREIGN) |
                   (owner_died ? ISIO_LOCK_OWNER_DIED : 0u) | (waiters ? ISIO_LOCK_WAITERS : 0u);
    return ((uint64_t)me.tid << 32) | low;
}

/* Reads the start of /proc/PID/<file> into buf (NUL-terminated); its length, or -1. */
static inline ssize_t isio__read_proc(uint32_t pid, const char *file, char *buf, size_t size)
{
    char path[48];
    ssize_t n;
    int fd;
    snprintf(path, sizeof path, "/proc/%u/%s", (unsigned)pid, file);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

/* Whether process `pid` (> 0) is known dead: gone, or exited and not reaped (a zombie). The
 * state in /proc/PID/stat is the main thread's: it reads Z while other threads of a process
 * whose main thread called pthread_exit still run (and may hold the lock), so a Z/X main thread
 * means dead only when /proc/PID/status counts no thread but it (Threads: 1). */
static inline int isio__process_dead(uint32_t pid)
{
    char buf[4096];
    const char *p;
    long threads = 0;
    /* EPERM: it exists but is another user's; only /proc can tell whether it is a zombie. */
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
        return errno == ESRCH;
    /* Exists: dead all the same if it is a zombie (state Z or X after the last ')'). */
    if (isio__read_proc(pid, "stat", buf, 512) <= 0)
        return 0;
    p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || (p[2] != 'Z' && p[2] != 'X'))
        return 0;
    /* The kernel escapes the command name in status, so "\nThreads:" is its own line. */
    if (isio__read_proc(pid, "status", buf, sizeof buf) <= 0 ||
        (p = strstr(buf, "\nThreads:")) == NULL)
        return 0;
    for (p += 9; *p == ' ' || *p == '\t'; p++)
        ;
    if (*p < '0' || *p > '9')
        return 0;
    for (; *p >= '0' && *p <= '9'; p++)
        threads = threads * 10 + (*p - '0');
    return threads <= 1;
}

/* Whether thread `tid` of this process is alive. */
static inline int isio__thread_alive(uint32_t tid)
{
    if (tid == 0 || tid > 0x7fffffffu)
        return 0;
    return syscall(SYS_tgkill, getpid(), (pid_t)tid, 0) == 0 || errno == EPERM;
}

/* 1: take over (dead), 0: wait, -1: this thread holds it. */
static inline int isio__judge(uint64_t seen, isio__locker me)
{
    uint32_t low = (uint32_t)seen, owner = low & ISIO_LOCK_OWNER_MASK, tid = (uint32_t)(seen >> 32);
    if (!me.home || (low & ISIO_LOCK_FOREIGN))
        return 0;
    if (owner == me.pid) {
        if (tid == me.tid)
            return -1;
        return isio__thread_alive(tid) ? 0 : 1;
    }
    return isio__process_dead(owner);
}

static inline int64_t isio__now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* --- the lock ---------------------------------------------------------------------------- */

/* Takes the lock on `word` (8-aligned, in a shared mapping), belonging to PID namespace
 * `home_ns`, waiting at most `timeout` (relative, CLOCK_MONOTONIC; NULL: forever). Returns 0 with
 * *owner_died set (1: a holder died, repair before unlocking with consistent = 1), ETIMEDOUT,
 * EDEADLK (this thread holds it), or the errno of a failed futex call. */
static inline int isio_lock_timed(uint64_t *word, uint64_t home_ns, const struct timespec *timeout,
                                  int *owner_died)
{
    isio__locker me = isio__me(home_ns);
    int waited = 0;
    int64_t deadline = 0;
    if (word == NULL || owner_died == NULL)
        return EINVAL;
    if (timeout)
        deadline = isio__now_ns() + (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec;
    for (;;) {
        uint64_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
        uint32_t low = (uint32_t)seen;
        int verdict = (low & ISIO_LOCK_OWNER_MASK) == 0 ? 1 : isio__judge(seen, me);
        if (verdict < 0)
            return EDEADLK;
        if (verdict > 0) {
            int took_over = (low & ISIO_LOCK_OWNER_MASK) != 0;
            int died = took_over || (low & ISIO_LOCK_OWNER_DIED);
            uint64_t ours = isio__word_of(me, died, waited || (low & ISIO_LOCK_WAITERS));
            /* Acquire: pairs with the previous holder's release. */
            if (__atomic_compare_exchange_n(word, &seen, ours, 0, __ATOMIC_ACQUIRE,
                                            __ATOMIC_RELAXED)) {
                *owner_died = died;
                return 0;
            }
            continue; /* the word changed: judge again */
        }
        {
            int64_t nap = ISIO_LOCK_RECHECK_NS;
            struct timespec ts;
            uint64_t marked = seen | ISIO_LOCK_WAITERS;
            if (timeout) {
                int64_t left = deadline - isio__now_ns();
                if (left <= 0)
                    return ETIMEDOUT;
                if (left < nap)
                    nap = left;
            }
            if (!(low & ISIO_LOCK_WAITERS) &&
                !__atomic_compare_exchange_n(word, &seen, marked, 0, __ATOMIC_RELAXED,
                                             __ATOMIC_RELAXED))
                continue;
            ts.tv_sec = 0;
            ts.tv_nsec = nap;
            if (syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, (uint32_t)marked, &ts, NULL, 0) !=
                    0 &&
                errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR)
                return errno;
            waited = 1;
        }
    }
}

/* Takes the lock, waiting as long as it takes (see isio_lock_timed). */
static inline int isio_lock(uint64_t *word, uint64_t home_ns, int *owner_died)
{
    return isio_lock_timed(word, home_ns, NULL, owner_died);
}

/* Takes the lock if it is free or its holder is dead; EBUSY if a live holder has it. */
static inline int isio_lock_try(uint64_t *word, uint64_t home_ns, int *owner_died)
{
    struct timespec zero = {0, 0};
    int rc = isio_lock_timed(word, home_ns, &zero, owner_died);
    return rc == ETIMEDOUT ? EBUSY : rc;
}

/* Releases a lock this thread holds; consistent = 0 leaves OWNER_DIED for the next locker.
 * A word that no longer names this thread (taken by force) is left alone. */
static inline void isio_unlock(uint64_t *word, uint64_t home_ns, int consistent)
{
    isio__locker me = isio__me(home_ns);
    uint64_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    uint64_t free_word = consistent ? 0 : ISIO_LOCK_OWNER_DIED;
    for (;;) {
        uint32_t low = (uint32_t)seen;
        if ((low & ISIO_LOCK_OWNER_MASK) != (me.pid & ISIO_LOCK_OWNER_MASK) ||
            (uint32_t)(seen >> 32) != me.tid || ((low & ISIO_LOCK_FOREIGN) != 0) == me.home)
            return;
        /* Release: publishes everything written under the lock. */
        if (__atomic_compare_exchange_n(word, &seen, free_word, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED)) {
            if (low & ISIO_LOCK_WAITERS)
                syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 1, NULL, NULL, 0);
            return;
        }
    }
}

/* Takes the lock whatever holds it, marked owner-died. For a holder known to be gone that
 * cannot be judged (another PID namespace). If it is alive, there are now two holders, and
 * nothing stops its writes; its unlock leaves the word alone only while the word names someone
 * else (two holders in other PID namespaces may share PID and thread id). Never force a lock a
 * thread of this very process holds (the Rust side refuses to). */
static inline void isio_lock_force(uint64_t *word, uint64_t home_ns)
{
    isio__locker me = isio__me(home_ns);
    uint64_t seen = __atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
        uint64_t ours = isio__word_of(me, 1, (uint32_t)seen & ISIO_LOCK_WAITERS);
        if (__atomic_compare_exchange_n(word, &seen, ours, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
    }
}

#endif /* IMAGESTREAMIO_LOCK_H */
