/* The frames the cross-process tests exchange: 64x64 uint32 pixels, pixel i of frame k holding
 * k * 4096 + i, so that any mix of two frames is detected. The Rust side of the tests uses the
 * same rule. */
#ifndef SHMIM_CAPI_TEST_FRAMES_H
#define SHMIM_CAPI_TEST_FRAMES_H

#include <stdint.h>

#define FRAME_W 64
#define FRAME_H 64
#define FRAME_N (FRAME_W * FRAME_H)

static inline uint32_t frame_value(uint64_t k, uint32_t i)
{
    return (uint32_t)(k * FRAME_N + i);
}

static inline void frame_fill(uint32_t *px, uint64_t k)
{
    for (uint32_t i = 0; i < FRAME_N; i++)
        px[i] = frame_value(k, i);
}

/* 1 if `px` is exactly frame k. */
static inline int frame_is(const uint32_t *px, uint64_t k)
{
    for (uint32_t i = 0; i < FRAME_N; i++)
        if (px[i] != frame_value(k, i))
            return 0;
    return 1;
}

#endif
