/* Posting, saturation, flushing, waiting, and the reader-registration rule of
 * getsemwaitindex (own slot, preferred slot, first free slot; dead readers' slots are free). */
#include <sys/wait.h>

#include "ImageStreamIO.h"
#include "check.h"

static void expect_values(IMAGE *im, const long *v)
{
    for (long i = 0; i < im->md->sem; i++)
        CHECK_EQ(ImageStreamIO_semvalue(im, i), v[i]);
}

int main(void)
{
    test_start("semaphores");
    IMAGE im;
    uint32_t size[1] = {16};
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "sems", 1, size, _DATATYPE_UINT8, -1, 1, 4, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    int logv = -1;

    CHECK_EQ(ImageStreamIO_sempost(&im, -1), IMAGESTREAMIO_SUCCESS);
    expect_values(&im, (long[]){1, 1, 1, 1});
    CHECK(sem_getvalue(im.semlog, &logv) == 0);
    CHECK_EQ(logv, 1);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(im.semWritePID[i], getpid());

    CHECK_EQ(ImageStreamIO_sempost(&im, 2), IMAGESTREAMIO_SUCCESS);
    expect_values(&im, (long[]){1, 1, 2, 1});
    CHECK_EQ(ImageStreamIO_sempost_excl(&im, 1), IMAGESTREAMIO_SUCCESS);
    expect_values(&im, (long[]){2, 1, 3, 2});

    /* Saturation at SEMAPHORE_MAXVAL, for every semaphore and the log semaphore. */
    for (int i = 0; i < 3 * SEMAPHORE_MAXVAL; i++)
        CHECK_EQ(ImageStreamIO_sempost(&im, -1), IMAGESTREAMIO_SUCCESS);
    expect_values(&im, (long[]){SEMAPHORE_MAXVAL, SEMAPHORE_MAXVAL, SEMAPHORE_MAXVAL,
                                SEMAPHORE_MAXVAL});
    CHECK(sem_getvalue(im.semlog, &logv) == 0);
    CHECK_EQ(logv, SEMAPHORE_MAXVAL);

    CHECK_EQ(ImageStreamIO_semflush(&im, 3), IMAGESTREAMIO_SUCCESS);
    expect_values(&im, (long[]){10, 10, 10, 0});
    CHECK_EQ(ImageStreamIO_semtrywait(&im, 0), 0);
    CHECK_EQ(ImageStreamIO_semvalue(&im, 0), 9);
    CHECK_EQ(ImageStreamIO_semwait(&im, 1), 0);
    CHECK_EQ(ImageStreamIO_semflush(&im, -1), IMAGESTREAMIO_SUCCESS);
    expect_values(&im, (long[]){0, 0, 0, 0});
    errno = 0;
    CHECK_EQ(ImageStreamIO_semtrywait(&im, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    struct timespec past = {1, 0};
    errno = 0;
    CHECK_EQ(ImageStreamIO_semtimedwait(&im, 0, &past), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    CHECK_EQ(ImageStreamIO_sempost(&im, 0), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semtimedwait(&im, 0, &past), 0); /* a pending post is taken at once */

    /* Reader registration. */
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 2), 2);  /* preferred and free */
    CHECK_EQ(im.semReadPID[2], getpid());
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 0), 2);  /* already ours */
    im.semReadPID[2] = -1;
    im.semReadPID[0] = getppid();                        /* a live process */
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 0), 1);  /* first free one instead */
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 99), 1); /* out of range: ours anyway */
    im.semReadPID[1] = getppid();
    pid_t child = fork();
    if (child == 0)
        _exit(0);
    CHECK(waitpid(child, NULL, 0) == child);
    for (int i = 0; i < 4; i++)
        im.semReadPID[i] = getppid();
    im.semReadPID[3] = child;                            /* a process that no longer exists */
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 0), 3);
    im.semReadPID[3] = getppid();
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 0), -1); /* all taken by live processes */
    im.semReadPID[1] = 0;                                /* a zeroed file's free slot */
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, -1), 1);

    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "semaphores: ok\n");
    return 0;
}
