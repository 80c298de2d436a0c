package io.livemig.engine.internal.source;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationPhase;
import io.livemig.api.PostcopyStats;
import io.livemig.api.ProtocolException;
import io.livemig.api.SourceVmState;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.PostcopyFrames;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The source's side of post-copy (Hines et al., VEE'09) once the destination resumed: push the
 * pages it lacks in the background while serving demand requests first. A per-page "unsent" set
 * guarantees that each page crosses the wire once; a request for a page already sent is counted
 * as a race and otherwise ignored (the pushed copy satisfies it).
 *
 * <p>Demand pages overtake the push: requests are drained before every pushed batch, and sent in
 * a frame of their own at once. If the link breaks, the {@link Reconnector} supplies a new
 * channel, the destination reports what it still lacks, and the push continues from there (pages
 * that were in flight are sent again; nothing is lost).
 *
 * <p>The migration's thread only.
 */
final class PostcopyPush {

    private static final Logger LOG = LoggerFactory.getLogger(PostcopyPush.class);
    /**
     * Pages per pushed frame (256 KiB): small beside the window, so a demand request never waits
     * behind much; 16 pushed 15 % slower for the same fault latency.
     */
    private static final int PUSH_BATCH = 64;
    private static final int MAX_RECOVERIES = 16;

    private final SourceLink link;
    private final PageSender sender;
    private final SourceRecorder recorder;
    private final MemoryLayout layout;
    private final MigrationOptions options;
    private final Reconnector reconnector;
    private final byte[] sessionId;
    /**
     * Bounds the pushed bytes not yet acknowledged by the destination. Without a bound the push
     * fills every buffer between the hosts (socket buffers: ~16 MiB on Linux) and a demanded page
     * queues behind all of it; with it, behind at most the link's bandwidth-delay product.
     */
    private final PushWindow window;
    private long pulled;
    private long pushed;
    private long races;
    private int recoveries;
    /** The disks' blocks that follow the resume, or null if none do. */
    private final DiskPostcopy disks;

    PostcopyPush(SourceLink link, PageSender sender, SourceRecorder recorder, MemoryLayout layout,
                 MigrationOptions options, Reconnector reconnector, byte[] sessionId, DiskPostcopy disks) {
        this.disks = disks;
        this.link = link;
        this.sender = sender;
        this.recorder = recorder;
        this.layout = layout;
        this.options = options;
        this.reconnector = reconnector;
        this.sessionId = sessionId;
        this.window = new PushWindow(options.timeSource(), link::minRoundTripNanos);
    }

    /**
     * Sends every page of {@code missing}, demanded ones first, until the destination confirms
     * it has them all.
     *
     * @param round          the round number to put on page frames
     * @param brokenAtResume the break that hid RESUMED, if the destination said it resumed only when
     *                       asked afterwards: then the push starts with a recovery; null otherwise
     * @return the post-copy statistics
     * @throws MigrationException if the link broke and could not be recovered ({@link SourceVmState#SPLIT})
     */
    PostcopyStats run(PageSet missing, int round, ChannelException brokenAtResume) throws MigrationException {
        PageSet unsent = missing.copy();
        PushOrder order = PushOrder.of(options.prepaging(), unsent);
        if (brokenAtResume != null) {
            PageSet stillMissing = recover(brokenAtResume, unsent);
            unsent.clear();
            unsent.addAll(stillMissing);
            if (disks != null) {
                disks.restart();
            }
        }
        while (true) {
            long windowBase = link.bytesSent();
            window.start(windowBase);
            try {
                while (!unsent.isEmpty() || (disks != null && disks.pending())) {
                    long acked = link.postcopyAckedBytes();
                    long sent = link.bytesSent();
                    if (sent - windowBase - acked > window.bytes(sent) && !link.hasPageRequest()) {
                        link.awaitPostcopyProgress(acked);
                        continue;
                    }
                    serveRequests(unsent, order, round);
                    if (disks != null) {
                        disks.serveRequests(link);
                    }
                    for (int i = 0; i < PUSH_BATCH; i++) {
                        long page = order.next();
                        if (page < 0) {
                            break;
                        }
                        sender.pushPostcopy(page, round);
                        unsent.remove(page);
                        pushed++;
                    }
                    sender.flush();
                    if (disks != null) {
                        disks.pushBatch();
                    }
                }
                sender.flush();
                sender.syncStreams();
                link.send(new PostcopyFrames.PostcopyEnd());
                PostcopyFrames.PostcopyDone done = link.await(PostcopyFrames.PostcopyDone.class).message();
                if (disks != null) {
                    // The destination made every disk block durable before it said so.
                    disks.done();
                }
                List<Duration> blocked = new ArrayList<>();
                for (long nanos : done.blockedNanos()) {
                    blocked.add(Duration.ofNanos(nanos));
                }
                return new PostcopyStats(done.faults(), pulled, pushed, races,
                        Duration.ofNanos(done.latencyP50Nanos()), Duration.ofNanos(done.latencyP99Nanos()), blocked,
                        recoveries);
            } catch (ChannelException broken) {
                PageSet stillMissing = recover(broken, unsent);
                // What the destination lacks is what must still go, including pages lost in flight.
                unsent.clear();
                unsent.addAll(stillMissing);
                if (disks != null) {
                    disks.restart();
                }
                LOG.info("post-copy recovered (#{}): {} pages still missing", recoveries, stillMissing.cardinality());
            }
        }
    }

