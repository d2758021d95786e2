/* A C party of a shmim segment, through ImageStreamIO_lock.h only (run by segment_lock_c.rs).
 *
 *   segment_lock PATH count ROUNDS   locked increments of the counter, checking exclusion
 *   segment_lock PATH hold           lock, start an update, then wait to be killed
 *   segment_lock PATH expect-died    lock, expect the owner-died news, repair, unlock
 *   segment_lock PATH selftest       relock -> EDEADLK; try from another process's view
 *
 * Exit status 0 on success; a failed check prints it and exits 1. */
#include "ImageStreamIO_lock.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

/* The segment's value, as the Rust test declares it. */
typedef struct {
    uint64_t counter;
    uint64_t inside;
} Shared;

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "segment_lock.c:%d: check failed: %s\n", __LINE__, #cond);            \
            exit(1);                                                                             \
        }                                                                                        \
    } while (0)

static const struct timespec WATCHDOG = {60, 0};

int main(int argc, char **argv)
{
    int fd, died = -1, rc;
    struct stat st;
    void *base;
    uint64_t *word, home;
    volatile Shared *v;
    CHECK(argc >= 3);
    fd = open(argv[1], O_RDWR | O_CLOEXEC);
    CHECK(fd >= 0);
    CHECK(fstat(fd, &st) == 0);
    base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(base != MAP_FAILED);
    CHECK(isio_segment_check(base, (size_t)st.st_size, sizeof(Shared)) == 0);
    CHECK(isio_segment_check(base, (size_t)st.st_size, sizeof(Shared) + 8) == EINVAL);
    word = isio_segment_lock_word(base);
    home = isio_segment_namespace(base);
    CHECK(home != 0 && home == isio_pid_namespace());
    v = (volatile Shared *)isio_segment_value(base);

    if (strcmp(argv[2], "count") == 0) {
        long rounds;
        CHECK(argc == 4);
        rounds = atol(argv[3]);
        for (long i = 0; i < rounds; i++) {
            uint64_t n;
            CHECK(isio_lock_timed(word, home, &WATCHDOG, &died) == 0);
            CHECK(died == 0);
            CHECK(v->inside == 0); /* nobody else inside */
            v->inside = 1;
            n = v->counter;
            sched_yield();
            v->counter = n + 1;
            v->inside = 0;
            isio_unlock(word, home, 1);
        }
    } else if (strcmp(argv[2], "hold") == 0) {
        CHECK(isio_lock_timed(word, home, &WATCHDOG, &died) == 0);
        v->counter = UINT64_MAX; /* a half update */
        sleep(60);
        fprintf(stderr, "watchdog: the holder was never killed\n");
        return 1;
    } else if (strcmp(argv[2], "expect-died") == 0) {
        CHECK(isio_lock_timed(word, home, &WATCHDOG, &died) == 0);
        CHECK(died == 1);
        CHECK(v->counter == UINT64_MAX); /* the dead holder's half update */
        v->counter = 0;                  /* repair */
        isio_unlock(word, home, 1);
        CHECK(isio_lock_try(word, home, &died) == 0 && died == 0);
        isio_unlock(word, home, 1);
    } else if (strcmp(argv[2], "selftest") == 0) {
        uint64_t held;
        CHECK(isio_lock_try(word, home, &died) == 0 && died == 0);
        held = __atomic_load_n(word, __ATOMIC_RELAXED);
        CHECK((held & ISIO_LOCK_OWNER_MASK) == (uint64_t)getpid());
        CHECK(isio_lock_try(word, home, &died) == EDEADLK);
        /* Held by us, seen from another namespace (a crafted home): not judged, EBUSY. */
        rc = isio_lock_try(word, home ^ 1, &died);
        CHECK(rc == EBUSY);
        isio_unlock(word, home, 0); /* released without repair: the next locker is told */
        CHECK(*word == ISIO_LOCK_OWNER_DIED);
        CHECK(isio_lock_try(word, home, &died) == 0 && died == 1);
        isio_unlock(word, home, 1);
        CHECK(*word == 0);
        /* Our PID with a thread id that is not ours: a stale record, taken over. */
        __atomic_store_n(word, ((uint64_t)0x7ffffff0u << 32) | (uint64_t)getpid(), __ATOMIC_RELAXED);
        CHECK(isio_lock_try(word, home, &died) == 0 && died == 1);
        isio_lock_force(word, home);
        isio_unlock(word, home, 1);
        CHECK(*word == 0);
    } else {
        fprintf(stderr, "unknown role %s\n", argv[2]);
        return 1;
    }
    return 0;
}
