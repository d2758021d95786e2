/* A C writer: creates the 64x64 uint32 stream NAME and publishes frames 1..N.
 *   writer NAME N lockstep   legacy idiom (write = 1; memcpy; UpdateIm), one frame per "next"
 *   writer NAME N free       as fast as it can, taking the flag with ImageStreamIO_atomic.h
 * Hand-shake with the driver: says "created", waits for "go"; at the end says "done". */
#include "ImageStreamIO.h"
#include "ImageStreamIO_atomic.h"
#include "check.h"
#include "frames.h"

int main(int argc, char **argv)
{
    test_start("writer");
    CHECK(argc == 4);
    const char *name = argv[1];
    long n = atol(argv[2]);
    int lockstep = strcmp(argv[3], "lockstep") == 0;
    CHECK(n > 0 && (lockstep || strcmp(argv[3], "free") == 0));

    IMAGE im;
    uint32_t size[2] = {FRAME_W, FRAME_H};
    CHECK_EQ(ImageStreamIO_createIm(&im, name, 2, size, _DATATYPE_UINT32, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    static uint32_t frame[FRAME_N];
    say("created");
    expect("go");
    for (long k = 1; k <= n; k++) {
        frame_fill(frame, (uint64_t)k);
        if (lockstep) {
            im.md->write = 1;
            memcpy(im.array.UI32, frame, sizeof frame);
            im.md->cnt1 = (uint64_t)k;
            CHECK_EQ(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_SUCCESS);
            if (k < n)
                expect("next");
        } else {
            CHECK_EQ(ImageStreamIO_atomic_begin_write(im.md, getpid()), 0);
            memcpy(im.array.UI32, frame, sizeof frame);
            CHECK_EQ(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_SUCCESS);
        }
        CHECK_EQ(im.md->cnt0, (uint64_t)k);
        CHECK_EQ(im.md->write, 0);
    }
    say("done");
    CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
    return 0;
}
