/* ImageStreamIO_atomic.h: shmim's frame protocol for C programs (libImageStreamIO, shmim).
 *
 * Written by hand (not generated). Every function is static inline on the GCC/Clang __atomic
 * builtins, applied to the plain fields of IMAGE_METADATA as the builtins allow: nothing is cast
 * to _Atomic, and no accessor exists per field.
 *
 * Writer:                                        Reader (consistent copy, a seqlock):
 *   if (ImageStreamIO_atomic_begin_write(md, 0))   uint64_t seq;
 *       ... another writer holds the flag ...      do {
 *   memcpy(im.array.F, frame, bytes);                  while (!ImageStreamIO_atomic_read_begin(md, &seq))
 *   ImageStreamIO_UpdateIm(&im);                           ;  back off: a writer is busy
 *                                                      memcpy(copy, im.array.F, bytes);
 *                                                  } while (!ImageStreamIO_atomic_read_validate(md, seq));
 *
 * ImageStreamIO_UpdateIm publishes with the orderings below and posts the semaphores; a program
 * that posts by itself can use ImageStreamIO_atomic_publish instead. Bound the reader's retries
 * by a deadline in real code: a writer that died mid-frame leaves the flag set.
 *
 * Who holds the flag: begin_write claims it in two shmim-private words of IMAGE_METADATA
 * padding (zero in every legacy file, not struct members: reached by offset), the claim PID at
 * offset 228 and the claim ticket (low 32 bits of cnt0 when the flag was taken) at offset 244.
 * publish and UpdateIm clear the claim before the flag and leave the ticket for the next writer
 * (so begin_write never touches cnt0's cache line, the one busy-polling readers spin on). Readers
 * use them to tell a writer that died mid-frame from a live one. ownerPID is not touched: it is the stream's owner (milk's
 * shmimsetown*), never the writer.
 *
 * The copies of a seqlock race with the writer by design (a torn copy is thrown away by
 * validation). Programs checked with ThreadSanitizer copy with ImageStreamIO_atomic_copy_in /
 * _copy_out, which are made of relaxed atomic accesses and therefore race-free. TSan does not
 * model standalone fences, so under -fsanitize=thread the two fences of the protocol become
 * read-modify-writes of the write flag with the same orderings. */
#ifndef IMAGESTREAMIO_ATOMIC_H
#define IMAGESTREAMIO_ATOMIC_H

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "ImageStruct.h"

#if defined(__SANITIZE_THREAD__)
#define IMAGESTREAMIO_ATOMIC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IMAGESTREAMIO_ATOMIC_TSAN 1
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Field-generic access to any shared field, by pointer, at its own width:
 *   ImageStreamIO_load_acquire(&im.md->cnt0), ImageStreamIO_store_release(&im.md->write, 0),
 *   ImageStreamIO_fetch_add(&im.kw[3].cnt, 1) (returns the previous value). */
#define ImageStreamIO_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define ImageStreamIO_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define ImageStreamIO_store_relaxed(p, v) \
    __atomic_store_n((p), (__typeof__(*(p)))(v), __ATOMIC_RELAXED)
#define ImageStreamIO_store_release(p, v) \
    __atomic_store_n((p), (__typeof__(*(p)))(v), __ATOMIC_RELEASE)
#define ImageStreamIO_fetch_add(p, v) \
    __atomic_fetch_add((p), (__typeof__(*(p)))(v), __ATOMIC_RELEASE)

/* Release fence after taking the flag: no pixel store may become visible before the flag. */
static inline void ImageStreamIO_atomic_release_fence_after(uint8_t *write)
{
#ifdef IMAGESTREAMIO_ATOMIC_TSAN
    __atomic_fetch_add(write, (uint8_t)0, __ATOMIC_ACQ_REL);
#else
    (void)write;
    __atomic_thread_fence(__ATOMIC_RELEASE);
#endif
}

/* Acquire fence, then the flag: pairs with the writer's fence if the copy saw a new pixel. */
static inline uint8_t ImageStreamIO_atomic_acquire_fence_then_load(uint8_t *write)
{
#ifdef IMAGESTREAMIO_ATOMIC_TSAN
    return __atomic_fetch_add(write, (uint8_t)0, __ATOMIC_ACQ_REL);
#else
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(write, __ATOMIC_ACQUIRE);
#endif
}

/* The shmim-private claim words: C padding between `shared` and `inode`, and between `status`
 * and `flag`, in every layout variant (the variants differ after CBcycle). */
