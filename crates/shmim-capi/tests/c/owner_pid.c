/* ownerPID keeps its legacy meaning: the stream's owner, which milk sets in place
 * (shmimsetowncurrent: md->ownerPID = getpid(); shmimsetown: another process) and its purge
 * reads. Frames published every way a C program can publish never change it: the legacy idiom
 * (write = 1; memcpy; UpdateIm), the atomic header's writer (begin_write; UpdateIm, or
 * begin_write; atomic_publish; sempost), through the creating handle or another one. The writer
 * is named elsewhere, by the shmim-private claim PID, which every publish clears. */
#include "ImageStreamIO.h"
#include "ImageStreamIO_atomic.h"
#include "check.h"

#define SIDE 4

static void fill(IMAGE *im, float v)
{
    for (int i = 0; i < SIDE * SIDE; i++)
        im->array.F[i] = v;
}

/* After a publish: the owner is what milk set, the claim is gone (the ticket is the next
 * writer's), the frame is counted. */
static void check_published(IMAGE *im, pid_t owner, uint64_t frame)
{
    CHECK_EQ(im->md->ownerPID, owner);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(im->md), 0);
    CHECK_EQ(*ImageStreamIO_atomic_claim_ticket(im->md), (uint32_t)frame);
    CHECK_EQ(im->md->write, 0);
    CHECK_EQ(im->md->cnt0, frame);
}

/* Publishes four frames, one per C writing style, through `im`; returns the last frame. */
static uint64_t publish_every_way(IMAGE *im, pid_t owner, uint64_t frame)
{
    /* The legacy idiom. */
    im->md->write = 1;
    fill(im, 1.0f);
    CHECK_EQ(ImageStreamIO_UpdateIm(im), IMAGESTREAMIO_SUCCESS);
    check_published(im, owner, ++frame);

    /* The atomic header's writer, published by UpdateIm: claimed while writing, by us. */
    CHECK_EQ(ImageStreamIO_atomic_begin_write(im->md, 0), 0);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(im->md), getpid());
    CHECK_EQ(*ImageStreamIO_atomic_claim_ticket(im->md), (uint32_t)frame);
    CHECK_EQ(im->md->ownerPID, owner);
    fill(im, 2.0f);
    CHECK_EQ(ImageStreamIO_UpdateIm(im), IMAGESTREAMIO_SUCCESS);
    check_published(im, owner, ++frame);

    /* The same, with UpdateIm_atime. */
    CHECK_EQ(ImageStreamIO_atomic_begin_write(im->md, getpid()), 0);
    fill(im, 3.0f);
    struct timespec t;
    clock_gettime(CLOCK_ISIO, &t);
    CHECK_EQ(ImageStreamIO_UpdateIm_atime(im, &t), IMAGESTREAMIO_SUCCESS);
    check_published(im, owner, ++frame);

    /* The atomic header's own publish, then the posts. */
    CHECK_EQ(ImageStreamIO_atomic_begin_write(im->md, 0), 0);
    fill(im, 4.0f);
    CHECK_EQ(ImageStreamIO_atomic_publish(im->md, 0), frame + 1);
    ImageStreamIO_sempost(im, -1);
    check_published(im, owner, ++frame);
    return frame;
}

int main(void)
{
    test_start("owner_pid");
    IMAGE im;
    uint32_t size[2] = {SIDE, SIDE};
    CHECK_EQ(ImageStreamIO_createIm(&im, "owned", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->ownerPID, 0);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(im.md), 0);
    CHECK_EQ(*ImageStreamIO_atomic_claim_ticket(im.md), 0);

    /* shmimsetowncurrent. */
    im.md->ownerPID = getpid();
    uint64_t frame = publish_every_way(&im, getpid(), 0);

    /* shmimsetown to another (live) process, and frames through another handle. */
    IMAGE other;
    CHECK_EQ(ImageStreamIO_openIm(&other, "owned"), IMAGESTREAMIO_SUCCESS);
    other.md->ownerPID = getppid();
    frame = publish_every_way(&other, getppid(), frame);
    CHECK_EQ(im.md->ownerPID, getppid());
    CHECK_EQ(frame, 8);

    CHECK_EQ(ImageStreamIO_closeIm(&other), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "owner_pid: ok\n");
    return 0;
}
