package io.livemig.engine.internal.source;

import io.livemig.api.DiskCopyMode;
import io.livemig.api.DiskStats;
import io.livemig.api.DiskSyncReport;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationReport;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.api.Strategy;
import io.livemig.api.TimeSource;
import io.livemig.api.Verification;
import io.livemig.channel.Channel;
import io.livemig.engine.internal.MigrationCounters;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.DiskFrames;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.spi.DiskSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;

/**
 * The source of a disk sync without a VM (docs/protocol.md, section 7.3): the handshake with
 * purpose DISK_SYNC, DISK_SETUP, the destination's plan (and digests), one pass of
 * {@link DiskCopy} over the blocks the destination lacks, then DISK_VERIFY (if asked) and
 * DIGESTS_END, which the destination answers with VERIFY_RESULT. The caller's thread only.
 */
public final class DiskSyncSender {

    private static final Logger LOG = LoggerFactory.getLogger(DiskSyncSender.class);

    private final DiskSource disk;
    private final MigrationOptions options;
    private final TimeSource time;
    private final SourceContext context;
    private final SourceLink link;

    /**
     * @param disk    the disk to send
     * @param channel a connected channel (owned by the caller)
     * @param options the options
     */
    public DiskSyncSender(DiskSource disk, Channel channel, MigrationOptions options) {
        this.disk = disk;
        this.options = options;
        this.time = options.timeSource();
        this.context = new SourceContext(time);
        this.link = new SourceLink(channel, options, null, List.of(disk.descriptor()), context,
                new MigrationCounters());
    }

    /**
     * @return the report
     * @throws MigrationException if the sync failed; the source disk is unchanged
     */
    public DiskSyncReport run() throws MigrationException {
        long start = time.nanoTime();
        DiskCopy copy = null;
        try {
            link.start();
            int frameLimit = SourceHandshake.greet(link, HandshakeFrames.Purpose.DISK_SYNC,
                    SourceHandshake.newSessionId(), options);
            copy = new DiskCopy(List.of(disk), Strategy.COLD, DiskCopyMode.BACKGROUND, link, time);
            link.send(new DiskFrames.DiskSetup(options.verify(), List.of(disk.descriptor()), copy.offers()));
            copy.takePlan();
            context.moveTo(SourceState.LIVE_COPY);
            copy.start(frameLimit);
            // One pass: a write through the backend meanwhile stays in its change log for the next sync.
            copy.sendRound(true);
            long verifyStart = time.nanoTime();
            long blocks = options.verify() ? SourceVerifier.verifyDisk(0, disk, link) : 0;
            link.send(new VerifyFrames.DigestsEnd(0));
            VerifyFrames.VerifyResult result = link.await(VerifyFrames.VerifyResult.class).message();
            if (result.checkedBlocks() != blocks || result.checkedPages() != 0) {
                throw link.protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "destination checked "
                        + result.checkedBlocks() + " blocks, " + blocks + " were sent");
            }
            MigrationReport.Check check = options.verify()
                    ? new MigrationReport.Check(result.mismatchedBlocks() == 0 ? Verification.VERIFIED
                    : Verification.MISMATCH, 0, Duration.ofNanos(time.nanoTime() - verifyStart), blocks,
                    result.mismatchedBlocks())
                    : MigrationReport.Check.NOT_CHECKED;
            DiskStats stats = copy.stats().get(0);
            DiskSyncReport report = new DiskSyncReport(stats, Duration.ofNanos(time.nanoTime() - start),
                    link.bytesSent(), check);
            LOG.info("disk {} synced: {} blocks sent ({} zero, {} unchanged), {} bytes on the wire in {} ms, {}",
                    disk.descriptor().id(), stats.blocksSent(), stats.zeroBlocksSent(), stats.blocksUnchanged(),
                    report.bytesOnWire(), report.totalTime().toMillis(), check.outcome());
            return report;
        } catch (MigrationException | RuntimeException e) {
            if (copy != null) {
                copy.stop();
            }
            MigrationException error = e instanceof MigrationException me ? me
                    : new MigrationException("disk sync failed: " + e, context.phase(), SourceVmState.RUNNING, e);
            link.abort(error instanceof ProtocolException ? ControlFrames.AbortCode.PROTOCOL_ERROR
                    : ControlFrames.AbortCode.SOURCE_ERROR, error.reason());
            throw error;
        }
    }
}
