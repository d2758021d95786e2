/* The slice helpers are arithmetic on the struct (issue 15.5): readBufferAt, readLastWroteBuffer,
 * writeBuffer, nbSlices, readLastWroteIndex and writeIndex work on an IMAGE built by hand, the way
 * legacy tests and tools build one (`IMAGE im = {0}; im.md = &md; im.array.raw = buf;`, used 0,
 * no file, no mapping). Each helper is called twice: the static inline version of the header and
 * the library's exported symbol (through dlsym). Only NULL pointers are refused. */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "ImageStreamIO.h"
#include "check.h"

typedef uint64_t (*index_fn)(const IMAGE *);
typedef errno_t (*buffer_fn)(const IMAGE *, void **);

static index_fn exported_index(const char *name)
{
    index_fn f = (index_fn)dlsym(RTLD_DEFAULT, name);
    CHECK(f != NULL);
    return f;
}

static buffer_fn exported_buffer(const char *name)
{
    buffer_fn f = (buffer_fn)dlsym(RTLD_DEFAULT, name);
    CHECK(f != NULL);
    return f;
}

static index_fn nb_slices, write_index, last_index;
static buffer_fn write_buffer, last_buffer;

/* Both versions of every helper agree on `im`: slices, write index, last index, and the
 * pointers (with their codes) of the two buffer helpers. */
static void agree(const IMAGE *im, uint64_t slices, uint64_t next, uint64_t last)
{
    CHECK_EQ(ImageStreamIO_nbSlices(im), slices);
    CHECK_EQ(nb_slices(im), slices);
    CHECK_EQ(ImageStreamIO_writeIndex(im), next);
    CHECK_EQ(write_index(im), next);
    CHECK_EQ(ImageStreamIO_readLastWroteIndex(im), last);
    CHECK_EQ(last_index(im), last);
    void *a = NULL, *b = NULL;
    CHECK_EQ(ImageStreamIO_writeBuffer(im, &a), write_buffer(im, &b));
    CHECK(a == b);
    a = b = NULL;
    CHECK_EQ(ImageStreamIO_readLastWroteBuffer(im, &a), last_buffer(im, &b));
    CHECK(a == b);
}

