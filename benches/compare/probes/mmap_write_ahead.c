/*
 * Appends through a shared writable map with its pages prefaulted ahead in
 * bulk, against `write`/`pwrite`, over 1 to N files written round-robin: the
 * measurement behind BENCHMARKS.md's "Prefaulting the map ahead" (under
 * "Appends through the map"). Extends mmap_write.c, whose `map` it repeats.
 *
 *   gcc -O2 -Wall mmap_write_ahead.c -o mmap_write_ahead
 *   mkdir -p d && ./mmap_write_ahead pwrite 1000       # in a directory on the fs under test
 *   ./mmap_write_ahead ahead 1000 -w 1024 -s           # 1 MiB windows, fdatasync at the end
 *
 * MODE (each writes CHUNKS chunks of 11,800 bytes, one strata batch of 100
 * records of 8 + 100 bytes, round-robin over FILES files ./d/N.log):
 *   write    `write` at the end of each file
 *   pwrite   `pwrite` at each file's own offset
 *   map      (mmap_write.c's) the file gets all its blocks (fallocate mode 0,
 *            so its size too) and is mapped MAP_SHARED before the clock; the
 *            loop copies each chunk in; every first touch of a page faults
 *   mappop   as map, with MAP_POPULATE at mmap time (before the clock: its
 *            time is printed as `setup`)
 *   ahead    the file starts empty and is mapped (address space only) for
 *            all it will hold; when a chunk would cross the prepared end, the
 *            loop gives the next WINDOW real blocks and the length
 *            (fallocate mode 0: a full disk is ENOSPC there, never SIGBUS)
 *            and prefaults them writable (madvise MADV_POPULATE_WRITE), then
 *            copies; fallocate, populate and copy time are printed apart
 * At the end (`close`): map modes unmap and cut each file to what was
 * written (ftruncate), then close; write modes close.
 *
 * Options: -w KiB window for `ahead` (default 1024); -n CHUNKS (10000);
 * -r REPS (3); -s fdatasync every file after the loop (timed as `sync`;
 * `dirtied`, from /proc/self/io, is what the loop left for it to write);
 * -H madvise(MADV_HUGEPAGE) on each map, mapped 2 MiB-aligned (with `ahead`,
 * use -w 2048); -F print the maps' FilePmdMapped and the page cache folio
 * sizes behind file 0 (root: /proc/self/pagemap and /proc/kpageflags).
 *
 * Each rep prints the 1-minute load average, MB/s of the loop and of loop +
 * close by the clock, minor and major faults per MB and the loop's user and
 * system time (getrusage), and MB/s of the loop's and the close's CPU time
 * (`cpu:`, user + system), steadier than the clock on a shared machine.
 * BENCHMARKS.md's runs are `-r 1` runs interleaved by a shell loop
 * (for round; for files; for variant: run, then empty d/), three rounds.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define CHUNK 11800
#define TWO_MB (2UL << 20)

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double load1(void) {
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1;
        fclose(f);
    }
    return l;
}

static double tv(struct timeval t) { return t.tv_sec * 1e3 + t.tv_usec * 1e-3; }

/* Maps `len` bytes of `fd` shared; with `huge`, at a 2 MiB-aligned address. */
static char *map_file(int fd, size_t len, int huge, int populate) {
    int flags = MAP_SHARED | (populate ? MAP_POPULATE : 0);
    char *at = 0;
    if (huge) {
        char *r = mmap(0, len + TWO_MB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (r == MAP_FAILED) return r;
        at = (char *)(((uintptr_t)r + TWO_MB - 1) & ~(TWO_MB - 1));
        munmap(r, len + TWO_MB);
        flags |= MAP_FIXED_NOREPLACE;
    }
    char *m = mmap(at, len, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (m != MAP_FAILED && huge && madvise(m, len, MADV_HUGEPAGE)) perror("madvise(MADV_HUGEPAGE)");
    return m;
}

/* Folio sizes of the page cache behind the first `len` bytes of `fd`. */
static void folios(int fd, size_t len) {
    char *m = mmap(0, len, PROT_READ, MAP_SHARED, fd, 0);
    int pm = open("/proc/self/pagemap", O_RDONLY), kf = open("/proc/kpageflags", O_RDONLY);
    if (m == MAP_FAILED || pm < 0 || kf < 0) { perror("folios"); return; }
    madvise(m, len, MADV_POPULATE_READ);
    size_t pages = len / 4096, hist[20] = {0}, run = 0;
    for (size_t p = 0; p < pages; p++) {
        uint64_t e = 0, fl = 0;
        if (pread(pm, &e, 8, ((uintptr_t)m / 4096 + p) * 8) != 8 || !(e >> 63)) continue;
        if (pread(kf, &fl, 8, (e & ((1ULL << 55) - 1)) * 8) != 8) continue;
        int head = fl >> 15 & 1, tail = fl >> 16 & 1;
        if (tail) { run++; continue; }
        if (run) { int o = 0; while ((1UL << o) < run) o++; hist[o]++; }
        run = head ? 1 : 0;
        if (!head) hist[0]++;
    }
    if (run) { int o = 0; while ((1UL << o) < run) o++; hist[o]++; }
    printf("  folios behind file 0 (%zu pages):", pages);
    for (int o = 0; o < 20; o++)
        if (hist[o]) printf(" %zu x %lu KiB", hist[o], 4UL << o);
    printf("\n");
    munmap(m, len);
    close(pm);
    close(kf);
}

/* Bytes of page cache this process has dirtied (what a sync will write). */
static long long io_written(void) {
    char line[128];
    long long b = -1;
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "write_bytes: %lld", &b) == 1) break;
    fclose(f);
    return b;
}

