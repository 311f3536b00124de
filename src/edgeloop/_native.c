/* Small native kernels for the device path: no OpenCV, no numpy C API.
 *
 * resize_linear: bilinear resize of 8-bit images giving the same bytes as
 * OpenCV's cv2.resize(..., INTER_LINEAR). Models trained and exported by
 * Ultralytics and others see OpenCV's pixels; a resize that rounds
 * differently moves their detections (measured: docs/benchmarks.md).
 * OpenCV's arithmetic, as observed and reproduced here:
 *   - exact 2x downscale on both axes: the 2x2 mean, (a + b + c + d + 2) >> 2;
 *   - otherwise source positions (d + 0.5) * scale - 0.5 in float, weights
 *     rounded to 11 bits, a horizontal pass in exact integers, and a
 *     vertical pass rounded like OpenCV's SIMD kernel (see vresize_row).
 * Checked against cv2.resize from opencv-python-headless 5.0 on random
 * sizes and channel counts 1, 3 and 4 (tests/test_resize.py).
 *
 * nms_sorted: greedy NMS over boxes already sorted by score, the loop
 * numpy can only run as one Python iteration per kept box.
 *
 * Both take Python buffers (bytes-like, C-contiguous) and release the GIL
 * while they run, so pipeline threads overlap.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define COEF_BITS 11
#define COEF_SCALE (1 << COEF_BITS)

static int clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

static uint8_t sat_u8(int v) { return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v)); }

/* Source index and two 11-bit weights per destination index. Clamps at the
 * edges the way OpenCV does on the horizontal axis (clamp_weights = 1); on the
 * vertical axis it keeps the weights and clamps the row index later. */
static void linear_coeffs(int dsize, int ssize, int clamp_weights, int *ofs, short *w)
{
    double scale = 1.0 / ((double)dsize / ssize);
    for (int d = 0; d < dsize; d++) {
        float f = (float)((d + 0.5) * scale - 0.5);
        int s = (int)floorf(f);
        f -= (float)s;
        if (clamp_weights) {
            if (s < 0) {
                f = 0.f;
                s = 0;
            }
            if (s >= ssize - 1) {
                f = 0.f;
                s = ssize - 1;
            }
        }
        ofs[d] = s;
        w[2 * d] = (short)lrintf((1.f - f) * COEF_SCALE);
        w[2 * d + 1] = (short)lrintf(f * COEF_SCALE);
    }
}

static void hresize_row(const uint8_t *src, int sw, int cn, int dw, const int *xofs, const short *alpha,
                        int32_t *out)
{
    if (cn == 3) {
        for (int dx = 0; dx < dw; dx++) {
            int sx = xofs[dx];
            int a0 = alpha[2 * dx], a1 = alpha[2 * dx + 1];
            const uint8_t *p = src + 3 * sx;
            const uint8_t *q = src + 3 * (sx + 1 < sw ? sx + 1 : sw - 1);
            out[3 * dx] = p[0] * a0 + q[0] * a1;
            out[3 * dx + 1] = p[1] * a0 + q[1] * a1;
            out[3 * dx + 2] = p[2] * a0 + q[2] * a1;
        }
        return;
    }
    for (int dx = 0; dx < dw; dx++) {
        int sx = xofs[dx];
        int a0 = alpha[2 * dx], a1 = alpha[2 * dx + 1];
        const uint8_t *p = src + cn * sx;
        const uint8_t *q = src + cn * (sx + 1 < sw ? sx + 1 : sw - 1);
        for (int c = 0; c < cn; c++)
            out[cn * dx + c] = p[c] * a0 + q[c] * a1;
    }
}

/* OpenCV 5's vertical pass: every element takes its SIMD kernel's rounding,
 * rows narrower than a vector included: the 16-bit high halves of (s >> 4) * b
 * summed, then a rounding shift by 2. */
static void vresize_row(const int32_t *s0, const int32_t *s1, int b0, int b1, int width, uint8_t *dst)
{
    for (int x = 0; x < width; x++) {
        int t = (((s0[x] >> 4) * b0) >> 16) + (((s1[x] >> 4) * b1) >> 16);
        dst[x] = sat_u8((t + 2) >> 2);
    }
}

static void area2x(const uint8_t *src, int cn, uint8_t *dst, int dh, int dw)
{
    size_t sstep = (size_t)2 * dw * cn, dstep = (size_t)dw * cn;
    for (int dy = 0; dy < dh; dy++) {
        const uint8_t *a = src + (size_t)2 * dy * sstep, *b = a + sstep;
        uint8_t *d = dst + (size_t)dy * dstep;
        for (int dx = 0; dx < dw; dx++) {
            const uint8_t *pa = a + 2 * cn * dx, *pb = b + 2 * cn * dx;
            for (int c = 0; c < cn; c++)
                d[cn * dx + c] = (uint8_t)((pa[c] + pa[c + cn] + pb[c] + pb[c + cn] + 2) >> 2);
        }
    }
}

