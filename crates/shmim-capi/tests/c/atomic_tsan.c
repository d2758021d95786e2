/* ImageStreamIO_atomic.h under ThreadSanitizer: one writer thread and two reader threads on a
 * metadata block and a pixel buffer in ordinary memory. Every accepted copy must be exactly the
 * frame its sequence number names, and TSan must report nothing. Built with -DBROKEN_READER,
 * the readers copy with a plain memcpy instead, and TSan must report the race: the check has
 * teeth. */
#include <pthread.h>
#include <sched.h>

#include "ImageStreamIO_atomic.h"
#include "check.h"
#include "frames.h"

#define FRAMES 3000
#define READERS 2

static IMAGE_METADATA *md;
static uint32_t *pixels;

static void *writer(void *arg)
{
    (void)arg;
    static uint32_t frame[FRAME_N];
    for (uint64_t k = 1; k <= FRAMES; k++) {
        frame_fill(frame, k);
        CHECK_EQ(ImageStreamIO_atomic_begin_write(md, 1234), 0);
        /* Claimed: our PID, and the frame number we started from as the ticket. */
        CHECK_EQ(ImageStreamIO_load_relaxed(ImageStreamIO_atomic_claim_pid(md)), 1234);
        CHECK_EQ(ImageStreamIO_load_relaxed(ImageStreamIO_atomic_claim_ticket(md)), k - 1);
        /* The flag is ours: a second writer is refused. */
        CHECK_EQ(ImageStreamIO_atomic_begin_write(md, 99), -1);
        ImageStreamIO_atomic_copy_in(pixels, frame, sizeof frame);
        CHECK_EQ(ImageStreamIO_atomic_publish(md, 1234), k);
    }
    return NULL;
}

static void *reader(void *arg)
{
    uint64_t *accepted = (uint64_t *)arg;
    static __thread uint32_t copy[FRAME_N];
    uint64_t last = 0;
    while (last < FRAMES) {
        uint64_t seq;
        if (!ImageStreamIO_atomic_read_begin(md, &seq)) {
            sched_yield();
            continue;
        }
#ifdef BROKEN_READER
        memcpy(copy, pixels, sizeof copy);
#else
        ImageStreamIO_atomic_copy_out(copy, pixels, sizeof copy);
#endif
        if (!ImageStreamIO_atomic_read_validate(md, seq)) {
            sched_yield();
            continue;
        }
        CHECK(seq >= last);
        if (!frame_is(copy, seq)) {
            fprintf(stderr, "accepted a torn copy of frame %llu\n", (unsigned long long)seq);
            exit(1);
        }
        last = seq;
        (*accepted)++;
    }
    return NULL;
}

int main(void)
{
    test_start("atomic_tsan");
    md = (IMAGE_METADATA *)calloc(1, sizeof *md);
    pixels = (uint32_t *)calloc(FRAME_N, sizeof *pixels);
    CHECK(md != NULL && pixels != NULL);
    frame_fill(pixels, 0); /* frame 0: the state before the first publish */
    /* Field-generic accessors on fields of every width. */
    ImageStreamIO_store_release(&md->cnt2, 7);
    CHECK_EQ(ImageStreamIO_fetch_add(&md->cnt2, 1), 7);
    CHECK_EQ(ImageStreamIO_load_acquire(&md->cnt2), 8);
    ImageStreamIO_store_relaxed(&md->sem, 3);
    CHECK_EQ(ImageStreamIO_load_relaxed(&md->sem), 3);
    CHECK_EQ(ImageStreamIO_fetch_add(&md->ownerPID, 5), 0);
    CHECK_EQ(ImageStreamIO_load_relaxed(&md->ownerPID), 5);
    /* The stream's owner, as milk's shmimsetowncurrent sets it: the writer never touches it. */
    ImageStreamIO_store_relaxed(&md->ownerPID, 4321);

    pthread_t w, r[READERS];
    uint64_t accepted[READERS] = {0};
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&r[i], NULL, reader, &accepted[i]) == 0);
    CHECK(pthread_create(&w, NULL, writer, NULL) == 0);
    CHECK(pthread_join(w, NULL) == 0);
    for (int i = 0; i < READERS; i++) {
        CHECK(pthread_join(r[i], NULL) == 0);
        CHECK(accepted[i] > 0);
        fprintf(stderr, "reader %d accepted %llu frames\n", i, (unsigned long long)accepted[i]);
    }
    CHECK_EQ(md->cnt0, FRAMES);
    CHECK_EQ(md->write, 0);
    CHECK_EQ(md->ownerPID, 4321);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(md), 0);
    CHECK_EQ(*ImageStreamIO_atomic_claim_ticket(md), FRAMES); /* the next writer's ticket */
    free(pixels);
    free(md);
    fprintf(stderr, "atomic_tsan: ok\n");
    return 0;
}
