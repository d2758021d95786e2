/* Circular buffers and cubes: UpdateIm's copy into the buffer, the temporal arrays, the slice
 * helpers (static inline in the header, and the exported symbols of the same names). */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "ImageStreamIO.h"
#include "check.h"

#define OFF(im, p) ((long long)((char *)(p) - (char *)(im).md))

typedef uint64_t (*index_fn)(const IMAGE *);
typedef errno_t (*buffer_fn)(const IMAGE *, void **);

int main(void)
{
    test_start("circbuf");
    /* A 2-D stream keeping its last 3 frames. */
    IMAGE im;
    uint32_t size[2] = {8, 8};
    CHECK_EQ(ImageStreamIO_createIm(&im, "cb", 2, size, _DATATYPE_FLOAT, 1, 0, 3),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->CBsize, 3);
    CHECK(im.CBimdata != NULL && im.CircBuff_md != NULL);
    CHECK_EQ(OFF(im, im.CBimdata) - OFF(im, im.CircBuff_md), 3 * sizeof(CBFRAMEMD));
    for (int k = 1; k <= 5; k++) {
        im.md->write = 1;
        for (int i = 0; i < 64; i++)
            im.array.F[i] = (float)k;
        im.md->cnt1 = (uint64_t)k;
        CHECK_EQ(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_SUCCESS);
    }
    /* Slots advance before each copy: 1, 2, 0 (cycle 1), 1, 2. */
    CHECK_EQ(im.md->CBindex, 2);
    CHECK_EQ(im.md->CBcycle, 1);
    const float *slots = (const float *)im.CBimdata;
    float expect_in[3] = {3, 4, 5};
    for (int s = 0; s < 3; s++) {
        for (int i = 0; i < 64; i++)
            CHECK(slots[s * 64 + i] == expect_in[s]);
        CHECK_EQ(im.CircBuff_md[s].cnt0, (uint64_t)expect_in[s]);
        CHECK_EQ(im.CircBuff_md[s].cnt1, (uint64_t)expect_in[s]);
    }
    /* Not a circular-buffer image type: readBufferAt gives the pixels for any index. */
    void *buf = NULL;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 7, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == im.array.raw);
    CHECK_EQ(ImageStreamIO_nbSlices(&im), 1);
    CHECK_EQ(ImageStreamIO_readLastWroteIndex(&im), 0);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);

    /* format.md's worked example: 32x32x10 float, 2 semaphores, 2 keywords, imagetype 0x20001
     * (temporal circular buffer), 4 buffer frames. */
    IMAGE cube;
    uint32_t csize[3] = {32, 32, 10};
    CHECK_EQ(ImageStreamIO_createIm_gpu(&cube, "cube", 3, csize, _DATATYPE_FLOAT, -1, 1, 2, 2,
                                        CIRCULAR_BUFFER | ZAXIS_TEMPORAL, 4),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(cube.memsize, 206800);
    CHECK_EQ(OFF(cube, cube.array.raw), 384);
    CHECK_EQ(OFF(cube, cube.kw), 41344);
    CHECK_EQ(OFF(cube, cube.semfile), 41600);
    CHECK_EQ(OFF(cube, cube.semlog), 41664);
    CHECK_EQ(OFF(cube, cube.semReadPID), 41696);
    CHECK_EQ(OFF(cube, cube.semWritePID), 41704);
    CHECK_EQ(OFF(cube, cube.semctrl), 41712);
    CHECK_EQ(OFF(cube, cube.semstatus), 41720);
    CHECK_EQ(OFF(cube, cube.streamproctrace), 41728);
    CHECK_EQ(OFF(cube, cube.atimearray), 42368);
    CHECK_EQ(OFF(cube, cube.writetimearray), 42528);
    CHECK_EQ(OFF(cube, cube.cntarray), 42688);
    CHECK_EQ(OFF(cube, cube.CircBuff_md), 42768);
    CHECK_EQ(OFF(cube, cube.CBimdata), 42960);

    /* Slices of a circular-buffer cube. */
    const size_t slice = 32 * 32 * sizeof(float);
    CHECK_EQ(ImageStreamIO_nbSlices(&cube), 10);
    for (unsigned s = 0; s < 10; s++) {
        CHECK_EQ(ImageStreamIO_readBufferAt(&cube, s, &buf), IMAGESTREAMIO_SUCCESS);
        CHECK((char *)buf == (char *)cube.array.raw + s * slice);
    }
    ImageStreamIO_set_printError(NULL);
    CHECK_EQ(ImageStreamIO_readBufferAt(&cube, 10, &buf), IMAGESTREAMIO_FAILURE);
    CHECK(buf == NULL);
    ImageStreamIO_set_default_printError();

    /* The writer owns cnt1: the slice it wrote last. */
    cube.md->cnt1 = 4;
    CHECK_EQ(ImageStreamIO_writeIndex(&cube), 5);
    CHECK_EQ(ImageStreamIO_readLastWroteIndex(&cube), 4);
    CHECK_EQ(ImageStreamIO_writeBuffer(&cube, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK((char *)buf == (char *)cube.array.raw + 5 * slice);
    CHECK_EQ(ImageStreamIO_readLastWroteBuffer(&cube, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK((char *)buf == (char *)cube.array.raw + 4 * slice);
    cube.md->cnt1 = 9;
    CHECK_EQ(ImageStreamIO_writeIndex(&cube), 0);

    /* The exported symbols of the inline helpers agree with the header's. */
    const char *index_names[3] = {"ImageStreamIO_nbSlices", "ImageStreamIO_writeIndex",
                                  "ImageStreamIO_readLastWroteIndex"};
    uint64_t index_inline[3] = {ImageStreamIO_nbSlices(&cube), ImageStreamIO_writeIndex(&cube),
                                ImageStreamIO_readLastWroteIndex(&cube)};
    for (int f = 0; f < 3; f++) {
        index_fn fn = (index_fn)dlsym(RTLD_DEFAULT, index_names[f]);
        CHECK(fn != NULL);
        CHECK_EQ(fn(&cube), index_inline[f]);
    }
    buffer_fn wb = (buffer_fn)dlsym(RTLD_DEFAULT, "ImageStreamIO_writeBuffer");
    buffer_fn rb = (buffer_fn)dlsym(RTLD_DEFAULT, "ImageStreamIO_readLastWroteBuffer");
    CHECK(wb != NULL && rb != NULL);
    void *a = NULL, *b = NULL;
    CHECK_EQ(wb(&cube, &a), ImageStreamIO_writeBuffer(&cube, &b));
    CHECK(a == b);
    CHECK_EQ(rb(&cube, &a), ImageStreamIO_readLastWroteBuffer(&cube, &b));
    CHECK(a == b);

    /* Publishing the cube copies all of it into the buffer. */
    cube.md->write = 1;
    for (int i = 0; i < 32 * 32 * 10; i++)
        cube.array.F[i] = (float)i;
    CHECK_EQ(ImageStreamIO_UpdateIm(&cube), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(cube.md->CBindex, 1);
    CHECK(memcmp((char *)cube.CBimdata + cube.md->imdatamemsize, cube.array.raw,
                 cube.md->imdatamemsize) == 0);
    CHECK_EQ(ImageStreamIO_destroyIm(&cube), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "circbuf: ok\n");
    return 0;
}
