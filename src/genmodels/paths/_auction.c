/* The forward auction algorithm with epsilon-scaling for the dense assignment problem
 * (Bertsekas 1988, "The auction algorithm: a distributed relaxation method for the assignment
 * problem"; Bertsekas & Castanon 1991 for the scaling).  Written for genmodels' exact
 * minibatch OT coupling (genmodels/paths/couplings.py explains the maths and the guarantee).
 *
 * Python signature:  solve(benefit, price, assign, n, eps0, factor, eps_min) -> bids
 *   benefit  float64 buffer of n*n entries, row-major: a[i, j] = -cost[i, j] (maximised)
 *   price    float64 writable buffer of n entries: the object prices (in: start, out: final)
 *   assign   int64 writable buffer of n entries: out, the object j(i) of each person i
 *   eps0, factor, eps_min: the scaling schedule eps0, eps0/factor, ... down to <= eps_min
 * Returns the number of bids.  The GIL is released while it runs.
 * benefit(x, y, out, n, m, d) fills the benefit matrix -|x_i - y_j|^2 from the points.
 *
 * The time goes into scanning a row for its best two values (top2, per bid) and its best
 * (top1, per person per phase): branch-free over 8 lanes, in SSE2 vectors on x86-64 and in AVX2
 * vectors where the CPU has them (chosen at import), in scalar code elsewhere.  The vector
 * scans also merge their lanes in vector registers (no data-dependent branch, which costs
 * about a fifth of a bid's time when mispredicted).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LANES 8

typedef void (*top2_fn)(Py_ssize_t, const double *, const double *, double *, double *,
                        Py_ssize_t *);
typedef double (*top1_fn)(Py_ssize_t, const double *, const double *);

/* (best, second, index) of the vector lanes updated by the scalar tail j = m .. n-1. */
static inline void tail(Py_ssize_t n, Py_ssize_t m, const double *restrict row,
                        const double *restrict price, double best, double second, Py_ssize_t bj,
                        double *pbest, double *psecond, Py_ssize_t *pj) {
    for (Py_ssize_t j = m; j < n; j++) {
        double v = row[j] - price[j];
        if (v > best) { second = best; best = v; bj = j; }
        else if (v > second) second = v;
    }
    *pbest = best; *psecond = second; *pj = bj;
}

#if defined(__SSE2__)
#include <emmintrin.h>
#define BLEND(m, a, b) _mm_or_pd(_mm_and_pd((m), (a)), _mm_andnot_pd((m), (b)))
/* lane-wise merge of two (best, second, index) triples into the first, branch-free: the best
 * of the two bests, its index, and the larger of the smaller best and the two seconds */
#define COMBINE2(b0, s0, i0, b1, s1, i1) do { \
    __m128d gt_ = _mm_cmpgt_pd((b1), (b0)); \
    (s0) = _mm_max_pd(_mm_min_pd((b0), (b1)), _mm_max_pd((s0), (s1))); \
    (i0) = BLEND(gt_, (i1), (i0)); \
    (b0) = _mm_max_pd((b0), (b1)); } while (0)

/* best and second-best value of row[j] - price[j] over j, and the best j: 4 SSE2 accumulators
 * of 2 lanes each (8 lanes), branch-free; then the scalar tail and the merge of the lanes. */
