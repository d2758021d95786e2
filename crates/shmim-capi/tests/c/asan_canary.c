/* Deliberate memory errors on the library's own heap blocks, to prove the sanitized builds see
 * them (the library is Rust, not instrumented, but allocates `semptr` with the C allocator that
 * ASan replaces). The driver requires each mode to be reported.
 *   asan_canary leak       opens and forgets an IMAGE: LeakSanitizer must report its semptr
 *   asan_canary overflow   writes one entry past semptr: a heap-buffer-overflow
 *   asan_canary clean      creates, opens, closes and destroys: nothing to report */
#include "ImageStreamIO.h"
#include "check.h"

#include <pthread.h>

static IMAGE im;

/* Opens the stream and forgets the handle, in a thread of its own: once the thread has ended no
 * stale copy of the pointer is left in a register or stack that LeakSanitizer scans. */
static void *open_and_forget(void *arg)
{
    (void)arg;
    IMAGE lost;
    CHECK_EQ(ImageStreamIO_openIm(&lost, "canary"), IMAGESTREAMIO_SUCCESS);
    return NULL;
}

int main(int argc, char **argv)
{
    test_start("asan_canary");
    CHECK(argc == 2);
    uint32_t size[2] = {8, 8};
    CHECK_EQ(ImageStreamIO_createIm_gpu(&im, "canary", 2, size, _DATATYPE_FLOAT, -1, 1, 3, 0,
                                        MATH_DATA, 0),
             IMAGESTREAMIO_SUCCESS);
    if (strcmp(argv[1], "leak") == 0) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, open_and_forget, NULL) == 0);
        CHECK(pthread_join(t, NULL) == 0);
        return 0;
    }
    if (strcmp(argv[1], "overflow") == 0) {
        volatile uint16_t n = im.md->sem;
        im.semptr[n] = NULL;
        return 0;
    }
    CHECK(strcmp(argv[1], "clean") == 0);
    IMAGE in;
    CHECK_EQ(ImageStreamIO_openIm(&in, "canary"), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_closeIm(&in), IMAGESTREAMIO_SUCCESS);
    CHECK_EQ(ImageStreamIO_destroyIm(&im), IMAGESTREAMIO_SUCCESS);
    fprintf(stderr, "asan_canary: ok\n");
    return 0;
}
