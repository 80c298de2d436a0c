package io.livemig.kvm;

import io.livemig.disk.RawImage;
import io.livemig.kvm.internal.KvmAbi;
import io.livemig.spi.VmOperationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

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
 *   <li><b>Devices</b> (handled by {@link VmmDevices}): a console on I/O port 0xE9 (the debugcon
 *       convention: each byte written there is output); a clock and a sleep port (below); and,
 *       if the builder was given an image, a virtio block device on virtio-mmio at
 *       {@link VirtioBlk#MMIO_BASE} ({@link VirtioBlk}). Other ports read as all ones and ignore
 *       writes; so does other MMIO.</li>
 *   <li><b>Clock, port 0xEC</b>: {@code inl} reads the VM's clock in microseconds, low 32 bits
 *       (it wraps every 71 minutes: guests use differences). The clock is KVM's VM-wide clock
 *       ({@code KVM_GET_CLOCK}, 0 when the VM was built), which the {@link KvmClock} device
 *       migrates: in a VM that received a migration it continues from the source's value, never
 *       backwards, standing still for the downtime. Narrower reads give its low bytes. A guest
 *       that reads time only here (no RDTSC) is deterministic given its inputs.</li>
 *   <li><b>Sleep, port 0xED</b>: {@code outl} N asks the VMM to sleep N microseconds (at most
 *       100 000) before the vCPU runs on: a paced guest's idle time that costs no host CPU. A
 *       pause cuts the sleep short. Replay (below) skips it.</li>
 *   <li><b>Exits</b>: HLT stops the vCPU (no interrupts can wake it: it {@link RunState#HALTED
 *       halted}); a triple fault ({@code KVM_EXIT_SHUTDOWN}), an entry failure or an internal
 *       error stops the VM with a {@linkplain #stopReason() reason}.</li>
 *   <li><b>Pause and throttle</b>: {@link #pause()} kicks every vCPU out of KVM_RUN and returns
 *       when none runs, even for a guest that never exits on its own, once every exit is handled
 *       (a device request finished) and every port or MMIO instruction that exited is complete
 *       (KVM finishes one only in the next KVM_RUN: see {@link KvmVcpu#completeIo()}), so that
 *       the state a pause exposes is consistent; {@link
 *       #setThrottlePercent} makes each vCPU sleep that share of every 10 ms slice.</li>
 *   <li><b>Record and replay</b> (for {@link KvmRecorder} and {@link KvmReplayer}): while
 *       {@linkplain #startRecording recording}, every guest-visible exit of vCPU 0 is handed to
 *       an observer once handled and before the guest sees its result, and {@link #pause()}
 *       kicks no vCPU: it waits (up to {@value #BOUNDARY_PAUSE_MILLIS} ms) until the vCPU takes
 *       its next exit, completes it and stops, so that it stands at an input boundary.
 *       {@link #onVcpuThread} runs a replayer's loop on the (paused) vCPU thread, which then
 *       drives KVM_RUN itself, with no device.</li>
 * </ul>
 *
 * <p>Thread-safe. Owns the VM, the vCPU threads, the console stream and the disk image it was
 * given.
 */
public final class MicroVmm implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(MicroVmm.class);
    /** The debug console port. */
    public static final int CONSOLE_PORT = 0xE9;
    /** The clock port: {@code inl} reads the VM's clock in microseconds, low 32 bits (see the class comment). */
    public static final int CLOCK_PORT = 0xEC;
    /** The sleep port: {@code outl} N sleeps N microseconds, at most 100 000 (see the class comment). */
    public static final int SLEEP_PORT = 0xED;
    /** How long a pause while recording waits for the guest to reach an input boundary. */
    static final long BOUNDARY_PAUSE_MILLIS = 1000;
    private static final long SLICE_NANOS = 10_000_000L;
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
    private final VmmDevices devices;
    /** The disk, or null. */
    private final VirtioBlk disk;
    private final boolean replayable;
    private final Object lock = new Object();
    private RunState state = RunState.CREATED;
    /** Written under {@code lock}; volatile for the vCPU's sleep, which reads it without. */
    private volatile boolean pauseRequested = true;
    /** The recorder's observer while recording, else null: read once per exit. */
    private volatile ExitObserver observer;
    /** Guarded by {@code lock}: recording is on, so a pause waits for an input boundary. */
    private boolean boundaryPause;
    /** Guarded by {@code lock}: vCPU 0 stands at an input boundary (its last exit completed, nothing run since). */
    private boolean atBoundary;
    /** Guarded by {@code lock}: work for the paused vCPU thread ({@link #onVcpuThread}), or null. */
    private VcpuTask vcpuTask;
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

    MicroVmm(MicroVmmBuilder b) {
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
        this.devices = new VmmDevices(created, blk, b.console);
        this.replayable = b.replayable;
    }

    /** {@return a builder: 64 MiB, one vCPU, console kept in memory only} */
    public static MicroVmmBuilder builder() {
        return new MicroVmmBuilder();
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
                boolean resumed = false;
                VcpuTask task = null;
                synchronized (lock) {
                    // Paused, nothing to finish, no task: wait. Except while recording: then a
                    // pause stops the guest only at an input boundary, so run on to the next.
                    while (pauseRequested && state != RunState.CLOSED && !exitIncomplete && vcpuTask == null
                            && !(boundaryPause && !atBoundary)) {
                        lock.wait();
                        resumed = true;
                    }
                    if (state == RunState.CLOSED || (!pauseRequested && state != RunState.RUNNING)) {
                        return;
                    }
                    if (pauseRequested && !exitIncomplete && vcpuTask != null) {
                        task = vcpuTask;
                        vcpuTask = null;
                    }
                    // Paused with an instruction half done: finish it, run nothing more.
                    completeOnly = pauseRequested && exitIncomplete;
                    running += task == null ? 1 : 0;
                }
                if (task != null) {
                    task.run(vcpu);
                    continue;
                }
                if (resumed && !completeOnly) {
                    // The thread that resumed us may share this CPU and still have to say so (a
                    // migration's RESUMED): let it finish before the guest takes the CPU for a slice.
                    Thread.yield();
                }
                int exit = KvmAbi.EXIT_INTR;
                boolean goOn = false;
                boolean stoppedByPause = false;
                try {
                    exit = completeOnly ? vcpu.completeIo() : vcpu.run();
                    goOn = handleExit(vcpu, exit);
                } finally {
                    synchronized (lock) {
                        boolean incomplete = goOn && (exit == KvmAbi.EXIT_IO || exit == KvmAbi.EXIT_MMIO);
                        ioPending += (incomplete ? 1 : 0) - (exitIncomplete ? 1 : 0);
                        exitIncomplete = incomplete;
                        atBoundary = !goOn || (completeOnly && exit == KvmAbi.EXIT_INTR);
                        // Not while recording seeks an input boundary: the guest runs on to it.
                        stoppedByPause = pauseRequested && !incomplete && !(boundaryPause && !atBoundary);
                        running--;
                        lock.notifyAll();
                    }
                }
                if (!goOn) {
                    return;
                }
                long sleepNanos = devices.takeSleepNanos();
                if (stoppedByPause) {
                    // Stopped by a pause, nothing half done: a sleep the guest asked for is cut short.
                    saveAhead(vcpu);
                    continue;
                }
                if (sleepNanos > 0) {
                    // The guest asked to sleep (port 0xED) before its out completes; a pause cuts it short.
                    long deadline = System.nanoTime() + sleepNanos;
                    for (long left = sleepNanos; left > 0 && !pauseRequested; left = deadline - System.nanoTime()) {
                        LockSupport.parkNanos(left);
                    }
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
            VcpuTask abandoned;
            synchronized (lock) {
                ioPending -= exitIncomplete ? 1 : 0;
                abandoned = vcpuTask;
                vcpuTask = null;
                lock.notifyAll();
            }
            if (abandoned != null) {
                abandoned.done().completeExceptionally(new IllegalStateException("the vCPU thread ended (" + state()
                        + stopSuffix() + ")"));
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
                devices.io(run);
                observe(run, exit);
                return true;
            }
            case KvmAbi.EXIT_MMIO -> {
                devices.mmio(run);
                observe(run, exit);
                return true;
            }
            case KvmAbi.EXIT_HLT -> {
                observe(run, exit);
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

    /** Hands a handled exit to the recorder, if one records: before the guest sees its result. */
    private void observe(MemorySegment run, int exit) {
        ExitObserver o = observer;
        if (o != null) {
            o.exited(run, exit);
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

    /**
     * Right after a pause stopped the vCPU, on its thread: saves its state, which the vCPU keeps
     * until it runs again ({@link KvmVcpu#saveState()}), while the thread that paused goes on. A
     * migration's switchover then finds the state saved instead of saving it inside the downtime,
     * from a thread on another CPU. A failure here is left to that later save to report.
     */
    private static void saveAhead(KvmVcpu vcpu) {
        try {
            vcpu.saveState();
        } catch (RuntimeException e) {
            LOG.debug("vCPU {}: saving the state after the pause failed; the next save retries", vcpu.index(), e);
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
     * stopped on its own (halt, shutdown, failure) counts as paused. While {@linkplain
     * #startRecording recording}, kicks nothing and waits for an input boundary instead.
     *
     * @throws VmOperationException while recording, if the guest took no exit within
     *                              {@value #BOUNDARY_PAUSE_MILLIS} ms; it then runs on, unpaused
     */
    public void pause() {
        boolean atInputBoundary;
        synchronized (lock) {
            pauseRequested = true;
            if (state == RunState.RUNNING) {
                state = RunState.PAUSED;
            }
            atInputBoundary = boundaryPause;
        }
        threads.forEach(LockSupport::unpark); // cut a guest's sleep short
        if (atInputBoundary) {
            pauseAtInputBoundary();
            return;
        }
        while (true) {
            synchronized (lock) {
                if (running == 0 && ioPending == 0) {
                    return;
                }
            }
            vcpus.forEach(KvmVcpu::kick);
            threads.forEach(LockSupport::unpark);
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

    /** Waits, kicking nothing, until the recorded vCPU stands at an input boundary; see {@link #pause()}. */
    private void pauseAtInputBoundary() {
        long deadline = System.nanoTime() + BOUNDARY_PAUSE_MILLIS * 1_000_000L;
        synchronized (lock) {
            while (state == RunState.PAUSED && (running > 0 || ioPending > 0 || !atBoundary)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    // Let it run on: the caller resumes or stops recording; a kick would stop it where no log reaches.
                    pauseRequested = false;
                    state = RunState.RUNNING;
                    lock.notifyAll();
                    throw new VmOperationException("the guest did not reach an input boundary (an exit to the VMM) "
                            + "within " + BOUNDARY_PAUSE_MILLIS + " ms of the pause: a replayable guest must exit "
                            + "regularly (port I/O); it runs on");
                }
                try {
                    lock.wait(Math.max(1, left / 1_000_000L));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while pausing the vCPUs");
                }
            }
        }
    }

    /**
     * Starts handing every guest-visible exit of vCPU 0 (port I/O, MMIO, HLT) to {@code o}, on the
     * vCPU thread, once the VMM handled it and before the guest sees its result; and makes
     * {@link #pause()} stop the guest at an input boundary. The VM must be paused; where it
     * stands counts as a boundary (the checkpoint).
     *
     * @param o the recorder
     * @throws IllegalStateException if the VM is not paused, or another observer records
     */
    void startRecording(ExitObserver o) {
        synchronized (lock) {
            if (state != RunState.PAUSED || running > 0 || ioPending > 0) {
                throw new IllegalStateException("recording starts on a paused VM, this one is " + state + stopSuffix());
            }
            if (observer != null) {
                throw new IllegalStateException("recording already on");
            }
            observer = Objects.requireNonNull(o, "observer");
            boundaryPause = true;
            atBoundary = true;
        }
    }

    /** Stops handing exits to the recorder; pauses kick again. Idempotent. */
    void stopRecording() {
        synchronized (lock) {
            observer = null;
            boundaryPause = false;
            lock.notifyAll();
        }
    }

    /**
     * Runs {@code work} on vCPU 0's thread while the VM stays paused, and waits for it: for a
     * replayer, which drives KVM_RUN itself (the vCPU's kick reaches that thread only). {@link
     * #beginClose()} kicks the vCPU; work that runs KVM_RUN must end when it sees the VM closed.
     *
     * @param work what to run, given vCPU 0
     * @param <T>  its result
     * @return what {@code work} returned
     * @throws IllegalStateException if the VM is not started and paused (or closes before the
     *                               work ran); a RuntimeException {@code work} threw, as it was
     */
    <T> T onVcpuThread(Function<KvmVcpu, T> work) {
        CompletableFuture<Object> done = new CompletableFuture<>();
        synchronized (lock) {
            if (state != RunState.PAUSED || threads.isEmpty() || vcpuTask != null || running > 0 || ioPending > 0) {
                throw new IllegalStateException("work for the vCPU thread needs a started VM that is paused and idle, "
                        + "this one is " + state + stopSuffix());
            }
            vcpuTask = new VcpuTask(work::apply, done);
            lock.notifyAll();
        }
        try {
            @SuppressWarnings("unchecked")
            T result = (T) done.join();
            return result;
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException r) {
                throw r;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    /** {@return whether the builder was told the guest is replayable (see {@link MicroVmmBuilder#replayable})} */
    public boolean replayable() {
        return replayable;
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
        return devices.consoleBytes();
    }

    /** {@return the last (up to 64 KiB of) console output} */
    public String consoleTail() {
        return devices.consoleTail();
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
        devices.closeConsole();
    }

    /** Work for the vCPU thread and where its outcome goes. */
    private record VcpuTask(Function<KvmVcpu, Object> work, CompletableFuture<Object> done) {
        void run(KvmVcpu vcpu) {
            try {
                done.complete(work.apply(vcpu));
            } catch (Throwable t) {
                done.completeExceptionally(t);
            }
        }
    }
}
