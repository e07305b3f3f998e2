/* Primal network simplex on a spanning tree kept between calls (see simplex.py), and the
 * shortest distances behind the certificate's potentials (distances(), see flow.py).
 *
 * The tree is stored as parent / pred (arc to the parent) / dir (+1: the arc points up,
 * from the node to its parent; -1: down) with children in doubly linked sibling lists,
 * plus each node's depth and potential.  The reduced cost of arc e is
 * cost[e] + pi[src[e]] - pi[dst[e]]; tree arcs have reduced cost 0.  state[e] is +1 for
 * a non-tree arc at flow 0, -1 for one at its capacity, 0 for a tree arc (and for an arc
 * of capacity 0, which is never offered to the tree).
 *
 * The tree is kept strongly feasible (Cunningham): the leaving arc is the last blocking
 * arc met when going round the cycle from its apex in the direction of the flow change.
 * That rules out cycling on the many degenerate pivots of assignment-like problems.
 * Arcs may be appended between calls (at flow 0, state +1): the tree stays a strongly
 * feasible basis, so the next call starts from the last optimum.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

typedef int64_t i64;

typedef struct {
    i64 *src, *dst, *cap, *cost, *flow, *state;               /* per arc */
    i64 *parent, *pred, *dir, *pi, *depth, *child, *next, *prev; /* per node */
    i64 *stack;
} Net;

static void add_child(Net *t, i64 p, i64 c) {
    i64 f = t->child[p];
    t->next[c] = f;
    t->prev[c] = -1;
    if (f >= 0) t->prev[f] = c;
    t->child[p] = c;
}

static void remove_child(Net *t, i64 p, i64 c) {
    if (t->prev[c] >= 0) t->next[t->prev[c]] = t->next[c];
    else t->child[p] = t->next[c];
    if (t->next[c] >= 0) t->prev[t->next[c]] = t->prev[c];
}

/* One pivot on entering arc `in`. */
static void pivot(Net *t, i64 in) {
    i64 *parent = t->parent, *pred = t->pred, *dir = t->dir, *flow = t->flow, *cap = t->cap;
    i64 u = t->src[in], v = t->dst[in];
    /* The apex of the cycle. */
    while (u != v) {
        if (t->depth[u] > t->depth[v]) u = parent[u];
        else if (t->depth[v] > t->depth[u]) v = parent[v];
        else { u = parent[u]; v = parent[v]; }
    }
    i64 join = u;
    /* Flow goes first -> second along the entering arc. */
    i64 first, second;
    if (t->state[in] == 1) { first = t->src[in]; second = t->dst[in]; }
    else { first = t->dst[in]; second = t->src[in]; }
    i64 delta = cap[in], u_out = -1;
    int side = 0;
    /* From the apex down to `first`: the blocking arc nearest `first` is met last. */
    for (u = first; u != join; u = parent[u]) {
        i64 e = pred[u];
        i64 d = dir[u] == -1 ? cap[e] - flow[e] : flow[e];
        if (d < delta) { delta = d; u_out = u; side = 1; }
    }
    /* From `second` up to the apex: the blocking arc nearest the apex is met last. */
    for (u = second; u != join; u = parent[u]) {
        i64 e = pred[u];
        i64 d = dir[u] == 1 ? cap[e] - flow[e] : flow[e];
        if (d <= delta) { delta = d; u_out = u; side = 2; }
    }
    if (delta > 0) {
        i64 val = t->state[in] * delta;
        flow[in] += val;
        for (u = t->src[in]; u != join; u = parent[u]) flow[pred[u]] -= dir[u] * val;
        for (u = t->dst[in]; u != join; u = parent[u]) flow[pred[u]] += dir[u] * val;
    }
    if (side == 0) {              /* the entering arc blocks itself: it changes bound */
        t->state[in] = -t->state[in];
        return;
    }
    i64 out = pred[u_out];
    t->state[out] = flow[out] == 0 ? 1 : -1;
    t->state[in] = 0;
    /* The subtree under the leaving arc hangs again from the entering arc: the path
     * from its endpoint inside (u_in) up to u_out is reversed. */
    i64 u_in = side == 1 ? first : second;
    i64 v_in = side == 1 ? second : first;
    remove_child(t, parent[u_out], u_out);
    i64 new_parent = v_in, new_pred = in, new_dir = t->src[in] == u_in ? 1 : -1;
    u = u_in;
    for (;;) {
        i64 old_parent = parent[u], old_pred = pred[u], old_dir = dir[u];
        if (u != u_out) remove_child(t, old_parent, u);
        parent[u] = new_parent;
        pred[u] = new_pred;
        dir[u] = new_dir;
        add_child(t, new_parent, u);
        if (u == u_out) break;
        new_parent = u;
        new_pred = old_pred;
        new_dir = -old_dir;
        u = old_parent;
    }
    /* Potentials move by one amount over the whole subtree; depths are recomputed. */
    i64 sigma = t->pi[v_in] - dir[u_in] * t->cost[in] - t->pi[u_in];
    i64 top = 0;
    t->stack[top++] = u_in;
    while (top) {
        i64 x = t->stack[--top];
        t->pi[x] += sigma;
        t->depth[x] = t->depth[parent[x]] + 1;
        for (i64 c = t->child[x]; c >= 0; c = t->next[c]) t->stack[top++] = c;
    }
}

