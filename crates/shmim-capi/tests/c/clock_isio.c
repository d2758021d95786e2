/* CLOCK_ISIO, the clock of every stream time: CLOCK_TAI where <time.h> defines it, else
 * CLOCK_REALTIME (legacy rule), whatever the program included first (this file includes the
 * library header before anything else), and the clock UpdateIm stamps writetime with. */
#include "ImageStreamIO.h"

#include "check.h"

static int64_t ns(struct timespec t)
{
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(void)
{
    test_start("CLOCK_ISIO");
#ifdef CLOCK_TAI
    CHECK_EQ(CLOCK_ISIO, CLOCK_TAI);
#else
    CHECK_EQ(CLOCK_ISIO, CLOCK_REALTIME);
#endif
    IMAGE im;
    uint32_t size[1] = {4};
    CHECK_EQ(ImageStreamIO_createIm(&im, "clock", 1, size, _DATATYPE_UINT8, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    struct timespec before, after;
    CHECK(clock_gettime(CLOCK_ISIO, &before) == 0);
    CHECK_EQ(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK(clock_gettime(CLOCK_ISIO, &after) == 0);
    CHECK(ns(before) <= ns(im.md->writetime) && ns(im.md->writetime) <= ns(after));
    CHECK_EQ(ns(im.md->atime), ns(im.md->writetime));
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "clock_isio: ok\n");
    return 0;
}