static void top2(Py_ssize_t n, const double *restrict row, const double *restrict price,
                 double *pbest, double *psecond, Py_ssize_t *pj) {
    __m128d b[4], s[4], bi[4];
    const __m128d ninf = _mm_set1_pd(-INFINITY), eight = _mm_set1_pd(8.0);
    __m128d idx[4];
    for (int k = 0; k < 4; k++) {
        b[k] = ninf; s[k] = ninf; bi[k] = _mm_setzero_pd();
        idx[k] = _mm_set_pd(2.0 * k + 1.0, 2.0 * k);
    }
    Py_ssize_t m = n - n % 8;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += 8) {
        for (int k = 0; k < 4; k++) {
            __m128d v = _mm_sub_pd(_mm_loadu_pd(row + j0 + 2 * k), _mm_loadu_pd(price + j0 + 2 * k));
            __m128d gt = _mm_cmpgt_pd(v, b[k]);
            s[k] = BLEND(gt, b[k], _mm_max_pd(s[k], v));
            bi[k] = BLEND(gt, idx[k], bi[k]);
            b[k] = _mm_max_pd(b[k], v);
            idx[k] = _mm_add_pd(idx[k], eight);
        }
    }
    /* the 4 accumulators' lanes merged branch-free, then the 2 lanes of the result */
    COMBINE2(b[0], s[0], bi[0], b[1], s[1], bi[1]);
    COMBINE2(b[2], s[2], bi[2], b[3], s[3], bi[3]);
    COMBINE2(b[0], s[0], bi[0], b[2], s[2], bi[2]);
    __m128d b2 = _mm_shuffle_pd(b[0], b[0], 1), s2 = _mm_shuffle_pd(s[0], s[0], 1),
            i2 = _mm_shuffle_pd(bi[0], bi[0], 1);
    COMBINE2(b[0], s[0], bi[0], b2, s2, i2);
    tail(n, m, row, price, _mm_cvtsd_f64(b[0]), _mm_cvtsd_f64(s[0]),
         (Py_ssize_t)_mm_cvtsd_f64(bi[0]), pbest, psecond, pj);
}
#else
/* The best and second best of 8 lanes' (best, second, index), then of the scalar tail
 * j = m .. n-1. */
static void merge_lanes(Py_ssize_t n, Py_ssize_t m, const double *restrict row,
                        const double *restrict price, const double *bb, const double *ss,
                        const double *ii, double *pbest, double *psecond, Py_ssize_t *pj) {
    double best = -INFINITY, second = -INFINITY;
    Py_ssize_t bj = 0;
    for (int l = 0; l < LANES; l++) {
        if (bb[l] > best) {
            second = best > ss[l] ? best : ss[l] > second ? ss[l] : second;
            best = bb[l]; bj = (Py_ssize_t)ii[l];
        } else {
            double t = bb[l] > ss[l] ? bb[l] : ss[l];
            if (t > second) second = t;
        }
    }
    for (Py_ssize_t j = m; j < n; j++) {
        double v = row[j] - price[j];
        if (v > best) { second = best; best = v; bj = j; }
        else if (v > second) second = v;
    }
    *pbest = best; *psecond = second; *pj = bj;
}

/* the same in scalar code: 8 independent lanes, branch-free. */
static void top2(Py_ssize_t n, const double *restrict row, const double *restrict price,
                 double *pbest, double *psecond, Py_ssize_t *pj) {
    double bb[LANES], ss[LANES], ii[LANES];
    for (int l = 0; l < LANES; l++) { bb[l] = -INFINITY; ss[l] = -INFINITY; ii[l] = 0; }
    Py_ssize_t m = n - n % LANES;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += LANES) {
        for (int l = 0; l < LANES; l++) {
            double v = row[j0 + l] - price[j0 + l];
            int gt = v > bb[l];
            double sv = v > ss[l] ? v : ss[l];
            ss[l] = gt ? bb[l] : sv;
            ii[l] = gt ? (double)(j0 + l) : ii[l];
            bb[l] = gt ? v : bb[l];
        }
    }
    merge_lanes(n, m, row, price, bb, ss, ii, pbest, psecond, pj);
}
#endif

/* best value of row[j] - price[j] over j. */
#if defined(__SSE2__)
static double top1(Py_ssize_t n, const double *restrict row, const double *restrict price) {
    __m128d b[4];
    for (int k = 0; k < 4; k++) b[k] = _mm_set1_pd(-INFINITY);
    Py_ssize_t m = n - n % 8;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += 8)
        for (int k = 0; k < 4; k++)
            b[k] = _mm_max_pd(b[k], _mm_sub_pd(_mm_loadu_pd(row + j0 + 2 * k),
                                               _mm_loadu_pd(price + j0 + 2 * k)));
    __m128d t = _mm_max_pd(_mm_max_pd(b[0], b[1]), _mm_max_pd(b[2], b[3]));
    double bb[2];
    _mm_storeu_pd(bb, t);
    double best = bb[0] > bb[1] ? bb[0] : bb[1];
    for (Py_ssize_t j = m; j < n; j++) {
        double v = row[j] - price[j];
        best = v > best ? v : best;
    }
    return best;
}
#else
static double top1(Py_ssize_t n, const double *restrict row, const double *restrict price) {
    double b[LANES];
    for (int l = 0; l < LANES; l++) b[l] = -INFINITY;
    Py_ssize_t m = n - n % LANES;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += LANES)
        for (int l = 0; l < LANES; l++) {
            double v = row[j0 + l] - price[j0 + l];
            b[l] = v > b[l] ? v : b[l];
        }
    for (Py_ssize_t j = m; j < n; j++) {
        double v = row[j] - price[j];
        b[0] = v > b[0] ? v : b[0];
    }
    double best = b[0];
    for (int l = 1; l < LANES; l++) best = b[l] > best ? b[l] : best;
    return best;
}