#define IMAGESTREAMIO_CLAIM_PID_OFFSET 228
#define IMAGESTREAMIO_CLAIM_TICKET_OFFSET 244
#ifdef __cplusplus
#define IMAGESTREAMIO_ATOMIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define IMAGESTREAMIO_ATOMIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif
IMAGESTREAMIO_ATOMIC_ASSERT(offsetof(IMAGE_METADATA, shared) < IMAGESTREAMIO_CLAIM_PID_OFFSET &&
                                offsetof(IMAGE_METADATA, inode) >=
                                    IMAGESTREAMIO_CLAIM_PID_OFFSET + 4,
                            "the claim PID must lie in padding");
IMAGESTREAMIO_ATOMIC_ASSERT(offsetof(IMAGE_METADATA, status) < IMAGESTREAMIO_CLAIM_TICKET_OFFSET &&
                                offsetof(IMAGE_METADATA, flag) >=
                                    IMAGESTREAMIO_CLAIM_TICKET_OFFSET + 4,
                            "the claim ticket must lie in padding");

/* The claim PID: the shmim writer holding the write flag, 0 when none does. */
static inline int32_t *ImageStreamIO_atomic_claim_pid(IMAGE_METADATA *md)
{
    return (int32_t *)(void *)((unsigned char *)md + IMAGESTREAMIO_CLAIM_PID_OFFSET);
}

/* The claim ticket: low 32 bits of cnt0 when the claim PID took the flag. */
static inline uint32_t *ImageStreamIO_atomic_claim_ticket(IMAGE_METADATA *md)
{
    return (uint32_t *)(void *)((unsigned char *)md + IMAGESTREAMIO_CLAIM_TICKET_OFFSET);
}

#ifndef __cplusplus
/* POSIX; declared again for strict ISO C dialects, where <signal.h> hides it. */
extern int kill(pid_t, int);
#endif

/* The number on the "Threads:" line of /proc/PID/status (the kernel escapes the command name
 * there, so such a line is its own), or -1 if it cannot be read. */
static inline long ImageStreamIO_atomic_proc_threads(pid_t pid)
{
    char path[40], line[256];
    long threads = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (threads < 0 && fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "Threads:", 8) != 0)
            continue;
        const char *p = line + 8;
        while (*p == ' ' || *p == '\t')
            p++;
        for (threads = 0; *p >= '0' && *p <= '9'; p++)
            threads = threads * 10 + (*p - '0');
    }
    fclose(f);
    return threads;
}

/* 1 if `pid` names no running process: none has that PID, or it has exited and is not reaped
 * yet (a zombie). 0 for a live process, a process of another user, or when we cannot tell.
 * errno is preserved.
 *
 * /proc/PID/stat describes the main thread: when it ends by itself (pthread_exit) while other
 * threads of the process go on, it reads Z although the process lives and may still hold the
 * flag. So a Z (or X) main thread means dead only when /proc/PID/status counts no thread but it
 * (Threads: 1). */
static inline int ImageStreamIO_atomic_pid_dead(pid_t pid)
{
    if (pid <= 0)
        return 0;
    int saved = errno, dead = 0;
    if (kill(pid, 0) == -1 && errno == ESRCH) {
        dead = 1;
    } else {
        /* "PID (comm) S ...": the state follows the last ')' (comm may hold one). */
        char path[32], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = '\0';
            const char *p = strrchr(buf, ')');
            if (p != NULL) {
                while (*++p == ' ')
                    ;
                if (*p == 'Z' || *p == 'X') {
                    long threads = ImageStreamIO_atomic_proc_threads(pid);
                    dead = threads >= 0 && threads <= 1;
                }
            }
        }
    }
    errno = saved;
    return dead;
}

/* Takes the write flag (0 -> 1, acquire: ordered after the previous writer's release of it, and
 * so after the ticket its publish left), then a release fence, then claims it: the claim PID
 * 0 -> `me` (release: a reader of the PID reads the ticket with it). `me` 0 means getpid(). If
 * the claim is not 0, a legacy writer cleared the flag plainly over another writer's claim: it is
 * taken over only if that writer is dead (ticket refreshed, then compare-and-swap from its PID);
 * else the flag stays set for the live writer, which still writes under it. Returns 0, or -1 when
 * another writer holds the flag. */