/* Bytes of file pages this process maps with PMDs (2 MiB at a time). */
static long pmd_mapped_kib(void) {
    char line[256];
    long kib = -1;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "FilePmdMapped: %ld kB", &kib) == 1) break;
    fclose(f);
    return kib;
}

int main(int argc, char **argv) {
    const char *modes[] = {"write", "pwrite", "map", "mappop", "ahead"};
    int mode = -1;
    if (argc >= 3)
        for (int i = 0; i < 5; i++)
            if (!strcmp(argv[1], modes[i])) mode = i;
    int files = argc >= 3 ? atoi(argv[2]) : 0;
    size_t window = 1 << 20;
    int chunks = 10000, reps = 3, sync = 0, huge = 0, show = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "-w") && i + 1 < argc) window = (size_t)atol(argv[++i]) << 10;
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) chunks = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-s")) sync = 1;
        else if (!strcmp(argv[i], "-H")) huge = 1;
        else if (!strcmp(argv[i], "-F")) show = 1;
        else mode = -1;
    }
    if (mode < 0 || files < 1 || files > chunks || window < 4096 || window % 4096) {
        fprintf(stderr, "usage: %s write|pwrite|map|mappop|ahead FILES [-w KiB] [-n CHUNKS] "
                        "[-r REPS] [-s] [-H] [-F]\n", argv[0]);
        return 2;
    }
    int mapped = mode >= 2;
    static char chunk[CHUNK];
    memset(chunk, 'x', CHUNK);
    int per = chunks / files;
    size_t used = (size_t)per * CHUNK;
    /* map/mappop: as mmap_write.c, 1 MiB past the data; ahead: whole windows. */
    size_t cap = mode == 4 ? (used + window - 1) / window * window : used + (1 << 20);
    int *fd = calloc(files, sizeof *fd);
    char **mem = calloc(files, sizeof *mem);
    size_t *end = calloc(files, sizeof *end);
    char name[64];
    for (int rep = 0; rep < reps; rep++) {
        double l = load1(), ts = now();
        for (int f = 0; f < files; f++) {
            snprintf(name, sizeof name, "d/%d.log", f);
            unlink(name);
            fd[f] = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (fd[f] < 0) { perror(name); return 1; }
            end[f] = 0;
            if (mode == 2 || mode == 3)
                if (fallocate(fd[f], 0, 0, cap)) { perror("fallocate"); return 1; }
            if (mapped) {
                mem[f] = map_file(fd[f], cap, huge, mode == 3);
                if (mem[f] == MAP_FAILED) { perror("mmap"); return 1; }
            }
        }
        double t_fa = 0, t_pop = 0, t_cp = 0;
        long windows = 0;
        struct rusage r0, r1;
        getrusage(RUSAGE_SELF, &r0);
        long long dirtied0 = io_written();
        double t0 = now();
        for (int i = 0; i < per; i++)
            for (int f = 0; f < files; f++) {
                chunk[0] = (char)i;
                size_t at = (size_t)i * CHUNK;
                if (mode == 0) {
                    if (write(fd[f], chunk, CHUNK) != CHUNK) { perror("write"); return 1; }
                } else if (mode == 1) {
                    if (pwrite(fd[f], chunk, CHUNK, at) != CHUNK) { perror("pwrite"); return 1; }
                } else if (mode == 4) {
                    while (at + CHUNK > end[f]) {
                        double a = now();
                        if (fallocate(fd[f], 0, end[f], window)) { perror("fallocate"); return 1; }
                        double b = now();
                        if (madvise(mem[f] + end[f], window, MADV_POPULATE_WRITE)) {
                            perror("madvise(MADV_POPULATE_WRITE)");
                            return 1;
                        }
                        double c = now();
                        t_fa += b - a;
                        t_pop += c - b;
                        end[f] += window;
                        windows++;
                    }
                    memcpy(mem[f] + at, chunk, CHUNK);
                } else {
                    memcpy(mem[f] + at, chunk, CHUNK);
                }
            }
        double t1 = now();
        getrusage(RUSAGE_SELF, &r1);
        long long dirtied1 = io_written();
        if (mode == 4) t_cp = (t1 - t0) - t_fa - t_pop;
        if (show && rep == reps - 1) {
            if (mapped) printf("  FilePmdMapped after the loop: %ld KiB\n", pmd_mapped_kib());
            folios(fd[0], used / 4096 * 4096);
        }
        double t_sync = 0;
        if (sync) {
            double a = now();
            for (int f = 0; f < files; f++)
                if (fdatasync(fd[f])) { perror("fdatasync"); return 1; }
            t_sync = now() - a;
        }
        struct rusage r2, r3;
        getrusage(RUSAGE_SELF, &r2);
        double t2 = now();
        for (int f = 0; f < files; f++) {
            if (mapped) {
                munmap(mem[f], cap);
                if (ftruncate(fd[f], (off_t)used)) { perror("ftruncate"); return 1; }
            }
            close(fd[f]);
        }
        double t3 = now();
        getrusage(RUSAGE_SELF, &r3);
        double cpu = tv(r1.ru_utime) - tv(r0.ru_utime) + tv(r1.ru_stime) - tv(r0.ru_stime);
        double cpu_close = tv(r3.ru_utime) - tv(r2.ru_utime) + tv(r3.ru_stime) - tv(r2.ru_stime);
        double mb = (double)used * files / 1e6;
        printf("%s%s files=%d", modes[mode], huge ? "+H" : "", files);
        if (mode == 4) printf(" w=%zuK", window >> 10);
        printf(" rep=%d load=%.2f loop=%.0fMB/s loop+close=%.0fMB/s loop=%.1fms close=%.1fms",
               rep, l, mb / (t1 - t0), mb / (t1 - t0 + t3 - t2), (t1 - t0) * 1e3, (t3 - t2) * 1e3);
        if (mode == 3) printf(" setup=%.1fms", (t0 - ts) * 1e3);
        if (sync) printf(" sync=%.1fms", t_sync * 1e3);
        printf(" dirtied=%.0fMB", (dirtied1 - dirtied0) / 1e6);
        printf(" minflt/MB=%.1f majflt/MB=%.1f usr=%.1fms sys=%.1fms cpu:loop=%.0fMB/s "
               "loop+close=%.0fMB/s close=%.1fms",
               (r1.ru_minflt - r0.ru_minflt) / mb, (r1.ru_majflt - r0.ru_majflt) / mb,
               tv(r1.ru_utime) - tv(r0.ru_utime), tv(r1.ru_stime) - tv(r0.ru_stime), mb / cpu * 1e3,
               mb / (cpu + cpu_close) * 1e3, cpu_close);
        if (mode == 4)
            printf(" fallocate=%.1fms populate=%.1fms copy=%.1fms (%.0fMB/s) windows=%ld", t_fa * 1e3,
                   t_pop * 1e3, t_cp * 1e3, mb / t_cp, windows);
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
