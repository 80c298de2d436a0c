package io.livemig.engine.internal;

import io.livemig.api.ChannelException;
import io.livemig.api.MigrationEvent;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationPhase;
import io.livemig.api.PostcopyStats;
import io.livemig.api.SourceVmState;
import io.livemig.channel.Channel;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.wire.Messages;
import io.livemig.spi.PageSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The source's side of post-copy (Hines et al., VEE'09): with the VM paused, announce the pages
 * the destination lacks, commit so that the destination resumes at once, then push those pages
 * in the background while serving demand requests first. A per-page "unsent" set guarantees that
 * each page crosses the wire once; a request for a page already sent is counted as a race and
 * otherwise ignored (the pushed copy satisfies it).
 *
 * <p>Demand pages overtake the push: requests are drained before every pushed page, and sent in a
 * frame of their own at once. If the link breaks, the {@link Reconnector} supplies a new channel,
 * the destination reports what it still lacks, and the push continues from there (pages that
 * were in flight are sent again; nothing is lost).
 */
final class PostCopyPhase {

    private static final Logger LOG = LoggerFactory.getLogger(PostCopyPhase.class);
    /**
     * Pages per pushed frame (256 KiB): small beside the window, so a demand request never waits
     * behind much; 16 pushed 15 % slower for the same fault latency.
     */
    private static final int PUSH_BATCH = 64;
    /**
     * Most pushed bytes not yet acknowledged by the destination. Without this bound the push
     * fills every buffer between the hosts (socket buffers: ~16 MiB on Linux) and a demanded page
     * queues behind all of it; with it, behind at most this much. 1 MiB covers the
     * bandwidth-delay product of 1 Gbit/s at 8 ms or 10 Gbit/s at 0.8 ms.
     */
    static final long PUSH_WINDOW_BYTES = 1L << 20;
    private static final int MAX_RECOVERIES = 16;

    private PostCopyPhase() {
    }

    /**
     * @param session    a session whose VM is paused with SWITCHOVER sent
     * @param missing    the pages the destination lacks
     * @param reconnector how to replace a broken link
     * @param round      the round number to put on page frames
     */
    static void run(SourceSession session, PageSet missing, Reconnector reconnector, int round)
            throws MigrationException {
        session.commitPostcopy(missing);
        PageSet unsent = missing.copy();
        PushOrder order = PushOrder.of(session.options().prepaging(), unsent);
        long pulled = 0;
        long pushed = 0;
        long races = 0;
        int recoveries = 0;
        while (true) {
            long windowBase = session.bytesOnWire();
            try {
                while (!unsent.isEmpty()) {
                    long acked = session.postcopyAckedBytes();
                    if (session.bytesOnWire() - windowBase - acked > PUSH_WINDOW_BYTES
                            && !session.hasPageRequest()) {
                        session.awaitPostcopyProgress(acked);
                        continue;
                    }
                    long[] requests;
                    boolean anyPulled = false;
                    while ((requests = session.pollPageRequest()) != null) {
                        for (long page : requests) {
                            if (!unsent.contains(page)) {
                                races++;
                                continue;
                            }
                            session.appendPage(page, round, false);
                            unsent.remove(page);
                            order.onFault(page);
                            pulled++;
                            anyPulled = true;
                        }
                    }
                    if (anyPulled) {
                        session.flushPages();
                    }
                    for (int i = 0; i < PUSH_BATCH; i++) {
                        long page = order.next();
                        if (page < 0) {
                            break;
                        }
                        session.appendPage(page, round, false);
                        unsent.remove(page);
                        pushed++;
                    }
                    session.flushPages();
                }
                session.sendPostcopyEnd();
                Messages.PostcopyDone done = session.awaitPostcopyDone();
                List<Duration> blocked = new ArrayList<>();
                for (long nanos : done.blockedNanos()) {
                    blocked.add(Duration.ofNanos(nanos));
                }
                session.postcopyFinished(new PostcopyStats(done.faults(), pulled, pushed, races,
                        Duration.ofNanos(done.latencyP50Nanos()), Duration.ofNanos(done.latencyP99Nanos()), blocked,
                        recoveries));
                return;
            } catch (ChannelException broken) {
                if (recoveries == MAX_RECOVERIES) {
                    throw split(broken, unsent, "gave up after " + MAX_RECOVERIES + " recoveries");
                }
                Channel fresh;
                try {
                    LOG.warn("post-copy link broke ({}); reconnecting", broken.reason());
                    fresh = reconnector.reconnect();
                } catch (IOException | RuntimeException e) {
                    throw split(broken, unsent, "no new channel: " + e.getMessage());
                }
                PageSet stillMissing = session.recover(fresh);
                // What the destination lacks is what must still go, including pages lost in flight.
                unsent.clear();
                unsent.addAll(stillMissing);
                recoveries++;
                session.recovered(recoveries, broken.reason());
                LOG.info("post-copy recovered (#{}): {} pages still missing", recoveries, stillMissing.cardinality());
            }
        }
    }

    private static MigrationException split(ChannelException broken, PageSet unsent, String why) {
        return new MigrationException("post-copy link failed and cannot be recovered (" + why + "): the destination "
                + "runs the VM's vCPUs and devices and holds every page it received since the switchover; the source "
                + "holds the VM's memory as of the pause, including " + unsent.cardinality()
                + " pages the destination never received, and is left paused (resuming it would roll the VM back). "
                + "Cause: " + broken.reason(), MigrationPhase.POST_COPY, SourceVmState.SPLIT, broken);
    }
}