/* Pivots until no arc has a negative reduced cost in its free direction (block search:
 * the most attractive arc of the first block of arcs that has one). Blocks of a quarter
 * of sqrt(arcs): scanning is most of the time, and at 30,000 institutions a quarter took
 * 35 % less time than sqrt(arcs), 1/10 and 1/25 no less, 2x more. */
static i64 run(Net *t, i64 n_arcs, i64 max_pivots) {
    i64 block = (i64)(0.25 * sqrt((double)n_arcs));
    if (block < 10) block = 10;
    i64 e = 0, pivots = 0;
    for (;;) {
        i64 best = 0, in = -1, count = block;
        for (i64 scanned = 0; scanned < n_arcs; scanned++) {
            i64 c = t->state[e] * (t->cost[e] + t->pi[t->src[e]] - t->pi[t->dst[e]]);
            if (c < best) { best = c; in = e; }
            if (++e == n_arcs) e = 0;
            if (--count == 0) {
                if (in >= 0) break;
                count = block;
            }
        }
        if (in < 0) return pivots;
        if (pivots == max_pivots) return -1;
        pivot(t, in);
        pivots++;
    }
}

/* A writable, contiguous int64 buffer of at least n items; anything else is a ValueError
 * (a float64 array has the same item size: the format is what tells them apart). */
static int get(PyObject *obj, Py_buffer *view, i64 **out, Py_ssize_t n) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    int int64 = view->itemsize == 8 && (strcmp(f, "q") == 0 || strcmp(f, "l") == 0);
    if (!int64 || view->len < n * 8 || n < 0) {
        PyErr_SetString(PyExc_ValueError, "every array must be a writable, contiguous int64 "
                                          "array long enough for the sizes given");
        PyBuffer_Release(view);
        return -1;
    }
    *out = (i64 *)view->buf;
    return 0;
}

/* Every a[i] for i < n lies in [low, high): else a ValueError naming the array. */
static int in_range(const i64 *a, Py_ssize_t n, i64 low, i64 high, const char *name) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (a[i] < low || a[i] >= high) {
            PyErr_Format(PyExc_ValueError, "%s[%zd] = %lld is outside %lld..%lld", name, i,
                         (long long)a[i], (long long)low, (long long)high - 1);
            return -1;
        }
    return 0;
}

static PyObject *solve(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_ssize_t n_nodes, n_arcs, max_pivots;
    PyObject *o[15];
    if (!PyArg_ParseTuple(args, "nnnOOOOOOOOOOOOOOO", &n_nodes, &n_arcs, &max_pivots,
                          &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7], &o[8],
                          &o[9], &o[10], &o[11], &o[12], &o[13], &o[14]))
        return NULL;
    Net t;
    i64 **slots[15] = {&t.src, &t.dst, &t.cap, &t.cost, &t.flow, &t.state, &t.parent,
                       &t.pred, &t.dir, &t.pi, &t.depth, &t.child, &t.next, &t.prev, &t.stack};
    Py_buffer views[15];
    int got = 0;
    for (; got < 15; got++)
        if (get(o[got], &views[got], slots[got], got < 6 ? n_arcs : n_nodes) < 0) break;
    i64 pivots = 0;
    /* Indices the pivots follow: a bad one would read or write outside the arrays. */
    if (got == 15 && (in_range(t.src, n_arcs, 0, n_nodes, "src") < 0
                      || in_range(t.dst, n_arcs, 0, n_nodes, "dst") < 0
                      || in_range(t.parent, n_nodes, -1, n_nodes, "parent") < 0
                      || in_range(t.pred, n_nodes, -1, n_arcs, "pred") < 0
                      || in_range(t.child, n_nodes, -1, n_nodes, "child") < 0
                      || in_range(t.next, n_nodes, -1, n_nodes, "next") < 0
                      || in_range(t.prev, n_nodes, -1, n_nodes, "prev") < 0
                      || in_range(t.dir, n_nodes, -1, 2, "dir") < 0))
        got = -1;
    if (got == 15) {
        Py_BEGIN_ALLOW_THREADS
        pivots = run(&t, n_arcs, max_pivots);
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < (got < 0 ? 15 : got); i++) PyBuffer_Release(&views[i]);
    if (got < 15) return NULL;
    return PyLong_FromLongLong(pivots);
}

