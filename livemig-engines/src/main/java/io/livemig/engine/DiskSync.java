package io.livemig.engine;

import io.livemig.api.DiskSyncReport;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.destination.DiskSyncReceiver;
import io.livemig.engine.internal.source.DiskSyncSender;
import io.livemig.spi.DiskDescriptor;
import io.livemig.spi.DiskSink;
import io.livemig.spi.DiskSource;

import java.util.function.Function;

/**
 * dsync as a tool (Knauth and Fetzer, LISA'13): brings one disk at the destination up to date with
 * a disk at the source, without a VM, sending only what differs. The destination's copy decides how:
 * <ul>
 *   <li>a replica whose generation the source's change log is paired with: only the blocks the log
 *       has recorded since (a bitmap sync);</li>
 *   <li>a copy of unknown age: the destination sends a digest (xxHash64) of every block, and the
 *       source sends the blocks whose digest differs (a digest sync, as rsync does with its own
 *       checksums);</li>
 *   <li>a new, empty disk: every non-zero block.</li>
 * </ul>
 * Blocks leave the source's change log only once the destination has them durably, so a sync cut
 * short (the receiver killed, the link lost) is completed by the next one. Both sides then hold the
 * same generation, and the next sync is a bitmap sync.
 *
 * <p>The wire protocol is livemig's own (docs/protocol.md, section 7.3), with its handshake and its
 * authentication: the options' secret, I/O timeout, bandwidth limit, verification and clock apply.
 * The source's disk must not be written behind its backend's back during the sync (a write through
 * the backend is tracked and kept for the next sync, not sent in this one).
 *
 * <p>Both methods block until the sync ended; they do not close the channel or the disk.
 */
public final class DiskSync {

    private DiskSync() {
    }

    /**
     * Sends {@code disk} to the destination at the other end of {@code channel}.
     *
     * @param disk    the source disk; its descriptor (id, size, block size) must equal the destination's
     * @param channel a connected channel to a destination running {@link #receive}
     * @param options the options (secret, I/O timeout, bandwidth limit, verify, clock)
     * @return the source's report
     * @throws MigrationException if the destination refused (another disk shape, no secret), the
     *                            link failed, or a frame was malformed; the source disk is unchanged
     */
    public static DiskSyncReport send(DiskSource disk, Channel channel, MigrationOptions options)
            throws MigrationException {
        return new DiskSyncSender(disk, channel, options).run();
    }

    /**
     * Receives a disk sync into {@code disk}.
     *
     * @param disk    the destination disk: a new one, or an older copy (a replica)
     * @param channel a connected channel from a source running {@link #send}
     * @param options the options (secret, I/O timeout, handshake timeout, clock)
     * @return the destination's report
     * @throws MigrationException if the source is not a disk sync, not authenticated, announces
     *                            another disk, or sends a malformed frame (refused before any of its
     *                            bytes reach the disk), or the link failed; every block written
     *                            before the failure is a block of the source, so a later sync
     *                            completes it
     */
    public static DiskSyncReport receive(DiskSink disk, Channel channel, MigrationOptions options)
            throws MigrationException {
        return receive(announced -> disk, channel, options);
    }

    /**
     * Receives a disk sync into the disk {@code disks} gives for what the source announces: for a
     * destination that makes (or opens) the disk only once it knows its size.
     *
     * @param disks   gives the destination disk for the announced one (id, size, block size); called
     *                at most once, after the handshake and once the announced disk is within the
     *                options' {@link io.livemig.api.ReceiveLimits#maxDiskBlocks()}; what it throws
     *                (an {@link IllegalArgumentException} for a disk it will not take) ends the sync
     * @param channel a connected channel from a source running {@link #send}
     * @param options the options (secret, I/O timeout, handshake timeout, limits, clock)
     * @return the destination's report
     * @throws MigrationException as {@link #receive(DiskSink, Channel, MigrationOptions)}
     */
    public static DiskSyncReport receive(Function<DiskDescriptor, ? extends DiskSink> disks, Channel channel,
                                         MigrationOptions options) throws MigrationException {
        return new DiskSyncReceiver(disks, channel, options).run();
    }
}
