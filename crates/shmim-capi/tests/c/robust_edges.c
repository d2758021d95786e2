/* Two robustness edges a real client can hit:
 *   close-unmaps  a program that closed shmfd itself and set it to -1 still gets its mapping
 *                 unmapped by closeIm (legacy unmaps whatever the descriptor holds);
 *   stderr-full   a warning that cannot be written (stderr is /dev/full, MILK_SHM_DIR names a
 *                 missing directory) must not make library calls fail. Results go to stdout,
 *                 since stderr is unwritable in this mode. */
#include <sys/mman.h>

#include "ImageStreamIO.h"
#include "check.h"

static int close_unmaps(void)
{
    IMAGE im;
    memset(&im, 0, sizeof im);
    uint32_t size[2] = {32, 32};
    CHECK_EQ(ImageStreamIO_createIm(&im, "unmap", 2, size, _DATATYPE_FLOAT, 1, 0, 0),
             IMAGESTREAMIO_SUCCESS);
    void *base = im.md;
    long page = sysconf(_SC_PAGESIZE);
    CHECK(msync(base, (size_t)page, MS_ASYNC) == 0);
    CHECK(close(im.shmfd) == 0);
    im.shmfd = -1;
    CHECK_EQ(ImageStreamIO_closeIm(&im), IMAGESTREAMIO_SUCCESS);
    /* msync on an address range that is no longer mapped fails with ENOMEM. */
    errno = 0;
    CHECK(msync(base, (size_t)page, MS_ASYNC) == -1 && errno == ENOMEM);
    printf("close-unmaps ok\n");
    return 0;
}

static int stderr_full(void)
{
    char path[STRINGMAXLEN_FILE_NAME];
    int first = ImageStreamIO_filename(path, sizeof path, "anything");
    int second = ImageStreamIO_filename(path, sizeof path, "anything");
    printf("filename %d %d %s\n", first, second, path);
    return first == IMAGESTREAMIO_SUCCESS && second == IMAGESTREAMIO_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "close-unmaps") == 0) {
        return close_unmaps();
    }
    if (argc == 2 && strcmp(argv[1], "stderr-full") == 0) {
        return stderr_full();
    }
    fprintf(stderr, "usage: robust_edges close-unmaps|stderr-full\n");
    return 2;
}
