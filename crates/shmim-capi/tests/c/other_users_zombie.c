/* A killed, unreaped holder that belongs to another user is dead for the C headers too.
 *
 * kill(pid, 0) on another user's process fails with EPERM: the process exists, but that says
 * nothing about whether it is a zombie. Both headers must then go on to /proc, as the Rust
 * liveness check does; otherwise a segment lock whose holder was another user's process,
 * killed and not reaped (a container whose init does not reap), is waited for until the
 * timeout instead of taken over.
 *
 * Needs root, to run the holder and the checker under two other uids; without it the program
 * says so and passes. The holder (uid 65534) takes a lock word and the write flag in memory
 * shared with the parent and sleeps; the parent kills it and leaves it unreaped; the checker
 * (uid 65533, which may not signal the holder) must judge it dead and take the lock over. */
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ImageStreamIO_atomic.h"
#include "ImageStreamIO_lock.h"
#include "check.h"

struct shared {
    uint64_t lock_word;
    IMAGE_METADATA md;
};

static struct shared *sh;

/* Runs the rest of the calling child as `uid` (group too), or exits failing. */
static void become(uid_t uid)
{
    CHECK(setgid((gid_t)uid) == 0);
    CHECK(setuid(uid) == 0);
}

static void holder(int ready)
{
    int died = -1;
    become(65534);
    CHECK_EQ(ImageStreamIO_atomic_begin_write(&sh->md, 0), 0);
    CHECK_EQ(isio_lock_try(&sh->lock_word, isio_pid_namespace(), &died), 0);
    CHECK(write(ready, "h", 1) == 1);
    for (;;)
        pause();
}

static void checker(pid_t zombie)
{
    const struct timespec watchdog = {30, 0};
    int died = -1;
    become(65533);
    /* This uid may not signal the holder: the EPERM case, not ESRCH. */
    CHECK(kill(zombie, 0) == -1 && errno == EPERM);
    CHECK_EQ(isio__process_dead((uint32_t)zombie), 1);
    CHECK_EQ(ImageStreamIO_atomic_pid_dead(zombie), 1);
    CHECK_EQ(isio_lock_timed(&sh->lock_word, isio_pid_namespace(), &watchdog, &died), 0);
    CHECK_EQ(died, 1);
    isio_unlock(&sh->lock_word, isio_pid_namespace(), 1);
    exit(0);
}

int main(void)
{
    int ready[2], status = 0;
    char c;

    if (geteuid() != 0) {
        printf("other user's zombie: skipped, needs root to run processes under other uids\n");
        return 0;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(sh != MAP_FAILED);
    CHECK(pipe(ready) == 0);

    pid_t held = fork();
    CHECK(held >= 0);
    if (held == 0) {
        close(ready[0]);
        holder(ready[1]);
    }
    close(ready[1]);
    CHECK(read(ready[0], &c, 1) == 1);
    CHECK_EQ(*ImageStreamIO_atomic_claim_pid(&sh->md), held);

    /* Killed and not reaped: a zombie, which a watchdog of 30 s waits for. */
    CHECK_EQ(kill(held, SIGKILL), 0);
    for (int i = 0; proc_state(held) != 'Z'; i++) {
        CHECK(i < 30000);
        usleep(1000);
    }

    pid_t check = fork();
    CHECK(check >= 0);
    if (check == 0)
        checker(held);
    CHECK_EQ(waitpid(check, &status, 0), check);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    CHECK_EQ(waitpid(held, &status, 0), held);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    printf("other user's zombie: judged dead through /proc, its lock taken over\n");
}
