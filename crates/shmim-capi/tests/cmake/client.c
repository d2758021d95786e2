/* The CMake client: the milk include style, a writer and a reader handle on one stream, and the
 * layout variant the build says it has (the target's PUBLIC definitions). Prints one line. */
#include <ImageStreamIO/ImageStreamIO.h>

#include <stdio.h>
#include <string.h>

int quote_include_typesize(void);

static int fail(const char *what)
{
    fprintf(stderr, "cmake client: %s\n", what);
    return 1;
}

int main(void)
{
    if (quote_include_typesize() != 4)
        return fail("\"ImageStreamIO.h\" include");
    IMAGE w, r;
    memset(&w, 0, sizeof w);
    memset(&r, 0, sizeof r);
    uint32_t size[2] = {8, 8};
    if (ImageStreamIO_createIm(&w, "cmake_client", 2, size, _DATATYPE_FLOAT, 1, 0, 0) != 0)
        return fail("createIm");
    if (ImageStreamIO_openIm(&r, "cmake_client") != 0)
        return fail("openIm");
    int sem = ImageStreamIO_getsemwaitindex(&r, 0);
    ImageStreamIO_semflush(&r, sem);
    w.md->write = 1;
    for (int i = 0; i < 64; i++)
        w.array.F[i] = (float)i;
    ImageStreamIO_UpdateIm(&w);
    if (ImageStreamIO_semwait(&r, sem) != 0 || r.array.F[63] != 63.0f || r.md->cnt0 != 1)
        return fail("frame");
    const char *variant = "default";
#if defined(IMAGESTRUCT_WRITEHISTORY)
    variant = "writehistory";
    if (r.writehist[r.md->wCBindex].cnt0 != 1)
        return fail("write history");
#elif defined(DAO_COMPAT)
    variant = "dao-compat";
    if (sizeof(IMAGE_METADATA) != 4496)
        return fail("DAO_COMPAT metadata size");
#endif
    ImageStreamIO_closeIm(&r);
    ImageStreamIO_destroyIm(&w);
    printf("cmake client ok (%s, IMAGE_METADATA %zu bytes)\n", variant, sizeof(IMAGE_METADATA));
    return 0;
}
