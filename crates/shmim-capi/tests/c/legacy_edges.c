/* Legacy behaviours at the edges: ImageStreamIO_filename truncates like snprintf on failure;
 * readBufferAt on a circular-buffer imagetype counts size[2] (so with fewer than three axes every
 * index fails); destroyIm removes the file it has open whatever its header now says, and only
 * that file. */
#include <sys/stat.h>

#include "ImageStreamIO.h"
#include "check.h"

static void filename_truncates(void)
{
    char full[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(full, sizeof full, "edge"), IMAGESTREAMIO_SUCCESS);
    size_t len = strlen(full);
    CHECK(len > 8);

    char small[8];
    memset(small, 'x', sizeof small);
    CHECK_EQ(ImageStreamIO_filename(small, sizeof small, "edge"), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(small[7], '\0');
    CHECK(strncmp(small, full, 7) == 0);

    /* Exactly one byte short: all but the last character. */
    char *exact = malloc(len);
    CHECK(exact != NULL);
    CHECK_EQ(ImageStreamIO_filename(exact, len, "edge"), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(strlen(exact), len - 1);
    CHECK(strncmp(exact, full, len - 1) == 0);
    free(exact);

    /* One byte: just the NUL. n = 0: nothing written. */
    char one[2] = {'x', 'y'};
    CHECK_EQ(ImageStreamIO_filename(one, 1, "edge"), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(one[0], '\0');
    CHECK_EQ(one[1], 'y');
    one[0] = 'x';
    CHECK_EQ(ImageStreamIO_filename(one, 0, "edge"), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(one[0], 'x');

    /* Just big enough. */
    char *fit = malloc(len + 1);
    CHECK(fit != NULL);
    CHECK_EQ(ImageStreamIO_filename(fit, len + 1, "edge"), IMAGESTREAMIO_SUCCESS);
    CHECK(strcmp(fit, full) == 0);
    free(fit);
}

static void circular_type_counts_size2(void)
{
    const uint64_t types[2] = {CIRCULAR_BUFFER | ZAXIS_SPACIAL, 0x20001};
    for (int t = 0; t < 2; t++) {
        /* Two axes: (imagetype & 0xF000F) != CIRCULAR_BUFFER, so creation allows it. */
        IMAGE im;
        memset(&im, 0, sizeof im);
        uint32_t size[2] = {4, 3};
        CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "cb2", 2, size, _DATATYPE_INT32, -1, 1, 2, 0,
                                            types[t], 0),
                 IMAGESTREAMIO_SUCCESS);
        CHECK_EQ(im.md->size[2], 0);
        void *buf = (void *)&im;
        CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0, &buf), IMAGESTREAMIO_FAILURE);
        CHECK(buf == NULL);
        buf = (void *)&im;
        CHECK_EQ(ImageStreamIO_readBufferAt(&im, 1, &buf), IMAGESTREAMIO_FAILURE);
        CHECK(buf == NULL);
        buf = (void *)&im;
        CHECK_EQ(ImageStreamIO_writeBuffer(&im, &buf), IMAGESTREAMIO_FAILURE);
        CHECK(buf == NULL);
        CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);

        /* Three axes: slices of size[0] * size[1] elements. */
        uint32_t csize[3] = {4, 3, 5};
        CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "cb3", 3, csize, _DATATYPE_INT32, -1, 1, 2, 0,
                                            types[t], 0),
                 IMAGESTREAMIO_SUCCESS);
        CHECK_EQ(ImageStreamIO_readBufferAt(&im, 4, &buf), IMAGESTREAMIO_SUCCESS);
        CHECK(buf == (void *)(im.array.SI32 + 4 * 12));
        CHECK_EQ(ImageStreamIO_readBufferAt(&im, 5, &buf), IMAGESTREAMIO_FAILURE);
        CHECK(buf == NULL);
        CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    }
    /* Not a circular buffer: the pixels, for any index. */
    IMAGE im;
    memset(&im, 0, sizeof im);
    uint32_t size[2] = {4, 3};
    CHECK_EQ(ImageStreamIO_createIm(&im, "plain", 2, size, _DATATYPE_INT32, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    void *buf = NULL;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 99, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == im.array.raw);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
}

static void destroy_removes_a_damaged_stream(void)
{
    char path[STRINGMAXLEN_FILE_NAME];
    struct stat st;
    uint32_t size[2] = {8, 8};

    /* Version string scribbled over. */
    IMAGE im;
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, "damaged", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "damaged"), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) == 0);
    im.md->version[0] = 'X';
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
    CHECK_EQ(im.used, 0);
    CHECK(im.md == NULL);

    /* Name and sizes scribbled over too: found by the IMAGE's own name (a name that could lead
     * out of the directory is never used as a path). */
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, "damaged2", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "damaged2"), IMAGESTREAMIO_SUCCESS);
    memset(im.md->name, 0, sizeof im.md->name);
    strcpy(im.md->name, "../../etc/passwd");
    im.md->size[0] = 0;
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);

    /* Renamed away under both names: not found, not removed, FAILURE. */
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, "damaged4", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    char moved[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "damaged4"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_filename(moved, sizeof moved, "moved"), IMAGESTREAMIO_SUCCESS);
    CHECK(rename(path, moved) == 0);
    ImageStreamIO_set_printError(NULL);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_FAILURE);
    ImageStreamIO_set_default_printError();
    CHECK(stat(moved, &st) == 0);
    CHECK(im.md == NULL);
    CHECK(unlink(moved) == 0);

    /* A damaged stream that was replaced meanwhile: the new file is left alone. */
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, "damaged3", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    IMAGE other;
    memset(&other, 0, sizeof other);
    CHECK_EQ(ImageStreamIO_createIm(&other, "damaged3", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "damaged3"), IMAGESTREAMIO_SUCCESS);
    im.md->version[0] = 'X';
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) == 0);
    CHECK_EQ(ImageStreamIO_destroyIm(&other), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
}

int main(void)
{
    test_start("legacy edges");
    filename_truncates();
    circular_type_counts_size2();
    destroy_removes_a_damaged_stream();
    fprintf(stderr, "legacy_edges: ok\n");
    return 0;
}
