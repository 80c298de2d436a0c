package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.spi.ExecutionReplayer;
import io.livemig.spi.LogSegment;
import io.livemig.spi.PageSet;
import io.livemig.spi.ReplayDivergedException;
import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;

import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_INT;

/**
 * Replays a {@value ExitLog#FORMAT} log ({@link ExitLog}) in a {@link MicroVmm} target that has
 * not run: the replay loop runs on the VMM's (paused) vCPU thread ({@link MicroVmm#onVcpuThread}),
 * drives KVM_RUN itself and answers every exit from the log, with no device: no console output,
 * no sleep, no MMIO device access, the clock read from the log. Each exit must be the log's next
 * record: the same kind, port or address, size and count, and for an output the same value (a
 * guest writing something else to the console or the sleep port has left the recorded execution);
 * the first that is not, a malformed record, a log with fewer or more records than its segment's
 * positions, or an exit no guest that was recorded takes (shutdown, internal error) throws
 * {@link ReplayDivergedException} with what the guest asked and what the log held.
 *
 * <p>At a segment's end the last exit's instruction is completed ({@code immediate_exit}) and the
 * vCPU stops there, which is where the recording VM stood when it paused at that position. If
 * completing it makes a new exit (the next batch of a string instruction), that exit is the next
 * segment's first. After {@link #end()} the VMM's vCPU thread is back in its normal loop, so the
 * target loads the source's final state and resumes as after any migration.
 *
 * <p>{@link #cancel()} kicks the vCPU out of KVM_RUN from any thread; the replay then throws
 * {@link IllegalStateException}.
 */
final class KvmReplayer implements ExecutionReplayer {

    private final MicroVmm vmm;
    private final VcpuControl vcpus;
    private volatile boolean cancelled;
    /** The replay thread's (see the interface). */
    private boolean begun;
    private boolean ended;
    private long position;
    /** An exit KVM reported when the last segment's final instruction was completed, or -1: the next segment's first. */
    private int pendingExit = -1;

    KvmReplayer(MicroVmm vmm, VcpuControl vcpus) {
        this.vmm = Objects.requireNonNull(vmm, "vmm");
        this.vcpus = Objects.requireNonNull(vcpus, "vcpus");
    }

    @Override
    public boolean accepts(String format) {
        return ExitLog.FORMAT.equals(format);
    }

    @Override
    public void begin(String format, long startPosition, List<VcpuState> states) {
        if (!accepts(format)) {
            throw new IllegalArgumentException("the KVM replayer reads " + ExitLog.FORMAT + " logs, not " + format);
        }
        if (startPosition < 0) {
            throw new IllegalArgumentException("start position " + startPosition);
        }
        if (begun) {
            throw new IllegalStateException("replay already began");
        }
        if (cancelled) {
            throw new IllegalStateException("replay was cancelled");
        }
        if (vmm.everResumed()) {
            throw new IllegalStateException("the target's guest has run: replay starts from a checkpoint");
        }
        vcpus.loadState(states);
        position = startPosition;
        begun = true;
    }

    @Override
    public void replay(LogSegment segment) throws ReplayDivergedException {
        if (!begun || ended) {
            throw new IllegalStateException(ended ? "replay ended" : "replay has not begun");
        }
        if (cancelled) {
            throw new IllegalStateException("replay was cancelled");
        }
        if (segment.startPosition() != position) {
            throw new IllegalArgumentException("segment " + segment + " does not start where replay stands, at "
                    + position);
        }
        if (segment.inputs() == 0) {
            if (segment.sizeBytes() != 0) {
                throw new ReplayDivergedException("a segment of no input holds " + segment.sizeBytes()
                        + " bytes of log", position);
            }
            return;
        }
        byte[] log = segment.bytes();
        vmm.onVcpuThread(vcpu -> {
            replayOnVcpu(vcpu, log, segment.endPosition());
            return null;
        });
    }

