/* Keywords written by hand through im.kw[i], as legacy programs do; the Rust side of the test
 * then reads them with shmim-core. Leaves the stream "kw" behind for it. */
#include "ImageStreamIO.h"
#include "check.h"

int main(void)
{
    test_start("keywords");
    IMAGE im;
    uint32_t size[2] = {8, 8};
    CHECK_EQ(ImageStreamIO_createIm(&im, "kw", 2, size, _DATATYPE_FLOAT, 1, 4, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(sizeof(IMAGE_KEYWORD), 128);
    CHECK_EQ(im.md->NBkw, 4);

    strcpy(im.kw[0].name, "EXPTIME");
    im.kw[0].type = 'D';
    im.kw[0].value.numf = 0.001;
    strcpy(im.kw[0].comment, "exposure time [s]");
    im.kw[0].cnt++;

    strcpy(im.kw[1].name, "GAIN");
    im.kw[1].type = 'L';
    im.kw[1].value.numl = -42;
    im.kw[1].cnt++;

    strcpy(im.kw[2].name, "CAMERA");
    im.kw[2].type = 'S';
    strcpy(im.kw[2].value.valstr, "ocam2k");
    strcpy(im.kw[2].comment, "detector");
    im.kw[2].cnt++;

    /* Another handle sees them through its own mapping. */
    IMAGE other;
    CHECK_EQ(ImageStreamIO_openIm(&other, "kw"), IMAGESTREAMIO_SUCCESS);
    CHECK(strcmp(other.kw[0].name, "EXPTIME") == 0);
    CHECK(other.kw[0].value.numf == 0.001);
    CHECK_EQ(other.kw[1].value.numl, -42);
    CHECK(strcmp(other.kw[2].value.valstr, "ocam2k") == 0);
    CHECK_EQ(other.kw[3].type, 'N');
    CHECK_EQ(ImageStreamIO_closeIm(&other), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "keywords: ok\n");
    return 0;
}
