/*
 * Appends through `write` against appends through a shared writable map, over
 * 1 to N files written round-robin: the measurement behind BENCHMARKS.md's
 * "Appends through the map" (why strata's appends stay `pwrite`s).
 *
 *   cc -O2 mmap_write.c -o mmap_write && mkdir -p d && ./mmap_write write 1 && ./mmap_write map 1000
 *
 * Each run writes 10,000 chunks of 11,800 bytes (one strata batch of 100
 * records of 8 + 100 bytes), spread round-robin over FILES files in ./d, three
 * times; it prints MB/s of the write loop and the time to close. `map` gives
 * each file its blocks (fallocate) and maps it MAP_SHARED before the clock
 * starts, copies each chunk into the map, and at the end unmaps and cuts the
 * file to what was written, as an appender writing through its map would.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 11800
#define CHUNKS 10000

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "map"))) {
        fprintf(stderr, "usage: %s write|map FILES\n", argv[0]);
        return 2;
    }
    int map = !strcmp(argv[1], "map"), files = atoi(argv[2]);
    if (files < 1 || files > CHUNKS) return 2;
    static char chunk[CHUNK];
    memset(chunk, 'x', CHUNK);
    int per = CHUNKS / files;
    size_t cap = (size_t)per * CHUNK + (1 << 20);
    int *fd = calloc(files, sizeof *fd);
    char **mem = calloc(files, sizeof *mem);
    char name[64];
    for (int rep = 0; rep < 3; rep++) {
        for (int f = 0; f < files; f++) {
            snprintf(name, sizeof name, "d/%d.log", f);
            unlink(name);
            fd[f] = open(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
            if (fd[f] < 0) { perror(name); return 1; }
            if (map) {
                if (fallocate(fd[f], 0, 0, cap)) { perror("fallocate"); return 1; }
                mem[f] = mmap(0, cap, PROT_READ | PROT_WRITE, MAP_SHARED, fd[f], 0);
                if (mem[f] == MAP_FAILED) { perror("mmap"); return 1; }
            }
        }
        double t0 = now();
        for (int i = 0; i < per; i++)
            for (int f = 0; f < files; f++) {
                chunk[0] = (char)i;
                if (map) memcpy(mem[f] + (size_t)i * CHUNK, chunk, CHUNK);
                else if (write(fd[f], chunk, CHUNK) != CHUNK) { perror("write"); return 1; }
            }
        double t1 = now();
        for (int f = 0; f < files; f++) {
            if (map) {
                munmap(mem[f], cap);
                if (ftruncate(fd[f], (off_t)per * CHUNK)) { perror("ftruncate"); return 1; }
            }
            close(fd[f]);
        }
        double t2 = now();
        printf("%s, %d files: %.0f MB/s (write loop %.1f ms, close %.1f ms)\n", argv[1], files,
               (double)per * files * CHUNK / (t1 - t0) / 1e6, (t1 - t0) * 1e3, (t2 - t1) * 1e3);
    }
    return 0;
}
