package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;
import io.livemig.spi.DirtyTracker;
import io.livemig.spi.PageSet;

import java.time.Duration;
import java.util.Optional;

/**
 * Pure post-copy (Hines et al., VEE'09): pause at once and hand every page (but those the guest
 * reports free) to the post-copy phase. The downtime is only the state transfer; the pages follow.
 * Disks are copied before the pause until what is written meanwhile fits the downtime limit (see
 * {@link #copyDisksLive}); their last blocks follow after the resume, fetched on demand, where the
 * destination can ({@link CopyContext#handOverDisks}), else go in the downtime.
 *
 * <p>The pages to hand over must be the ones that hold data at the pause, not before it: a page
 * the provider reported unpopulated that the guest writes in between would otherwise be zero at
 * the destination. With a dirty tracker, the set is taken while the VM still runs, with tracking
 * on, and the writes that came since are collected once it is paused (one collect in the
 * downtime); without one, the set is taken after the pause.
 */
final class PostcopyStrategy implements SourceStrategy {

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        copyDisksLive(context);
        Optional<DirtyTracker> tracker = context.dirtyTracker();
        if (tracker.isEmpty()) {
            context.pause(Duration.ZERO, 0);
            context.handOverDisks();
            return new Postcopy(context.initialPages(), NOTHING);
        }
        DirtyTracker t = tracker.get();
        // Made before the pause: the first method reference of a call site spins a class.
        Runnable stopTracking = t::stop;
        t.start();
        boolean handedOver = false;
        try {
            PageSet all = context.initialPages();
            context.pause(Duration.ZERO, 0);
            all.addAll(t.collect());
            context.handOverDisks();
            handedOver = true;
            return new Postcopy(all, stopTracking);
        } finally {
            if (!handedOver) {
                t.stop();
            }
        }
    }

    /**
     * Before the pause, disks are copied while the VM runs, in rounds, until the blocks written
     * during a round would take no longer than the downtime limit to send (or the options' round
     * limit is reached): a guest that resumes with most of its disk missing would wait on nearly
     * every request.
     */
    private static void copyDisksLive(CopyContext context) throws MigrationException {
        if (!context.hasDisks()) {
            return;
        }
        BandwidthEstimator bandwidth = new BandwidthEstimator();
        Duration limit = context.options().downtimeLimit();
        for (int round = 0; round < context.options().maxRounds(); round++) {
            CopyContext.DiskRound r = context.sendDiskRound(false);
            bandwidth.add(r.bytesOnWire(), r.nanos());
            if (r.dirtyBytesLeft() == 0 || bandwidth.timeFor(r.dirtyBytesLeft()).compareTo(limit) <= 0) {
                return;
            }
        }
    }
}
