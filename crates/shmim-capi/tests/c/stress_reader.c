/* A C reader facing a free-running writer: waits on its semaphore, copies each frame with the
 * consistent-read protocol of ImageStreamIO_atomic.h, and checks that every accepted copy is
 * exactly one frame (the one cnt0 names). Stops at frame N. */
#include <sched.h>

#include "ImageStreamIO.h"
#include "ImageStreamIO_atomic.h"
#include "check.h"
#include "frames.h"

int main(int argc, char **argv)
{
    test_start("stress_reader");
    CHECK(argc == 3);
    uint64_t n = (uint64_t)atol(argv[2]);
    IMAGE im;
    CHECK_EQ(ImageStreamIO_openIm(&im, argv[1]), IMAGESTREAMIO_SUCCESS);
    int slot = ImageStreamIO_getsemwaitindex(&im, 1);
    CHECK(slot >= 0);
    ImageStreamIO_semflush(&im, slot);
    say("ready");
    static uint32_t copy[FRAME_N];
    uint64_t accepted = 0, rejected = 0, last = 0;
    while (last < n) {
        int rc;
        while ((rc = ImageStreamIO_semwait(&im, slot)) == -1 && errno == EINTR)
            ;
        CHECK_EQ(rc, 0);
        for (;;) {
            uint64_t seq;
            if (!ImageStreamIO_atomic_read_begin(im.md, &seq)) {
                rejected++;
                sched_yield(); /* the writer is mid-frame: let it finish */
                continue;
            }
            memcpy(copy, im.array.UI32, sizeof copy);
            if (!ImageStreamIO_atomic_read_validate(im.md, seq)) {
                rejected++;
                sched_yield();
                continue;
            }
            CHECK(seq >= last);
            if (!frame_is(copy, seq)) {
                fprintf(stderr, "accepted a torn copy of frame %llu\n", (unsigned long long)seq);
                return 1;
            }
            accepted++;
            last = seq;
            break;
        }
    }
    fprintf(stderr, "stress_reader: %llu frames accepted, %llu attempts retried\n",
            (unsigned long long)accepted, (unsigned long long)rejected);
    CHECK(accepted > 0);
    CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
    return 0;
}