#endif

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#define BLEND4(m, a, b) _mm256_blendv_pd((b), (a), (m))
#define COMBINE4(b0, s0, i0, b1, s1, i1) do { \
    __m256d gt_ = _mm256_cmp_pd((b1), (b0), _CMP_GT_OQ); \
    (s0) = _mm256_max_pd(_mm256_min_pd((b0), (b1)), _mm256_max_pd((s0), (s1))); \
    (i0) = BLEND4(gt_, (i1), (i0)); \
    (b0) = _mm256_max_pd((b0), (b1)); } while (0)

/* top2 and top1 again with 4-lane AVX2 vectors, compiled for AVX2 whatever the build flags
 * and chosen at import when the CPU has AVX2 (__builtin_cpu_supports). */
__attribute__((target("avx2")))
static void top2_avx2(Py_ssize_t n, const double *restrict row, const double *restrict price,
                      double *pbest, double *psecond, Py_ssize_t *pj) {
    __m256d b[2], s[2], bi[2], idx[2];
    const __m256d eight = _mm256_set1_pd(8.0);
    for (int k = 0; k < 2; k++) {
        b[k] = _mm256_set1_pd(-INFINITY); s[k] = b[k]; bi[k] = _mm256_setzero_pd();
        idx[k] = _mm256_set_pd(4.0 * k + 3, 4.0 * k + 2, 4.0 * k + 1, 4.0 * k);
    }
    Py_ssize_t m = n - n % 8;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += 8) {
        for (int k = 0; k < 2; k++) {
            __m256d v = _mm256_sub_pd(_mm256_loadu_pd(row + j0 + 4 * k),
                                      _mm256_loadu_pd(price + j0 + 4 * k));
            __m256d gt = _mm256_cmp_pd(v, b[k], _CMP_GT_OQ);
            s[k] = BLEND4(gt, b[k], _mm256_max_pd(s[k], v));
            bi[k] = BLEND4(gt, idx[k], bi[k]);
            b[k] = _mm256_max_pd(b[k], v);
            idx[k] = _mm256_add_pd(idx[k], eight);
        }
    }
    /* the 2 accumulators merged, then the 4 lanes of the result (halves, then pairs) */
    COMBINE4(b[0], s[0], bi[0], b[1], s[1], bi[1]);
    __m256d b2 = _mm256_permute2f128_pd(b[0], b[0], 1), s2 = _mm256_permute2f128_pd(s[0], s[0], 1),
            i2 = _mm256_permute2f128_pd(bi[0], bi[0], 1);
    COMBINE4(b[0], s[0], bi[0], b2, s2, i2);
    b2 = _mm256_permute_pd(b[0], 5); s2 = _mm256_permute_pd(s[0], 5); i2 = _mm256_permute_pd(bi[0], 5);
    COMBINE4(b[0], s[0], bi[0], b2, s2, i2);
    tail(n, m, row, price, _mm256_cvtsd_f64(b[0]), _mm256_cvtsd_f64(s[0]),
         (Py_ssize_t)_mm256_cvtsd_f64(bi[0]), pbest, psecond, pj);
}

__attribute__((target("avx2")))
static double top1_avx2(Py_ssize_t n, const double *restrict row, const double *restrict price) {
    __m256d b0 = _mm256_set1_pd(-INFINITY), b1 = b0;
    Py_ssize_t m = n - n % 8;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += 8) {
        b0 = _mm256_max_pd(b0, _mm256_sub_pd(_mm256_loadu_pd(row + j0), _mm256_loadu_pd(price + j0)));
        b1 = _mm256_max_pd(b1, _mm256_sub_pd(_mm256_loadu_pd(row + j0 + 4),
                                             _mm256_loadu_pd(price + j0 + 4)));
    }
    double bb[4];
    _mm256_storeu_pd(bb, _mm256_max_pd(b0, b1));
    double best = -INFINITY;
    for (int l = 0; l < 4; l++) best = bb[l] > best ? bb[l] : best;
    for (Py_ssize_t j = m; j < n; j++) {
        double v = row[j] - price[j];
        best = v > best ? v : best;
    }
    return best;
}
#endif

