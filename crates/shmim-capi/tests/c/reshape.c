/* Streams edited in place (issue 15.9). milk reshapes open streams by writing their metadata
 * (im3Dto2D: size[0] *= size[1]; size[1] = size[2]; naxis = 2, size[2] left as it was); every
 * later call must keep working on the writer's and on a reader's handle, because the library
 * checks per call only what memory safety needs: that the memory it touches (semaphores, their
 * PID tables, the pixels, the circular buffer) lies inside the mapping. An edit that would take
 * it outside is refused with FAILURE, and the stream works again once it is undone. */
#include "ImageStreamIO.h"
#include "check.h"

/* One frame through the writer's handle reaches the reader's: UpdateIm, the reader's semaphore,
 * explicit posts, the pixels. */
static void frame_reaches_reader(IMAGE *w, IMAGE *rd, int sem, uint16_t value)
{
    uint64_t cnt0 = w->md->cnt0;
    w->md->write = 1;
    for (uint64_t i = 0; i < w->md->nelement; i++)
        w->array.UI16[i] = value;
    CHECK_EQ(ImageStreamIO_UpdateIm(w), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(rd->md->cnt0, cnt0 + 1);
    CHECK_EQ(rd->md->write, 0);
    CHECK_EQ(ImageStreamIO_semtrywait(rd, sem), 0);
    CHECK_EQ(rd->array.UI16[rd->md->nelement - 1], value);
    CHECK_EQ(ImageStreamIO_sempost(w, sem), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semvalue(rd, sem), 1);
    CHECK_EQ(ImageStreamIO_semwait(rd, sem), 0);
    CHECK_EQ(ImageStreamIO_sempost_excl(w, sem), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_semvalue(rd, sem), 0);
    CHECK_EQ(ImageStreamIO_semflush(rd, -1), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_getsemwaitindex(rd, 0), sem);
}

/* milk's im3Dto2D on a 3-D stream with a circular buffer. */
static void cube_to_image(void)
{
    uint32_t size[3] = {4, 4, 5};
    IMAGE w, rd;
    memset(&w, 0, sizeof w);
    memset(&rd, 0, sizeof rd);
    CHECK_EQ(ImageStreamIO_createIm_gpu(&w, "cube", 3, size, _DATATYPE_UINT16, -1, 1, 3, 0,
                                        MATH_DATA, 2),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_openIm(&rd, "cube"), IMAGESTREAMIO_SUCCESS);
    int sem = ImageStreamIO_getsemwaitindex(&rd, 1);
    CHECK_EQ(sem, 1);
    CHECK_EQ(ImageStreamIO_semflush(&rd, -1), IMAGESTREAMIO_SUCCESS);
    frame_reaches_reader(&w, &rd, sem, 1);

    w.md->size[0] *= w.md->size[1];
    w.md->size[1] = w.md->size[2];
    w.md->naxis = 2;
    CHECK_EQ(rd.md->size[0], 16);
    CHECK_EQ(rd.md->size[2], 5);
    frame_reaches_reader(&w, &rd, sem, 2);
    frame_reaches_reader(&w, &rd, sem, 3);
    /* The circular buffer kept every frame. */
    const uint16_t *slot = (const uint16_t *)rd.CBimdata + rd.md->CBindex * 80;
    CHECK_EQ(slot[79], 3);
    CHECK_EQ(rd.CircBuff_md[rd.md->CBindex].cnt0, rd.md->cnt0);
    /* The slice helpers follow the new shape (2 axes: one slice). */
    CHECK_EQ(ImageStreamIO_nbSlices(&rd), 1);
    void *buf = NULL;
    CHECK_EQ(ImageStreamIO_readLastWroteBuffer(&rd, &buf), IMAGESTREAMIO_SUCCESS);
    CHECK(buf == rd.array.raw);
    /* Compatible with a fresh handle on the same file, which still opens. */
    CHECK_EQ(ImageStreamIO_closeIm(&rd), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&w), IMAGESTREAMIO_SUCCESS);
}

/* A 2-D image flattened to one axis (size[1] left as it was), with UpdateIm_atime. */
static void image_to_line(void)
{
    uint32_t size[2] = {8, 8};
    IMAGE w, rd;
    memset(&rd, 0, sizeof rd);
    CHECK_EQ(ImageStreamIO_createIm(&w, "flat", 2, size, _DATATYPE_UINT16, 1, 2, 0),
             IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_openIm(&rd, "flat"), IMAGESTREAMIO_SUCCESS);
    w.md->naxis = 1;
    w.md->size[0] = 64;
    struct timespec atime = {1234, 5678};
    w.md->write = 1;
    CHECK_EQ(ImageStreamIO_UpdateIm_atime(&w, &atime), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(rd.md->atime.tv_sec, 1234);
    CHECK_EQ(ImageStreamIO_semtrywait(&rd, 0), 0);
    frame_reaches_reader(&w, &rd, 0, 9);
    CHECK_EQ(ImageStreamIO_closeIm(&rd), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&w), IMAGESTREAMIO_SUCCESS);
}

/* Edits that would take an access outside the mapping are refused, never followed. */
static void out_of_mapping_edits_are_refused(void)
{
    uint32_t size[2] = {8, 8};
    IMAGE w;
    CHECK_EQ(ImageStreamIO_createIm(&w, "bounds", 2, size, _DATATYPE_UINT16, 1, 0, 2),
             IMAGESTREAMIO_SUCCESS);
    IMAGE_METADATA saved = *w.md;
    int before = reported()->count;

    w.md->sem = 60000; /* semaphores past the end of the file */
    CHECK_EQ(ImageStreamIO_sempost(&w, -1), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(ImageStreamIO_UpdateIm(&w), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(ImageStreamIO_semvalue(&w, 0), -1);
    errno = 0;
    CHECK_EQ(ImageStreamIO_semtrywait(&w, 0), -1);
    CHECK_EQ(errno, EINVAL);
    *w.md = saved;

    w.md->CBsize = 1000; /* a circular buffer larger than the file */
    CHECK_EQ(ImageStreamIO_UpdateIm(&w), IMAGESTREAMIO_FAILURE);
    *w.md = saved;

    w.md->imdatamemsize *= 1000; /* frames larger than their slots */
    CHECK_EQ(ImageStreamIO_UpdateIm(&w), IMAGESTREAMIO_FAILURE);
    *w.md = saved;
    CHECK_EQ(reported()->count, before + 6);
    CHECK_EQ(reported()->last_code, IMAGESTREAMIO_FAILURE);

    /* Undone: it works again. Fields no access depends on may hold anything. */
    w.md->naxis = 9;
    w.md->datatype = 200;
    w.md->version[0] = 'X';
    w.md->nelement = 3;
    CHECK_EQ(ImageStreamIO_UpdateIm(&w), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_sempost(&w, 1), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(reported()->count, before + 6);
    *w.md = saved;
    CHECK_EQ(ImageStreamIO_destroyIm(&w), IMAGESTREAMIO_SUCCESS);
}

int main(void)
{
    test_start("streams edited in place");
    ImageStreamIO_set_printError(count_report);
    cube_to_image();
    image_to_line();
    out_of_mapping_edits_are_refused();
    fprintf(stderr, "reshape: ok\n");
    return 0;
}
