/* The cancellation points of libImageStreamIO.
 *
 * POSIX thread cancellation unwinds the cancelled thread's stack from the cancellation point
 * (glibc: a forced unwind, running pthread_cleanup_push handlers on the way). Rust cannot take
 * part in that: a forced unwind reaching a frame with a catch_unwind or pending drops aborts the
 * process. So the three calls that block until another thread or process acts, and that
 * programs stop by cancelling the thread (milk's wait on any of N streams, sempost_loop), block
 * here, in C compiled with -fexceptions (unwind tables and cleanups), after the Rust side has
 * validated the call and returned: between the blocking call and the caller there is only this
 * frame and the library's exported entry point, a Rust frame with nothing to drop and no
 * catch_unwind.
 *
 * Every other call of the library runs its Rust body with cancellation disabled (the two
 * helpers at the end), so the system calls std makes inside Rust frames (open, read, fsync...)
 * are never cancellation points: a pending cancel waits for the caller's next one. */
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

/* Validates a wait on semaphore `index` of `image` (with cancellation disabled): the semaphore,
 * or NULL with `*result` the call's return value (and errno set) when there is nothing to wait
 * on. */
typedef sem_t *(*shmim_capi_wait_target)(void *image, int index, int *result);

/* One round of sempost_loop (with cancellation disabled): 0 to go on, else the return value. */
typedef long (*shmim_capi_post_round)(void *image, long index);

int shmim_capi_sem_wait(void *image, int index, shmim_capi_wait_target target)
{
    int result = 0;
    sem_t *sem = target(image, index, &result);
    if (sem == NULL)
        return result;
    return sem_wait(sem);
}

int shmim_capi_sem_timedwait(void *image, int index, const struct timespec *deadline,
                             shmim_capi_wait_target target)
{
    int result = 0;
    sem_t *sem = target(image, index, &result);
    if (sem == NULL)
        return result;
    return sem_timedwait(sem, deadline);
}

long shmim_capi_sempost_loop(void *image, long index, long dtus, shmim_capi_post_round post)
{
    const struct timespec period = {dtus / 1000000, (dtus % 1000000) * 1000};
    for (;;) {
        long result = post(image, index);
        if (result != 0)
            return result;
        /* The cancellation point; an interrupted sleep just ends the round early. */
        nanosleep(&period, NULL);
    }
}

int shmim_capi_cancel_disable(void)
{
    int old = PTHREAD_CANCEL_ENABLE;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    return old;
}

void shmim_capi_cancel_restore(int old)
{
    pthread_setcancelstate(old, NULL);
}
