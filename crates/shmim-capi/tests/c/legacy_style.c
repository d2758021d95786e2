/* A program written the way milk and camera drivers use ImageStreamIO: only the public header,
 * IMAGE on the stack, pixels through im.array, times with CLOCK_ISIO, semaphores through
 * im.semptr, the inline helpers. It is built with nothing but
 * `pkg-config --cflags --libs ImageStreamIO`, at -O0 (so the inline helpers must not need a
 * symbol), as C and as C++. It uses no test helper on purpose. */
#include "ImageStreamIO.h"

#include <errno.h>
#include <string.h>

static int fail(const char *what)
{
    fprintf(stderr, "legacy_style: %s\n", what);
    return 1;
}

int main(void)
{
    IMAGE im;
    uint32_t *imsize = (uint32_t *)malloc(sizeof(uint32_t) * 2);
    imsize[0] = 16;
    imsize[1] = 16;
    if (ImageStreamIO_createIm(&im, "legacy", 2, imsize, _DATATYPE_FLOAT, 1, 0, 0) != 0)
        return fail("createIm");
    free(imsize);

    IMAGE rd;
    if (ImageStreamIO_openIm(&rd, "legacy") != IMAGESTREAMIO_SUCCESS)
        return fail("openIm");
    int semindex = ImageStreamIO_getsemwaitindex(&rd, 0);
    if (semindex < 0)
        return fail("getsemwaitindex");

    struct timespec t;
    clock_gettime(CLOCK_ISIO, &t);
    im.md->write = 1;
    for (uint32_t ii = 0; ii < im.md->nelement; ii++)
        im.array.F[ii] = (float)ii * 0.5f;
    im.md->cnt1 = 0;
    ImageStreamIO_UpdateIm_atime(&im, &t);

    if (sem_wait(rd.semptr[semindex]) != 0)
        return fail("sem_wait");
    if (rd.md->cnt0 != 1 || rd.array.F[10] != 5.0f)
        return fail("frame");
    if (rd.md->atime.tv_sec != t.tv_sec || rd.md->atime.tv_nsec != t.tv_nsec)
        return fail("atime");

    /* The second idiom: semwait on the index getsemwaitindex returns. */
    im.md->write = 1;
    im.array.F[0] = 42.0f;
    ImageStreamIO_UpdateIm(&im);
    ImageStreamIO_semwait(&rd, ImageStreamIO_getsemwaitindex(&rd, 0));
    if (rd.array.F[0] != 42.0f || rd.md->cnt0 != 2)
        return fail("second frame");

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1000000000;
    }
    if (ImageStreamIO_semtimedwait(&rd, semindex, &deadline) != -1 || errno != ETIMEDOUT)
        return fail("semtimedwait without a post");

    void *buffer = NULL;
    if (ImageStreamIO_readLastWroteBuffer(&rd, &buffer) != IMAGESTREAMIO_SUCCESS ||
        buffer != rd.array.raw)
        return fail("readLastWroteBuffer");
    if (ImageStreamIO_nbSlices(&rd) != 1 || ImageStreamIO_writeIndex(&rd) != 0)
        return fail("slices");

    printf("%s %s %d %s\n", rd.name, ImageStreamIO_typename(rd.md->datatype),
           ImageStreamIO_typesize(rd.md->datatype), rd.md->version);
    ImageStreamIO_closeIm(&rd);
    ImageStreamIO_destroyIm(&im);
    return 0;
}
