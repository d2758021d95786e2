/* A milk-style module: it reaches the submodule's headers by path (the submodule's parent on
 * its include path) and links nothing of the ImageStreamIO target, so the build's generated
 * variant record is not on its include path. It must compile all the same. */
#include "ImageStreamIO/ImageStreamIO.h"

long module_frame_count(const IMAGE *im)
{
    return (long)im->md->cnt0;
}
