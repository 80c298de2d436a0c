package io.livemig.kit.internal;

import io.livemig.api.TimeSource;
import io.livemig.spi.ExecutionRecorder;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.LogSegment;
import io.livemig.spi.PageSet;
import io.livemig.spi.ReplayDivergedException;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmOperationException;

import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Runs a {@link ReplayableGuest} for its simulated VM: live, answering its inputs from the host's
 * clock and {@link InputDevice} (and logging them while recording), or replayed, answering them
 * from a log. Hands out the VM's {@link ExecutionRecorder} and {@link ExecutionReplayer}.
 *
 * <p><b>Costs.</b> While recording, each input logged costs the vCPU {@code recordNanosPerInput}
 * of run time (the exit to the VMM and the append), taken from its next run time; the default is
 * none. Replay runs as fast as the CPU goes: idle time between ticks is skipped, as a real
 * replayer skips the guest's halts. On a virtual clock it is charged {@code replayNanosPerWrite}
 * per page the replayed guest writes and {@code replayNanosPerInput} per input, by advancing the
 * clock once the segment is replayed; on a wall clock nothing is charged but the CPU time.
 *
 * <p>Thread-safety: every method but {@link ExecutionReplayer#cancel()} and
 * {@link ExecutionReplayer#position()} takes the VM's lock, which the live guest runs under too.
 */
public final class GuestExecution {

    /** What the VM lends its guest. Called under the VM's lock. */
    public interface Host extends ReplayableGuest.Pages {
        /** @return whether the vCPU is paused */
        boolean isPaused();

        /** Runs the guest up to the host's time (the writes and inputs due). */
        void catchUp();

        /**
         * Writes a page for the replayed guest: never blocks.
         *
         * @param page    the page
         * @param version its new version
         */
        void replayWrite(long page, long version);

        /** @param seed the seed of the synthesized contents, from the checkpoint's vCPU state */
        void adoptContentSeed(long seed);

        /** @return the pages that may be non-zero */
        PageSet populatedPages();
    }

    /**
     * The costs of recording and replaying.
     *
     * @param recordNanosPerInput run time each logged input takes from the vCPU, >= 0
     * @param replayNanosPerWrite virtual time each replayed page write takes, >= 0
     * @param replayNanosPerInput virtual time each replayed input takes, >= 0
     */
    public record Costs(long recordNanosPerInput, long replayNanosPerWrite, long replayNanosPerInput) {
        /** No recording overhead; replay 1 µs per page written (4 KiB at 4 GiB/s) and 2 µs per input. */
        public static final Costs DEFAULT = new Costs(0, 1_000, 2_000);

        /** @throws IllegalArgumentException for a negative cost */
        public Costs {
            if (recordNanosPerInput < 0 || replayNanosPerWrite < 0 || replayNanosPerInput < 0) {
                throw new IllegalArgumentException("costs must be >= 0");
            }
        }
    }

    private final Object lock;
    private final TimeSource time;
    private final ReplayableGuest guest;
    private final InputDevice device;
    private final Costs costs;
    private final String stateFormat;
    private final Host host;
    private final Recorder recorder = new Recorder();
    private final Replayer replayer = new Replayer();

    private boolean recording;
    private final InputLog.Writer log = new InputLog.Writer();
    private long drainedTo;
    private long debtNanos;
    private long tickWallNanos;

    /**
     * @param lock        the VM's lock
     * @param time        the VM's clock
     * @param guest       the guest
     * @param device      the host's input device
     * @param costs       the costs of recording and replay
     * @param stateFormat the vCPU state format of the guest's state
     * @param host        the VM
     */
    public GuestExecution(Object lock, TimeSource time, ReplayableGuest guest, InputDevice device, Costs costs,
                          String stateFormat, Host host) {
        this.lock = lock;
        this.time = time;
        this.guest = guest;
        this.device = device;
        this.costs = Objects.requireNonNull(costs, "costs");
        this.stateFormat = stateFormat;
        this.host = host;
    }

    /** @return the recorder of this VM */
    public ExecutionRecorder recorder() {
        return recorder;
    }

    /** @return the replayer of this VM */
    public ExecutionReplayer replayer() {
        return replayer;
    }

    /**
     * Runs the guest live through an interval of host time in which the vCPU ran (caller holds the
     * lock): the ticks its run time reached, each reading the clock (the host's time of the tick,
     * interpolated in the interval) and the input device.
     *
     * @param fromNanos the interval's start on the host's clock
     * @param toNanos   its end
     * @param runNanos  run time the vCPU had in it (after the throttle)
     */
    public void runLive(long fromNanos, long toNanos, long runNanos) {
        long pay = Math.min(debtNanos, runNanos);
        debtNanos -= pay;
        long run = runNanos - pay;
        long r0 = guest.tsc();
        guest.run(run);
        while (true) {
            if (guest.owedWrites() > 0 && !guest.finishWrites(host)) {
                return;
            }
            if (!guest.inputDue()) {
                return;
            }
            if (guest.nextInput() == InputLog.CLOCK) {
                long into = Math.max(0, guest.nextTickTsc() - r0);
                long t = run == 0 ? toNanos : fromNanos + (long) ((double) into * (toNanos - fromNanos) / run);
                t = Math.min(toNanos, Math.max(fromNanos, t));
                tickWallNanos = t;
                if (recording) {
                    log.clock(t);
                    debtNanos += costs.recordNanosPerInput();
                }
                if (!guest.clock(t, host)) {
                    return;
                }
            } else {
                int n = device.read(Math.max(tickWallNanos, fromNanos));
                if (recording) {
                    log.device(device.buffer(), n);
                    debtNanos += costs.recordNanosPerInput();
                }
                guest.device(device.buffer(), n);
            }
        }
    }

    private final class Recorder implements ExecutionRecorder {
        @Override
        public String format() {
            return InputLog.FORMAT;
        }

        @Override
        public long start() {
            synchronized (lock) {
                if (!host.isPaused()) {
                    throw new IllegalStateException("the VM must be paused to start recording");
                }
                if (recording) {
                    throw new IllegalStateException("recording already started");
                }
                if (guest.owedWrites() > 0) {
                    throw new VmOperationException("the vCPU stopped inside a step, blocked on a missing page with "
                            + guest.owedWrites() + " writes to go: not at an input boundary");
                }
                recording = true;
                log.clear();
                debtNanos = 0;
                drainedTo = guest.inputs();
                return drainedTo;
            }
        }

        @Override
        public LogSegment drain() {
            synchronized (lock) {
                if (!recording) {
                    throw new IllegalStateException("recording is not on");
                }
                host.catchUp();
                long end = guest.inputs();
                LogSegment segment = new LogSegment(drainedTo, end, log.take());
                drainedTo = end;
                return segment;
            }
        }

        @Override
        public long position() {
            synchronized (lock) {
                host.catchUp();
                return guest.inputs();
            }
        }

        @Override
        public void stop() {
            synchronized (lock) {
                recording = false;
                log.clear();
                debtNanos = 0;
            }
        }
    }

    private final class Replayer implements ExecutionReplayer, ReplayableGuest.Pages {
        private volatile boolean cancelled;
        private volatile long position;
        private boolean began;
        private boolean ended;

        @Override
        public boolean accepts(String format) {
            return InputLog.FORMAT.equals(format);
        }

        @Override
        public void begin(String format, long startPosition, List<VcpuState> states) {
            synchronized (lock) {
                if (began) {
                    throw new IllegalStateException("replay already began");
                }
                if (!accepts(format)) {
                    throw new IllegalArgumentException("this replayer reads '" + InputLog.FORMAT + "', not '" + format
                            + "'");
                }
                if (states.size() != 1 || !stateFormat.equals(states.get(0).format())) {
                    throw new IllegalArgumentException("expected one '" + stateFormat + "' vCPU state, got " + states);
                }
                if (!host.isPaused()) {
                    throw new IllegalStateException("the target must be paused to replay");
                }
                byte[] state = states.get(0).data();
                long at = ReplayableGuest.inputsOf(state);
                if (at != startPosition) {
                    throw new IllegalArgumentException("the checkpoint's vCPU state stands at position " + at
                            + ", not at the start position " + startPosition);
                }
                guest.load(state);
                host.adoptContentSeed(guest.contentSeed());
                position = startPosition;
                began = true;
            }
        }

        @Override
        public void replay(LogSegment segment) throws ReplayDivergedException {
            long cost;
            synchronized (lock) {
                if (!began || ended) {
                    throw new IllegalStateException(began ? "replay ended" : "replay did not begin");
                }
                if (cancelled) {
                    throw new IllegalStateException("replay was cancelled");
                }
                if (segment.startPosition() != position) {
                    throw new IllegalArgumentException("the segment starts at position " + segment.startPosition()
                            + ", replay stands at " + position);
                }
                InputLog.Reader reader = new InputLog.Reader(segment.bytes());
                long writes = guest.writesDone();
                long start = guest.inputs();
                try {
                    while (guest.inputs() < segment.endPosition()) {
                        if (cancelled) {
                            throw new IllegalStateException("replay was cancelled at position " + guest.inputs());
                        }
                        int asked = guest.nextInput();
                        reader.expect(asked, guest.inputs());
                        if (asked == InputLog.CLOCK) {
                            guest.clock(reader.clockValue(guest.inputs()), this);
                        } else {
                            int n = reader.deviceLength(guest.inputs());
                            guest.device(reader.array(), reader.offset(), n);
                            reader.skip(n);
                        }
                    }
                    if (reader.hasMore()) {
                        throw new ReplayDivergedException("malformed log: " + (segment.sizeBytes() - reader.offset())
                                + " bytes follow the record that reaches the segment's end position "
                                + segment.endPosition(), guest.inputs());
                    }
                } finally {
                    position = guest.inputs();
                }
                cost = (guest.writesDone() - writes) * costs.replayNanosPerWrite()
                        + (guest.inputs() - start) * costs.replayNanosPerInput();
            }
            if (!time.isWallClock()) {
                try {
                    time.sleepNanos(cost); // a virtual clock advances at once, it never waits
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while charging replay time", e);
                }
            }
        }

        /** The replayed guest's writes: the target's memory is whole, nothing blocks. */
        @Override
        public boolean write(long page, long version) {
            host.replayWrite(page, version);
            return true;
        }

        @Override
        public long position() {
            return position;
        }

        @Override
        public void end() {
            synchronized (lock) {
                ended = true;
            }
        }

        @Override
        public Optional<PageSet> populatedPages() {
            synchronized (lock) {
                return Optional.of(host.populatedPages());
            }
        }

        @Override
        public void cancel() {
            cancelled = true;
        }
    }
}
