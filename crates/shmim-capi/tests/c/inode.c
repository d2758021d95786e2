/* Replaced streams: inode checks, the legacy relink, and streams aliased by symlinks. */
#include <sys/stat.h>

#include "ImageStreamIO.h"
#include "check.h"

static ino_t inode_of(const char *name)
{
    char path[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(path, sizeof path, name), IMAGESTREAMIO_SUCCESS);
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return st.st_ino;
}

static void create(IMAGE *im, const char *name, uint32_t side)
{
    uint32_t size[2] = {side, side};
    CHECK_EQ(ImageStreamIO_createIm(im, name, 2, size, _DATATYPE_FLOAT, 1, 1, 0),
             IMAGESTREAMIO_SUCCESS);
}

int main(void)
{
    test_start("inode");
    IMAGE im, creator;
    create(&creator, "orig", 8);
    CHECK_EQ(ImageStreamIO_openIm(&im, "orig"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_check_image_inode(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_check_image_endpoint_inode(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_autorelink_if_need_if_can(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_new_image_compatible(&im, &creator), IMAGESTREAMIO_SUCCESS);
    ino_t first = inode_of("orig");
    CHECK_EQ(im.md->inode, first);

    /* Re-created with the same shape: a new inode, which the old handle follows. */
    IMAGE again;
    create(&again, "orig", 8);
    ino_t second = inode_of("orig");
    CHECK(second != first);
    CHECK_EQ(ImageStreamIO_check_image_inode(&im), IMAGESTREAMIO_INODE);
    CHECK_EQ(ImageStreamIO_check_image_endpoint_inode(&im), IMAGESTREAMIO_INODE);
    CHECK_EQ(ImageStreamIO_autorelink_if_need_if_can(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(im.md->inode, second);
    CHECK(strcmp(im.name, "orig") == 0);
    again.array.F[3] = 3.5f;
    CHECK(im.array.F[3] == 3.5f);
    CHECK_EQ(ImageStreamIO_check_image_inode(&im), IMAGESTREAMIO_SUCCESS);

    /* Re-created with another shape: the relink is refused and the handle keeps the old map. */
    IMAGE bigger;
    create(&bigger, "orig", 16);
    CHECK_EQ(ImageStreamIO_new_image_compatible(&im, &bigger), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(ImageStreamIO_check_image_inode(&im), IMAGESTREAMIO_INODE);
    ImageStreamIO_set_printError(NULL);
    CHECK_EQ(ImageStreamIO_autorelink_if_need_if_can(&im), IMAGESTREAMIO_FAILURE);
    ImageStreamIO_set_default_printError();
    CHECK_EQ(im.md->size[0], 8);
    CHECK_EQ(im.md->inode, second);
    CHECK(im.array.F[3] == 3.5f);
    CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&creator), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&again), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&bigger), IMAGESTREAMIO_SUCCESS);

    /* A stream aliased by a symlink: the handle keeps the link's name, md->name the target's. */
    IMAGE target, target2, alias;
    create(&target, "target", 8);
    create(&target2, "target2", 8);
    char link[STRINGMAXLEN_FILE_NAME];
    CHECK_EQ(ImageStreamIO_filename(link, sizeof link, "alias"), IMAGESTREAMIO_SUCCESS);
    CHECK(symlink("target.im.shm", link) == 0);
    CHECK_EQ(ImageStreamIO_openIm(&alias, "alias"), IMAGESTREAMIO_SUCCESS);
    CHECK(strcmp(alias.name, "alias") == 0);
    CHECK(strcmp(alias.md->name, "target") == 0);
    CHECK_EQ(ImageStreamIO_check_image_endpoint_inode(&alias), IMAGESTREAMIO_SUCCESS);
    /* Re-pointing the link moves the endpoint, not the target file. */
    CHECK(unlink(link) == 0);
    CHECK(symlink("target2.im.shm", link) == 0);
    CHECK_EQ(ImageStreamIO_check_image_inode(&alias), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_check_image_endpoint_inode(&alias), IMAGESTREAMIO_INODE);
    CHECK_EQ(ImageStreamIO_autorelink_if_need_if_can(&alias), IMAGESTREAMIO_SUCCESS);
    CHECK(strcmp(alias.name, "alias") == 0);
    CHECK(strcmp(alias.md->name, "target2") == 0);
    CHECK_EQ(alias.md->inode, inode_of("target2"));
    /* A dangling name cannot be checked. */
    CHECK(unlink(link) == 0);
    ImageStreamIO_set_printError(NULL);
    CHECK_EQ(ImageStreamIO_check_image_endpoint_inode(&alias), IMAGESTREAMIO_FAILURE);
    CHECK_EQ(ImageStreamIO_autorelink_if_need_if_can(&alias), IMAGESTREAMIO_FAILURE);
    ImageStreamIO_set_default_printError();
    CHECK_EQ(ImageStreamIO_closeIm(&alias), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&target), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&target2), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "inode: ok\n");
    return 0;
}
