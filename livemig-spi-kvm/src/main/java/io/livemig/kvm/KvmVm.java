package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.kvm.internal.Sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A KVM virtual machine: its file descriptor, its guest RAM (a memfd mapped shared into this
 * process, registered as memory slot 0 from guest-physical address 0), its vCPUs, and KVM's
 * dirty log over that RAM.
 *
 * <p>Dirty logging: {@link #setDirtyLogging} turns {@code KVM_MEM_LOG_DIRTY_PAGES} on or off;
 * {@link #fetchDirtyLog} returns the pages written since the last call and re-arms them. Where
 * the host offers {@code KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2} it is enabled, and a fetch is
 * {@code KVM_GET_DIRTY_LOG} followed by {@code KVM_CLEAR_DIRTY_LOG} of exactly the pages it
 * returned (a write between the two lands in a page that will be read after the fetch, so it is
 * not lost); otherwise {@code KVM_GET_DIRTY_LOG} alone, which fetches and re-protects at once.
 *
 * <p>Thread-safety: vCPU creation and dirty-log calls are serialized by this object; guest RAM
 * may be read and written from any thread. Owns the VM fd, the memfd and the mapping, released
 * by {@link #close()} after the vCPUs it created.
 */
public final class KvmVm implements AutoCloseable {

    /** Guest pages are 4 KiB. */
    public static final int PAGE_BYTES = 4096;
    /** The largest RAM the micro-VMM maps in one slot below the PCI hole. */
    public static final long MAX_MEMORY_BYTES = 3L << 30;

    private final Kvm kvm;
    private final int fd;
    private final long memoryBytes;
    private final int memfd;
    private final MemorySegment memory;
    private final boolean manualProtect;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment bitmap;
    private final MemorySegment getLog;
    private final MemorySegment clearLog;
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private boolean dirtyLogging;
    private boolean closed;

    KvmVm(Kvm kvm, int fd, long memoryBytes) {
        this.kvm = kvm;
        this.fd = fd;
        if (memoryBytes <= 0 || memoryBytes % PAGE_BYTES != 0 || memoryBytes > MAX_MEMORY_BYTES) {
            Sys.close(fd);
            throw new IllegalArgumentException("guest memory must be a positive multiple of 4 KiB up to 3 GiB, was "
                    + memoryBytes);
        }
        this.memoryBytes = memoryBytes;
        int mfd = -1;
        MemorySegment mapping = null;
        try {
            // Intel VMX needs these three pages for real-mode emulation; harmless elsewhere.
            int r = Sys.ioctlRaw(fd, KvmAbi.SET_TSS_ADDR, 0xfffbd000L);
            if (r < 0 && r != -25) {
                throw new KvmException("KVM_SET_TSS_ADDR", -r, Sys.strerror(-r));
            }
            mfd = Sys.memfd("livemig-guest-ram", memoryBytes);
            mapping = Sys.mmap(memoryBytes, Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED | Sys.MAP_NORESERVE, mfd, 0,
                    "guest RAM");
            boolean manual = false;
            if ((kvm.checkExtension(KvmAbi.CAP_MANUAL_DIRTY_LOG_PROTECT2) & KvmAbi.DIRTY_LOG_MANUAL_PROTECT_ENABLE) != 0) {
                MemorySegment cap = arena.allocate(KvmAbi.ENABLE_CAP_BYTES, 8);
                cap.set(JAVA_INT, 0, KvmAbi.CAP_MANUAL_DIRTY_LOG_PROTECT2);
                cap.set(JAVA_LONG, 8, KvmAbi.DIRTY_LOG_MANUAL_PROTECT_ENABLE);
                Sys.ioctl(fd, KvmAbi.ENABLE_CAP, cap, "KVM_ENABLE_CAP(MANUAL_DIRTY_LOG_PROTECT2)");
                manual = true;
            }
            this.manualProtect = manual;
            this.memfd = mfd;
            this.memory = mapping;
            this.bitmap = arena.allocate((pageCount() + 63) / 64 * 8, 8);
            this.getLog = arena.allocate(KvmAbi.DIRTY_LOG_BYTES, 8);
            this.clearLog = arena.allocate(KvmAbi.CLEAR_DIRTY_LOG_BYTES, 8);
            setSlot(0);
        } catch (RuntimeException e) {
            if (mapping != null) {
                Sys.munmap(mapping);
            }
            if (mfd >= 0) {
                Sys.close(mfd);
            }
            Sys.close(fd);
            arena.close();
            throw e;
        }
    }

    private void setSlot(int flags) {
        MemorySegment region = arena.allocate(KvmAbi.USERSPACE_MEMORY_REGION_BYTES, 8);
        region.set(JAVA_INT, 0, 0);
        region.set(JAVA_INT, 4, flags);
        region.set(JAVA_LONG, 8, 0L);
        region.set(JAVA_LONG, 16, memoryBytes);
        region.set(JAVA_LONG, 24, memory.address());
        Sys.ioctl(fd, KvmAbi.SET_USER_MEMORY_REGION, region, "KVM_SET_USER_MEMORY_REGION");
    }

    /** @return the KVM device this VM came from */
    public Kvm kvm() {
        return kvm;
    }

    /** @return the guest RAM, guest-physical address 0 at offset 0; valid until {@link #close()} */
    public MemorySegment memory() {
        return memory;
    }

    /** @return the memfd backing guest RAM (for another mapping of it, or userfaultfd); owned by this VM */
    public int memoryFd() {
        return memfd;
    }

    /** @return guest RAM in bytes */
    public long memoryBytes() {
        return memoryBytes;
    }

    /** @return guest RAM in 4 KiB pages */
    public long pageCount() {
        return memoryBytes / PAGE_BYTES;
    }

    /** @return whether KVM_CLEAR_DIRTY_LOG (manual dirty-log protection) is in use */
    public boolean manualDirtyLogProtect() {
        return manualProtect;
    }

    /**
     * Creates vCPU {@code index} with the host's supported CPUID.
     *
     * @param index 0 for the first; each index once
     */
    public synchronized KvmVcpu createVcpu(int index) {
        checkOpen();
        KvmVcpu vcpu = new KvmVcpu(this, index, Sys.ioctl(fd, KvmAbi.CREATE_VCPU, index, "KVM_CREATE_VCPU"));
        vcpus.add(vcpu);
        return vcpu;
    }

    /** Turns KVM's dirty logging of guest RAM on or off. Turning it on starts with a clean log. */
    public synchronized void setDirtyLogging(boolean on) {
        checkOpen();
        if (on != dirtyLogging) {
            setSlot(on ? KvmAbi.MEM_LOG_DIRTY_PAGES : 0);
            dirtyLogging = on;
        }
    }

    /**
     * Fetches the pages guest vCPUs wrote since the last fetch (or since logging started), and
     * re-arms them so that the next write to each is logged again.
     *
     * @param words receives the bitmap: bit {@code i % 64} of word {@code i / 64} for page {@code i};
     *              at least {@code ceil(pageCount / 64)} long
     * @return the number of dirty pages
     */
    public synchronized long fetchDirtyLog(long[] words) {
        checkOpen();
        if (!dirtyLogging) {
            throw new IllegalStateException("dirty logging is off");
        }
        int n = (int) ((pageCount() + 63) / 64);
        if (words.length < n) {
            throw new IllegalArgumentException("bitmap of " + words.length + " words, need " + n);
        }
        MemorySegment log = getLog;
        log.set(JAVA_INT, 0, 0);
        log.set(JAVA_LONG, 8, bitmap.address());
        Sys.ioctl(fd, KvmAbi.GET_DIRTY_LOG, log, "KVM_GET_DIRTY_LOG");
        long count = 0;
        for (int i = 0; i < n; i++) {
            long w = bitmap.getAtIndex(JAVA_LONG, i);
            words[i] = w;
            count += Long.bitCount(w);
        }
        if (manualProtect && count > 0) {
            MemorySegment clear = clearLog;
            clear.set(JAVA_INT, 0, 0);
            clear.set(JAVA_INT, 4, (int) pageCount());
            clear.set(JAVA_LONG, 8, 0L);
            clear.set(JAVA_LONG, 16, bitmap.address());
            Sys.ioctl(fd, KvmAbi.CLEAR_DIRTY_LOG, clear, "KVM_CLEAR_DIRTY_LOG");
        }
        return count;
    }

    int fd() {
        checkOpen();
        return fd;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the VM is closed");
        }
    }

    /** Closes the vCPUs, the VM, and unmaps guest RAM. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        for (KvmVcpu v : vcpus) {
            v.close();
        }
        closed = true;
        Sys.close(fd);
        Sys.munmap(memory);
        Sys.close(memfd);
        arena.close();
    }
}
