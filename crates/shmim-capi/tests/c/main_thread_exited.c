/* A process whose main thread has ended while another of its threads goes on is alive.
 *
 * When the main thread calls pthread_exit, the kernel shows it as a zombie (state Z in
 * /proc/PID/stat) although the process's other threads still run: a liveness check that stops
 * at the state judges such a process dead, and then a second writer takes the write flag it
 * holds, a second locker its segment lock. Both headers must see it alive while a thread of it
 * runs - ImageStreamIO_atomic_pid_dead (and so begin_write's stale-claim take-over), and the
 * segment lock's judgement of a holder - and dead once it has really exited (an unreaped zombie
 * with no thread left).
 *
 * The program forks (single-threaded then) a child whose worker thread takes the write flag of a
 * metadata block and a segment lock word, both in memory shared with the parent, and then waits
 * for the parent to close a pipe; the child's main thread calls pthread_exit. */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ImageStreamIO_atomic.h"
#include "ImageStreamIO_lock.h"
#include "check.h"

/* What parent and child share: a lock word and the write protocol's fields. */
struct shared {
    uint64_t lock_word;
    IMAGE_METADATA md;
};

static struct shared *sh;
static int ready[2], release[2];

/* The child's worker: takes the flag and the lock, says so, then holds both until the parent
 * closes `release`. Returning ends the last thread of the process: it exits holding both. */
static void *holder(void *arg)
{
    int died = -1;
    char c;
    (void)arg;
    CHECK_EQ(ImageStreamIO_atomic_begin_write(&sh->md, 0), 0);
    CHECK_EQ(isio_lock_try(&sh->lock_word, isio_pid_namespace(), &died), 0);
    CHECK(write(ready[1], "h", 1) == 1);
    while (read(release[0], &c, 1) > 0)
        ;
    return NULL;
}

/* Polls `cond(pid)` every millisecond until it holds; a watchdog of 30 s fails the test. */
static void eventually(int (*cond)(pid_t), pid_t pid, const char *what)
{
    for (int i = 0; !cond(pid); i++) {
        if (i > 30000) {
            fprintf(stderr, "timed out waiting for %s\n", what);
            exit(1);
        }
        usleep(1000);
    }
}

static int main_thread_is_a_zombie(pid_t pid)
{
    return proc_state(pid) == 'Z';
}

static int judged_dead(pid_t pid)
{
    return ImageStreamIO_atomic_pid_dead(pid);
}

int main(void)
{
    const uint64_t home = isio_pid_namespace();
    const struct timespec short_wait = {0, 200 * 1000 * 1000};
    const struct timespec watchdog = {30, 0};
    const pid_t me = getpid();
    int died = -1;
    char c;

    CHECK(home != 0);
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    CHECK(pipe(ready) == 0 && pipe(release) == 0);

    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        pthread_t t;
        close(ready[0]);
        close(release[1]);
        CHECK(pthread_create(&t, NULL, holder, NULL) == 0);
        pthread_exit(NULL); /* the main thread ends; the holder goes on */
    }
    close(ready[1]);
    close(release[0]);
    CHECK(read(ready[0], &c, 1) == 1);
    eventually(main_thread_is_a_zombie, child, "the child's main thread to end");

    /* Alive: its holder thread runs. */
    CHECK_EQ(kill(child, 0), 0);
    CHECK_EQ(ImageStreamIO_atomic_pid_dead(child), 0);
    CHECK_EQ(sh->md.write, 1);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(&sh->md), child);
    /* A legacy writer clears the flag plainly over the live claim: begin_write must not take
     * the claim over (it would write under the holder); it is refused and leaves the flag set. */
    __atomic_store_n(&sh->md.write, 0, __ATOMIC_RELEASE);
    CHECK_EQ(ImageStreamIO_atomic_begin_write(&sh->md, me), -1);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(&sh->md), child);
    CHECK_EQ(sh->md.write, 1);
    /* The segment lock is not taken over: a live holder is waited for. */
    CHECK_EQ(isio_lock_timed(&sh->lock_word, home, &short_wait, &died), ETIMEDOUT);

    /* Its last thread ends: the process exits holding both, and stays an unreaped zombie. */
    close(release[1]);
    eventually(judged_dead, child, "the child to be judged dead once its last thread ended");
    CHECK_EQ(kill(child, 0), 0); /* still there: a zombie */
    CHECK_EQ(isio_lock_timed(&sh->lock_word, home, &watchdog, &died), 0);
    CHECK_EQ(died, 1);
    isio_unlock(&sh->lock_word, home, 1);
    __atomic_store_n(&sh->md.write, 0, __ATOMIC_RELEASE);
    CHECK_EQ(ImageStreamIO_atomic_begin_write(&sh->md, me), 0);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(&sh->md), me);

    int status = 0;
    CHECK_EQ(waitpid(child, &status, 0), child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("main thread exited: alive while its thread ran, dead once it ended\n");
    return 0;
}
