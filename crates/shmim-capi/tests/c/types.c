/* Every datatype helper, for every code 0..255, against format.md's datatype table. */
#include "ImageStreamIO.h"
#include "check.h"

struct row {
    int code, size;
    const char *name, *shortname, *name7;
    int floattype, fits_datatype, fits_bitpix;
};

static const struct row TABLE[] = {
    {_DATATYPE_UINT8, SIZEOF_DATATYPE_UINT8, "UINT8", " UI8", "UINT8  ", 9, 11, 8},
    {_DATATYPE_INT8, SIZEOF_DATATYPE_INT8, "INT8", "  I8", "INT8   ", 9, 12, 10},
    {_DATATYPE_UINT16, SIZEOF_DATATYPE_UINT16, "UINT16", "UI16", "UINT16 ", 9, 20, 20},
    {_DATATYPE_INT16, SIZEOF_DATATYPE_INT16, "INT16", " I16", "INT16  ", 9, 21, 16},
    {_DATATYPE_UINT32, SIZEOF_DATATYPE_UINT32, "UINT32", "UI32", "UINT32 ", 9, 30, 40},
    {_DATATYPE_INT32, SIZEOF_DATATYPE_INT32, "INT32", " I32", "INT32  ", 9, 31, 32},
    {_DATATYPE_UINT64, SIZEOF_DATATYPE_UINT64, "UINT64", "UI64", "UINT64 ", 10, 40, 80},
    {_DATATYPE_INT64, SIZEOF_DATATYPE_INT64, "INT64", " I64", "INT64  ", 10, 41, 64},
    {_DATATYPE_FLOAT, SIZEOF_DATATYPE_FLOAT, "FLT32", " FLT", "FLOAT  ", 9, 42, -32},
    {_DATATYPE_DOUBLE, SIZEOF_DATATYPE_DOUBLE, "FLT64", " DBL", "DOUBLE ", 10, 82, -64},
    {_DATATYPE_COMPLEX_FLOAT, SIZEOF_DATATYPE_COMPLEX_FLOAT, "CPLX32", "CFLT", "CFLOAT ", 11, -1, -1},
    {_DATATYPE_COMPLEX_DOUBLE, SIZEOF_DATATYPE_COMPLEX_DOUBLE, "CPLX64", "CDBL", "CDOUBLE", 12, -1, -1},
    {_DATATYPE_HALF, SIZEOF_DATATYPE_HALF, "FLT16", " F16", "FLT16  ", 13, -1, -1},
};

int main(void)
{
    test_start("types");
    CHECK_EQ(sizeof(TABLE) / sizeof(TABLE[0]), 13);
    CHECK_EQ(Dtype, _DATATYPE_FLOAT);
    CHECK_EQ(CDtype, _DATATYPE_COMPLEX_FLOAT);
    CHECK_EQ(sizeof(complex_float), SIZEOF_DATATYPE_COMPLEX_FLOAT);
    CHECK_EQ(sizeof(complex_double), SIZEOF_DATATYPE_COMPLEX_DOUBLE);
    CHECK_EQ(_DATATYPE_UNINITIALIZED, 0);
    CHECK_EQ(_DATATYPE_EVENT_UI8_UI8_UI16_UI8, 20);
    CHECK_EQ(SIZEOF_DATATYPE_EVENT_UI8_UI8_UI16_UI8, 5);
    for (int code = 0; code < 256; code++) {
        const struct row *r = NULL;
        for (size_t i = 0; i < 13; i++)
            if (TABLE[i].code == code)
                r = &TABLE[i];
        uint8_t t = (uint8_t)code;
        if (r == NULL) {
            CHECK_EQ(ImageStreamIO_typesize(t), -1);
            CHECK(strcmp(ImageStreamIO_typename(t), "unknown") == 0);
            CHECK(strcmp(ImageStreamIO_typename_short(t), " ???") == 0);
            CHECK(strcmp(ImageStreamIO_typename_7(t), "unknown") == 0);
            CHECK_EQ(ImageStreamIO_checktype(t, 0), -1);
            CHECK_EQ(ImageStreamIO_checktype(t, 1), -1);
            CHECK_EQ(ImageStreamIO_floattype(t), -1);
            CHECK_EQ(ImageStreamIO_FITSIOdatatype(t), -1);
            CHECK_EQ(ImageStreamIO_FITSIObitpix(t), -1);
            continue;
        }
        int complex = code == _DATATYPE_COMPLEX_FLOAT || code == _DATATYPE_COMPLEX_DOUBLE;
        CHECK_EQ(ImageStreamIO_typesize(t), r->size);
        CHECK(strcmp(ImageStreamIO_typename(t), r->name) == 0);
        CHECK(strcmp(ImageStreamIO_typename_short(t), r->shortname) == 0);
        CHECK(strcmp(ImageStreamIO_typename_7(t), r->name7) == 0);
        CHECK_EQ(ImageStreamIO_checktype(t, 1), 0);
        CHECK_EQ(ImageStreamIO_checktype(t, 0), complex ? -1 : 0);
        CHECK_EQ(ImageStreamIO_floattype(t), r->floattype);
        CHECK_EQ(ImageStreamIO_FITSIOdatatype(t), r->fits_datatype);
        CHECK_EQ(ImageStreamIO_FITSIObitpix(t), r->fits_bitpix);
    }
    /* The names are static strings: the same pointer every time. */
    CHECK(ImageStreamIO_typename(9) == ImageStreamIO_typename(9));
    fprintf(stderr, "types: ok\n");
    return 0;
}
