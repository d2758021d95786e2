/* Bad input gives error codes, never a crash, and every error goes through the printError hook
 * with the function name, a source location, the code and a message. Bad stream names (`/`,
 * `.`/`..`, leading `-` or `.`, control characters, non-UTF-8, 80 bytes or more) create
 * nothing, inside the stream directory or out of it. */
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

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

/* Names that could escape the stream directory or confuse tools are refused by every function
 * that takes one as a stream (file) name, before anything is created: no entry appears in the
 * directory or where an escaping name points. (A process-local image names no file and takes
 * any of them: local_legacy.c.) */
static void bad_names(void)
{
    const char *dir = getenv("MILK_SHM_DIR");
    CHECK(dir != NULL);
    int in_dir = count_entries(dir);
    CHECK(in_dir >= 0);

    char len80[81], len79[80];
    memset(len80, 'n', 80);
    len80[80] = '\0';
    memset(len79, 'n', 79);
    len79[79] = '\0';
    const char *bad[] = {
        "..", ".", "../escape", "../../escape", "a/b", "/tmp/escape", "-rf", "--help", ".hidden",
        "tab\there", "new\nline", "\x7f", "\xff\xfe", "caf\xc3", "\xc0\xae\xc0\xae", len80,
    };
    uint32_t size[2] = {4, 4};
    IMAGE im;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&im, 0, sizeof im);
        EXPECT_ERR(ImageStreamIO_createIm(&im, bad[i], 2, size, _DATATYPE_FLOAT, 1, 0, 0),
                   IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_createIm_gpu");
        EXPECT_ERR(ImageStreamIO_createIm_gpu(&im, bad[i], 2, size, _DATATYPE_FLOAT, -1, 1, 2, 1,
                                              CIRCULAR_BUFFER, 2),
                   IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_createIm_gpu");
        CHECK_EQ(im.used, 0);
        EXPECT_ERR(ImageStreamIO_openIm(&im, bad[i]), IMAGESTREAMIO_INVALIDARG,
                   "ImageStreamIO_openIm");
        EXPECT_ERR(ImageStreamIO_read_sharedmem_image_toIMAGE(bad[i], &im),
                   IMAGESTREAMIO_INVALIDARG, "ImageStreamIO_read_sharedmem_image_toIMAGE");
        CHECK_EQ(im.used, 0);
    }
    /* A name within a string is cut at its NUL: "ok\0/../x" is the valid name "ok". */
    CHECK_EQ(ImageStreamIO_createIm(&im, "ok\0/../x", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK(strcmp(im.name, "ok") == 0 && strcmp(im.md->name, "ok") == 0);
    CHECK_EQ(count_entries(dir), in_dir + 1);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(count_entries(dir), in_dir);
    /* Nothing where the escaping names point (other tests share the parent directory, so the
     * exact paths are checked rather than the parent's entries). */
    char outside[3][STRINGMAXLEN_FILE_NAME];
    snprintf(outside[0], sizeof outside[0], "%s/../escape.im.shm", dir);
    snprintf(outside[1], sizeof outside[1], "%s/../../escape.im.shm", dir);
    snprintf(outside[2], sizeof outside[2], "/tmp/escape.im.shm");
    for (int i = 0; i < 3; i++)
        CHECK(access(outside[i], F_OK) != 0 && errno == ENOENT);

    /* 79 bytes is the longest name (md->name holds 80 with the NUL). */
    CHECK_EQ(ImageStreamIO_createIm(&im, len79, 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK(strcmp(im.md->name, len79) == 0);
    IMAGE in;
    CHECK_EQ(ImageStreamIO_openIm(&in, len79), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&in), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(count_entries(dir), in_dir);
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
    bad_names();
    /* Complex types are valid pixels. */
    CHECK_EQ(ImageStreamIO_createIm(&im, "cplx", 2, size, _DATATYPE_COMPLEX_DOUBLE, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    /* A GPU stream never replaces a file; where there is none, this build (no CUDA) cannot make
     * one (gpu_streams.c has the rest). A bad geometry is an argument error first. */
    CHECK_EQ(ImageStreamIO_createIm(&im, "gpu", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    IMAGE gpu;
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&gpu, "gpu", 2, size, _DATATYPE_FLOAT, 0, 1, 1, 0,
                                          MATH_DATA, 0),
               IMAGESTREAMIO_FILEEXISTS, c);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&gpu, "gpu", 2, size, _DATATYPE_FLOAT, 0, 1, 1, 0,
                                          MATH_DATA, 0),
               IMAGESTREAMIO_NOTIMPL, c);
    EXPECT_ERR(ImageStreamIO_createIm_gpu(&gpu, "gpu", 2, zero, _DATATYPE_FLOAT, 0, 1, 1, 0,
                                          MATH_DATA, 0),
               IMAGESTREAMIO_INVALIDARG, c);
    /* A handle without pixels (as a GPU stream's would be): get_image_d_ptr says why. */
    IMAGE nopix;
    memset(&nopix, 0, sizeof nopix);
    EXPECT_ERR(ImageStreamIO_get_image_d_ptr(&nopix) == NULL ? IMAGESTREAMIO_NOTIMPL : 0,
               IMAGESTREAMIO_NOTIMPL, "ImageStreamIO_get_image_d_ptr");
    CHECK_EQ(last_code, IMAGESTREAMIO_NOTIMPL);

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
    /* A semaphore whose futex flag word (glibc: 0 private, 0x80 shared) is damaged would make
     * glibc abort the process or wait on the wrong clock: refused, not waited on. */
    int *flag_word = (int *)((char *)im.semptr[0] + 8);
    int saved_flag = *flag_word;
    CHECK_EQ(saved_flag, 0x80);
    struct timespec soon;
    CHECK(clock_gettime(CLOCK_REALTIME, &soon) == 0);
    soon.tv_sec += 1;
    const int damaged[] = {1, 0x81, 0x100, 0x180, -1};
    for (size_t k = 0; k < sizeof damaged / sizeof damaged[0]; k++) {
        *flag_word = damaged[k];
        errno = 0;
        EXPECT_ERR(ImageStreamIO_semwait(&im, 0), -1, "ImageStreamIO_semwait");
        CHECK(errno == EINVAL && last_code == IMAGESTREAMIO_FAILURE);
        errno = 0;
        EXPECT_ERR(ImageStreamIO_semtimedwait(&im, 0, &soon), -1, "ImageStreamIO_semtimedwait");
        CHECK(errno == EINVAL && last_code == IMAGESTREAMIO_FAILURE);
        EXPECT_ERR(ImageStreamIO_semtrywait(&im, 0), -1, "ImageStreamIO_semtrywait");
    }
    *flag_word = saved_flag;
    CHECK_EQ(ImageStreamIO_sempost(&im, 0), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semtimedwait(&im, 0, &soon), 0);
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

    /* Counts scribbled over so that the semaphores would lie past the mapping are refused, not
     * trusted (reshape.c has edits that are followed). */
    uint16_t nsem = im.md->sem;
    im.md->sem = 9999;
    EXPECT_ERR(ImageStreamIO_sempost(&im, 0), IMAGESTREAMIO_FAILURE, "ImageStreamIO_sempost");
    EXPECT_ERR(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_FAILURE, "ImageStreamIO_UpdateIm");
    im.md->sem = nsem;
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
