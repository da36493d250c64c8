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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#define LANES 8

/* best and second-best value of row[j] - price[j] over j, and the best j.  LANES independent
 * accumulators, branch-free, so that the compiler can vectorise the scan. */
static void top2(Py_ssize_t n, const double *restrict row, const double *restrict price,
                 double *pbest, double *psecond, Py_ssize_t *pj) {
    double b[LANES], s[LANES];
    Py_ssize_t bi[LANES];
    for (int l = 0; l < LANES; l++) { b[l] = -INFINITY; s[l] = -INFINITY; bi[l] = 0; }
    Py_ssize_t m = n - n % LANES;
    for (Py_ssize_t j0 = 0; j0 < m; j0 += LANES) {
        for (int l = 0; l < LANES; l++) {
            double v = row[j0 + l] - price[j0 + l];
            int gt = v > b[l];
            double sv = v > s[l] ? v : s[l];
            s[l] = gt ? b[l] : sv;
            bi[l] = gt ? j0 + l : bi[l];
            b[l] = gt ? v : b[l];
        }
    }
    for (Py_ssize_t j = m; j < n; j++) {
        double v = row[j] - price[j];
        if (v > b[0]) { s[0] = b[0]; b[0] = v; bi[0] = j; }
        else if (v > s[0]) { s[0] = v; }
    }
    double best = b[0], second = s[0];
    Py_ssize_t bj = bi[0];
    for (int l = 1; l < LANES; l++) {
        if (b[l] > best) {
            second = best > s[l] ? best : s[l] > second ? s[l] : second;
            best = b[l];
            bj = bi[l];
        } else if (b[l] > second) {
            second = b[l];
        }
    }
    *pbest = best; *psecond = second; *pj = bj;
}

/* best value of row[j] - price[j] over j. */
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

/* Returns the number of bids, -1 when out of memory, -2 when max_bids is exceeded. */
static long long auction(Py_ssize_t n, const double *a, double *price, int64_t *assign,
                         double eps, double factor, double eps_min, long long max_bids) {
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
            if (j >= 0 && row[j] - price[j] >= top1(n, row, price) - eps) continue;
            if (j >= 0) { owner[j] = -1; assign[i] = -1; }
            queue[len++] = i;
        }
        while (len > 0) {
            Py_ssize_t i = queue[head];
            head = head + 1 == n ? 0 : head + 1;
            len--;
            double best, second;
            Py_ssize_t j;
            top2(n, a + i * n, price, &best, &second, &j);
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

static PyMethodDef methods[] = {
    {"solve", solve, METH_VARARGS,
     "solve(benefit, price, assign, n, eps0, factor, eps_min, max_bids) -> bids: the forward "
     "auction with eps-scaling (maximises sum benefit[i, assign[i]])."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_auction",
                                    "Forward auction for the dense assignment problem.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__auction(void) { return PyModule_Create(&module); }