    /** Sends every page the destination asked for and that has not been sent, in a frame of their own. */
    private void serveRequests(PageSet unsent, PushOrder order, int round) throws MigrationException {
        long[] requests;
        boolean anyPulled = false;
        while ((requests = link.pollPageRequest()) != null) {
            for (long page : requests) {
                if (!unsent.contains(page)) {
                    races++;
                    continue;
                }
                sender.appendPostcopy(page, round);
                unsent.remove(page);
                order.onFault(page);
                pulled++;
                anyPulled = true;
            }
        }
        if (anyPulled) {
            sender.flush();
        }
    }

    /**
     * Replaces the broken channel with a new one and learns from the destination which pages it
     * still lacks (RECOVER_MISSING ... RECOVER), then acknowledges.
     *
     * @return the pages the destination still lacks
     */
    private PageSet recover(ChannelException broken, PageSet unsent) throws MigrationException {
        if (recoveries == MAX_RECOVERIES) {
            throw split(broken, unsent, "gave up after " + MAX_RECOVERIES + " recoveries");
        }
        LOG.warn("post-copy link broke ({}); reconnecting for up to {} s", broken.reason(),
                options.recoveryWindow().toSeconds());
        try {
            // Each new channel greets again, proving the secret and naming this migration, so that
            // whoever else connects to the destination cannot take the recovery over.
            SourceHandshake.regreet(link, reconnector, HandshakeFrames.Purpose.RECOVER, sessionId, options);
        } catch (IOException e) {
            throw split(broken, unsent, e.getMessage());
        }
        sender.discardOpenFrame();
        sender.dropStreams();
        PageSet missing = new PageSet(layout.pageSpan());
        while (true) {
            Message message = link.awaitAny();
            if (message instanceof PageBitmap chunk && chunk.type() == FrameType.RECOVER_MISSING) {
                chunk.addTo(missing);
            } else if (message instanceof PostcopyFrames.Recover recover) {
                if (recover.count() != missing.cardinality()) {
                    throw link.protocol(ProtocolException.Kind.INCONSISTENT_LENGTH, "RECOVER says "
                            + recover.count() + " pages are missing, its bitmap holds " + missing.cardinality());
                }
                break;
            } else {
                throw link.protocol(ProtocolException.Kind.UNEXPECTED, message.type() + " while recovering");
            }
        }
        link.send(new PostcopyFrames.RecoverAck());
        recoveries++;
        recorder.linkRecovered(recoveries, broken.reason());
        return missing;
    }

    private static MigrationException split(ChannelException broken, PageSet unsent, String why) {
        return new MigrationException("post-copy link failed and cannot be recovered (" + why + "): the destination "
                + "runs the VM's vCPUs and devices and holds every page it received since the switchover; the source "
                + "holds the VM's memory as of the pause, including " + unsent.cardinality()
                + " pages the destination never received, and is left paused (resuming it would roll the VM back). "
                + "Cause: " + broken.reason(), MigrationPhase.POST_COPY, SourceVmState.SPLIT, broken);
    }
}
