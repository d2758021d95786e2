/* Process-local images (shared = 0) as legacy treats them (issue 15.6): any non-empty name is
 * accepted (it names no file; longer ones are cut to 79 bytes), and the semaphore and publish
 * calls milk makes on them unconditionally answer legacy's values without reporting anything:
 * posts, flushes and UpdateIm succeed and do nothing, semvalue is -1, getsemwaitindex -1, the
 * waits return 1 (legacy's EXIT_FAILURE for "no such semaphore"). */
#include <sys/stat.h>

#include "ImageStreamIO.h"
#include "check.h"

/* Every semaphore and publish call on a local image: legacy's answer, nothing reported. */
static void quiet_legacy_answers(IMAGE *im)
{
    int before = reported()->count;
    struct timespec soon;
    CHECK(clock_gettime(CLOCK_REALTIME, &soon) == 0);
    soon.tv_sec += 1;
    CHECK_EQ(ImageStreamIO_sempost(im, -1), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_sempost(im, 0), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_sempost(im, 5), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_sempost_excl(im, 0), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semflush(im, -1), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semflush(im, 0), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semvalue(im, 0), -1);
    CHECK_EQ(ImageStreamIO_semvalue(im, -1), -1);
    CHECK_EQ(ImageStreamIO_getsemwaitindex(im, 0), -1);
    CHECK_EQ(ImageStreamIO_getsemwaitindex(im, 3), -1);
    CHECK_EQ(ImageStreamIO_semwait(im, 0), 1);
    CHECK_EQ(ImageStreamIO_semtrywait(im, 0), 1);
    CHECK_EQ(ImageStreamIO_semtimedwait(im, 0, &soon), 1);
    uint64_t cnt0 = im->md->cnt0;
    CHECK_EQ(ImageStreamIO_UpdateIm(im), IMAGESTREAMIO_SUCCESS);
    struct timespec atime = {3, 4};
    CHECK_EQ(ImageStreamIO_UpdateIm_atime(im, &atime), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im->md->cnt0, cnt0);
    CHECK_EQ(reported()->count, before);
}

int main(void)
{
    test_start("process-local images, legacy answers");
    CHECK_EQ(ImageStreamIO_set_printError(count_report), IMAGESTREAMIO_SUCCESS);
    const char *dir = getenv("MILK_SHM_DIR");
    CHECK(dir != NULL);
    uint32_t size[2] = {4, 3};

    /* milk names local images freely: a '/' is just a character of the name. */
    IMAGE im;
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, "process-local/shmim", 2, size, _DATATYPE_FLOAT, 0, 2, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.used, 1);
    CHECK_EQ(im.md->shared, 0);
    CHECK_EQ(im.md->sem, 0);
    CHECK(strcmp(im.md->name, "process-local/shmim") == 0);
    CHECK(strcmp(im.name, "process-local/shmim") == 0);
    im.array.F[11] = 1.5f;
    quiet_legacy_answers(&im);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);

    /* Names a shared stream may not have are fine for a local one, and none makes a file. */
    const char *names[] = {"..", ".hidden", "-rf", "a b", "tab\there", "\xff\xfe", "../../x"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        memset(&im, 0, sizeof im);
        CHECK_EQ(ImageStreamIO_createIm_gpu(&im, names[i], 1, size, _DATATYPE_UINT8, -1, 0, 4, 0,
                                            MATH_DATA, 0),
                 IMAGESTREAMIO_SUCCESS);
        CHECK(strcmp(im.md->name, names[i]) == 0);
        quiet_legacy_answers(&im);
        CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    }
    /* A long name is cut to the 79 bytes md->name holds. */
    char longname[120];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, longname, 1, size, _DATATYPE_INT16, 0, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(strlen(im.md->name), STRINGMAXLEN_IMAGE_NAME - 1);
    CHECK(strncmp(im.md->name, longname, STRINGMAXLEN_IMAGE_NAME - 1) == 0);
    CHECK_EQ(strlen(im.name), STRINGMAXLEN_IMAGE_NAME - 1);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(reported()->count, 0);
    CHECK_EQ(count_entries(dir), 0);

    /* No name at all is still refused, as legacy. */
    memset(&im, 0, sizeof im);
    CHECK_EQ(ImageStreamIO_createIm(&im, "", 1, size, _DATATYPE_INT16, 0, 0, 0),
             IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(ImageStreamIO_createIm(&im, NULL, 1, size, _DATATYPE_INT16, 0, 0, 0),
             IMAGESTREAMIO_INVALIDARG);
    CHECK_EQ(reported()->count, 2);
    fprintf(stderr, "local_legacy: ok\n");
    return 0;
}
