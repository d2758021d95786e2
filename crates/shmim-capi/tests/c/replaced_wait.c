/* Replacing a stream never tells its old waiters that a frame arrived. The hand-shake of a
 * parent and a forked child, as milk's tools and the legacy library's own tests do it: the child
 * waits with semtimedwait on the stream, the parent re-creates the stream meanwhile. The child's
 * wait must end with ETIMEDOUT at its deadline (legacy timing, no early return), then
 * check_image_inode says IMAGESTREAMIO_INODE, the child reopens and goes on with the new stream.
 * Were the old file's semaphores posted, the wait would return 0 at once and the child would
 * read the dead file. */
#include <sys/wait.h>
#include <time.h>

#include "ImageStreamIO.h"
#include "check.h"

#define SIDE 4
#define WAIT_S 2

static void create(IMAGE *im)
{
    uint32_t size[2] = {SIDE, SIDE};
    CHECK_EQ(ImageStreamIO_createIm(im, "handshake", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
}

static void send_byte(int fd)
{
    CHECK(write(fd, "x", 1) == 1);
}

static void receive_byte(int fd)
{
    char c;
    CHECK(read(fd, &c, 1) == 1);
}

static int child(int to_parent, int from_parent)
{
    IMAGE rd;
    CHECK_EQ(ImageStreamIO_openIm(&rd, "handshake"), IMAGESTREAMIO_SUCCESS);
    int slot = ImageStreamIO_getsemwaitindex(&rd, 0);
    CHECK(slot >= 0);
    struct timespec deadline, now;
    CHECK(clock_gettime(CLOCK_REALTIME, &deadline) == 0);
    deadline.tv_sec += WAIT_S;
    send_byte(to_parent); /* about to wait */

    errno = 0;
    int rc = ImageStreamIO_semtimedwait(&rd, slot, &deadline);
    int err = errno;
    CHECK(clock_gettime(CLOCK_REALTIME, &now) == 0);
    if (rc == 0) {
        fprintf(stderr, "the wait on the replaced stream returned 0: told a frame arrived\n");
        return 1;
    }
    CHECK_EQ(rc, -1);
    CHECK_EQ(err, ETIMEDOUT);
    CHECK(now.tv_sec > deadline.tv_sec ||
          (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec));
    CHECK_EQ(rd.md->cnt0, 0);
    CHECK_EQ(ImageStreamIO_check_image_inode(&rd), IMAGESTREAMIO_INODE);

    /* Follow the new stream and go on. */
    CHECK_EQ(ImageStreamIO_closeIm(&rd), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_openIm(&rd, "handshake"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_check_image_inode(&rd), IMAGESTREAMIO_SUCCESS);
    slot = ImageStreamIO_getsemwaitindex(&rd, 0);
    CHECK(slot >= 0);
    send_byte(to_parent); /* reopened */
    receive_byte(from_parent); /* the parent published */
    CHECK(clock_gettime(CLOCK_REALTIME, &deadline) == 0);
    deadline.tv_sec += 60;
    CHECK_EQ(ImageStreamIO_semtimedwait(&rd, slot, &deadline), 0);
    CHECK_EQ(rd.md->cnt0, 1);
    CHECK(rd.array.F[SIDE * SIDE - 1] == 7.0f);
    CHECK_EQ(ImageStreamIO_closeIm(&rd), IMAGESTREAMIO_SUCCESS);
    return 0;
}

int main(void)
{
    test_start("replaced_wait");
    IMAGE old, fresh;
    create(&old);
    int up[2], down[2];
    CHECK(pipe(up) == 0 && pipe(down) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        _exit(child(up[1], down[0]));
    }
    /* Our copies of the child's ends closed: a child that fails early is seen at once (EOF). */
    close(up[1]);
    close(down[0]);

    receive_byte(up[0]);
    /* Let the child block in its wait (it has 2 s), then replace the stream under it. */
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    create(&fresh);
    CHECK(fresh.md->inode != old.md->inode);

    receive_byte(up[0]); /* the child timed out, saw the inode change and reopened */
    fresh.md->write = 1;
    for (int i = 0; i < SIDE * SIDE; i++)
        fresh.array.F[i] = 7.0f;
    CHECK_EQ(ImageStreamIO_UpdateIm(&fresh), IMAGESTREAMIO_SUCCESS);
    send_byte(down[1]);

    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    CHECK_EQ(ImageStreamIO_closeIm(&old), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&fresh), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "replaced_wait: ok\n");
    return 0;
}
