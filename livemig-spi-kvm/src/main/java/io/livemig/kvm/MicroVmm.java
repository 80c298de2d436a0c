package io.livemig.kvm;

import io.livemig.disk.RawImage;
import io.livemig.kvm.internal.KvmAbi;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

/**
 * livemig's reference micro-VMM: the smallest virtual machine monitor that runs a real guest
 * under KVM and can be migrated. Read it to see what a VMM must give livemig; bind your own the
 * same way.
 *
 * <ul>
 *   <li><b>Memory</b>: guest RAM of a given size from guest-physical 0, up to 3 GiB below the
 *       MMIO hole and the rest from 4 GiB, one KVM memory slot each (see {@link KvmVm}).</li>
 *   <li><b>vCPUs</b>: one thread each, running {@code KVM_RUN} in a loop. A Multiboot guest starts
 *       on vCPU 0 (the boot processor); the others are created, saved and restored, but not run
 *       (no interrupt controller here to start them).</li>
 *   <li><b>Boot</b>: {@link #loadMultiboot} loads a Multiboot v1 kernel (ELF32 or flat with load
 *       addresses) and puts vCPU 0 in 32-bit protected mode as the Multiboot specification says:
 *       EAX = 0x2BADB002, EBX = the boot information (mem_lower, mem_upper, and a memory map of
 *       every RAM range), flat 4 GiB code and
 *       data segments, CR0.PE set and paging off, interrupts off.</li>
 *   <li><b>Devices</b>: a console on I/O port 0xE9 (the debugcon convention: each byte written
 *       there is output), and, if the builder was given an image, a virtio block device on
 *       virtio-mmio at {@link VirtioBlk#MMIO_BASE} ({@link VirtioBlk}). Other ports read as all
 *       ones and ignore writes; so does other MMIO.</li>
 *   <li><b>Exits</b>: HLT stops the vCPU (no interrupts can wake it: it {@link RunState#HALTED
 *       halted}); a triple fault ({@code KVM_EXIT_SHUTDOWN}), an entry failure or an internal
 *       error stops the VM with a {@linkplain #stopReason() reason}.</li>
 *   <li><b>Pause and throttle</b>: {@link #pause()} kicks every vCPU out of KVM_RUN and returns
 *       when none runs, even for a guest that never exits on its own, once every exit is handled
 *       (a device request finished) and every port or MMIO instruction that exited is complete
 *       (KVM finishes one only in the next KVM_RUN: see {@link KvmVcpu#completeIo()}), so that
 *       the state a pause exposes is consistent; {@link
 *       #setThrottlePercent} makes each vCPU sleep that share of every 10 ms slice.</li>
 * </ul>
 *
 * <p>Thread-safe. Owns the VM, the vCPU threads, the console stream and the disk image it was
 * given.
 */
