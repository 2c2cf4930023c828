/*
 * One fdatasync per appended chunk, with and without blocks given ahead of the
 * file's end: the measurement behind BENCHMARKS.md's "Durable appends, fsync
 * per batch" (issue 12: durable append >= 0.9x the raw file).
 *
 *   cc -O2 fdatasync_ahead.c -o fdatasync_ahead && ./fdatasync_ahead DIR MODE [CHUNK] [CHUNKS]
 *
 * MODE is one of
 *   plain  write(2) of each chunk (O_APPEND), as benches/compare's raw file;
 *   ahead  pwrite(2) of each chunk, and past 256 KiB the file is given blocks
 *          ahead of its end with fallocate(FALLOC_FL_KEEP_SIZE) (as much again
 *          as it holds, at most 1 MiB), as strata's active segment is;
 *   whole  pwrite(2), the file's final length given up front (KEEP_SIZE);
 *   nokeep pwrite(2), the final length allocated up front *without*
 *          KEEP_SIZE (written-size file, no size change per sync; unwritten
 *          extents still converted).
 * Each chunk (default 11,800 bytes: one strata batch of 100 records of
 * 8 + 100 bytes) is written then fdatasync'd, CHUNKS times (default 1,000,
 * benches/compare's durable row). Prints the total time and the fdatasync
 * latencies (median, p90, p99, mean) in microseconds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s DIR plain|ahead|whole|nokeep [CHUNK] [CHUNKS]\n", argv[0]);
        return 2;
    }
    const char *mode = argv[2];
    long chunk = argc > 3 ? atol(argv[3]) : 11800, chunks = argc > 4 ? atol(argv[4]) : 1000;
    int plain = !strcmp(mode, "plain"), ahead = !strcmp(mode, "ahead");
    int whole = !strcmp(mode, "whole"), nokeep = !strcmp(mode, "nokeep");
    if (!(plain || ahead || whole || nokeep) || chunk < 1 || chunks < 1) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/probe-%s.log", argv[1], mode);
    unlink(path);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | (plain ? O_APPEND : 0), 0644);
    if (fd < 0) { perror("open"); return 1; }
    char *buf = malloc(chunk);
    for (long i = 0; i < chunk; i++) buf[i] = (char)(i * 131 + 7);
    double *lat = malloc(chunks * sizeof *lat);
    long long allocated = 0, end = 0;
    if (whole || nokeep) {
        if (fallocate(fd, whole ? FALLOC_FL_KEEP_SIZE : 0, 0, (off_t)chunk * chunks)) {
            perror("fallocate");
            return 1;
        }
        fsync(fd);
    }
    double t0 = now();
    for (long i = 0; i < chunks; i++) {
        long long pos = end;
        end += chunk;
        if (ahead && end > allocated && end >= (256 << 10)) {
            long long step = end < (1 << 20) ? end : (1 << 20);
            long long from = pos > allocated ? pos : allocated;
            if (fallocate(fd, FALLOC_FL_KEEP_SIZE, from, end + step - from)) perror("fallocate");
            allocated = end + step;
        }
        ssize_t n = plain ? write(fd, buf, chunk) : pwrite(fd, buf, chunk, pos);
        if (n != chunk) { perror("write"); return 1; }
        double s = now();
        if (fdatasync(fd)) { perror("fdatasync"); return 1; }
        lat[i] = (now() - s) * 1e6;
    }
    double total = now() - t0, sum = 0;
    for (long i = 0; i < chunks; i++) sum += lat[i];
    qsort(lat, chunks, sizeof *lat, cmp);
    printf("%-6s chunk %ld x %ld: %.3f s, %.1f MB/s; fdatasync us p50 %.0f p90 %.0f p99 %.0f mean %.0f\n",
           mode, chunk, chunks, total, chunk * chunks / total / 1e6, lat[chunks / 2],
           lat[chunks * 9 / 10], lat[chunks * 99 / 100], sum / chunks);
    close(fd);
    unlink(path);
    return 0;
}
