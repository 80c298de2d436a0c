/*
 * Times the move a post-copy target's memfd swap makes (docs/benchmarks.md, issue 12): 1 GiB of
 * populated shared memory, registered as a KVM memory slot, moved away with
 * mremap(MREMAP_DONTUNMAP), with or without a second thread of the process busy on the other CPU,
 * and with both ends of the move unaligned, aligned to 2 MiB or aligned to 1 GiB.
 *
 * Build and run:
 *   gcc -O2 -pthread -o /tmp/mremap-align bench/mremap-align.c
 *   for a in "0 0" "1 0" "1 0x200000" "1 0x40000000"; do /tmp/mremap-align $a; done
 * Arguments: busy (0 or 1: a thread spinning on CPU 1), alignment (0: wherever mmap puts it).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define SZ (1UL << 30)
static volatile int stop;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *spin(void *unused) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(1, &s);
    sched_setaffinity(0, sizeof s, &s);
    while (!stop) {
    }
    return unused;
}

static char *reserve(size_t size, size_t align) {
    char *p = mmap(0, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return (char *) (((uintptr_t) p + align - 1) & ~(uintptr_t) (align - 1));
}

int main(int argc, char **argv) {
    int busy = argc > 1 ? atoi(argv[1]) : 0;
    size_t align = argc > 2 ? strtoul(argv[2], 0, 0) : 0;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(0, &s);
    sched_setaffinity(0, sizeof s, &s);
    pthread_t t;
    if (busy) {
        pthread_create(&t, 0, spin, 0);
    }
    int fd = memfd_create("guest", 0);
    if (fd < 0 || ftruncate(fd, SZ) < 0) {
        perror("memfd");
        return 1;
    }
    char *base = align ? reserve(SZ, align) : 0;
    char *ram = mmap(base, SZ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE | (base ? MAP_FIXED : 0), fd, 0);
    int kvm = open("/dev/kvm", O_RDWR);
    int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm >= 0) {
        struct kvm_userspace_memory_region r = {.slot = 0, .memory_size = SZ, .userspace_addr = (uintptr_t) ram};
        ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
    }
    for (size_t i = 0; i < SZ; i += 4096) {
        ram[i] = 1;
    }
    double t0 = now_ms();
    void *old = align ? mremap(ram, SZ, SZ, MREMAP_MAYMOVE | MREMAP_DONTUNMAP | MREMAP_FIXED, reserve(SZ, align))
                      : mremap(ram, SZ, SZ, MREMAP_MAYMOVE | MREMAP_DONTUNMAP);
    double t1 = now_ms();
    if (old == MAP_FAILED) {
        perror("mremap");
        return 1;
    }
    printf("busy thread %d, alignment %#zx, KVM slot %s: mremap of 1 GiB %.3f ms\n", busy, align,
           vm >= 0 ? "yes" : "no", t1 - t0);
    stop = 1;
    return 0;
}