    /** The replay loop, on the vCPU thread: runs to {@code end}, answering each exit from {@code log}. */
    private void replayOnVcpu(KvmVcpu vcpu, byte[] log, long end) {
        ExitLog.Reader reader = new ExitLog.Reader(log);
        while (position < end) {
            int reason;
            if (pendingExit >= 0) {
                reason = pendingExit;
                pendingExit = -1;
            } else {
                reason = vcpu.run();
            }
            if (reason == KvmAbi.EXIT_INTR) {
                if (cancelled || vmm.state() == MicroVmm.RunState.CLOSED) {
                    throw new IllegalStateException("replay was cancelled at position " + position);
                }
                continue;
            }
            if (reason != KvmAbi.EXIT_IO && reason != KvmAbi.EXIT_MMIO && reason != KvmAbi.EXIT_HLT) {
                throw new ReplayDivergedException("the guest stopped with " + exitName(vcpu, reason)
                        + ", which no recorded guest does; the log's next record is " + peek(reader), position);
            }
            ExitLog.Exit asked = ExitLog.of(vcpu.runArea(), reason);
            if (!reader.hasNext()) {
                throw new ReplayDivergedException("the log ends " + (end - position) + " records short of its end "
                        + "position " + end + "; the guest asked " + asked.request(), position);
            }
            ExitLog.Exit logged = next(reader);
            if (!asked.sameRequest(logged)) {
                throw new ReplayDivergedException("the guest asked " + asked.request() + ", the log holds "
                        + logged.describe(), position);
            }
            if (logged.isInput()) {
                ExitLog.answer(vcpu.runArea(), logged);
            } else if (!Arrays.equals(asked.data(), logged.data())) {
                throw new ReplayDivergedException("the guest wrote " + asked.describe() + ", the log holds "
                        + HexFormat.of().formatHex(logged.data()), position);
            }
            position++;
        }
        if (reader.hasNext()) {
            throw new ReplayDivergedException("the log holds more records than its end position " + end
                    + " counts: the next, at byte " + reader.offset() + ", is " + peek(reader), position);
        }
        int after = vcpu.completeIo();
        if (after != KvmAbi.EXIT_INTR) {
            pendingExit = after;
        }
    }

    private ExitLog.Exit next(ExitLog.Reader reader) {
        try {
            return reader.next();
        } catch (IllegalArgumentException e) {
            throw new ReplayDivergedException(e.getMessage(), position);
        }
    }

    private static String peek(ExitLog.Reader reader) {
        if (!reader.hasNext()) {
            return "none (the log ends)";
        }
        try {
            return reader.next().describe();
        } catch (IllegalArgumentException e) {
            return "malformed: " + e.getMessage();
        }
    }

    private static String exitName(KvmVcpu vcpu, int reason) {
        return switch (reason) {
            case KvmAbi.EXIT_SHUTDOWN -> "a shutdown (triple fault)";
            case KvmAbi.EXIT_FAIL_ENTRY -> "an entry failure";
            case KvmAbi.EXIT_INTERNAL_ERROR -> "a KVM internal error, suberror "
                    + vcpu.runArea().get(JAVA_INT, KvmAbi.RUN_UNION);
            default -> "exit reason " + reason;
        };
    }

    @Override
    public long position() {
        return position;
    }

    /**
     * {@inheritDoc}
     *
     * @throws ReplayDivergedException if the last segment left a string instruction's next batch
     *                                 of port I/O unanswered: the log stops inside an instruction
     *                                 that the recorded VM completed before it paused
     */
    @Override
    public void end() {
        if (ended) {
            return;
        }
        ended = true;
        if (pendingExit >= 0) {
            String next = pendingExit == KvmAbi.EXIT_IO || pendingExit == KvmAbi.EXIT_MMIO
                    ? ExitLog.of(vmm.vcpus().get(0).runArea(), pendingExit).request() : "exit reason " + pendingExit;
            throw new ReplayDivergedException("the log ends inside an instruction: the guest's next exit (" + next
                    + ") is not in the log", position);
        }
    }

    /** {@return the target memory's populated pages (see {@link KvmMemory#populatedPages()})} */
    @Override
    public Optional<PageSet> populatedPages() {
        return Optional.of(vmm.vm().populatedPages());
    }

    @Override
    public void cancel() {
        cancelled = true;
        vmm.vcpus().forEach(KvmVcpu::kick);
    }
}
