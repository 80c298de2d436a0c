package io.livemig.engine.internal.strategy;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.RoundStats;
import io.livemig.api.TimeSource;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuThrottle;

import java.time.Duration;
import java.util.Optional;

/**
 * What a {@link SourceStrategy} may do: the narrow set of operations a strategy decides with,
 * and nothing of how pages are framed, encoded or sent, how the report is built, or where the VM
 * stands. The source side implements it; strategies only call it (it never calls them back).
 *
 * <p>Used by the migration's thread only.
 */
public interface CopyContext {

    /** @return the migration's options */
    MigrationOptions options();

    /** @return the VM's memory layout */
    MemoryLayout layout();

    /** @return the migration's clock */
    TimeSource time();

    /** @return the VM's dirty tracker, if it has one, with its devices' DMA trackers folded in */
    Optional<DirtyTracker> dirtyTracker();

    /** @return the VM's vCPU throttle, if it has one */
    Optional<VcpuThrottle> throttle();

    /**
     * @return the pages to send first: every RAM page the provider says may hold data (all of
     *         them if it cannot tell; the rest is zero and the destination starts zeroed), minus
     *         the pages the guest reports free when free-page hints are on (those are then never
     *         sent, and verified as zero)
     */
    PageSet initialPages();

    /**
     * Sends every page of {@code pages} as round {@code round}, in page order: zero pages as bare
     * entries, or not at all where the destination is known to hold zeros
     * ({@code skipZeroPages}, or a page never sent non-zero); others in the best encoding the
     * options allow. Checks for cancellation and a destination abort between frames.
     *
     * @return pages and bytes sent, and the time it took
     * @throws MigrationException if cancelled, or the link or the destination failed
     */
    RoundResult sendRound(PageSet pages, int round, boolean skipZeroPages) throws MigrationException;

    /**
     * In real time, during the live copy: sends a probe after the pages sent so far and waits for
     * its answer, which the destination gives once it has applied them (its round trip feeds
     * {@link #minRoundTripNanos()}). Nothing in virtual time.
     *
     * @throws MigrationException if the link failed
     */
    void probeRoundTrip() throws MigrationException;

    /** @return the shortest probe round trip so far in nanoseconds, 0 if none was measured */
    long minRoundTripNanos();

    /** Records a finished round and tells the listener. */
    void roundDone(RoundStats stats);

    /** Records an action of the escalation ladder taken after {@code round} and tells the listener. */
    void escalated(int round, EscalationStep step, String action);

    /**
     * Pauses the VM and tells the destination the stop-copy phase began. From here on a failure
     * resumes the VM at the source, until the switchover commits.
     *
     * @param expectedDowntime the downtime predicted for the rest
     * @param remainingBytes   bytes still to send, as predicted
     * @throws MigrationException if cancelled or the link failed
     */
    void pause(Duration expectedDowntime, long remainingBytes) throws MigrationException;

    /**
     * What a round sent.
     *
     * @param pagesSent   page entries sent
     * @param bytesOnWire bytes of the frames
     * @param nanos       how long it took
     * @param cut         whether it stopped early because the caller asked for post-copy: some
     *                    of its pages were not sent
     */
    record RoundResult(long pagesSent, long bytesOnWire, long nanos, boolean cut) {
    }

    /**
     * During the live copy: sends what the devices that pre-copy their state have ready now (after
     * the round's pages). Nothing otherwise.
     *
     * @return what it sent
     * @throws MigrationException if cancelled, or the link failed
     */
    DeviceRound sendDeviceRound() throws MigrationException;

    /**
     * What a round of device data sent, over all devices: kept apart from the pages', so that the
     * cost of a dirty page is measured on pages alone.
     *
     * @param bytesOnWire bytes of the DEVICE_DATA frames
     * @param nanos       how long it took
     */
    record DeviceRound(long bytesOnWire, long nanos) {
        /** Nothing sent. */
        public static final DeviceRound NONE = new DeviceRound(0, 0);
    }

    /**
     * @return the bytes the devices that migrate by their data stream still hold (their pre-copy
     *         data not yet read, or their stop-copy size), to count in the expected downtime
     */
    long devicePendingBytes();

    /** @return the downtime limit the caller set since the last call, if any */
    Optional<Duration> takeDowntimeLimit();

    /** Notes the downtime limit in force after a round (the ladder or the caller may change it). */
    void downtimeLimitInForce(Duration limit);

    /** @return whether the caller asked to switch to post-copy now */
    boolean postcopyRequested();

