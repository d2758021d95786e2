/* Bad input gives error codes, never a crash, and every error goes through the printError hook
 * with the function name, a source location, the code and a message. */
#include <fcntl.h>
#include <sys/stat.h>

#include "ImageStreamIO.h"
#include "check.h"

static int reports;
static errno_t last_code;
static char last_func[128];
static char last_msg[512];

static errno_t record(const char *file, const char *func, int line, errno_t code, char *msg)
{
    CHECK(file != NULL && strlen(file) > 0 && line > 0);
    reports++;
    last_code = code;
    snprintf(last_func, sizeof last_func, "%s", func);
    snprintf(last_msg, sizeof last_msg, "%s", msg);
    return IMAGESTREAMIO_SUCCESS;
}

/* `call` must return `code` and report it once, from `func`. */
#define EXPECT_ERR(call, code, func)                                                   \
    do {                                                                               \
        int before_ = reports;                                                         \
        CHECK_EQ((call), (code));                                                      \
        CHECK_EQ(reports, before_ + 1);                                                \
        CHECK(strcmp(last_func, func) == 0);                                           \
        CHECK(strlen(last_msg) > 0);                                                   \
    } while (0)

static void write_file(const char *path, const void *bytes, size_t n)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes, n) == (ssize_t)n);
    CHECK(close(fd) == 0);
}