public final class MicroVmm implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MicroVmm.class);
    /** The debug console port. */
    public static final int CONSOLE_PORT = 0xE9;
    private static final long SLICE_NANOS = 10_000_000L;
    private static final int CONSOLE_KEEP_BYTES = 64 << 10;
    /** How long {@link #close()} waits for each vCPU thread to end. */
    private static final long VCPU_STOP_MILLIS = 5000;

    /** Where the VM is. */
    public enum RunState {
        /** Built; the vCPUs have not run yet. */
        CREATED,
        /** The vCPUs run. */
        RUNNING,
        /** The vCPUs are paused. */
        PAUSED,
        /** A vCPU ran HLT, which nothing can wake it from. */
        HALTED,
        /** The guest shut down: a triple fault ({@code KVM_EXIT_SHUTDOWN}). */
        SHUTDOWN,
        /** A vCPU failed: an entry failure, an internal error or an exit the VMM does not handle. */
        FAILED,
        /** Closed; its resources are released. */
        CLOSED
    }

    private final Kvm kvm;
    private final KvmVm vm;
    private final List<KvmVcpu> vcpus = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();
    private final OutputStream consoleOut;
    /** The disk, or null. */
    private final VirtioBlk disk;
    private final StringBuilder consoleTail = new StringBuilder();
    private final AtomicLong consoleBytes = new AtomicLong();
    private final Set<Integer> loggedPorts = ConcurrentHashMap.newKeySet();
    private final Object lock = new Object();
    private RunState state = RunState.CREATED;
    private boolean pauseRequested = true;
    /** Guarded by {@code lock}: vCPUs inside KVM_RUN or handling its exit. */
    private int running;
    /** Guarded by {@code lock}: vCPUs whose last exit was port I/O or MMIO that no KVM_RUN has completed yet. */
    private int ioPending;
    private volatile int throttlePercent;
    private volatile String stopReason;
    private boolean everResumed;
    /** Guarded by {@code lock}: calls of {@link #resume()} so far. */
    private long resumes;
    /** Guarded by {@code lock}: {@link #close()} has run (or is running). */
    private boolean released;
    private Thread ticker;

    private MicroVmm(Builder b) {
        this.kvm = Kvm.open();
        KvmVm created = null;
        VirtioBlk blk = null;
        try {
            created = kvm.createVm(b.memoryBytes);
            for (int i = 0; i < b.vcpus; i++) {
                KvmVcpu vcpu = created.createVcpu(i);
                // Save and load the fresh state once: it links the state ioctls and learns the
                // MSR list now, not in a migration's downtime (cold, that path costs ~6 ms).
                vcpu.loadState(vcpu.saveState());
                vcpus.add(vcpu);
            }
            if (b.disk != null) {
                blk = new VirtioBlk(created, b.disk);
            }
        } catch (RuntimeException e) {
            if (created != null) {
                created.close();
            }
            kvm.close();
            if (b.disk != null) {
                b.disk.close();
            }
            throw e;
        }
        this.vm = created;
        this.disk = blk;
        this.consoleOut = b.console;
    }

    /** {@return a builder: 64 MiB, one vCPU, console kept in memory only} */
    public static Builder builder() {
        return new Builder();
    }

    /** {@return the VM (memory, dirty log)} */
    public KvmVm vm() {
        return vm;
    }

    /** {@return the vCPUs, index order} */
    public List<KvmVcpu> vcpus() {
        return List.copyOf(vcpus);
    }

    /** {@return the virtio block device, if the VM was built with a disk} */
    public Optional<VirtioBlk> disk() {
        return Optional.ofNullable(disk);
    }

    /**
     * Loads a Multiboot kernel and sets vCPU 0 to enter it.
     *
     * @param image the kernel's ELF bytes
     * @return where the kernel was loaded and the Multiboot information put
     * @throws IllegalArgumentException if the image is not a Multiboot kernel that fits
     */
    public Multiboot.Loaded loadMultiboot(byte[] image) {
        synchronized (lock) {
            if (state != RunState.CREATED) {
                throw new IllegalStateException("load before start, not when " + state);
            }
        }
        Multiboot.Loaded loaded = Multiboot.load(image, vm.memory(), vm.layout());
        Multiboot.enter(vcpus.get(0), loaded);
        return loaded;
    }

    /**
     * Starts the vCPU threads, paused; {@link #resume()} lets them run. Call once, after loading
     * a guest or loading saved state.
     */
    public void start() {
        synchronized (lock) {
            if (state != RunState.CREATED) {
                throw new IllegalStateException("already started");
            }
            state = RunState.PAUSED;
        }
        // Only the boot processor runs: see the class comment.
        KvmVcpu boot = vcpus.get(0);
        Thread t = Thread.ofPlatform().name("livemig-vcpu-0").daemon().start(() -> vcpuLoop(boot));
        threads.add(t);
        ticker = Thread.ofPlatform().name("livemig-vcpu-throttle").daemon().start(this::throttleTicker);
    }

    private void vcpuLoop(KvmVcpu vcpu) {
        // This vCPU's last exit was port I/O or MMIO, which KVM completes only in the next KVM_RUN.
        boolean exitIncomplete = false;
        try {
            vcpu.bindToThisThread();
            while (true) {
                boolean completeOnly;
                synchronized (lock) {
                    while (pauseRequested && state != RunState.CLOSED && !exitIncomplete) {
                        lock.wait();
                    }
                    if (state == RunState.CLOSED || (!pauseRequested && state != RunState.RUNNING)) {
                        return;
                    }
                    // Paused with an instruction half done: finish it, run nothing more.
                    completeOnly = pauseRequested;
                    running++;
                }
                int exit = KvmAbi.EXIT_INTR;
                boolean goOn = false;
                try {
                    exit = completeOnly ? vcpu.completeIo() : vcpu.run();
                    goOn = handleExit(vcpu, exit);
                } finally {
                    synchronized (lock) {
                        boolean incomplete = goOn && (exit == KvmAbi.EXIT_IO || exit == KvmAbi.EXIT_MMIO);
                        ioPending += (incomplete ? 1 : 0) - (exitIncomplete ? 1 : 0);
                        exitIncomplete = incomplete;
                        running--;
                        lock.notifyAll();
                    }
                }
                if (!goOn) {
                    return;
                }
                int throttle = throttlePercent;
                if (exit == KvmAbi.EXIT_INTR && throttle > 0) {
                    Thread.sleep(SLICE_NANOS * throttle / (100 - throttle) / 1_000_000L);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            stop(RunState.FAILED, "vCPU " + vcpu.index() + ": " + e.getMessage());
            LOG.error("vCPU {} failed", vcpu.index(), e);
        } finally {
            if (exitIncomplete) {
                synchronized (lock) {
                    ioPending--;
                    lock.notifyAll();
                }
            }
            vcpu.unbindFromThisThread();
        }
    }

    /** {@return whether the vCPU may run on} */
    private boolean handleExit(KvmVcpu vcpu, int exit) {
        MemorySegment run = vcpu.runArea();
        switch (exit) {
            case KvmAbi.EXIT_INTR -> {
                return true;
            }
            case KvmAbi.EXIT_IO -> {
                handleIo(run);
                return true;
            }
            case KvmAbi.EXIT_MMIO -> {
                handleMmio(run);
                return true;
            }
            case KvmAbi.EXIT_HLT -> {
                stop(RunState.HALTED, "vCPU " + vcpu.index() + " halted");
                return false;
            }
            case KvmAbi.EXIT_SHUTDOWN -> {
                stop(RunState.SHUTDOWN, "vCPU " + vcpu.index() + " shut down (triple fault)");
                return false;
            }
            case KvmAbi.EXIT_FAIL_ENTRY -> {
                stop(RunState.FAILED, "vCPU " + vcpu.index() + ": KVM could not enter the guest, hardware reason 0x"
                        + Long.toHexString(run.get(JAVA_LONG, KvmAbi.RUN_UNION)));
                return false;
            }
            case KvmAbi.EXIT_INTERNAL_ERROR -> {
                stop(RunState.FAILED, "vCPU " + vcpu.index() + ": KVM internal error, suberror "
                        + run.get(JAVA_INT, KvmAbi.RUN_UNION));
                return false;
            }
            default -> {
                stop(RunState.FAILED, "vCPU " + vcpu.index() + ": unhandled exit reason " + exit);
                return false;
            }
        }
    }

    private void handleMmio(MemorySegment run) {
        long address = run.get(JAVA_LONG, KvmAbi.RUN_MMIO_PHYS_ADDR);
        int width = run.get(JAVA_INT, KvmAbi.RUN_MMIO_LEN);
        boolean isWrite = run.get(JAVA_BYTE, KvmAbi.RUN_MMIO_IS_WRITE) != 0;
        if (width < 1 || width > 8) {
            throw new IllegalStateException("KVM reported an MMIO access of " + width + " bytes");
        }
        MemorySegment data = run.asSlice(KvmAbi.RUN_MMIO_DATA, 8);
        if (disk != null && disk.claims(address)) {
            disk.mmio(address, data, width, isWrite);
            return;
        }
        if (!isWrite) {
            data.fill((byte) 0xFF);
        }
        logOnce(-1, "MMIO at 0x" + Long.toHexString(address) + " (no device there; reads return all ones)");
    }

    private void handleIo(MemorySegment run) {
        int direction = run.get(JAVA_BYTE, KvmAbi.RUN_IO_DIRECTION);
        int size = run.get(JAVA_BYTE, KvmAbi.RUN_IO_SIZE);
        int port = Short.toUnsignedInt(run.get(JAVA_SHORT, KvmAbi.RUN_IO_PORT));
        int count = run.get(JAVA_INT, KvmAbi.RUN_IO_COUNT);
        long offset = run.get(JAVA_LONG, KvmAbi.RUN_IO_DATA_OFFSET);
        long bytes = (long) size * count;
        if (bytes <= 0 || offset < 0 || offset + bytes > run.byteSize()) {
            throw new IllegalStateException("KVM reported port I/O outside kvm_run");
        }
        MemorySegment data = run.asSlice(offset, bytes);
        if (direction == KvmAbi.IO_OUT && port == CONSOLE_PORT) {
            console(data.toArray(JAVA_BYTE));
        } else if (direction == KvmAbi.IO_IN) {
            data.fill((byte) 0xFF);
            logOnce(port, "read of I/O port 0x" + Integer.toHexString(port) + " (no device; all ones)");
        } else {
            logOnce(port, "write to I/O port 0x" + Integer.toHexString(port) + " ignored (no device)");
        }
    }

    private void logOnce(int port, String message) {
        if (loggedPorts.add(port)) {
            LOG.info("{} (logged once)", message);
        }
    }

    private void console(byte[] bytes) {
        consoleBytes.addAndGet(bytes.length);
        synchronized (consoleTail) {
            consoleTail.append(new String(bytes, StandardCharsets.ISO_8859_1));
            if (consoleTail.length() > CONSOLE_KEEP_BYTES) {
                consoleTail.delete(0, consoleTail.length() - CONSOLE_KEEP_BYTES / 2);
            }
        }
        if (consoleOut != null) {
            try {
                consoleOut.write(bytes);
                if (bytes[bytes.length - 1] == '\n') {
                    consoleOut.flush();
                }
            } catch (IOException e) {
                logOnce(-2, "console output failed: " + e.getMessage());
            }
        }
    }

    private void stop(RunState why, String reason) {
        synchronized (lock) {
            if (state == RunState.RUNNING || state == RunState.PAUSED) {
                state = why;
                stopReason = reason;
                lock.notifyAll();
            }
        }
        LOG.info("guest stopped: {}", reason);
    }

    /** Kicks the vCPUs every slice while a throttle is set, so that they sleep their share. */
    private void throttleTicker() {
        try {
            while (true) {
                Thread.sleep(SLICE_NANOS / 1_000_000L);
                synchronized (lock) {
                    if (state == RunState.CLOSED) {
                        return;
                    }
                }
                if (throttlePercent > 0) {
                    vcpus.forEach(KvmVcpu::kick);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Lets the vCPUs run. */
    public void resume() {
        synchronized (lock) {
            if (state == RunState.PAUSED) {
                state = RunState.RUNNING;
                everResumed = true;
            }
            resumes++;
            if (state != RunState.RUNNING) {
                throw new IllegalStateException("cannot resume a VM that is " + state + stopSuffix());
            }
            pauseRequested = false;
            lock.notifyAll();
        }
    }

    /**
     * Stops every vCPU outside KVM_RUN, kicking those inside; returns when none runs. A VM that
     * stopped on its own (halt, shutdown, failure) counts as paused.
     */
    public void pause() {
        synchronized (lock) {
            pauseRequested = true;
            if (state == RunState.RUNNING) {
                state = RunState.PAUSED;
            }
        }
        while (true) {
            synchronized (lock) {
                if (running == 0 && ioPending == 0) {
                    return;
                }
            }
            vcpus.forEach(KvmVcpu::kick);
            synchronized (lock) {
                if (running > 0 || ioPending > 0) {
                    try {
                        lock.wait(1);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        throw new IllegalStateException("interrupted while pausing the vCPUs");
                    }
                }
            }
        }
    }

    /** {@return whether no vCPU is running (paused, or stopped)} */
    public boolean isPaused() {
        synchronized (lock) {
            return state != RunState.RUNNING;
        }
    }

    /** {@return whether the guest has run here (resumed at least once)} */
    public boolean everResumed() {
        synchronized (lock) {
            return everResumed;
        }
    }

    /** {@return how many times {@link #resume()} was called: it does not change while the VM stays paused} */
    long resumeCount() {
        synchronized (lock) {
            return resumes;
        }
    }

    /** {@return the run state} */
    public RunState state() {
        synchronized (lock) {
            return state;
        }
    }

    /** {@return why the VM stopped on its own, or null} */
    public String stopReason() {
        return stopReason;
    }

    private String stopSuffix() {
        return stopReason == null ? "" : " (" + stopReason + ")";
    }

    /**
     * Throttles the vCPUs, for auto-converge: they sleep {@code percent} of each 10 ms slice.
     *
     * @param percent 0 to 99: the share of each 10 ms slice the vCPUs sleep; 0 for none
     * @throws IllegalArgumentException if out of range
     */
    public void setThrottlePercent(int percent) {
        if (percent < 0 || percent > 99) {
            throw new IllegalArgumentException("throttle must be in [0, 99], was " + percent);
        }
        throttlePercent = percent;
    }

    /** {@return the throttle} */
    public int throttlePercent() {
        return throttlePercent;
    }

    /** {@return bytes the guest wrote to the console so far} */
    public long consoleBytes() {
        return consoleBytes.get();
    }

    /** {@return the last (up to 64 KiB of) console output} */
    public String consoleTail() {
        synchronized (consoleTail) {
            return consoleTail.toString();
        }
    }

    /**
     * Waits until the VM stops on its own or {@code timeout} passes.
     *
     * @param timeout the longest wait
     * @return the state then
     * @throws InterruptedException if the waiting thread is interrupted
     */
    public RunState awaitStop(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (lock) {
            while (state == RunState.RUNNING || state == RunState.PAUSED || state == RunState.CREATED) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    break;
                }
                lock.wait(Math.max(1, left / 1_000_000L));
            }
            return state;
        }
    }

    /**
     * The first step of {@link #close()}, without waiting: the VM becomes {@link RunState#CLOSED},
     * no vCPU enters the guest again, and every vCPU is kicked out of KVM_RUN. For an owner that
     * must release what a vCPU may be blocked on (a userfaultfd) after the vCPUs were told to stop
     * and before {@link #close()} unmaps guest RAM. Idempotent; any thread.
     */
    public void beginClose() {
        synchronized (lock) {
            if (state == RunState.CLOSED) {
                return;
            }
            pauseRequested = true;
            state = RunState.CLOSED;
            lock.notifyAll();
        }
        // A vCPU inside KVM_RUN returns with EINTR; one about to enter finds the signal pending
        // and returns at once; either way it then sees CLOSED and its thread ends.
        vcpus.forEach(KvmVcpu::kick);
    }

    /**
     * Stops the vCPU threads (waiting up to 5 s for each) and releases the VM: guest RAM is
     * unmapped only once no vCPU thread runs. A vCPU thread that does not stop in time (one
     * blocked on a page of a userfaultfd that is still open) is reported and the VM leaked rather
     * than unmapped under it. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (released) {
                return;
            }
            released = true;
        }
        beginClose();
        for (Thread t : threads) {
            try {
                t.join(VCPU_STOP_MILLIS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (t.isAlive()) {
                LOG.warn("vCPU thread {} did not stop; leaking the VM rather than closing it under a running vCPU",
                        t.getName());
                return;
            }
        }
        if (ticker != null) {
            ticker.interrupt();
        }
        if (disk != null) {
            disk.image().close();
        }
        vm.close();
        kvm.close();
        if (consoleOut != null) {
            try {
                consoleOut.close();
            } catch (IOException e) {
                LOG.debug("closing the console", e);
            }
        }
    }

    /** Builds a {@link MicroVmm}. */
    public static final class Builder {
        private long memoryBytes = 64L << 20;
        private int vcpus = 1;
        private OutputStream console;
        private RawImage disk;

        private Builder() {
        }

        /**
         * Gives the VM a disk. Default none.
         *
         * @param image the disk the guest sees as a virtio block device at {@link VirtioBlk#MMIO_BASE};
         *              owned by the VMM from {@link #build()} on (closed with it, or if building
         *              fails); null for none
         * @return this builder
         */
        public Builder disk(RawImage image) {
            this.disk = image;
            return this;
        }

        /**
         * Sets the guest RAM size. Default 64 MiB.
         *
         * @param bytes guest RAM, a multiple of 4 KiB up to {@link KvmVm#MAX_MEMORY_BYTES}; allocated
         *              only as the guest writes it
         * @return this builder
         */
        public Builder memoryBytes(long bytes) {
            this.memoryBytes = bytes;
            return this;
        }

        /**
         * Sets the number of vCPUs. Default 1.
         *
         * @param count vCPUs, 1 to 64
         * @return this builder
         */
        public Builder vcpus(int count) {
            if (count < 1 || count > 64) {
                throw new IllegalArgumentException("vcpus must be in [1, 64], was " + count);
            }
            this.vcpus = count;
            return this;
        }

        /**
         * Sets where the console's output goes. Default none.
         *
         * @param out receives the console's bytes (the VMM closes it); null for none
         * @return this builder
         */
        public Builder console(OutputStream out) {
            this.console = out;
            return this;
        }

        /** {@return a VM with its memory and vCPUs created, not started} */
        public MicroVmm build() {
            Objects.checkIndex(0, vcpus);
            return new MicroVmm(this);
        }
    }
}
