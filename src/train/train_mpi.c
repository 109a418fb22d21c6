/* train_mpi.c - data-parallel training over Open MPI: which rank this process is, and the sums of
 * gradients (and of losses) over all ranks. Compiled with MPI (KAIWU_MPI, set by the Makefile
 * when mpicc is present) or as a single rank.
 *
 * A process joins MPI only when a launcher started it (mpirun sets OMPI_COMM_WORLD_SIZE, PMIx
 * PMIX_RANK, other launchers PMI_SIZE): a plain `kaiwu train` never initialises MPI, so it starts
 * fast and needs no launcher. Only the calling (main) thread talks to MPI (MPI_THREAD_FUNNELED);
 * the thread pool's workers never do. Sums use MPI_Allreduce, whose order of additions is fixed
 * for a given number of ranks: a run is repeatable for its rank count.
 * Must not: call MPI from a pool worker, or initialise MPI outside a launched job.
 */
#include "train/train.h"

#include <limits.h>
#include <stdlib.h>

#ifdef KAIWU_MPI
#include <mpi.h>
#endif

static bool launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

bool train_comm_available(void) {
#ifdef KAIWU_MPI
    return true;
#else
    return false;
#endif
}

kw_status train_comm_init(train_comm *c) {
    c->rank = 0, c->size = 1, c->mpi = false;
    if (!launched_by_mpi()) return KW_OK;
#ifdef KAIWU_MPI
    int inited = 0, provided = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return kw_error(KW_ERR_INTERNAL, "MPI_Init_thread failed");
        c->mpi = true;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    return KW_OK;
#else
    const char *n = getenv("OMPI_COMM_WORLD_SIZE");
    if (n && atoi(n) > 1)
        return kw_error(KW_ERR_UNSUPPORTED,
                        "started by mpirun with %s ranks, but this kaiwu was built without MPI "
                        "(install libopenmpi-dev, see scripts/install-deps.sh, and rebuild)",
                        n);
    return KW_OK;
#endif
}

void train_comm_finish(train_comm *c) {
#ifdef KAIWU_MPI
    if (c->mpi) MPI_Finalize();
#endif
    c->mpi = false;
}

#ifdef KAIWU_MPI
static kw_status allreduce(const train_comm *c, void *data, size_t n, MPI_Datatype type,
                           size_t elem) {
    /* counts are int: large arrays go in slices */
    for (size_t off = 0; off < n; off += (size_t)INT_MAX / 2) {
        const size_t len = n - off < (size_t)INT_MAX / 2 ? n - off : (size_t)INT_MAX / 2;
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)data + off * elem, (int)len, type, MPI_SUM,
                          MPI_COMM_WORLD) != MPI_SUCCESS)
            return kw_error(KW_ERR_INTERNAL, "MPI_Allreduce of %zu values failed (rank %d of %d)",
                            len, c->rank, c->size);
    }
    return KW_OK;
}
#endif

kw_status train_comm_allreduce_sum(const train_comm *c, float *data, size_t n) {
    if (c->size <= 1) return KW_OK;
#ifdef KAIWU_MPI
    return allreduce(c, data, n, MPI_FLOAT, sizeof(float));
#else
    (void)data, (void)n;
    return KW_OK;
#endif
}

kw_status train_comm_allreduce_sum_f64(const train_comm *c, double *data, size_t n) {
    if (c->size <= 1) return KW_OK;
#ifdef KAIWU_MPI
    return allreduce(c, data, n, MPI_DOUBLE, sizeof(double));
#else
    (void)data, (void)n;
    return KW_OK;
#endif
}

kw_status train_comm_broadcast(const train_comm *c, void *data, size_t n) {
    if (c->size <= 1) return KW_OK;
#ifdef KAIWU_MPI
    for (size_t off = 0; off < n; off += (size_t)INT_MAX / 2) {
        const size_t len = n - off < (size_t)INT_MAX / 2 ? n - off : (size_t)INT_MAX / 2;
        if (MPI_Bcast((char *)data + off, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
            return kw_error(KW_ERR_INTERNAL, "MPI_Bcast of %zu bytes failed", len);
    }
    return KW_OK;
#else
    (void)data, (void)n;
    return KW_OK;
#endif
}
