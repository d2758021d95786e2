/* A C reader written with the legacy idiom: registers on a semaphore, then for each of N frames
 * `ImageStreamIO_semwait(&im, ImageStreamIO_getsemwaitindex(&im, 0))` and reads im.array
 * directly. Used in lock-step (the driver lets the writer publish the next frame only after
 * "got k"), so every frame must be exactly frame k. */
#include "ImageStreamIO.h"
#include "check.h"
#include "frames.h"

int main(int argc, char **argv)
{
    test_start("reader");
    CHECK(argc == 3);
    const char *name = argv[1];
    long n = atol(argv[2]);
    IMAGE im;
    CHECK_EQ(ImageStreamIO_openIm(&im, name), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->datatype, _DATATYPE_UINT32);
    int slot = ImageStreamIO_getsemwaitindex(&im, 0);
    CHECK(slot >= 0);
    CHECK_EQ(im.semReadPID[slot], getpid());
    CHECK_EQ(ImageStreamIO_semflush(&im, slot), IMAGESTREAMIO_SUCCESS);
    say("ready");
    for (long k = 1; k <= n; k++) {
        int rc;
        while ((rc = ImageStreamIO_semwait(&im, ImageStreamIO_getsemwaitindex(&im, 0))) == -1 &&
               errno == EINTR)
            ;
        CHECK_EQ(rc, 0);
        CHECK_EQ(im.md->cnt0, (uint64_t)k);
        CHECK_EQ(im.md->write, 0);
        CHECK(frame_is(im.array.UI32, (uint64_t)k));
        CHECK(im.semWritePID[slot] > 0);
        char line[32];
        snprintf(line, sizeof line, "got %ld", k);
        say(line);
    }
    CHECK_EQ(ImageStreamIO_semvalue(&im, slot), 0);
    CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
    return 0;
}