static inline int ImageStreamIO_atomic_begin_write(IMAGE_METADATA *md, pid_t me)
{
    if (me <= 0)
        me = getpid();
    uint8_t expected = 0;
    if (!__atomic_compare_exchange_n(&md->write, &expected, (uint8_t)1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return -1;
    ImageStreamIO_atomic_release_fence_after(&md->write);
    int32_t claim = 0;
    if (__atomic_compare_exchange_n(ImageStreamIO_atomic_claim_pid(md), &claim, (int32_t)me, 0,
                                    __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
        return 0;
    if (claim > 0 && claim != me && ImageStreamIO_atomic_pid_dead(claim)) {
        __atomic_store_n(ImageStreamIO_atomic_claim_ticket(md),
                         (uint32_t)__atomic_load_n(&md->cnt0, __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
        if (__atomic_compare_exchange_n(ImageStreamIO_atomic_claim_pid(md), &claim,
                                        (int32_t)me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return 0;
    }
    return -1;
}

/* Publishes the frame written since begin_write by `me` (0: getpid()): cnt0 += 1 (release: the
 * pixels are visible with the new count); then, if the claim is ours or nobody's, the ticket of
 * the next writer (low 32 bits of the new cnt0) and the claim cleared (release); then write = 0
 * (release: a reader that sees 0 sees the new count). Returns the new frame number. Post the
 * semaphores after this, never before. */
static inline uint64_t ImageStreamIO_atomic_publish(IMAGE_METADATA *md, pid_t me)
{
    if (me <= 0)
        me = getpid();
    uint64_t frame = __atomic_add_fetch(&md->cnt0, (uint64_t)1, __ATOMIC_RELEASE);
    int32_t claim = __atomic_load_n(ImageStreamIO_atomic_claim_pid(md), __ATOMIC_RELAXED);
    if (claim == (int32_t)me || claim == 0) {
        __atomic_store_n(ImageStreamIO_atomic_claim_ticket(md), (uint32_t)frame, __ATOMIC_RELAXED);
        if (claim != 0)
            __atomic_store_n(ImageStreamIO_atomic_claim_pid(md), (int32_t)0, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&md->write, (uint8_t)0, __ATOMIC_RELEASE);
    return frame;
}

/* Starts a consistent read: 1 with the frame counter in *seq, or 0 while a writer holds the
 * flag (back off and try again). */
static inline int ImageStreamIO_atomic_read_begin(IMAGE_METADATA *md, uint64_t *seq)
{
    uint64_t c = __atomic_load_n(&md->cnt0, __ATOMIC_ACQUIRE);
    /* Relaxed: an early exit only; validation re-reads the flag with the ordering that counts. */
    if (__atomic_load_n(&md->write, __ATOMIC_RELAXED) != 0)
        return 0;
    *seq = c;
    return 1;
}

/* Ends a consistent read begun with `seq`: 1 if no writer touched the frame meanwhile (the copy
 * is good), 0 if it must be retried. */
static inline int ImageStreamIO_atomic_read_validate(IMAGE_METADATA *md, uint64_t seq)
{
    uint8_t w = ImageStreamIO_atomic_acquire_fence_then_load(&md->write);
    /* Relaxed: the acquire on `w` already ordered this after the publish that stored w. */
    uint64_t c = __atomic_load_n(&md->cnt0, __ATOMIC_RELAXED);
    return w == 0 && c == seq;
}

/* Race-free copy out of live shared memory: relaxed atomic loads (8-byte words where aligned). */
static inline void ImageStreamIO_atomic_copy_out(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;
    while (i < n && ((uintptr_t)(s + i) & 7u) != 0) {
        d[i] = __atomic_load_n(s + i, __ATOMIC_RELAXED);
        i++;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w = __atomic_load_n((const uint64_t *)(const void *)(s + i), __ATOMIC_RELAXED);
        __builtin_memcpy(d + i, &w, 8);
    }
    for (; i < n; i++)
        d[i] = __atomic_load_n(s + i, __ATOMIC_RELAXED);
}

/* Race-free copy into live shared memory: relaxed atomic stores (the writer holds the flag). */
static inline void ImageStreamIO_atomic_copy_in(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    size_t i = 0;
    while (i < n && ((uintptr_t)(d + i) & 7u) != 0) {
        __atomic_store_n(d + i, s[i], __ATOMIC_RELAXED);
        i++;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        __builtin_memcpy(&w, s + i, 8);
        __atomic_store_n((uint64_t *)(void *)(d + i), w, __ATOMIC_RELAXED);
    }
    for (; i < n; i++)
        __atomic_store_n(d + i, s[i], __ATOMIC_RELAXED);
}

#ifdef __cplusplus
}
#endif

#endif /* IMAGESTREAMIO_ATOMIC_H */