int main(void)
{
    test_start("errors");
    CHECK_EQ(ImageStreamIO_set_printError(record), IMAGESTREAMIO_SUCCESS);
    IMAGE im;
    memset(&im, 0, sizeof im);
    uint32_t size[3] = {4, 4, 4};
    uint32_t zero[2] = {4, 0};
    const char *c = "ImageStreamIO_createIm_gpu";

    /* Creation. */
    EXPECT_ERR(ImageStreamIO_createIm(NULL, "e", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, NULL, 2, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 0, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 4, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, NULL, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, zero, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, size, 0, 1, 0, 0), IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, size, 14, 1, 0, 0), IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, size, _DATATYPE_EVENT_UI8_UI8_UI16_UI8, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, size, _DATATYPE_FLOAT, 2, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, size, _DATATYPE_FLOAT, 1, -1, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "e", 2, size, _DATATYPE_FLOAT, 1, 0, -3),
               IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_createIm");
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&im, "e", 2, size, _DATATYPE_FLOAT, -2, 1, 1, 0,
                                          MATH_DATA, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&im, "e", 2, size, _DATATYPE_FLOAT, -1, 1, 70000, 0,
                                          MATH_DATA, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&im, "e", 2, size, _DATATYPE_FLOAT, -1, 1, 1, 0,
                                          CIRCULAR_BUFFER, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    EXPECT_ERR(ImageStreamIO_createIm(&im, longname, 2, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    EXPECT_ERR(ImageStreamIO_createIm(&im, "a/b", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    /* Complex types are valid pixels. */
    CHECK_EQ(ImageStreamIO_createIm(&im, "cplx", 2, size, _DATATYPE_COMPLEX_DOUBLE, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    /* A GPU stream never replaces a file. */
    CHECK_EQ(ImageStreamIO_createIm(&im, "gpu", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    IMAGE gpu;
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&gpu, "gpu", 2, size, _DATATYPE_FLOAT, 0, 1, 1, 0,
                                          MATH_DATA, 0),
               IMAGESTREAMIO_FILEEXISTS, c);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    /* Where there is none, it is created without pixels in the file. */
    CHECK_EQ(ImageStreamIO_createIm_gpu(&gpu, "gpu", 2, size, _DATATYPE_FLOAT, 0, 1, 1, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK(gpu.array.raw == NULL);
    EXPECT_ERR(ImageStreamIO_get_image_d_ptr(&gpu) == NULL ? IMAGESTREAMIO_NOTIMPL : 0,
               IMAGESTREAMIO_NOTIMPL, "ImageStreamIO_get_image_d_ptr");
    CHECK_EQ(last_code, IMAGESTREAMIO_NOTIMPL);
    CHECK_EQ(ImageStreamIO_UpdateIm(&gpu), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(gpu.md->cnt0, 1);
    CHECK_EQ(ImageStreamIO_destroyIm(&gpu), IMAGESTREAMIO_SUCCESS);

    /* Opening. */
    const char *o = "ImageStreamIO_openIm";
    EXPECT_ERR(ImageStreamIO_openIm(&im, "nosuchstream"), IMAGESTREAMIO_FILEOPEN, o);
    CHECK_EQ(im.used, 0);
    EXPECT_ERR(ImageStreamIO_openIm(NULL, "x"), IMAGESTREAMIO_INVALIDARG, o);
    EXPECT_ERR(ImageStreamIO_openIm(&im, NULL), IMAGESTREAMIO_INVALIDARG, o);
    char path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "junk"), IMAGESTREAMIO_SUCCESS);
    char junk[1000];
    memset(junk, 0xAB, sizeof junk);
    write_file(path, junk, 100);
    EXPECT_ERR(ImageStreamIO_openIm(&im, "junk"), IMAGESTREAMIO_FILEOPEN, o);
    write_file(path, junk, sizeof junk);
    EXPECT_ERR(ImageStreamIO_openIm(&im, "junk"), IMAGESTREAMIO_VERSION, o);
    /* A good stream whose file was cut short. */
    IMAGE good;
    CHECK_EQ(ImageStreamIO_createIm(&good, "cut", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    char cut[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(cut, sizeof cut, "cut"), IMAGESTREAMIO_SUCCESS);
    CHECK(truncate(cut, (off_t)good.memsize - 8) == 0);
    EXPECT_ERR(ImageStreamIO_openIm(&im, "cut"), IMAGESTREAMIO_FILEOPEN, o);
    CHECK_EQ(ImageStreamIO_closeIm(&good), IMAGESTREAMIO_SUCCESS);
    CHECK(unlink(cut) == 0);

    /* Semaphores and buffers on a good stream. */
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "sems", 2, size, _DATATYPE_FLOAT, -1, 1, 3, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    EXPECT_ERR(ImageStreamIO_sempost(&im, 3), IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_sempost");
    EXPECT_ERR(ImageStreamIO_sempost(NULL, 0), IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_sempost");
    EXPECT_ERR(ImageStreamIO_semflush(&im, 7), IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_semflush");
    EXPECT_ERR(ImageStreamIO_semvalue(&im, 3), -1, "ImageStreamIO_semvalue");
    EXPECT_ERR(ImageStreamIO_semvalue(&im, -1), -1, "ImageStreamIO_semvalue");
    errno = 0;
    EXPECT_ERR(ImageStreamIO_semwait(&im, 3), -1, "ImageStreamIO_semwait");
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    EXPECT_ERR(ImageStreamIO_semtrywait(&im, -1), -1, "ImageStreamIO_semtrywait");
    CHECK_EQ(errno, EINVAL);
    EXPECT_ERR(ImageStreamIO_semtimedwait(&im, 0, NULL), -1, "ImageStreamIO_semtimedwait");
    EXPECT_ERR(ImageStreamIO_getsemwaitindex(NULL, 0), -1, "ImageStreamIO_getsemwaitindex");
    EXPECT_ERR(ImageStreamIO_UpdateIm(NULL), IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_UpdateIm");
    EXPECT_ERR(ImageStreamIO_sempost_loop(&im, 0, -5), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_sempost_loop");
    EXPECT_ERR(ImageStreamIO_sempost_loop(&im, 9, 10), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_sempost_loop");
    void *buf = &im;
    EXPECT_ERR(ImageStreamIO_readBufferAt(&im, 0, NULL), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_readBufferAt");
    EXPECT_ERR(ImageStreamIO_readBufferAt(NULL, 0, &buf), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_readBufferAt");
    CHECK(buf == NULL);
    CHECK_EQ(ImageStreamIO_nbSlices(NULL), 0);

    /* A handle whose metadata was scribbled over is refused, not trusted. */
    uint8_t naxis = im.md->naxis;
    im.md->naxis = 9;
    EXPECT_ERR(ImageStreamIO_sempost(&im, 0), IMAGESTREAMIO_FAILURE, "ImageStreamIO_sempost");
    EXPECT_ERR(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_FAILURE, "ImageStreamIO_UpdateIm");
    im.md->naxis = naxis;
    IMAGE closed;
    memset(&closed, 0, sizeof closed);
    EXPECT_ERR(ImageStreamIO_sempost(&closed, 0), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_sempost");
    EXPECT_ERR(ImageStreamIO_closeIm(&closed), IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_closeIm");
    EXPECT_ERR(ImageStreamIO_closeIm(NULL), IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_closeIm");
    EXPECT_ERR(ImageStreamIO_filename(NULL, 10, "x"), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_filename");
    EXPECT_ERR(ImageStreamIO_check_image_inode(NULL), IMAGESTREAMIO_INVALIDARG,
               "ImageStreamIO_check_image_inode");

    /* Turning reporting off, then back to the default printer (on stderr). */
    CHECK_EQ(ImageStreamIO_set_printError(NULL), IMAGESTREAMIO_SUCCESS);
    int before = reports;
    CHECK_EQ(ImageStreamIO_sempost(&im, 3), IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(reports, before);
    CHECK_EQ(ImageStreamIO_set_default_printError(), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_sempost(&im, 3), IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(reports, before);
    CHECK_EQ(init_ImageStreamIO(), IMAGESTREAMIO_SUCCESS);

    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "errors: ok\n");
    return 0;
}