/* Returns the number of bids, -1 when out of memory, -2 when max_bids is exceeded. */
static top2_fn top2_best = top2;
static top1_fn top1_best = top1;

static long long auction(Py_ssize_t n, const double *a, double *price, int64_t *assign,
                         double eps, double factor, double eps_min, long long max_bids) {
    top2_fn scan2 = top2_best;
    top1_fn scan1 = top1_best;
    Py_ssize_t *owner = malloc(sizeof(Py_ssize_t) * n);
    Py_ssize_t *queue = malloc(sizeof(Py_ssize_t) * n);
    if (owner == NULL || queue == NULL) { free(owner); free(queue); return -1; }
    long long bids = 0;
    for (Py_ssize_t j = 0; j < n; j++) owner[j] = -1;
    for (Py_ssize_t i = 0; i < n; i++) assign[i] = -1;
    for (int phase = 0;; phase++) {
        /* the unassigned persons: all at first; later those no longer eps-happy */
        Py_ssize_t head = 0, len = 0;
        for (Py_ssize_t i = 0; i < n; i++) {
            const double *row = a + i * n;
            int64_t j = assign[i];
            if (j >= 0 && row[j] - price[j] >= scan1(n, row, price) - eps) continue;
            if (j >= 0) { owner[j] = -1; assign[i] = -1; }
            queue[len++] = i;
        }
        while (len > 0) {
            Py_ssize_t i = queue[head];
            head = head + 1 == n ? 0 : head + 1;
            len--;
            double best, second;
            Py_ssize_t j;
            scan2(n, a + i * n, price, &best, &second, &j);
            /* n == 1: no second object, the bid only needs to be positive */
            price[j] += (n > 1 ? best - second : 0.0) + eps;
            Py_ssize_t prev = owner[j];
            owner[j] = i;
            assign[i] = j;
            if (prev >= 0) {
                assign[prev] = -1;
                Py_ssize_t t = head + len;
                queue[t >= n ? t - n : t] = prev;
                len++;
            }
            if (++bids > max_bids) { free(owner); free(queue); return -2; }
        }
        if (eps <= eps_min) break;
        eps = eps / factor;
        if (eps < eps_min) eps = eps_min;
    }
    free(owner);
    free(queue);
    return bids;
}

static PyObject *solve(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer ab, pb, sb;
    Py_ssize_t n;
    double eps0, factor, eps_min;
    long long max_bids;
    if (!PyArg_ParseTuple(args, "y*w*w*ndddL", &ab, &pb, &sb, &n, &eps0, &factor, &eps_min,
                          &max_bids))
        return NULL;
    PyObject *result = NULL;
    if (n < 1 || ab.len != (Py_ssize_t)sizeof(double) * n * n
        || pb.len != (Py_ssize_t)sizeof(double) * n || sb.len != (Py_ssize_t)sizeof(int64_t) * n) {
        PyErr_SetString(PyExc_ValueError, "solve: buffer sizes do not match n");
    } else if (!(eps0 > 0) || !(factor > 1) || !(eps_min > 0)) {
        PyErr_SetString(PyExc_ValueError, "solve: needs eps0 > 0, factor > 1, eps_min > 0");
    } else {
        long long bids;
        Py_BEGIN_ALLOW_THREADS
        bids = auction(n, (const double *)ab.buf, (double *)pb.buf, (int64_t *)sb.buf, eps0,
                       factor, eps_min, max_bids);
        Py_END_ALLOW_THREADS
        if (bids == -1) PyErr_NoMemory();
        else if (bids == -2) PyErr_SetString(PyExc_RuntimeError, "solve: max_bids exceeded");
        else result = PyLong_FromLongLong(bids);
    }
    PyBuffer_Release(&ab);
    PyBuffer_Release(&pb);
    PyBuffer_Release(&sb);
    return result;
}


/* benefit(x, y, out, n, m, d): out[i, j] = -sum_k (x[i, k] - y[j, k])^2 for x (n, d) and
 * y (m, d) float64, row-major: the auction's benefit matrix straight from the points, by
 * differences (no cancellation), vectorised over j.  For small d; the caller takes BLAS for
 * large d.  The GIL is released while it runs. */
