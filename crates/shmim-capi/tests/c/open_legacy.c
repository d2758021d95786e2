/* openIm, `used` and destroyIm as legacy (issue 15.7):
 * - openIm fails at once on a missing or invalid file: it never sleeps to retry (this program
 *   defines nanosleep and clock_nanosleep, which the library's calls resolve to, and counts them);
 * - a successful openIm leaves `used` as it was (legacy never sets it: a fresh handle stays 0), a
 *   failed one clears it;
 * - destroyIm acts only on a handle with used == 1: on a handle from openIm it does nothing (the
 *   file stays, the mapping too, closeIm releases it);
 * - the semaphores of a shared file are never sem_destroy'ed (other processes still use them):
 *   this program's sem_destroy counts calls. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include "ImageStreamIO.h"
#include "check.h"

static int sleeps, destroys;

int nanosleep(const struct timespec *req, struct timespec *rem)
{
    sleeps++;
    int (*real)(const struct timespec *, struct timespec *) =
        (int (*)(const struct timespec *, struct timespec *))dlsym(RTLD_NEXT, "nanosleep");
    return real(req, rem);
}

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *req, struct timespec *rem)
{
    sleeps++;
    int (*real)(clockid_t, int, const struct timespec *, struct timespec *) =
        (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(
            RTLD_NEXT, "clock_nanosleep");
    return real(clock, flags, req, rem);
}

int sem_destroy(sem_t *sem)
{
    destroys++;
    int (*real)(sem_t *) = (int (*)(sem_t *))dlsym(RTLD_NEXT, "sem_destroy");
    return real(sem);
}

static void write_file(const char *path, const void *bytes, size_t n)
{
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes, n) == (ssize_t)n);
    CHECK(close(fd) == 0);
}

/* openIm of `name` fails with `code` without sleeping, and leaves used 0. */
static void fails_at_once(const char *name, errno_t code)
{
    IMAGE im;
    memset(&im, 0, sizeof im);
    im.used = 1;
    int before = sleeps;
    CHECK_EQ(ImageStreamIO_openIm(&im, name), code);
    CHECK_EQ(sleeps, before);
    CHECK_EQ(im.used, 0);
}

static void invalid_files_fail_at_once(void)
{
    ImageStreamIO_set_printError(NULL);
    fails_at_once("missing", IMAGESTREAMIO_FILEOPEN);

    /* A stream whose version string is not (yet) written, one whose file is a word short, and
     * one shorter than its header: what a creator in progress looks like, refused now. */
    uint32_t size[2] = {16, 16};
    IMAGE w;
    memset(&w, 0, sizeof w);
    CHECK_EQ(ImageStreamIO_createIm(&w, "half", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    char path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "half"), IMAGESTREAMIO_SUCCESS);
    w.md->version[0] = '\0';
    fails_at_once("half", IMAGESTREAMIO_VERSION);
    w.md->version[0] = '2';
    CHECK(truncate(path, (off_t)w.memsize - 8) == 0);
    fails_at_once("half", IMAGESTREAMIO_FILEOPEN);
    CHECK_EQ(ImageStreamIO_closeIm(&w), IMAGESTREAMIO_SUCCESS);
    char junk[100];
    memset(junk, 0, sizeof junk);
    write_file(path, junk, sizeof junk);
    fails_at_once("half", IMAGESTREAMIO_FILEOPEN);
    CHECK(unlink(path) == 0);
    ImageStreamIO_set_default_printError();
}

static void used_and_destroy_as_legacy(void)
{
    uint32_t size[1] = {8};
    IMAGE owner;
    memset(&owner, 0, sizeof owner);
    CHECK_EQ(ImageStreamIO_createIm(&owner, "kept", 1, size, _DATATYPE_UINT16, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(owner.used, 1);
    char path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "kept"), IMAGESTREAMIO_SUCCESS);
    struct stat st;

    /* A fresh handle stays unused after openIm; destroyIm leaves it (and the file) alone. */
    IMAGE rd;
    memset(&rd, 0, sizeof rd);
    CHECK_EQ(ImageStreamIO_openIm(&rd, "kept"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(rd.used, 0);
    CHECK_EQ(ImageStreamIO_destroyIm(&rd), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) == 0);
    CHECK(rd.md != NULL);
    owner.array.UI16[3] = 77;
    CHECK_EQ(rd.array.UI16[3], 77);
    /* The unused handle works for every call: used is not an "open" flag. */
    CHECK_EQ(ImageStreamIO_sempost(&rd, 0), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semvalue(&owner, 0), 1);
    CHECK_EQ(ImageStreamIO_semtrywait(&rd, 0), 0);
    CHECK_EQ(ImageStreamIO_UpdateIm(&rd), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(owner.md->cnt0, 1);
    CHECK_EQ(ImageStreamIO_closeIm(&rd), IMAGESTREAMIO_SUCCESS);

    /* A handle already marked used keeps the mark, and destroyIm then destroys the stream. */
    memset(&rd, 0, sizeof rd);
    rd.used = 1;
    CHECK_EQ(ImageStreamIO_openIm(&rd, "kept"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(rd.used, 1);
    int before = destroys;
    CHECK_EQ(ImageStreamIO_destroyIm(&rd), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
    CHECK_EQ(rd.used, 0);
    /* The creator's handle still maps the (now unlinked) file; its own destroy finds nothing
     * to remove. Neither destroy touched the semaphores. */
    CHECK_EQ(ImageStreamIO_sempost(&owner, -1), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&owner), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(destroys, before);
}

int main(void)
{
    test_start("openIm, used and destroyIm as legacy");
    invalid_files_fail_at_once();
    used_and_destroy_as_legacy();
    fprintf(stderr, "open_legacy: ok\n");
    return 0;
}