/* Returns 0, or -1 when out of memory. */
static int resize_linear(const uint8_t *src, int sh, int sw, int cn, uint8_t *dst, int dh, int dw)
{
    if (sh == 2 * dh && sw == 2 * dw) {
        area2x(src, cn, dst, dh, dw);
        return 0;
    }
    int width = dw * cn;
    int *xofs = malloc(sizeof(int) * (size_t)dw), *yofs = malloc(sizeof(int) * (size_t)dh);
    short *alpha = malloc(sizeof(short) * 2 * (size_t)dw), *beta = malloc(sizeof(short) * 2 * (size_t)dh);
    int32_t *buf = malloc(sizeof(int32_t) * 2 * (size_t)width);
    if (!xofs || !yofs || !alpha || !beta || !buf) {
        free(xofs), free(yofs), free(alpha), free(beta), free(buf);
        return -1;
    }
    linear_coeffs(dw, sw, 1, xofs, alpha);
    linear_coeffs(dh, sh, 0, yofs, beta);
    int32_t *slot[2] = {buf, buf + width};
    int held[2] = {-1, -1}; /* source row held by each slot */
    size_t sstep = (size_t)sw * cn;
    for (int dy = 0; dy < dh; dy++) {
        int r[2] = {clampi(yofs[dy], 0, sh - 1), clampi(yofs[dy] + 1, 0, sh - 1)};
        int s0 = held[0] == r[0] ? 0 : (held[1] == r[0] ? 1 : -1);
        if (s0 < 0) {
            s0 = held[0] == r[1] ? 1 : 0; /* keep the slot holding the other needed row */
            hresize_row(src + (size_t)r[0] * sstep, sw, cn, dw, xofs, alpha, slot[s0]);
            held[s0] = r[0];
        }
        int s1 = held[s0] == r[1] ? s0 : (held[1 - s0] == r[1] ? 1 - s0 : -1);
        if (s1 < 0) {
            s1 = 1 - s0;
            hresize_row(src + (size_t)r[1] * sstep, sw, cn, dw, xofs, alpha, slot[s1]);
            held[s1] = r[1];
        }
        int32_t *rows[2] = {slot[s0], slot[s1]};
        vresize_row(rows[0], rows[1], beta[2 * dy], beta[2 * dy + 1], width, dst + (size_t)dy * width);
    }
    free(xofs), free(yofs), free(alpha), free(beta), free(buf);
    return 0;
}

static PyObject *py_resize_linear(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer src, dst;
    int sh, sw, cn, dh, dw;
    if (!PyArg_ParseTuple(args, "y*iiiw*ii", &src, &sh, &sw, &cn, &dst, &dh, &dw))
        return NULL;
    PyObject *result = NULL;
    if (sh <= 0 || sw <= 0 || dh <= 0 || dw <= 0 || !(cn == 1 || cn == 3 || cn == 4)) {
        PyErr_SetString(PyExc_ValueError, "resize_linear: sizes must be positive and channels 1, 3 or 4");
    } else if (src.len != (Py_ssize_t)sh * sw * cn || dst.len != (Py_ssize_t)dh * dw * cn) {
        PyErr_SetString(PyExc_ValueError, "resize_linear: buffer sizes do not match the shapes");
    } else if (!PyBuffer_IsContiguous(&src, 'C') || !PyBuffer_IsContiguous(&dst, 'C')) {
        PyErr_SetString(PyExc_ValueError, "resize_linear: buffers must be C-contiguous");
    } else {
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = resize_linear((const uint8_t *)src.buf, sh, sw, cn, (uint8_t *)dst.buf, dh, dw);
        Py_END_ALLOW_THREADS
        if (rc != 0)
            PyErr_NoMemory();
        else
            result = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    return result;
}

/* xyxy: n x 4 float32 boxes, already sorted by descending score; cls: their
 * classes (all equal for class-agnostic NMS). Writes the positions kept into
 * keep (int64) and returns how many. A box is dropped when its IoU with a kept
 * box of its class exceeds the threshold. */
static Py_ssize_t nms_sorted(const float *xyxy, const int32_t *cls, Py_ssize_t n, double iou, Py_ssize_t max_keep,
                             int64_t *keep)
{
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < n && kept < max_keep; i++) {
        const float *a = xyxy + 4 * i;
        double area_a = ((double)a[2] - a[0]) * ((double)a[3] - a[1]);
        int ok = 1;
        for (Py_ssize_t k = 0; k < kept && ok; k++) {
            if (cls[keep[k]] != cls[i])
                continue;
            const float *b = xyxy + 4 * keep[k];
            double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
            double ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
            if (iw <= 0 || ih <= 0)
                continue;
            double inter = iw * ih;
            double uni = area_a + ((double)b[2] - b[0]) * ((double)b[3] - b[1]) - inter;
            ok = !(uni > 0 && inter / uni > iou);
        }
        if (ok)
            keep[kept++] = i;
    }
    return kept;
}

static PyObject *py_nms_sorted(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer boxes, cls, keep;
    double iou;
    Py_ssize_t max_keep;
    if (!PyArg_ParseTuple(args, "y*y*dnw*", &boxes, &cls, &iou, &max_keep, &keep))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t n = boxes.len / (Py_ssize_t)(4 * sizeof(float));
    if (boxes.len % (Py_ssize_t)(4 * sizeof(float)) != 0 || cls.len != n * (Py_ssize_t)sizeof(int32_t) ||
        keep.len < n * (Py_ssize_t)sizeof(int64_t)) {
        PyErr_SetString(PyExc_ValueError,
                        "nms_sorted: boxes must be (N, 4) float32, classes (N,) int32 and keep (N,) int64");
    } else {
        Py_ssize_t kept;
        Py_BEGIN_ALLOW_THREADS
        kept = nms_sorted((const float *)boxes.buf, (const int32_t *)cls.buf, n, iou, max_keep, (int64_t *)keep.buf);
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(kept);
    }
    PyBuffer_Release(&boxes);
    PyBuffer_Release(&cls);
    PyBuffer_Release(&keep);
    return result;
}

static PyMethodDef methods[] = {
    {"resize_linear", py_resize_linear, METH_VARARGS,
     "resize_linear(src, h, w, channels, dst, new_h, new_w): OpenCV-exact bilinear resize of uint8 pixels."},
    {"nms_sorted", py_nms_sorted, METH_VARARGS,
     "nms_sorted(xyxy_f32, class_i32, iou, max_keep, keep_i64) -> count: greedy NMS over score-sorted boxes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_native", "edgeloop native kernels", -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
