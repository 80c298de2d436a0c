package io.livemig.engine.internal;

import io.livemig.api.MigrationException;
import io.livemig.spi.PageSet;

import java.time.Duration;

/**
 * Pure post-copy: pause at once and hand every page (but those the guest reports free) to the
 * post-copy phase. The downtime is only the state transfer; the pages follow.
 */
final class PostCopyStrategy implements SourceStrategy {

    @Override
    public PageSet run(SourceSession session) throws MigrationException {
        PageSet all = session.initialPages();
        session.pause(Duration.ZERO, 0);
        return all;
    }
}
