package io.livemig.kit.internal;

import io.livemig.kit.Workload;
import io.livemig.spi.MemoryLayout;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The guest of a replayable simulated VM: a program whose every step is a function of its
 * registers (saved and loaded as the vCPU state) and of the one input the step reads, so that a
 * checkpoint of its state and memory, replayed with the log of its inputs, reaches exactly the
 * state and memory the VM reached.
 *
 * <p><b>The program.</b> A timer wakes the guest every {@code tickNanos} of the vCPU's run time
 * (its TSC, which advances only while the vCPU runs, scaled down by the throttle). Each tick is
 * two steps, each reading one input:
 * <ol>
 *   <li>read the clock (an input: the host's time of the tick, which pauses, throttling and the
 *       host's pace decide); fold it into the data register; add the write rate's share of one
 *       tick to the write credit, and write as many whole pages as the credit holds, each chosen
 *       by the {@link WriteSequence} the vCPU state carries;</li>
 *   <li>read the input device (an input: whatever bytes arrived since the last read, up to
 *       {@value InputLog#MAX_DEVICE_READ}); fold a hash of them into the data register.</li>
 * </ol>
 * Write number {@code k} (from 1) stores version {@code k | (23 bits of the data register) << 40}
 * in its page: a page's content depends on the write that made it and on every input read before.
 * A position is the count of inputs consumed; between two steps is an input boundary.
 *
 * <p><b>State</b> ({@value #STATE_BYTES} bytes, big-endian): generator, cursor, writes done,
 * credit (double), ticks, data register, inputs consumed, input bytes consumed, writes owed
 * (of a step that blocked on a missing page), next step (int: 0 clock, 1 device), tick length,
 * content seed, the workload (as {@link WorkloadDevice} writes it), and last the TSC: the run
 * time, which the host keeps and which replay does not reproduce past the last tick.
 *
 * <p>Not thread-safe: the simulated VM's lock guards it.
 */
public final class ReplayableGuest {

    /** Bytes of the saved state. */
    public static final int STATE_BYTES = 12 * 8 + 4 + WorkloadDevice.WORKLOAD_BYTES;
    /** Bits of a version that count writes; the data register fills the 23 above. */
    private static final int WRITE_BITS = 40;
    private static final long WRITE_MASK = (1L << WRITE_BITS) - 1;
    private static final long CLOCK_SALT = 0x5851F42D4C957F2DL;
    private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    /** Where the guest's writes go. */
    public interface Pages {
        /**
         * Writes a page.
         *
         * @param page    the page
         * @param version its new version
         * @return false if the vCPU blocks on the page (missing, post-copy): the host then applies
         *         the write ({@link #blockedVersion()}) once the page is installed
         */
        boolean write(long page, long version);
    }

    private final MemoryLayout layout;
    private WriteSequence sequence;
    private Workload workload;
    private double writesPerTick;
    private long tickNanos;
    private long contentSeed;

    private long writesDone;
    private double credit;
    private long ticks;
    private long data;
    private long inputs;
    private long inputBytes;
    private long owed;
    private int next;
    private long tsc;

    /**
     * @param layout      guest RAM
     * @param workload    the write rate, pattern and seed
     * @param tickNanos   the timer period in run-time nanoseconds, positive
     * @param contentSeed the seed of the synthesized page contents
     */
    public ReplayableGuest(MemoryLayout layout, Workload workload, long tickNanos, long contentSeed) {
        if (tickNanos <= 0) {
            throw new IllegalArgumentException("the guest tick must be positive, was " + tickNanos + " ns");
        }
        this.layout = layout;
        this.tickNanos = tickNanos;
        this.contentSeed = contentSeed;
        this.sequence = new WriteSequence(layout, workload, 0, true);
        this.data = Prefill.mix(workload.seed() ^ CLOCK_SALT);
        configure(workload);
    }

    /**
     * Replaces the workload (a migrated guest's configuration); the sequence goes on.
     *
     * @param w the workload
     */
    public void configure(Workload w) {
        this.workload = w;
        sequence.configure(w);
        writesPerTick = sequence.writesPerNano(1) * tickNanos;
    }

    // ---- the host's view ----

    /** @return the run time so far, in nanoseconds */
    public long tsc() {
        return tsc;
    }

    /** @param runNanos run time the vCPU just had, not negative */
    public void run(long runNanos) {
        tsc += runNanos;
    }

    /** @return the run time at which the next tick fires */
    public long nextTickTsc() {
        return (ticks + 1) * tickNanos;
    }

    /** @return whether an input is due: the device step of a tick begun, or a tick the run time reached */
    public boolean inputDue() {
        return owed == 0 && (next == 1 || nextTickTsc() <= tsc);
    }

    /** @return the kind of input the guest reads next, {@link InputLog#CLOCK} or {@link InputLog#DEVICE} */
    public int nextInput() {
        return next == 0 ? InputLog.CLOCK : InputLog.DEVICE;
    }

    // ---- the steps ----

    /**
     * The clock step: takes the clock's value and makes the tick's writes.
     *
     * @param value the clock's value
     * @param pages where the writes go
     * @return false if the vCPU blocked on a page ({@link #owedWrites()} remain)
     */
    public boolean clock(long value, Pages pages) {
        if (next != 0 || owed != 0) {
            throw new IllegalStateException("the guest does not read the clock now");
        }
        data = Prefill.mix(data ^ value ^ CLOCK_SALT);
        ticks++;
        inputs++;
        next = 1;
        // Replayed, the tick's run time is known to have passed; live, the host already counted it.
        tsc = Math.max(tsc, ticks * tickNanos);
        credit += writesPerTick;
        long due = (long) credit;
        credit -= due;
        owed = due;
        return finishWrites(pages);
    }

    /**
     * Makes the writes owed by the current step, until one blocks.
     *
     * @param pages where the writes go
     * @return false if the vCPU blocked on a page again
     */
    public boolean finishWrites(Pages pages) {
        while (owed > 0) {
            long page = sequence.nextPage();
            owed--;
            writesDone++;
            if (!pages.write(page, blockedVersion())) {
                return false;
            }
        }
        return true;
    }

    /** @return the version the guest's latest write stores */
    public long blockedVersion() {
        return (writesDone & WRITE_MASK) | ((data >>> (64 - 23)) << WRITE_BITS);
    }

    /**
     * The device step: folds what the input device returned into the data register.
     *
     * @param bytes  what the read returned, from index 0
     * @param length how many
     */
    public void device(byte[] bytes, int length) {
        device(bytes, 0, length);
    }

    /**
     * The device step, from a slice of a larger array.
     *
     * @param bytes  holds what the read returned
     * @param offset where it starts
     * @param length how many bytes
     */
    public void device(byte[] bytes, int offset, int length) {
        if (next != 1 || owed != 0) {
            throw new IllegalStateException("the guest does not read the input device now");
        }
        long h = length * 0x9E3779B97F4A7C15L;
        int i = 0;
        for (; i + 8 <= length; i += 8) {
            h = (h ^ (long) LONGS.get(bytes, offset + i)) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
        }
        for (; i < length; i++) {
            h = (h ^ (bytes[offset + i] & 0xFF)) * 0x94D049BB133111EBL;
        }
        data = Prefill.mix(data ^ h);
        inputs++;
        inputBytes += length;
        next = 0;
    }

    // ---- registers ----

    /** @return the writes made so far */
    public long writesDone() {
        return writesDone;
    }

    /** @return the inputs consumed so far: the position */
    public long inputs() {
        return inputs;
    }

    /** @return the input device's bytes consumed so far */
    public long inputBytes() {
        return inputBytes;
    }

    /** @return writes of the current step not made yet (the vCPU blocked) */
    public long owedWrites() {
        return owed;
    }

    /** @return the timer period in nanoseconds of run time */
    public long tickNanos() {
        return tickNanos;
    }

    /** @return the seed of the synthesized page contents */
    public long contentSeed() {
        return contentSeed;
    }

    /** @return the workload in force */
    public Workload workload() {
        return workload;
    }

    /**
     * @param state a state {@link #save()} made
     * @return the position it stands at: the inputs consumed
     * @throws IllegalArgumentException if it is not {@value #STATE_BYTES} bytes
     */
    public static long inputsOf(byte[] state) {
        if (state.length != STATE_BYTES) {
            throw new IllegalArgumentException("a replayable simulated vCPU state is " + STATE_BYTES + " bytes, not "
                    + state.length);
        }
        return ByteBuffer.wrap(state).getLong(6 * 8);
    }

    /** @return the state, {@value #STATE_BYTES} bytes */
    public byte[] save() {
        ByteBuffer b = ByteBuffer.allocate(STATE_BYTES);
        b.putLong(sequence.generatorState()).putLong(sequence.cursor()).putLong(writesDone).putDouble(credit)
                .putLong(ticks).putLong(data).putLong(inputs).putLong(inputBytes).putLong(owed).putInt(next)
                .putLong(tickNanos).putLong(contentSeed);
        WorkloadDevice.putWorkload(b, workload);
        b.putLong(tsc);
        return b.array();
    }

    /**
     * Loads a state {@link #save()} made (here or on another VM with the same layout).
     *
     * @param state the state
     * @throws IllegalArgumentException if it is not {@value #STATE_BYTES} bytes or a register is out of range
     */
    public void load(byte[] state) {
        if (state.length != STATE_BYTES) {
            throw new IllegalArgumentException("a replayable simulated vCPU state is " + STATE_BYTES + " bytes, not "
                    + state.length);
        }
        ByteBuffer b = ByteBuffer.wrap(state);
        long generator = b.getLong();
        long cursor = b.getLong();
        long w = b.getLong();
        double cr = b.getDouble();
        long t = b.getLong();
        long d = b.getLong();
        long in = b.getLong();
        long inBytes = b.getLong();
        long ow = b.getLong();
        int nx = b.getInt();
        long tick = b.getLong();
        long seed = b.getLong();
        Workload wl = WorkloadDevice.getWorkload(b);
        long clock = b.getLong();
        if (generator == 0 || cursor < 0 || w < 0 || !(cr >= 0 && cr < 1) || t < 0 || in < 0 || inBytes < 0 || ow < 0
                || (nx != 0 && nx != 1) || tick <= 0 || clock < 0) {
            throw new IllegalArgumentException("malformed replayable simulated vCPU state");
        }
        tickNanos = tick;
        sequence = new WriteSequence(layout, wl, 0, true);
        configure(wl);
        sequence.restore(generator, cursor);
        writesDone = w;
        credit = cr;
        ticks = t;
        data = d;
        inputs = in;
        inputBytes = inBytes;
        owed = ow;
        next = nx;
        contentSeed = seed;
        tsc = clock;
    }
}
