package io.livemig.spi;

import java.util.List;
import java.util.Optional;

/**
 * Optional capability of a migration target (trace and replay): runs the VM from a checkpoint
 * with its inputs taken from a log an {@link ExecutionRecorder} made, instead of from the outside
 * world, so that it reaches the source's state position by position. Offered by
 * {@link MigrationTarget#executionReplayer()}.
 *
 * <p><b>Use.</b> The engine writes the checkpoint's memory through {@link MigrationTarget#memory()},
 * calls {@link #begin} with the vCPU state of the checkpoint, {@link #replay replays} each segment
 * as it arrives, and calls {@link #end()}; the vCPUs are then paused at the log's last position,
 * and the engine loads the source's final vCPU and device state and resumes the target as for any
 * other strategy. While replaying, the vCPUs run but the VM is not live: nothing it does reaches
 * the outside world (console output, device requests), and what it asks of it is answered from
 * the log.
 *
 * <p><b>Divergence.</b> A replayer checks each input the guest asks for against the log's next
 * record (its kind, port or address, size) and stops with a {@link ReplayDivergedException} at the
 * first that does not match, or when the log is malformed. A wrong value that the guest consumes
 * without asking differently is not visible here: the engine compares memory page for page after
 * the last segment.
 *
 * <p><b>Threading.</b> {@link #begin}, {@link #replay} and {@link #end()} are called by one thread
 * (the engine's replay thread); {@link #replay} blocks it while the vCPUs run. {@link #cancel()} may
 * be called from any thread and makes a replay in progress (or the next) throw promptly.
 */
public interface ExecutionReplayer {

    /**
     * Says whether this replayer reads a log format.
     *
     * @param format a log format name, as {@link ExecutionRecorder#format()} gives it
     * @return whether this replayer reads logs in that format
     */
    boolean accepts(String format);

    /**
     * Prepares replay from a checkpoint: the target's memory holds the checkpoint's pages, and
     * {@code states} are its vCPUs' states at {@code startPosition}.
     *
     * @param format        the log's format, one this replayer {@link #accepts}
     * @param startPosition the checkpoint's position
     * @param states        the vCPU states at the checkpoint, one per vCPU in index order
     * @throws IllegalArgumentException if the format is not accepted or the states do not fit the VM
     * @throws IllegalStateException    if replay already began
     */
    void begin(String format, long startPosition, List<VcpuState> states);

    /**
     * Replays one segment: runs the VM, answering its inputs from the segment, until it reaches
     * {@link LogSegment#endPosition()}, and stops it there at an input boundary.
     *
     * @param segment the next segment: it must start at {@link #position()}
     * @throws ReplayDivergedException if the guest asked for an input other than the log's next, the
     *                                 log is malformed, or it ends before its end position
     * @throws IllegalArgumentException if the segment does not start at {@link #position()}
     * @throws IllegalStateException   if {@link #begin} was not called, or replay was cancelled
     */
    void replay(LogSegment segment) throws ReplayDivergedException;

    /** {@return the position replay reached} */
    long position();

    /**
     * Ends replay: the vCPUs stay paused at {@link #position()}, ready for
     * {@link VcpuControl#loadState} and {@link VcpuControl#resume()}. Idempotent.
     *
     * @throws ReplayDivergedException if the log stopped inside an input the VM had not finished
     *                                 (a string I/O instruction whose next part the log lacks): a
     *                                 log recorded up to a pause never does
     */
    void end() throws ReplayDivergedException;

    /**
     * The pages of the target that may hold non-zero data after replay (the checkpoint's and those
     * the replayed guest wrote), so that verification reads those and not every page of a large,
     * mostly empty VM. The default is empty: any page may, and verification reads them all.
     *
     * @return the pages that may be non-zero, or empty when the replayer cannot tell
     */
    default Optional<PageSet> populatedPages() {
        return Optional.empty();
    }

    /** Stops a replay in progress, or the next one, from any thread; the target is then discarded. */
    void cancel();
}
