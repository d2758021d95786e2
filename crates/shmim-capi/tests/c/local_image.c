/* Process-local images (`shared` = 0) are laid out as the legacy library lays them out: `md`,
 * the pixels and the keywords are separate heap blocks, so a program may free them itself, as
 * milk's delete_image does (`free(im.array.F); free(im.md); free(im.kw);`), or with destroyIm /
 * closeIm. Run as `local_image milk`, `local_image destroy` or `local_image close`; under ASan an
 * invalid or double free, a leak or an overrun fails the run. */
#include "ImageStreamIO.h"
#include "check.h"

int main(int argc, char **argv)
{
    test_start("local images");
    CHECK(argc == 2);
    const char *how = argv[1];

    IMAGE im;
    memset(&im, 0, sizeof im);
    uint32_t size[2] = {6, 4};
    CHECK_EQ(ImageStreamIO_createIm(&im, "localim", 2, size, _DATATYPE_FLOAT, 0, 4, 0),
             IMAGESTREAMIO_SUCCESS);

    /* The legacy fields of a local image. */
    CHECK_EQ(im.used, 1);
    CHECK_EQ(im.createcnt, 1);
    CHECK_EQ(im.memsize, 0);
    CHECK_EQ(im.shmfd, -1);
    CHECK(im.semptr == NULL);
    CHECK(im.semlog == NULL && im.semReadPID == NULL && im.semWritePID == NULL);
    CHECK(im.streamproctrace == NULL && im.CircBuff_md == NULL && im.CBimdata == NULL);
    CHECK(strcmp(im.name, "localim") == 0);
    CHECK(strcmp(im.md->name, "localim") == 0);
    CHECK(strcmp(im.md->version, IMAGESTRUCT_VERSION) == 0);
    CHECK_EQ(im.md->shared, 0);
    CHECK_EQ(im.md->sem, 0);
    CHECK_EQ(im.md->naxis, 2);
    CHECK_EQ(im.md->size[0], 6);
    CHECK_EQ(im.md->size[1], 4);
    CHECK_EQ(im.md->size[2], 0);
    CHECK_EQ(im.md->nelement, 24);
    CHECK_EQ(im.md->datatype, _DATATYPE_FLOAT);
    CHECK_EQ(im.md->location, -1);
    CHECK_EQ(im.md->NBkw, 4);
    CHECK_EQ(im.md->CBsize, 0);
    CHECK_EQ(im.md->cnt0, 0);
    CHECK_EQ(im.md->write, 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(im.kw[i].type, 'N');
    for (int i = 0; i < 24; i++)
        CHECK(im.array.F[i] == 0.0f); /* zeroed */

    /* The three blocks are separate heap blocks of exactly the legacy sizes: writing their last
     * byte is fine, ASan would catch one byte more. */
    ((volatile char *)im.md)[sizeof(IMAGE_METADATA) - 1] = ((char *)im.md)[sizeof(IMAGE_METADATA) - 1];
    ((volatile char *)im.kw)[4 * sizeof(IMAGE_KEYWORD) - 1] = 0;

    /* Pixels and keywords written by hand, read back. */
    for (int i = 0; i < 24; i++)
        im.array.F[i] = (float)i * 1.5f;
    strcpy(im.kw[0].name, "EXPTIME");
    im.kw[0].type = 'D';
    im.kw[0].value.numf = 0.25;
    strcpy(im.kw[0].comment, "seconds");
    strcpy(im.kw[3].name, "CAMERA");
    im.kw[3].type = 'S';
    strcpy(im.kw[3].value.valstr, "ocam");
    im.md->cnt1 = 0;
    for (int i = 0; i < 24; i++)
        CHECK(im.array.F[i] == (float)i * 1.5f);
    CHECK(strcmp(im.kw[0].name, "EXPTIME") == 0 && im.kw[0].type == 'D' &&
          im.kw[0].value.numf == 0.25);
    CHECK(strcmp(im.kw[3].value.valstr, "ocam") == 0);

    /* The calls that make sense on a local image work from its header alone. */
    void *buf = NULL;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 5, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == im.array.raw);
    CHECK_EQ(ImageStreamIO_nbSlices(&im), 1);
    CHECK_EQ(ImageStreamIO_writeIndex(&im), 0);
    CHECK_EQ(ImageStreamIO_readLastWroteIndex(&im), 0);
    buf = NULL;
    CHECK_EQ(ImageStreamIO_writeBuffer(&im, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == im.array.raw);
    CHECK_EQ(ImageStreamIO_UpdateIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->cnt0, 0); /* nothing unless shared */
    CHECK(ImageStreamIO_get_image_d_ptr(&im) == im.array.raw);
    IMAGE copy = im; /* legacy programs copy IMAGE by value */
    CHECK_EQ(ImageStreamIO_new_image_compatible(&im, &copy), IMAGESTREAMIO_SUCCESS);
    /* No semaphores: legacy's answers (local_legacy.c has them all). */
    CHECK_EQ(ImageStreamIO_semvalue(&im, 0), -1);
    CHECK_EQ(ImageStreamIO_getsemwaitindex(&im, 0), -1);

    /* The helpers are arithmetic on whatever the header says (helpers_by_hand.c). */
    im.md->naxis = 7;
    CHECK_EQ(ImageStreamIO_readBufferAt(&im, 0, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == im.array.raw);
    im.md->naxis = 2;

    /* A second local image without keywords: kw is NULL. */
    IMAGE nokw;
    memset(&nokw, 0, sizeof nokw);
    uint32_t s1[1] = {3};
    CHECK_EQ(ImageStreamIO_createIm(&nokw, "nokw", 1, s1, _DATATYPE_UINT16, 0, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK(nokw.kw == NULL);
    nokw.array.UI16[2] = 7;

    if (strcmp(how, "milk") == 0) {
        /* milk's delete_image for a non-shared image. */
        free(im.array.F);
        free(im.md);
        free(im.kw);
        free(nokw.array.UI16);
        free(nokw.md);
        free(nokw.kw);
    } else if (strcmp(how, "destroy") == 0) {
        CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
        CHECK(im.md == NULL && im.kw == NULL && im.array.raw == NULL);
        CHECK_EQ(im.used, 0);
        CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS); /* not open: nothing */
        CHECK_EQ(ImageStreamIO_destroyIm(&nokw), IMAGESTREAMIO_SUCCESS);
    } else if (strcmp(how, "close") == 0) {
        CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
        CHECK(im.md == NULL);
        CHECK_EQ(ImageStreamIO_closeIm(&nokw), IMAGESTREAMIO_SUCCESS);
    } else {
        CHECK(!"unknown mode");
    }
    fprintf(stderr, "local_image %s: ok\n", how);
    return 0;
}