static PyObject *benefit(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer xb, yb, ob;
    Py_ssize_t n, m, d;
    if (!PyArg_ParseTuple(args, "y*y*w*nnn", &xb, &yb, &ob, &n, &m, &d)) return NULL;
    PyObject *result = NULL;
    double *yt = NULL;
    if (n < 1 || m < 1 || d < 1 || xb.len != (Py_ssize_t)sizeof(double) * n * d
        || yb.len != (Py_ssize_t)sizeof(double) * m * d
        || ob.len != (Py_ssize_t)sizeof(double) * n * m) {
        PyErr_SetString(PyExc_ValueError, "benefit: buffer sizes do not match n, m, d");
    } else if ((yt = malloc(sizeof(double) * m * d)) == NULL) {
        PyErr_NoMemory();
    } else {
        const double *x = xb.buf, *y = yb.buf;
        double *out = ob.buf;
        Py_BEGIN_ALLOW_THREADS
        for (Py_ssize_t j = 0; j < m; j++)
            for (Py_ssize_t k = 0; k < d; k++) yt[k * m + j] = y[j * d + k];
        for (Py_ssize_t i = 0; i < n; i++) {
            double *restrict row = out + i * m;
            const double *restrict yk = yt;
            double xk = x[i * d];
            for (Py_ssize_t j = 0; j < m; j++) { double t = xk - yk[j]; row[j] = -(t * t); }
            for (Py_ssize_t k = 1; k < d; k++) {
                xk = x[i * d + k];
                yk = yt + k * m;
                for (Py_ssize_t j = 0; j < m; j++) { double t = xk - yk[j]; row[j] -= t * t; }
            }
        }
        Py_END_ALLOW_THREADS
        free(yt);
        Py_INCREF(Py_None);
        result = Py_None;
    }
    PyBuffer_Release(&xb);
    PyBuffer_Release(&yb);
    PyBuffer_Release(&ob);
    return result;
}

#if defined(__SSE2__)
#define BASE_SCAN "sse2"
#else
#define BASE_SCAN "scalar"
#endif

static int have_avx2(void) {
#ifdef HAVE_AVX2_PATH
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

/* scans() -> tuple of the scans this build and CPU can run, the best last. */
static PyObject *scans(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return have_avx2() ? Py_BuildValue("(ss)", BASE_SCAN, "avx2") : Py_BuildValue("(s)", BASE_SCAN);
}

/* scan() -> the name of the scan in use. */
static PyObject *scan(PyObject *self, PyObject *noargs) {
    (void)self;
    (void)noargs;
    return PyUnicode_FromString(top2_best == top2 ? BASE_SCAN : "avx2");
}

/* set_scan(name): use one of scans() (the tests run every one). */
static PyObject *set_scan(PyObject *self, PyObject *args) {
    (void)self;
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    if (strcmp(name, BASE_SCAN) == 0) {
        top2_best = top2;
        top1_best = top1;
        Py_RETURN_NONE;
    }
#ifdef HAVE_AVX2_PATH
    if (strcmp(name, "avx2") == 0 && have_avx2()) {
        top2_best = top2_avx2;
        top1_best = top1_avx2;
        Py_RETURN_NONE;
    }
#endif
    PyErr_Format(PyExc_ValueError, "set_scan: %s is not available here", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"solve", solve, METH_VARARGS,
     "solve(benefit, price, assign, n, eps0, factor, eps_min, max_bids) -> bids: the forward "
     "auction with eps-scaling (maximises sum benefit[i, assign[i]])."},
    {"benefit", benefit, METH_VARARGS,
     "benefit(x, y, out, n, m, d): out[i, j] = -|x_i - y_j|^2 (float64 buffers)."},
    {"scans", scans, METH_NOARGS, "scans() -> the row scans available, the best last."},
    {"scan", scan, METH_NOARGS, "scan() -> the row scan in use."},
    {"set_scan", set_scan, METH_VARARGS, "set_scan(name): use the row scan name."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_auction",
                                    "Forward auction for the dense assignment problem.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__auction(void) {
#ifdef HAVE_AVX2_PATH
    if (have_avx2()) {
        top2_best = top2_avx2;
        top1_best = top1_avx2;
    }
#endif
    return PyModule_Create(&module);
}
