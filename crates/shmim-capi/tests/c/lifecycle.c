/* Create, open, close and destroy through the C API: every field and pointer of the IMAGE and
 * of a new stream file, against format.md (64x64 uint16, 4 semaphores, 8 keywords). */
#include <stddef.h>
#include <sys/stat.h>

#include "ImageStreamIO.h"
#include "check.h"

#define OFF(p) ((long long)((char *)(p) - (char *)im.md))

int main(void)
{
    test_start("lifecycle");
    char path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, "life"), IMAGESTREAMIO_SUCCESS);
    const char *dir = getenv("MILK_SHM_DIR");
    CHECK(dir != NULL);
    char expected[STRINGMAXLEN_FILE_NAME];
    snprintf(expected, sizeof expected, "%s/life.im.shm", dir);
    CHECK(strcmp(path, expected) == 0);
    char tiny[8];
    CHECK_EQ(ImageStreamIO_filename(tiny, sizeof tiny, "life"), IMAGESTREAMIO_FAILURE);

    /* A restrictive umask must not change the mode of a stream file, nor be changed. */
    mode_t old_umask = umask(077);

    IMAGE im;
    memset(&im, 0, sizeof im);
    uint32_t size[2] = {64, 64};
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "life", 2, size, _DATATYPE_UINT16, -1, 1, 4, 8,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(umask(old_umask), 077);

    struct stat st;
    CHECK(stat(path, &st) == 0);
    CHECK_EQ(st.st_mode & 0777, 0666);
    CHECK_EQ(st.st_size, 10464);

    /* The handle. */
    CHECK(strcmp(im.name, "life") == 0);
    CHECK_EQ(im.used, 1);
    CHECK_EQ(im.createcnt, 1);
    CHECK(im.shmfd >= 0);
    CHECK_EQ(im.memsize, 10464);
    CHECK_EQ(OFF(im.array.raw), 384);
    CHECK_EQ(OFF(im.kw), 8576);
    CHECK_EQ(OFF(im.semfile), 9600);
    CHECK_EQ(OFF(im.semlog), 9728);
    CHECK_EQ(OFF(im.semReadPID), 9760);
    CHECK_EQ(OFF(im.semWritePID), 9776);
    CHECK_EQ(OFF(im.semctrl), 9792);
    CHECK_EQ(OFF(im.semstatus), 9808);
    CHECK_EQ(OFF(im.streamproctrace), 9824);
    CHECK_EQ(OFF(im.CircBuff_md), 10464);
    CHECK(im.CBimdata == NULL);
    CHECK(im.atimearray == NULL && im.writetimearray == NULL && im.cntarray == NULL);
    CHECK(im.flagarray == NULL);

    /* The metadata of a new stream. */
    IMAGE_METADATA *md = im.md;
    CHECK(strcmp(md->version, IMAGESTRUCT_VERSION) == 0);
    CHECK(strcmp(md->version, "2.00") == 0);
    CHECK(strcmp(md->name, "life") == 0);
    CHECK_EQ(md->naxis, 2);
    CHECK_EQ(md->size[0], 64);
    CHECK_EQ(md->size[1], 64);
    CHECK_EQ(md->size[2], 0);
    CHECK_EQ(md->nelement, 4096);
    CHECK_EQ(md->datatype, _DATATYPE_UINT16);
    CHECK_EQ(md->imagetype, MATH_DATA);
    CHECK_EQ(md->shared, 1);
    CHECK_EQ(md->location, -1);
    CHECK_EQ(md->sem, 4);
    CHECK_EQ(md->NBproctrace, IMAGE_NB_PROCTRACE);
    CHECK_EQ(md->NBkw, 8);
    CHECK_EQ(md->CBsize, 0);
    CHECK_EQ(md->cnt0, 0);
    CHECK_EQ(md->write, 0);
    CHECK_EQ(md->imdatamemsize, 8192);
    CHECK_EQ(md->creatorPID, getpid());
    CHECK_EQ(md->ownerPID, 0);
    CHECK_EQ(md->inode, st.st_ino);
    CHECK(md->creationtime.tv_sec > 0);
    for (int i = 0; i < 4096; i++)
        CHECK_EQ(im.array.UI16[i], 0);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(im.kw[i].type, 'N');
    for (int i = 0; i < 4; i++) {
        CHECK(im.semptr[i] == &im.semfile[i].semdata);
        CHECK_EQ(((unsigned char *)im.semptr[i])[8], 0x80); /* process-shared */
        int v = -1;
        CHECK(sem_getvalue(im.semptr[i], &v) == 0);
        CHECK_EQ(v, 0);
        CHECK_EQ(im.semReadPID[i], -1);
        CHECK_EQ(im.semWritePID[i], -1);
        CHECK_EQ(im.semctrl[i], 0);
        CHECK_EQ(im.semstatus[i], 0);
    }
    CHECK_EQ(((unsigned char *)im.semlog)[8], 0x80);
    for (int i = 0; i < IMAGE_NB_PROCTRACE; i++) {
        CHECK_EQ(im.streamproctrace[i].procwrite_PID, 0);
        CHECK_EQ(im.streamproctrace[i].trigsemindex, -1);
    }

    /* A second handle on the same file. */
    IMAGE other;
    CHECK_EQ(ImageStreamIO_openIm(&other, "life"), IMAGESTREAMIO_SUCCESS);
    CHECK(other.md != im.md);
    CHECK(other.shmfd >= 0 && other.shmfd != im.shmfd);
    CHECK_EQ(other.memsize, im.memsize);
    CHECK(strcmp(other.name, "life") == 0);
    im.array.UI16[17] = 4242;
    CHECK_EQ(other.array.UI16[17], 4242);
    CHECK_EQ(ImageStreamIO_closeIm(&other), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(other.used, 0);
    CHECK(other.md == NULL && other.semptr == NULL);
    CHECK_EQ(ImageStreamIO_closeIm(&other), IMAGESTREAMIO_INVALIDARG);
    CHECK(stat(path, &st) == 0);

    /* The legacy name of open, arguments swapped. */
    CHECK_EQ(ImageStreamIO_read_sharedmem_image_toIMAGE("life", &other), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(other.array.UI16[17], 4242);
    CHECK_EQ(ImageStreamIO_closeIm(&other), IMAGESTREAMIO_SUCCESS);

    /* The handle is plain data: a copy works like the original (no state keyed by IMAGE *). */
    IMAGE copy;
    memcpy(&copy, &im, sizeof im);
    CHECK_EQ(ImageStreamIO_UpdateIm(&copy), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->cnt0, 1);
    CHECK_EQ(ImageStreamIO_semvalue(&im, 3), 1);

    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(path, &st) != 0 && errno == ENOENT);
    CHECK_EQ(im.used, 0);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS); /* not open: nothing to do */

    /* A process-local image: same layout in memory, no file, no semaphores. */
    IMAGE local;
    memset(&local, 0, sizeof local);
    uint32_t lsize[1] = {10};
    CHECK_EQ(ImageStreamIO_createIm(&local, "local", 1, lsize, _DATATYPE_DOUBLE, 0, 3, 0),
             IMAGESTREAMIO_SUCCESS);
    char lpath[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(lpath, sizeof lpath, "local"), IMAGESTREAMIO_SUCCESS);
    CHECK(stat(lpath, &st) != 0);
    CHECK_EQ(local.md->shared, 0);
    CHECK_EQ(local.md->sem, 0);
    CHECK(local.semptr == NULL);
    CHECK_EQ(local.shmfd, -1);
    CHECK_EQ(local.md->NBkw, 3);
    CHECK_EQ(local.kw[2].type, 'N');
    for (int i = 0; i < 10; i++)
        local.array.D[i] = i * 0.5;
    CHECK_EQ(ImageStreamIO_UpdateIm(&local), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(local.md->cnt0, 0); /* UpdateIm does nothing unless shared */
    CHECK_EQ(ImageStreamIO_destroyIm(&local), IMAGESTREAMIO_SUCCESS);
    CHECK(local.md == NULL);

    fprintf(stderr, "lifecycle: ok\n");
    return 0;
}
