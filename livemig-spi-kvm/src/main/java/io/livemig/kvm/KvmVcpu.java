package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.kvm.internal.Sys;
import io.livemig.kvm.internal.VcpuStateFormat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * One KVM vCPU: its file descriptor, its shared {@code kvm_run} area, its registers and the
 * whole state KVM exposes ({@link #saveState()}, {@link #loadState(byte[])}).
 *
 * <p><b>Running and kicking.</b> {@link #run()} must be called on one thread, the vCPU thread,
 * after that thread called {@link #bindToThisThread()}. That blocks the kick signal (a real-time
 * signal) in the thread and gives KVM a signal mask without it for the duration of
 * {@code KVM_RUN} ({@code KVM_SET_SIGNAL_MASK}). {@link #kick()}, from any thread, queues the
 * signal for the vCPU thread: a running {@code KVM_RUN} returns at once with EINTR, one about to
 * start returns at once too (the signal is pending), and {@link #run()} consumes it. No signal
 * handler runs, ever (one is installed only so that the signal is not fatal while KVM_RUN
 * unblocks it).
 *
 * <p>State calls ({@code get/set}) are for a vCPU that is not running. Owns the vCPU fd and the
 * kvm_run mapping; {@link KvmVm#close()} closes it.
 *
 * <p><b>Saved state is kept until the vCPU changes.</b> {@link #saveState()} remembers what it
 * saved until anything that may change the vCPU's state runs: {@code KVM_RUN} ({@link #run()},
 * {@link #completeIo()}), a SET ioctl ({@link #set}), {@link #loadState}, or a use of the raw fd
 * ({@link #stateFd()}). A second save with nothing of those in between returns the same bytes
 * without asking KVM again. {@link MicroVmm}'s vCPU thread saves right after a pause stops it,
 * on its own CPU and while the pausing thread goes on (a migration's final dirty-log collect and
 * last pages), so that the switchover's save finds the state ready.
 */
public final class KvmVcpu implements AutoCloseable {

    private static final int KICK_SIGNAL = Sys.sigrtmin() + 6;

    static {
        Sys.installInertHandler(KICK_SIGNAL);
    }

    private final KvmVm vm;
    private final int index;
    private final int fd;
    private final MemorySegment run;
    private final Arena arena = Arena.ofShared();
    private final Object kickLock = new Object();
    /** Bumped by everything that may change the vCPU's state; {@link #saved} holds for one value. */
    private final AtomicLong changes = new AtomicLong();
    /** Guarded by {@code this}: the state last saved, or null. */
    private byte[] saved;
    /** Guarded by {@code this}: the value of {@link #changes} {@link #saved} was saved at. */
    private long savedAt;
    private long thread;
    private volatile int threadId;
    private boolean closed;

    KvmVcpu(KvmVm vm, int index, int fd) {
        this.vm = vm;
        this.index = index;
        this.fd = fd;
        try {
            this.run = Sys.mmap(vm.kvm().vcpuMmapBytes(), Sys.PROT_READ | Sys.PROT_WRITE, Sys.MAP_SHARED, fd, 0,
                    "kvm_run of vCPU " + index);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment cpuid = vm.kvm().supportedCpuid(a);
                Sys.ioctl(fd, KvmAbi.SET_CPUID2, cpuid, "KVM_SET_CPUID2");
            }
        } catch (RuntimeException e) {
            Sys.close(fd);
            throw e;
        }
    }

    /** {@return the vCPU index} */
    public int index() {
        return index;
    }

    /** {@return the kvm_run area shared with KVM (exit reason and exit data)} */
    public MemorySegment runArea() {
        return run;
    }

    /**
     * Makes the calling thread this vCPU's thread: blocks the kick signal in it and sets the
     * signal mask KVM_RUN runs with. Call once, on the thread that will call {@link #run()}.
     */
    public void bindToThisThread() {
        MemorySegment runMask = Sys.blockSignal(arena, KICK_SIGNAL);
        MemorySegment mask = arena.allocate(KvmAbi.SIGNAL_MASK_HEADER_BYTES + 8, 8);
        mask.set(JAVA_INT, 0, 8); // the kernel's sigset is 64 bits: the first 8 bytes of glibc's
        MemorySegment.copy(runMask, 0, mask, KvmAbi.SIGNAL_MASK_HEADER_BYTES, 8);
        Sys.ioctl(fd, KvmAbi.SET_SIGNAL_MASK, mask, "KVM_SET_SIGNAL_MASK");
        synchronized (kickLock) {
            thread = Sys.pthreadSelf();
            threadId = Sys.gettid();
            // Kick ourselves once and consume it: links the kick path now rather than in the
            // first pause, which is a migration's switchover.
            Sys.pthreadKill(thread, KICK_SIGNAL);
        }
        Sys.drainSignal(arena, KICK_SIGNAL);
    }

    /**
     * Runs the vCPU until it exits to user space ({@code KVM_RUN}).
     *
     * @return the exit reason ({@code KVM_EXIT_*}), {@link KvmAbi#EXIT_INTR} when kicked
     * @throws KvmException if KVM_RUN fails other than by a kick
     */
    public int run() {
        changes.incrementAndGet();
        int r = Sys.ioctlRaw(fd, KvmAbi.RUN, 0L);
        if (r == -Sys.EINTR || r == -Sys.EAGAIN) {
            Sys.drainSignal(arena, KICK_SIGNAL);
            return KvmAbi.EXIT_INTR;
        }
        if (r < 0) {
            throw new KvmException("KVM_RUN", -r, Sys.strerror(-r));
        }
        return run.get(JAVA_INT, KvmAbi.RUN_EXIT_REASON);
    }

    /**
     * Completes the instruction of the last port I/O or MMIO exit without running the guest any
     * further: {@code KVM_RUN} with {@code immediate_exit} set. KVM finishes such an instruction
     * (stores the value read, advances RIP) only when the vCPU re-enters KVM_RUN, and it does that
     * before it honours {@code immediate_exit}; state saved before then would have the guest redo
     * the access. Call on the vCPU thread, after the exit was handled and before the state is
     * saved. A vCPU with nothing to complete returns at once.
     *
     * @return {@link KvmAbi#EXIT_INTR} once the instruction is complete; or the reason of a new
     *         exit that completing it caused (a string instruction's next batch of port I/O), to
     *         be handled and completed in turn
     * @throws KvmException if KVM_RUN fails other than by returning early
     */
    public int completeIo() {
        changes.incrementAndGet();
        run.set(JAVA_BYTE, KvmAbi.RUN_IMMEDIATE_EXIT, (byte) 1);
        try {
            int r = Sys.ioctlRaw(fd, KvmAbi.RUN, 0L);
            if (r == -Sys.EINTR || r == -Sys.EAGAIN) {
                return KvmAbi.EXIT_INTR;
            }
            if (r < 0) {
                throw new KvmException("KVM_RUN (immediate exit)", -r, Sys.strerror(-r));
            }
            return run.get(JAVA_INT, KvmAbi.RUN_EXIT_REASON);
        } finally {
            run.set(JAVA_BYTE, KvmAbi.RUN_IMMEDIATE_EXIT, (byte) 0);
        }
    }

    /** Makes a running {@link #run()} return (or the next one return at once). Any thread. */
    public void kick() {
        synchronized (kickLock) {
            if (thread != 0) {
                Sys.pthreadKill(thread, KICK_SIGNAL);
            }
        }
    }

    /**
     * Called by the vCPU thread when it stops running this vCPU for good, before it ends: no
     * kick may be aimed at a thread that is gone (its pthread_t may be reused by a thread that
     * does not block the signal, which would kill the process).
     */
    public void unbindFromThisThread() {
        synchronized (kickLock) {
            thread = 0;
        }
    }

    /** {@return the kernel thread id of the vCPU thread, 0 before one is bound} */
    public int threadId() {
        return threadId;
    }

    /** {@return the guest's TSC frequency in kHz (KVM_GET_TSC_KHZ)} */
    public long tscKhz() {
        return Sys.ioctl(fd, KvmAbi.GET_TSC_KHZ, 0L, "KVM_GET_TSC_KHZ");
    }

    /**
     * Reads a state block into {@code into} with the GET ioctl {@code request}.
     *
     * @param request the KVM_GET_* ioctl number
     * @param into receives the block; as large as the ioctl's structure
     * @param name the ioctl's name, for the error message
     * @return the ioctl's non-negative result (KVM_GET_MSRS: how many MSRs it read)
     */
    public int get(long request, MemorySegment into, String name) {
        return Sys.ioctl(fd, request, into, name);
    }

    /**
     * Writes a state block with the SET ioctl {@code request}.
     *
     * @param request the KVM_SET_* ioctl number
     * @param name the ioctl's name, for the error message
     * @param from the block; as large as the ioctl's structure
     */
    public void set(long request, MemorySegment from, String name) {
        changes.incrementAndGet();
        Sys.ioctl(fd, request, from, name);
    }

    /**
     * {@return everything KVM holds of this vCPU that a guest needs to continue identically:
     * regs, sregs, xsave (or fpu), xcrs, MSRs, mp_state, vcpu events, debug registers,
     * in livemig's {@value VcpuStateFormat#FORMAT} encoding; a copy the caller owns. Asks KVM only if
     * the vCPU may have changed since the last save (see the class comment); waits for a save
     * another thread is making}
     */
    public synchronized byte[] saveState() {
        long at = changes.get();
        if (saved == null || savedAt != at) {
            byte[] state = VcpuStateFormat.save(this);
            if (changes.get() != at) {
                return state; // changed while saving (a misuse: the vCPU ran); keep nothing
            }
            saved = state;
            savedAt = at;
        }
        return saved.clone();
    }

    /**
     * Loads a state made by {@link #saveState()} (here or in another process).
     *
     * @param state bytes {@link #saveState()} returned
     * @throws IllegalArgumentException if the bytes are malformed; nothing was loaded then
     */
    public void loadState(byte[] state) {
        changes.incrementAndGet();
        VcpuStateFormat.load(this, state);
    }

    /** {@return the VM} */
    public KvmVm vm() {
        return vm;
    }

    /**
     * {@return the vCPU fd, for the state ioctls of {@code io.livemig.kvm.internal}; owned by this
     * vCPU. Counts as a change of the vCPU's state: the next {@link #saveState()} asks KVM again}
     */
    public int stateFd() {
        changes.incrementAndGet();
        return fd;
    }

    /** Called by {@link KvmVm#close()}; the thread running it must have stopped. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Sys.munmap(run);
            Sys.close(fd);
            arena.close();
        }
    }
}
