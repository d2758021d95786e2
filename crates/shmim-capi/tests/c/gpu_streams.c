/* GPU streams (location >= 0) in a library without CUDA, as a non-CUDA legacy build (issue
 * 15.8). The driver created the GPU stream "gpu" (no pixels in the file) before running this.
 * - openIm fails: there is no pixel pointer to give (legacy: FAILURE, "Fail to retrieve data
 *   pointer"), and nothing is left open;
 * - createIm_gpu with a GPU location refuses an existing file first (FILEEXISTS), and on a free
 *   name returns NOTIMPL without creating anything;
 * - a process-local image ignores the location (legacy makes it a CPU image). */
#include <sys/stat.h>

#include "ImageStreamIO.h"
#include "check.h"

int main(void)
{
    test_start("GPU streams without CUDA");
    ImageStreamIO_set_printError(count_report);
    struct stat st;
    char path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "gpu"), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) == 0);

    IMAGE im;
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_openIm(&im, "gpu"), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(reported()->count, 1);
    CHECK_EQ(im.used, 0);
    CHECK(im.md == NULL);

    uint32_t size[2] = {4, 4};
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "gpu", 2, size, _DATATYPE_FLOAT, 0, 1, 2, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_FILEEXISTS);
    CHECK_EQ(reported()->last_code, IMAGESTREAMIO_FILEEXISTS);
    CHECK(stat(path, &st) == 0);

    char free_path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(free_path, sizeof free_path, "free"), IMAGESTREAMIO_SUCCESS);
    for (int8_t location = 0; location < 3; location++) {
        memset(&im, 0, sizeof im);
        CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "free", 2, size, _DATATYPE_FLOAT, location, 1,
                                            2, 0, MATH_DATA, 0),
                 IMAGESTREAMIO_NOTIMPL);
        CHECK_EQ(reported()->last_code, IMAGESTREAMIO_NOTIMPL);
        CHECK(stat(free_path, &st) != 0 && errno == ENOENT);
        CHECK_EQ(im.used, 0);
    }
    /* The location is validated before anything else, as legacy. */
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "free", 2, size, _DATATYPE_FLOAT, -2, 1, 2, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_INVALIDARG);

    /* Process-local: the location is ignored, the pixels are in process memory. */
    int before = reported()->count;
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "local", 2, size, _DATATYPE_FLOAT, 0, 0, 2, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->location, -1);
    CHECK(im.array.F != NULL);
    im.array.F[15] = 2.0f;
    CHECK(ImageStreamIO_get_image_d_ptr(&im) == im.array.raw);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(reported()->count, before);
    fprintf(stderr, "gpu_streams: ok\n");
    return 0;
}
