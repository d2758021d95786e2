/* Thread cancellation (issue 15.3). milk waits on any of N streams with one thread per stream
 * and cancels the others when one wakes; sempost_loop only ends when its thread is cancelled.
 * - A thread blocked in semwait, semtimedwait or sempost_loop is cancelled cleanly: its
 *   pthread_cleanup_push handler runs, pthread_join reports PTHREAD_CANCELED, the process lives.
 * - Every other call runs with cancellation disabled: a cancel pending when a thread enters
 *   createIm/openIm/destroyIm (which do file I/O, whose system calls are cancellation points)
 *   does not act inside the library; it acts at the thread's next cancellation point. */
#include <pthread.h>

#include "ImageStreamIO.h"
#include "check.h"

static IMAGE im;

enum { SEMWAIT, TIMEDWAIT, POSTLOOP, ENTERING, THREADS };

static volatile int cleaned[THREADS];
static volatile int returned[THREADS];

static void cleanup(void *arg)
{
    cleaned[(long)arg] = 1;
}

static void *blocker(void *arg)
{
    long which = (long)arg;
    pthread_cleanup_push(cleanup, arg);
    if (which == SEMWAIT) {
        ImageStreamIO_semwait(&im, 0);
    } else if (which == TIMEDWAIT) {
        struct timespec far;
        CHECK(clock_gettime(CLOCK_REALTIME, &far) == 0);
        far.tv_sec += 3600;
        ImageStreamIO_semtimedwait(&im, 1, &far);
    } else {
        ImageStreamIO_sempost_loop(&im, 2, 1000);
    }
    returned[which] = 1;
    pthread_cleanup_pop(0);
    return NULL;
}

static void joined_cancelled(pthread_t t, long which)
{
    void *result = NULL;
    CHECK_EQ(pthread_join(t, &result), 0);
    CHECK(result == PTHREAD_CANCELED);
    CHECK_EQ(cleaned[which], 1);
    CHECK_EQ(returned[which], 0);
}

/* Handshake of the "pending cancel" thread with main. */
static sem_t ready, cancelled;

static void *enters_with_cancel_pending(void *arg)
{
    (void)arg;
    pthread_cleanup_push(cleanup, (void *)(long)ENTERING);
    CHECK_EQ(pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL), 0);
    sem_post(&ready);
    while (sem_wait(&cancelled) != 0)
        ;
    /* The cancel is pending now; re-enabling does not act on it (deferred type). */
    CHECK_EQ(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL), 0);
    IMAGE mine;
    memset(&mine, 0, sizeof mine);
    uint32_t size[2] = {8, 8};
    CHECK_EQ(ImageStreamIO_createIm(&mine, "pending", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    IMAGE other;
    memset(&other, 0, sizeof other);
    CHECK_EQ(ImageStreamIO_openIm(&other, "pending"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&other), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_UpdateIm(&mine), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&mine), IMAGESTREAMIO_SUCCESS);
    /* Every call returned, and the thread is still cancellable with the cancel still pending. */
    int state = -1;
    CHECK_EQ(pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &state), 0);
    CHECK_EQ(state, PTHREAD_CANCEL_ENABLE);
    returned[ENTERING] = 1;
    pthread_testcancel();
    returned[ENTERING] = 2; /* not reached */
    pthread_cleanup_pop(0);
    return NULL;
}

int main(void)
{
    test_start("thread cancellation");
    uint32_t size[2] = {4, 4};
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "cancel", 2, size, _DATATYPE_FLOAT, -1, 1, 3, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semflush(&im, -1), IMAGESTREAMIO_SUCCESS);

    pthread_t t[3];
    for (long k = 0; k < 3; k++)
        CHECK_EQ(pthread_create(&t[k], NULL, blocker, (void *)k), 0);
    /* The loop is running once its semaphore is posted. */
    while (ImageStreamIO_semvalue(&im, 2) < 1)
        usleep(1000);
    /* A cancel may arrive before a thread reaches its wait: it is acted upon there, then. */
    for (long k = 0; k < 3; k++)
        CHECK_EQ(pthread_cancel(t[k]), 0);
    for (long k = 0; k < 3; k++)
        joined_cancelled(t[k], k);

    CHECK(sem_init(&ready, 0, 0) == 0 && sem_init(&cancelled, 0, 0) == 0);
    pthread_t p;
    CHECK_EQ(pthread_create(&p, NULL, enters_with_cancel_pending, NULL), 0);
    while (sem_wait(&ready) != 0)
        ;
    CHECK_EQ(pthread_cancel(p), 0);
    sem_post(&cancelled);
    void *result = NULL;
    CHECK_EQ(pthread_join(p, &result), 0);
    CHECK(result == PTHREAD_CANCELED);
    CHECK_EQ(returned[ENTERING], 1);
    CHECK_EQ(cleaned[ENTERING], 1);

    /* The library still works in this process. */
    CHECK_EQ(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semtrywait(&im, 0), 0);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "cancel: ok\n");
    return 0;
}
