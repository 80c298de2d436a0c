package io.livemig.engine.internal.strategy;

import io.livemig.api.MigrationException;
import io.livemig.spi.PageSet;

import java.time.Duration;

/**
 * Pure post-copy (Hines et al., VEE'09): pause at once and hand every page (but those the guest
 * reports free) to the post-copy phase. The downtime is only the state transfer; the pages follow.
 */
final class PostcopyStrategy implements SourceStrategy {

    @Override
    public Outcome run(CopyContext context) throws MigrationException {
        PageSet all = context.initialPages();
        context.pause(Duration.ZERO, 0);
        return new Postcopy(all, NOTHING);
    }
}