/* Whether the parent graph (parent[v]: the node that last lowered d[v], -1 for the root)
 * has a cycle. Each parent arc was tight when set and distances only fall, so such a cycle
 * is a negative cycle of the graph (and a negative cycle soon shows as one). */
static int parent_cycle(i64 n, const i64 *parent, i64 *stamp) {
    for (i64 u = 0; u < n; u++) stamp[u] = -1;
    for (i64 s = 0; s < n; s++) {
        i64 v = s;
        while (v >= 0 && stamp[v] < 0) { stamp[v] = s; v = parent[v]; }
        if (v >= 0 && stamp[v] == s) return 1;
    }
    return 0;
}

/* Shortest distances from a virtual root joined to every node at cost 0 (so d starts at 0
 * everywhere), over arcs in CSR form (first[u] .. first[u + 1] leave u), by a FIFO queue of
 * nodes whose distance fell (Bellman-Ford, Moore's order). Returns the relaxations made,
 * or -1 on a negative cycle: found in the parent graph, looked for after every n
 * relaxations (so it costs at most as much again), or when a node's distance fell n times. */
static i64 shortest(i64 n, const i64 *first, const i64 *head, const i64 *cost, i64 *d,
                    i64 *queue, i64 *waiting, i64 *falls, i64 *parent, i64 *stamp) {
    i64 front = 0, size = n, relaxed = 0, next_check = n;
    for (i64 u = 0; u < n; u++) { queue[u] = u; waiting[u] = 1; falls[u] = 0; parent[u] = -1; }
    while (size > 0) {
        i64 u = queue[front];
        if (++front == n) front = 0;
        size--;
        waiting[u] = 0;
        for (i64 e = first[u]; e < first[u + 1]; e++) {
            i64 v = head[e], reach = d[u] + cost[e];
            if (reach < d[v]) {
                d[v] = reach;
                parent[v] = u;
                if (++relaxed >= next_check) {
                    if (parent_cycle(n, parent, stamp)) return -1;
                    next_check += n;
                }
                if (!waiting[v]) {
                    if (++falls[v] > n) return -1;
                    i64 back = front + size;
                    if (back >= n) back -= n;
                    queue[back] = v;
                    size++;
                    waiting[v] = 1;
                }
            }
        }
    }
    return relaxed;
}

static PyObject *distances(PyObject *Py_UNUSED(self), PyObject *args) {
    Py_ssize_t n, n_arcs;
    PyObject *o[9];
    if (!PyArg_ParseTuple(args, "nnOOOOOOOOO", &n, &n_arcs, &o[0], &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &o[8]))
        return NULL;
    i64 *first, *head, *cost, *d, *queue, *waiting, *falls, *parent, *stamp;
    i64 **slots[9] = {&first, &head, &cost, &d, &queue, &waiting, &falls, &parent, &stamp};
    Py_ssize_t sizes[9] = {n + 1, n_arcs, n_arcs, n, n, n, n, n, n};
    Py_buffer views[9];
    int got = 0;
    for (; got < 9; got++)
        if (get(o[got], &views[got], slots[got], sizes[got]) < 0) break;
    i64 relaxed = 0;
    if (got == 9) {
        /* first must run from 0 to n_arcs without falling, heads must be nodes. */
        int ok = first[0] == 0 && first[n] <= n_arcs;
        for (Py_ssize_t u = 0; ok && u < n; u++) ok = first[u] <= first[u + 1];
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "first must rise from 0 to at most n_arcs");
            got = -1;
        } else if (in_range(head, first[n], 0, n, "head") < 0) {
            got = -1;
        }
    }
    if (got == 9) {
        Py_BEGIN_ALLOW_THREADS
        relaxed = shortest(n, first, head, cost, d, queue, waiting, falls, parent, stamp);
        Py_END_ALLOW_THREADS
    }
    for (int i = 0; i < (got < 0 ? 9 : got); i++) PyBuffer_Release(&views[i]);
    if (got < 9) return NULL;
    return PyLong_FromLongLong(relaxed);
}

static PyMethodDef methods[] = {
    {"solve", solve, METH_VARARGS,
     "solve(n_nodes, n_arcs, max_pivots, src, dst, cap, cost, flow, state, parent, "
     "pred, dir, pi, depth, child, next, prev, stack) -> pivots made, or -1 when "
     "max_pivots was reached. Arrays: int64, changed in place."},
    {"distances", distances, METH_VARARGS,
     "distances(n, n_arcs, first, head, cost, d, queue, waiting, falls, parent, stamp) -> "
     "relaxations, or "
     "-1 on a negative cycle. d (zeros on entry) gets the shortest distances from a root "
     "joined to every node at cost 0; arcs in CSR form by tail; int64 arrays."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_simplex",
                                    "Network simplex kept warm between solves; shortest distances in residual graphs.", -1, methods};

PyMODINIT_FUNC PyInit__simplex(void) { return PyModule_Create(&module); }