    /**
     * The rest fits the limit: may the switchover go? Yes without a hold in the options, or once
     * the caller released it. While held, the first call tells the listener; each call waits a
     * little for the release (so a round of the few pages dirtied meanwhile follows, not a spin).
     *
     * @param round    the last round sent
     * @param expected the downtime a switchover now would take
     * @return whether to switch over now; false: send another round and ask again
     * @throws MigrationException if the hold timed out (the migration is aborted, the VM runs at
     *                            the source), or the migration was cancelled meanwhile
     */
    boolean switchoverReleased(int round, Duration expected) throws MigrationException;

    /** @return whether the VM has disks to copy */
    boolean hasDisks();

    /**
     * Sends a round of disk blocks: the first call sends the bulk pass (the blocks the destination
     * lacks), each later one the blocks written since the previous one, and waits until the
     * destination holds them durably. Nothing without disks.
     *
     * @param paused whether the VM is paused: the last round, after which the disks are in sync
     * @return what it sent and the bytes still dirty
     * @throws MigrationException if cancelled, or the link or the destination failed
     */
    DiskRound sendDiskRound(boolean paused) throws MigrationException;

    /**
     * Post-copy's switchover, the VM paused: the disks' last blocks are announced for after the
     * resume when the destination fetches missing blocks on demand, and sent now otherwise.
     *
     * @throws MigrationException if cancelled, or the link or the destination failed
     */
    void handOverDisks() throws MigrationException;

    /**
     * What a disk round sent, over all disks.
     *
     * @param blocksSent     blocks sent, with content or as zero runs
     * @param bytesOnWire    bytes of the disk frames
     * @param nanos          how long the round took, its flush included
     * @param dirtyBytesLeft bytes of blocks written meanwhile, the next round's
     */
    record DiskRound(long blocksSent, long bytesOnWire, long nanos, long dirtyBytesLeft) {
        /** Nothing sent, nothing left. */
        public static final DiskRound NONE = new DiskRound(0, 0, 0, 0);
    }

    /**
     * Trace and replay: pauses the VM (anywhere: replay starts from the state saved there), copies
     * the pages {@link #initialPages()} names as they are, saves the vCPU state, starts recording
     * its inputs and resumes it.
     *
     * @return the checkpoint taken
     * @throws MigrationException if cancelled, or the VM could not be paused or recorded (it runs on)
     */
    Checkpoint takeCheckpoint() throws MigrationException;

    /**
     * Trace and replay: sends the checkpoint taken (its pages as they were, its vCPU state) and
     * CHECKPOINT, after which the destination starts replaying.
     *
     * @return what it sent
     * @throws MigrationException if cancelled, or the link failed
     */
    RoundResult sendCheckpoint() throws MigrationException;

    /**
     * Trace and replay: sends the log recorded since the previous call (or the checkpoint) as one
     * segment.
     *
     * @param last whether the VM is paused and this is the final segment
     * @return what it sent
     * @throws MigrationException if cancelled, the log could not be taken, or the link failed
     */
    LogShipment sendLog(boolean last) throws MigrationException;

    /**
     * Trace and replay: waits until the destination replayed {@code shipment}.
     *
     * @param patience how long to wait at most
     * @return how far and how long the destination replayed
     * @throws MigrationException if the destination aborted (a replay that diverged), did not
     *                            answer within {@code patience}, the link failed or the
     *                            migration was cancelled
     */
    Replayed awaitReplayed(LogShipment shipment, Duration patience) throws MigrationException;

    /**
     * A checkpoint taken.
     *
     * @param pages         pages it holds
     * @param startPosition its position in the VM's input log
     * @param pauseNanos    how long the VM was paused to take it
     */
    record Checkpoint(long pages, long startPosition, long pauseNanos) {
    }

    /**
     * A log segment sent.
     *
     * @param startPosition where it starts in the log
     * @param endPosition   where it ends
     * @param logBytes      the log's bytes
     * @param bytesOnWire   bytes of its frames
     * @param drainedNanos  when it was taken from the recorder, on the migration's clock: the VM's
     *                      execution up to then is in it
     * @param recordedNanos how long the VM ran to record it
     */
    record LogShipment(long startPosition, long endPosition, long logBytes, long bytesOnWire, long drainedNanos,
                       long recordedNanos) {
    }

    /**
     * The destination's report of its replay.
     *
     * @param position     the position it reached
     * @param replayNanos  the time it spent replaying so far, in all
     * @param arrivalNanos when the report arrived, on the migration's clock
     */
    record Replayed(long position, long replayNanos, long arrivalNanos) {
    }
}