/* Not a circular buffer: the start of the pixels, SUCCESS, for any index and any axes. */
static void non_circular(void)
{
    IMAGE im = {0};
    IMAGE_METADATA md = {0};
    double pixels[10 * 20];
    im.md = &md;
    im.array.D = pixels;
    md.size[0] = 10;
    md.size[1] = 20;
    md.size[2] = 30;
    md.datatype = _DATATYPE_DOUBLE;
    md.cnt1 = 5;
    for (uint8_t naxis = 1; naxis <= 3; naxis++) {
        md.naxis = naxis;
        const unsigned indices[] = {0, 29, 30, 0xFFFFFFFFu};
        for (size_t k = 0; k < sizeof indices / sizeof indices[0]; k++) {
            void *buf = NULL;
            CHECK_EQ(ImageStreamIO_readBufferAt(&im, indices[k], &buf), IMAGESTREAMIO_SUCCESS);
            CHECK(buf == (void *)pixels);
        }
        void *buf = NULL;
        CHECK_EQ(ImageStreamIO_writeBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
        CHECK(buf == (void *)pixels);
        buf = NULL;
        CHECK_EQ(ImageStreamIO_readLastWroteBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
        CHECK(buf == (void *)pixels);
    }
    md.naxis = 2;
    agree(&im, 1, 0, 0);
    md.naxis = 3;
    agree(&im, 30, 6, 5);
    CHECK_EQ(im.used, 0);
}

/* A circular buffer (imagetype & 0xF == CIRCULAR_BUFFER) of 30 slices of 10 x 20 complex
 * doubles: slice i starts i * 10 * 20 * 16 bytes in; index 30 and beyond are FAILURE and NULL. */
static void circular(void)
{
    IMAGE im = {0};
    IMAGE_METADATA md = {0};
    static complex_double pixels[10 * 20 * 30];
    const size_t slice = 10 * 20 * sizeof(complex_double);
    unsigned char *base = (unsigned char *)pixels;
    im.md = &md;
    im.array.CD = pixels;
    md.naxis = 3;
    md.size[0] = 10;
    md.size[1] = 20;
    md.size[2] = 30;
    md.datatype = _DATATYPE_COMPLEX_DOUBLE;
    md.imagetype = CIRCULAR_BUFFER | ZAXIS_TEMPORAL;

    void *buf = NULL;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base);
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 7, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base + 7 * slice);
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 29, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base + 29 * slice);
    /* Out of range: FAILURE and NULL, quietly (a bounds answer, not an error to print). */
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 30, &buf), IMAGESTREAMIO_FAILURE);
    CHECK(buf == NULL);
    buf = base;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0xFFFFFFFFu, &buf), IMAGESTREAMIO_FAILURE);
    CHECK(buf == NULL);

    /* The last slice written is cnt1; the next wraps after the last slice. */
    md.cnt1 = 0;
    agree(&im, 30, 1, 0);
    CHECK_EQ(ImageStreamIO_readLastWroteBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base);
    CHECK_EQ(ImageStreamIO_writeBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base + slice);
    md.cnt1 = 29;
    agree(&im, 30, 0, 29);
    CHECK_EQ(ImageStreamIO_readLastWroteBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base + 29 * slice);
    CHECK_EQ(ImageStreamIO_writeBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base);
    /* A writer that counted past the buffer: the last slice is out of range. */
    md.cnt1 = 30;
    agree(&im, 30, 1, 30);
    CHECK_EQ(ImageStreamIO_readLastWroteBuffer(&im, &buf), IMAGESTREAMIO_FAILURE);
    CHECK(buf == NULL);

    /* The circular-buffer bit with fewer than three axes: size[2] still counts (legacy rule). */
    md.naxis = 2;
    md.size[2] = 0;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0, &buf), IMAGESTREAMIO_FAILURE);
    CHECK(buf == NULL);
    md.size[2] = 4;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 3, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == base + 3 * slice);
    agree(&im, 1, 0, 0);
}

/* Only NULL is refused, with INVALIDARG reported (and `*buffer` NULL when there is one). */
static void only_null_is_refused(void)
{
    IMAGE im = {0};
    IMAGE_METADATA md = {0};
    void *buf = &im;
    ImageStreamIO_set_printError(count_report);
    CHECK_EQ(ImageStreamIO_readBufferAt(NULL, 0, &buf), IMAGESTREAMIO_INVALIDARG);
    CHECK(buf == NULL);
    buf = &im;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0, &buf), IMAGESTREAMIO_INVALIDARG); /* md NULL */
    CHECK(buf == NULL);
    im.md = &md;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0, NULL), IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(nb_slices(NULL), 0);
    CHECK_EQ(write_index(NULL), 0);
    CHECK_EQ(last_index(NULL), 0);
    CHECK_EQ(write_buffer(NULL, &buf), IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(last_buffer(&im, NULL), IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(reported()->count, 8);
    CHECK_EQ(reported()->last_code, IMAGESTREAMIO_INVALIDARG);
    /* Garbage in a hand-built header is arithmetic, not an error: no pixels yet, no report. */
    md.naxis = 200;
    buf = &im;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 5, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == NULL);
    CHECK_EQ(nb_slices(&im), 1);
    CHECK_EQ(reported()->count, 8);
    ImageStreamIO_set_default_printError();
}

int main(void)
{
    test_start("helpers on a hand-built IMAGE");
    nb_slices = exported_index("ImageStreamIO_nbSlices");
    write_index = exported_index("ImageStreamIO_writeIndex");
    last_index = exported_index("ImageStreamIO_readLastWroteIndex");
    write_buffer = exported_buffer("ImageStreamIO_writeBuffer");
    last_buffer = exported_buffer("ImageStreamIO_readLastWroteBuffer");
    non_circular();
    circular();
    only_null_is_refused();
    fprintf(stderr, "helpers_by_hand: ok\n");
    return 0;
}
